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
    // 2: the search index. Every resource gets a number (`rid`); every version
    // writes a row in `ix_resource` and one row per index entry in the table of
    // its kind. A row is valid from the version that wrote it (`seq`) until the
    // version that replaced it (`until`; the largest integer while current), so
    // a search can be answered as of any moment: paging reads the snapshot of
    // its first page. The key of each table starts with the parameter and the
    // value, so a search is a range scan that yields the matching `rid`s.
    r#"
    CREATE TABLE search_param (
        pid  INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        code TEXT NOT NULL,          -- `code#i` for component i of a composite
        UNIQUE (type, code)
    );
    CREATE TABLE search_resource (
        rid  INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        id   TEXT NOT NULL,
        UNIQUE (type, id)
    );
    CREATE TABLE ix_resource (
        type         TEXT    NOT NULL,
        rid          INTEGER NOT NULL,
        seq          INTEGER NOT NULL,  -- the version (resource_version.seq)
        until        INTEGER NOT NULL,
        last_updated INTEGER NOT NULL,
        PRIMARY KEY (rid, seq)
    ) WITHOUT ROWID;
    CREATE INDEX ix_resource_by_type ON ix_resource (type, rid);
    CREATE INDEX ix_resource_by_time ON ix_resource (type, last_updated);
    CREATE TABLE ix_string (
        pid INTEGER NOT NULL, norm TEXT NOT NULL, exact TEXT NOT NULL,
        rid INTEGER NOT NULL, grp INTEGER NOT NULL, seq INTEGER NOT NULL, until INTEGER NOT NULL,
        PRIMARY KEY (pid, norm, exact, rid, grp, seq)
    ) WITHOUT ROWID;
    CREATE INDEX ix_string_by_rid ON ix_string (rid, pid, until);
    CREATE TABLE ix_token (
        pid INTEGER NOT NULL, kind INTEGER NOT NULL, code TEXT NOT NULL, system TEXT NOT NULL,
        rid INTEGER NOT NULL, grp INTEGER NOT NULL, seq INTEGER NOT NULL, until INTEGER NOT NULL,
        PRIMARY KEY (pid, kind, code, system, rid, grp, seq)
    ) WITHOUT ROWID;
    CREATE INDEX ix_token_by_rid ON ix_token (rid, pid, until);
    CREATE TABLE ix_date (
        pid INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL,
        rid INTEGER NOT NULL, grp INTEGER NOT NULL, seq INTEGER NOT NULL, until INTEGER NOT NULL,
        PRIMARY KEY (pid, lo, hi, rid, grp, seq)
    ) WITHOUT ROWID;
    CREATE INDEX ix_date_by_hi ON ix_date (pid, hi);
    CREATE INDEX ix_date_by_rid ON ix_date (rid, pid, until);
    CREATE TABLE ix_number (
        pid INTEGER NOT NULL, value REAL NOT NULL, lo REAL NOT NULL, hi REAL NOT NULL,
        rid INTEGER NOT NULL, grp INTEGER NOT NULL, seq INTEGER NOT NULL, until INTEGER NOT NULL,
        PRIMARY KEY (pid, value, lo, hi, rid, grp, seq)
    ) WITHOUT ROWID;
    CREATE INDEX ix_number_by_rid ON ix_number (rid, pid, until);
    CREATE TABLE ix_quantity (
        pid INTEGER NOT NULL, kind INTEGER NOT NULL, code TEXT NOT NULL, system TEXT NOT NULL,
        value REAL NOT NULL, lo REAL NOT NULL, hi REAL NOT NULL,
        rid INTEGER NOT NULL, grp INTEGER NOT NULL, seq INTEGER NOT NULL, until INTEGER NOT NULL,
        PRIMARY KEY (pid, kind, code, system, value, lo, hi, rid, grp, seq)
    ) WITHOUT ROWID;
    CREATE INDEX ix_quantity_by_value ON ix_quantity (pid, value);
    CREATE INDEX ix_quantity_by_rid ON ix_quantity (rid, pid, until);
    CREATE TABLE ix_reference (
        pid INTEGER NOT NULL, target_type TEXT NOT NULL, target_id TEXT NOT NULL, url TEXT NOT NULL,
        rid INTEGER NOT NULL, grp INTEGER NOT NULL, seq INTEGER NOT NULL, until INTEGER NOT NULL,
        PRIMARY KEY (pid, target_id, target_type, url, rid, grp, seq)
    ) WITHOUT ROWID;
    CREATE INDEX ix_reference_by_rid ON ix_reference (rid, pid, until);
    CREATE INDEX ix_reference_by_target ON ix_reference (target_type, target_id);
    CREATE TABLE ix_uri (
        pid INTEGER NOT NULL, uri TEXT NOT NULL,
        rid INTEGER NOT NULL, grp INTEGER NOT NULL, seq INTEGER NOT NULL, until INTEGER NOT NULL,
        PRIMARY KEY (pid, uri, rid, grp, seq)
    ) WITHOUT ROWID;
    CREATE INDEX ix_uri_by_rid ON ix_uri (rid, pid, until);
    CREATE TABLE search_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    DROP TABLE resource_identifier;  -- conditional operations now use the search index
    "#,
    // 3: the HL7 v2 message store and the outbox. A message's key (MSH-3,
    // MSH-4, MSH-10) is unique among the messages that are not duplicates;
    // a duplicate is kept as its own row pointing at the first. A message
    // with no control id (unreadable, or refused for the lack of one) has no
    // key.
    r#"
    CREATE TABLE hl7_message (
        id               INTEGER PRIMARY KEY,
        received         INTEGER NOT NULL,  -- microseconds since the Unix epoch
        updated          INTEGER NOT NULL,
        listener         TEXT    NOT NULL,
        peer             TEXT    NOT NULL,
        sending_app      TEXT    NOT NULL,
        sending_facility TEXT    NOT NULL,
        control_id       TEXT    NOT NULL,
        message_type     TEXT    NOT NULL,
        version          TEXT    NOT NULL,
        raw              BLOB    NOT NULL,
        status           TEXT    NOT NULL,  -- received, processed, error, duplicate
        duplicate_of     INTEGER,
        ack              BLOB,
        resources        TEXT    NOT NULL,  -- JSON array of Type/id
        error            TEXT
    );
    CREATE UNIQUE INDEX hl7_message_key ON hl7_message (sending_app, sending_facility, control_id)
        WHERE duplicate_of IS NULL AND control_id <> '';
    CREATE INDEX hl7_message_by_status ON hl7_message (status, id);
    CREATE INDEX hl7_message_by_time ON hl7_message (received);
    CREATE TABLE hl7_outbox (
        id           INTEGER PRIMARY KEY,
        destination  TEXT    NOT NULL,
        control_id   TEXT    NOT NULL,
        payload      BLOB    NOT NULL,
        source       INTEGER,
        status       TEXT    NOT NULL,  -- pending, sent, errored
        attempts     INTEGER NOT NULL,
        next_attempt INTEGER NOT NULL,
        error        TEXT,
        ack          BLOB,
        created      INTEGER NOT NULL,
        updated      INTEGER NOT NULL
    );
    CREATE INDEX hl7_outbox_by_destination ON hl7_outbox (destination, status, id);
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
