//! Writing the search index: the parameter and resource numbering, and the rows
//! each version adds (valid from its `seq`) and closes (by setting `until` on
//! the rows of the version it replaces). Called by the writer inside the unit
//! of work, so a resource and its index entries commit together.

use super::backend;
use crate::search::entry::{Entry, Value};
use crate::search::registry::Registry;
use crate::store::StoreError;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

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

/// The number of a resource, given on first sight.
pub fn rid(conn: &Connection, resource_type: &str, id: &str) -> Result<i64, StoreError> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT rid FROM search_resource WHERE type = ?1 AND id = ?2")
        .and_then(|mut s| {
            s.query_row(params![resource_type, id], |r| r.get(0))
                .optional()
        })
        .map_err(backend)?;
    if let Some(rid) = found {
        return Ok(rid);
    }
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

/// Writes the index entries of a version.
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
        let (table, columns, mut values) = row(&e.value);
        values.insert(0, Sql::Integer(pid));
        values.extend([rid, e.group as i64, seq, OPEN].map(Sql::Integer));
        let marks: Vec<String> = (1..=values.len()).map(|i| format!("?{i}")).collect();
        conn.prepare_cached(&format!(
            "INSERT OR IGNORE INTO {table} (pid, {columns}, rid, grp, seq, until) VALUES ({})",
            marks.join(", ")
        ))
        .and_then(|mut s| s.execute(params_from_iter(values)))
        .map_err(backend)?;
    }
    Ok(())
}

/// The table, value columns and values of an index entry.
fn row(v: &Value) -> (&'static str, &'static str, Vec<Sql>) {
    let text = |s: &str| Sql::Text(s.to_string());
    match v {
        Value::String { norm, exact } => {
            ("ix_string", "norm, exact", vec![text(norm), text(exact)])
        }
        Value::Token { kind, system, code } => (
            "ix_token",
            "kind, code, system",
            vec![Sql::Integer(*kind as i64), text(code), text(system)],
        ),
        Value::Date { lo, hi } => (
            "ix_date",
            "lo, hi",
            vec![Sql::Integer(*lo), Sql::Integer(*hi)],
        ),
        Value::Number { value, lo, hi } => (
            "ix_number",
            "value, lo, hi",
            vec![Sql::Real(*value), Sql::Real(*lo), Sql::Real(*hi)],
        ),
        Value::Quantity {
            kind,
            value,
            lo,
            hi,
            system,
            code,
        } => (
            "ix_quantity",
            "kind, code, system, value, lo, hi",
            vec![
                Sql::Integer(*kind as i64),
                text(code),
                text(system),
                Sql::Real(*value),
                Sql::Real(*lo),
                Sql::Real(*hi),
            ],
        ),
        Value::Local {
            target_type,
            target_id,
        } => (
            "ix_reference",
            "target_type, target_id, url",
            vec![text(target_type), text(target_id), text("")],
        ),
        Value::Url(url) => (
            "ix_reference",
            "target_type, target_id, url",
            vec![text(""), text(""), text(url)],
        ),
        Value::Uri(uri) => ("ix_uri", "uri", vec![text(uri)]),
    }
}
