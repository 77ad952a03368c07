//! The SQLite schema and its forward migrations. The schema version is kept in
//! `PRAGMA user_version`; a data directory written by a newer Hemolink is refused
//! rather than guessed at.

use super::super::StoreError;
use rusqlite::Connection;

/// Migrations in order: migration `i` (from 0) takes the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: versions, current pointers, identifiers for conditional create.
    r#"
    CREATE TABLE resource_version (
        seq          INTEGER PRIMARY KEY,  -- order of writes, for system history
        type         TEXT    NOT NULL,
        id           TEXT    NOT NULL,
        version      INTEGER NOT NULL,
        last_updated INTEGER NOT NULL,     -- microseconds since the Unix epoch
        method       TEXT    NOT NULL,     -- POST, PUT or DELETE
        body         TEXT,                 -- JSON; NULL for a delete
        UNIQUE (type, id, version)
    );
    CREATE INDEX resource_version_by_type ON resource_version (type, seq);
    CREATE INDEX resource_version_by_time ON resource_version (last_updated);
    CREATE TRIGGER resource_version_immutable_update BEFORE UPDATE ON resource_version
        BEGIN SELECT RAISE(ABORT, 'resource versions are immutable'); END;
    CREATE TRIGGER resource_version_immutable_delete BEFORE DELETE ON resource_version
        BEGIN SELECT RAISE(ABORT, 'resource versions are immutable'); END;
    CREATE TABLE resource_current (
        type    TEXT    NOT NULL,
        id      TEXT    NOT NULL,
        version INTEGER NOT NULL,
        seq     INTEGER NOT NULL REFERENCES resource_version (seq),
        deleted INTEGER NOT NULL,
        PRIMARY KEY (type, id)
    ) WITHOUT ROWID;
    CREATE TABLE resource_identifier (
        type   TEXT NOT NULL,
        system TEXT NOT NULL,  -- '' when the identifier has no system
        value  TEXT NOT NULL,
        id     TEXT NOT NULL,
        PRIMARY KEY (type, system, value, id)
    ) WITHOUT ROWID;
    CREATE INDEX resource_identifier_by_resource ON resource_identifier (type, id);
    "#,
];

/// The schema version this build writes.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to [`LATEST`], each migration in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<i64, StoreError> {
    let backend = |e: rusqlite::Error| StoreError::Backend(format!("migration: {e}"));
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(backend)?;
    if current > LATEST {
        return Err(StoreError::Backend(format!(
            "the data directory has schema version {current}, written by a newer Hemolink; this build knows up to {LATEST}"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction().map_err(backend)?;
        tx.execute_batch(sql).map_err(backend)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
    Ok(LATEST)
}
