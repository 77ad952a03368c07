//! The SQLite floor of bulk ingest, for `hemolink bench-ingest`: the search
//! index rows a store holds, replayed in the order they were written into an
//! empty database with the store's own settings (its VFS, WAL,
//! `synchronous=FULL`, cache and checkpoint sizes), `per_commit` resources a
//! transaction. No Hemolink code runs per row: one `INSERT … SELECT` per table
//! and commit. The time it takes is what SQLite alone needs to maintain this
//! index at that commit size, so no ingest path of this store can be faster.

use super::{DB_FILE, backend, connect, vfs};
use crate::store::StoreError;
use rusqlite::params;
use std::path::Path;
use std::time::{Duration, Instant};

/// What a replay measured.
pub struct Floor {
    pub resources: u64,
    pub rows: u64,
    pub commits: u64,
    pub elapsed: Duration,
}

/// Replays the index rows of the store in `loaded` into a new database at
/// `out` (which must not exist), `per_commit` resources a transaction.
pub fn replay_index(loaded: &Path, out: &Path, per_commit: u64) -> Result<Floor, StoreError> {
    vfs::register().map_err(backend)?;
    let mut conn = connect(out)?;
    let source = loaded.join(DB_FILE);
    conn.execute("ATTACH DATABASE ?1 AS loaded", [source.to_string_lossy()])
        .map_err(backend)?;
    let ddl: Vec<(String, String, String)> = conn
        .prepare(
            "SELECT type, tbl_name, sql FROM loaded.sqlite_schema \
             WHERE tbl_name LIKE 'ix\\_%' ESCAPE '\\' AND sql IS NOT NULL \
             ORDER BY type = 'index', name",
        )
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(backend)?;
    let mut tables = Vec::new();
    for (kind, table, sql) in &ddl {
        conn.execute_batch(sql).map_err(backend)?;
        if kind == "table" {
            tables.push(table.clone());
        }
    }
    let (first, last): (i64, i64) = conn
        .query_row(
            "SELECT coalesce(min(rid), 1), coalesce(max(rid), 0) FROM loaded.ix_resource",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(backend)?;
    let step = per_commit.max(1) as i64;
    let started = Instant::now();
    let mut floor = Floor {
        resources: (last - first + 1).max(0) as u64,
        rows: 0,
        commits: 0,
        elapsed: Duration::ZERO,
    };
    let mut from = first;
    while from <= last {
        let tx = conn.transaction().map_err(backend)?;
        for table in &tables {
            floor.rows += tx
                .execute(
                    &format!(
                        "INSERT INTO main.{table} SELECT * FROM loaded.{table} \
                         WHERE rid >= ?1 AND rid < ?2 ORDER BY rid"
                    ),
                    params![from, from + step],
                )
                .map_err(backend)? as u64;
        }
        tx.commit().map_err(backend)?;
        floor.commits += 1;
        from += step;
    }
    floor.elapsed = started.elapsed();
    Ok(floor)
}
