//! Rebuilding the search index: every current version's entries are extracted
//! again from the registry and replace the rows it had, a thousand resources a
//! transaction. The registry's fingerprint is kept in `search_meta`, so a build
//! with other search parameters reindexes when it opens the store.

use super::backend;
use super::index::{self, VersionKey};
use crate::search::extract::extract;
use crate::search::registry::{fingerprint, registry};
use crate::store::StoreError;
use rusqlite::{Connection, OptionalExtension, params};

/// Resources per transaction.
const BATCH: i64 = 1000;

/// Records the registry's fingerprint in a store that holds no resource yet
/// (its index is trivially up to date), so that the first start after
/// `hemolink generate` or a fresh directory does not reindex.
pub fn stamp_if_empty(conn: &Connection) -> Result<(), StoreError> {
    let empty: bool = conn
        .query_row(
            "SELECT NOT EXISTS (SELECT 1 FROM resource_current)",
            [],
            |r| r.get(0),
        )
        .map_err(backend)?;
    if empty {
        conn.execute(
            "INSERT INTO search_meta (key, value) VALUES ('registry', ?1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [fingerprint()],
        )
        .map_err(backend)?;
    }
    Ok(())
}

/// Reindexes (when stale, with `only_if_stale`); the count of resources indexed.
pub fn run(
    conn: &mut Connection,
    pids: &[i64],
    base: &str,
    only_if_stale: bool,
) -> Result<Option<u64>, StoreError> {
    let wanted = fingerprint();
    let stored: Option<String> = conn
        .query_row(
            "SELECT value FROM search_meta WHERE key = 'registry'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend)?;
    if only_if_stale && stored.as_deref() == Some(wanted.as_str()) {
        return Ok(None);
    }
    let mut done = 0u64;
    let mut after = 0i64;
    loop {
        let tx = conn.transaction().map_err(backend)?;
        let batch: Vec<(i64, String, String, i64, String)> = {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT v.seq, v.type, v.id, v.last_updated, v.body FROM resource_current c \
                     JOIN resource_version v ON v.seq = c.seq \
                     WHERE c.deleted = 0 AND c.seq > ?1 ORDER BY c.seq LIMIT ?2",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![after, BATCH], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)?
        };
        if batch.is_empty() {
            tx.execute(
                "INSERT INTO search_meta (key, value) VALUES ('registry', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [&wanted],
            )
            .map_err(backend)?;
            tx.commit().map_err(backend)?;
            return Ok(Some(done));
        }
        for (seq, resource_type, id, last_updated, body) in &batch {
            let resource: serde_json::Value = serde_json::from_str(body)
                .map_err(|e| StoreError::Backend(format!("{resource_type}/{id}: {e}")))?;
            let rid = index::rid(&tx, resource_type, id, false)?;
            index::remove_current(&tx, rid)?;
            let has_row: bool = tx
                .prepare_cached("SELECT 1 FROM ix_resource WHERE rid = ?1 AND seq = ?2")
                .and_then(|mut s| s.exists(params![rid, seq]))
                .map_err(backend)?;
            if !has_row {
                index::add_version(
                    &tx,
                    &VersionKey {
                        resource_type,
                        rid,
                        seq: *seq,
                        last_updated: *last_updated,
                    },
                )?;
            }
            let entries = extract(registry(), resource_type, &resource, base);
            index::add_entries(&tx, pids, rid, *seq, &entries)?;
            done += 1;
            after = *seq;
        }
        tx.commit().map_err(backend)?;
    }
}
