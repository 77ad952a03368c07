//! Writing the search index: the parameter and resource numbering, and the rows
//! each version adds (valid from its `seq`) and closes (by setting `until` on
//! the rows of the version it replaces). Called by the writer inside the unit
//! of work, so a resource and its index entries commit together.

use super::backend;
use crate::search::entry::{Entry, Value};
use crate::search::registry::Registry;
use crate::store::StoreError;
use rusqlite::{Connection, OptionalExtension, params};

/// `until` of a row that is still current.
pub const OPEN: i64 = i64::MAX;

/// The tables that hold index entries.
const TABLES: &[&str] = &[
    "ix_string",
    "ix_token",
    "ix_date",
    "ix_number",
    "ix_quantity",
    "ix_reference",
    "ix_uri",
];

/// The database number of every registry slot, inserting the missing ones.
pub fn sync_params(conn: &Connection, registry: &Registry) -> Result<Vec<i64>, StoreError> {
    let mut insert = conn
        .prepare_cached("INSERT OR IGNORE INTO search_param (type, code) VALUES (?1, ?2)")
        .map_err(backend)?;
    let mut select = conn
        .prepare_cached("SELECT pid FROM search_param WHERE type = ?1 AND code = ?2")
        .map_err(backend)?;
    let mut pids = Vec::with_capacity(registry.slots().len());
    for (t, code) in registry.slots() {
        insert.execute(params![t, code]).map_err(backend)?;
        pids.push(
            select
                .query_row(params![t, code], |r| r.get(0))
                .map_err(backend)?,
        );
    }
    Ok(pids)
}

/// The database number of every registry slot, without writing (`-1` for a
/// slot the database does not know).
pub fn read_params(conn: &Connection, registry: &Registry) -> Result<Vec<i64>, StoreError> {
    let mut select = conn
        .prepare_cached("SELECT pid FROM search_param WHERE type = ?1 AND code = ?2")
        .map_err(backend)?;
    registry
        .slots()
        .iter()
        .map(|(t, code)| {
            select
                .query_row(params![t, code], |r| r.get(0))
                .optional()
                .map(|p| p.unwrap_or(-1))
                .map_err(backend)
        })
        .collect()
}

/// The number of a resource, given on first sight. `first_version` says the
/// resource has never been written (so it has no number yet and the lookup is
/// skipped).
pub fn rid(
    conn: &Connection,
    resource_type: &str,
    id: &str,
    first_version: bool,
) -> Result<i64, StoreError> {
    if first_version {
        return new_rid(conn, resource_type, id);
    }
    let found: Option<i64> = conn
        .prepare_cached("SELECT rid FROM search_resource WHERE type = ?1 AND id = ?2")
        .and_then(|mut s| {
            s.query_row(params![resource_type, id], |r| r.get(0))
                .optional()
        })
        .map_err(backend)?;
    match found {
        Some(rid) => Ok(rid),
        None => new_rid(conn, resource_type, id),
    }
}

fn new_rid(conn: &Connection, resource_type: &str, id: &str) -> Result<i64, StoreError> {
    conn.prepare_cached("INSERT INTO search_resource (type, id) VALUES (?1, ?2)")
        .and_then(|mut s| s.execute(params![resource_type, id]))
        .map_err(backend)?;
    Ok(conn.last_insert_rowid())
}

/// Ends the validity of the rows of a resource's current version at `seq`.
pub fn close(conn: &Connection, rid: i64, seq: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE ix_resource SET until = ?1 WHERE rid = ?2 AND until = ?3")
        .and_then(|mut s| s.execute(params![seq, rid, OPEN]))
        .map_err(backend)?;
    for table in TABLES {
        conn.prepare_cached(&format!(
            "UPDATE {table} SET until = ?1 WHERE rid = ?2 AND until = ?3"
        ))
        .and_then(|mut s| s.execute(params![seq, rid, OPEN]))
        .map_err(backend)?;
    }
    Ok(())
}

/// Removes the current rows of a resource (for a reindex, which rewrites them).
pub fn remove_current(conn: &Connection, rid: i64) -> Result<(), StoreError> {
    for table in TABLES {
        conn.prepare_cached(&format!(
            "DELETE FROM {table} WHERE rid = ?1 AND until = ?2"
        ))
        .and_then(|mut s| s.execute(params![rid, OPEN]))
        .map_err(backend)?;
    }
    Ok(())
}

/// What a version is, for its `ix_resource` row.
pub struct VersionKey<'a> {
    pub resource_type: &'a str,
    pub rid: i64,
    pub seq: i64,
    pub last_updated: i64,
}

/// Writes the `ix_resource` row of a version.
pub fn add_version(conn: &Connection, v: &VersionKey<'_>) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO ix_resource (type, rid, seq, until, last_updated) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![v.resource_type, v.rid, v.seq, OPEN, v.last_updated]))
    .map_err(backend)?;
    Ok(())
}

/// Writes the index entries of a version. The statements are the cached ones of
/// the connection; the values are bound by reference, so a row costs no
/// allocation on this side.
pub fn add_entries(
    conn: &Connection,
    pids: &[i64],
    rid: i64,
    seq: i64,
    entries: &[Entry],
) -> Result<(), StoreError> {
    for e in entries {
        let Some(&pid) = pids.get(e.slot) else {
            continue;
        };
        add_entry(conn, pid, rid, e.group as i64, seq, &e.value).map_err(backend)?;
    }
    Ok(())
}

/// Inserts one index row (a duplicate of a row of the same version is ignored).
fn add_entry(
    conn: &Connection,
    pid: i64,
    rid: i64,
    grp: i64,
    seq: i64,
    value: &Value,
) -> rusqlite::Result<usize> {
    match value {
        Value::String { norm, exact } => conn
            .prepare_cached(
                "INSERT OR IGNORE INTO ix_string (pid, norm, exact, rid, grp, seq, until) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![pid, norm, exact, rid, grp, seq, OPEN]),
        Value::Token { kind, system, code } => conn
            .prepare_cached(
                "INSERT OR IGNORE INTO ix_token (pid, kind, code, system, rid, grp, seq, until) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                pid,
                *kind as i64,
                code,
                system,
                rid,
                grp,
                seq,
                OPEN
            ]),
        Value::Date { lo, hi } => conn
            .prepare_cached(
                "INSERT OR IGNORE INTO ix_date (pid, lo, hi, rid, grp, seq, until) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![pid, lo, hi, rid, grp, seq, OPEN]),
        Value::Number { value, lo, hi } => conn
            .prepare_cached(
                "INSERT OR IGNORE INTO ix_number (pid, value, lo, hi, rid, grp, seq, until) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![pid, value, lo, hi, rid, grp, seq, OPEN]),
        Value::Quantity {
            kind,
            value,
            lo,
            hi,
            system,
            code,
        } => conn
            .prepare_cached(
                "INSERT OR IGNORE INTO ix_quantity \
                 (pid, kind, code, system, value, lo, hi, rid, grp, seq, until) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                pid,
                *kind as i64,
                code,
                system,
                value,
                lo,
                hi,
                rid,
                grp,
                seq,
                OPEN
            ]),
        Value::Local {
            target_type,
            target_id,
        } => reference_row(conn, [pid, rid, grp, seq], target_type, target_id, ""),
        Value::Url(url) => reference_row(conn, [pid, rid, grp, seq], "", "", url),
        Value::Uri(uri) => conn
            .prepare_cached(
                "INSERT OR IGNORE INTO ix_uri (pid, uri, rid, grp, seq, until) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![pid, uri, rid, grp, seq, OPEN]),
    }
}

/// Inserts one `ix_reference` row; `keys` are pid, rid, grp and seq.
fn reference_row(
    conn: &Connection,
    keys: [i64; 4],
    target_type: &str,
    target_id: &str,
    url: &str,
) -> rusqlite::Result<usize> {
    let [pid, rid, grp, seq] = keys;
    conn.prepare_cached(
        "INSERT OR IGNORE INTO ix_reference (pid, target_type, target_id, url, rid, grp, seq, until) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![pid, target_type, target_id, url, rid, grp, seq, OPEN])
}
