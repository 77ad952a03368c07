//! The single writer of the SQLite store. Units of work arrive on a channel; the
//! writer takes every unit waiting, applies each in its own savepoint, and commits
//! them together (group commit: one fsync of the WAL acknowledges them all). Only
//! after the commit has returned, so after the fsync, is any caller answered.

use super::super::{Indexed, Method, Outcome, StoreError, Version, Write};
use super::{index, reindex};
use crate::fhir::instant::{format_instant, now_micros};
use crate::search::entry::Entry;
use crate::search::query::Search;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use tokio::sync::oneshot;

/// Most units of work one commit carries.
const MAX_GROUP: usize = 512;

/// What the writer is asked to do.
pub enum Job {
    /// Apply a unit of work and answer once it is durable.
    Unit {
        writes: Vec<Indexed>,
        reply: oneshot::Sender<Result<Vec<Outcome>, StoreError>>,
    },
    /// Report the connection's `synchronous` and `journal_mode` settings.
    Pragmas(oneshot::Sender<(i64, String)>),
    /// Rebuild the index of the current versions (see [`super::Backend::reindex`]).
    Reindex {
        base: String,
        only_if_stale: bool,
        reply: oneshot::Sender<Result<Option<u64>, StoreError>>,
    },
}

/// Counters shared with the store handle.
#[derive(Default)]
pub struct Counters {
    pub units: AtomicU64,
    pub commits: AtomicU64,
}

type Reply = oneshot::Sender<Result<Vec<Outcome>, StoreError>>;

/// What the writer keeps between units: its clock and the database numbers of
/// the registry's index slots.
pub struct State {
    clock: Clock,
    pids: Vec<i64>,
}

/// Runs until every sender of `jobs` is dropped.
pub fn run(mut conn: Connection, jobs: Receiver<Job>, counters: Arc<Counters>, pids: Vec<i64>) {
    let mut state = State {
        clock: Clock {
            last: conn
                .query_row(
                    "SELECT coalesce(max(last_updated), 0) FROM resource_version",
                    [],
                    |r| r.get(0),
                )
                .unwrap_or(0),
        },
        pids,
    };
    while let Ok(first) = jobs.recv() {
        let mut units: Vec<(Vec<Indexed>, Reply)> = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Unit { writes, reply } => units.push((writes, reply)),
                Job::Pragmas(reply) => {
                    let _ = reply.send(pragmas(&conn));
                }
                Job::Reindex {
                    base,
                    only_if_stale,
                    reply,
                } => {
                    let _ = reply.send(reindex::run(&mut conn, &state.pids, &base, only_if_stale));
                }
            }
            if units.len() < MAX_GROUP {
                next = jobs.try_recv().ok();
            }
        }
        if units.is_empty() {
            continue;
        }
        let (writes, replies): (Vec<_>, Vec<_>) = units.into_iter().unzip();
        let results = commit_group(&mut conn, &mut state, writes, &counters);
        let committed = results.iter().filter(|r| r.is_ok()).count() as u64;
        counters.units.fetch_add(committed, Ordering::Relaxed);
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!("final checkpoint failed: {e}");
    }
}

fn pragmas(conn: &Connection) -> (i64, String) {
    let sync = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap_or(-1);
    let mode = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap_or_default();
    (sync, mode)
}

/// Applies every unit in its own savepoint and commits them in one transaction.
fn commit_group(
    conn: &mut Connection,
    state: &mut State,
    units: Vec<Vec<Indexed>>,
    counters: &Counters,
) -> Vec<Result<Vec<Outcome>, StoreError>> {
    let count = units.len();
    let fail_all = |e: rusqlite::Error| -> Vec<Result<Vec<Outcome>, StoreError>> {
        tracing::error!("store commit failed: {e}");
        (0..count)
            .map(|_| Err(StoreError::Backend(format!("commit failed: {e}"))))
            .collect()
    };
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return fail_all(e),
    };
    let mut results = Vec::with_capacity(count);
    for writes in units {
        if let Err(e) = tx.execute_batch("SAVEPOINT unit") {
            return fail_all(e);
        }
        let several = writes.len() > 1;
        let result = writes
            .into_iter()
            .enumerate()
            .map(|(index, w)| {
                apply(&tx, state, w).map_err(|error| match error {
                    StoreError::Backend(_) => error,
                    _ if several => StoreError::Write {
                        index,
                        error: Box::new(error),
                    },
                    _ => error,
                })
            })
            .collect::<Result<Vec<_>, _>>();
        let end = if result.is_ok() {
            "RELEASE unit"
        } else {
            "ROLLBACK TO unit; RELEASE unit"
        };
        if let Err(e) = tx.execute_batch(end) {
            return fail_all(e);
        }
        results.push(result);
    }
    match tx.commit() {
        Ok(()) => {
            counters.commits.fetch_add(1, Ordering::Relaxed);
            results
        }
        Err(e) => fail_all(e),
    }
}

/// `meta.lastUpdated` for each write: the wall clock, but never going backwards
/// (not even across restarts: it starts from the latest stored instant) and
/// never giving two versions the same instant.
struct Clock {
    last: i64,
}

impl Clock {
    fn tick(&mut self) -> i64 {
        self.last = now_micros().max(self.last + 1);
        self.last
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// The current version number of a resource and whether it is deleted.
fn current(
    conn: &Connection,
    resource_type: &str,
    id: &str,
) -> Result<Option<(u64, bool)>, StoreError> {
    conn.prepare_cached("SELECT version, deleted FROM resource_current WHERE type = ?1 AND id = ?2")
        .and_then(|mut s| {
            s.query_row(params![resource_type, id], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
            })
            .optional()
        })
        .map_err(backend)
}

fn apply(conn: &Connection, state: &mut State, indexed: Indexed) -> Result<Outcome, StoreError> {
    let Indexed { write, entries } = indexed;
    match write {
        Write::Create {
            id,
            resource,
            if_none_exist,
        } => {
            let resource_type = resource_type_of(&resource)?;
            if let Some(condition) = &if_none_exist {
                match matching(conn, state, condition)?.as_slice() {
                    [] => {}
                    [one] => return Ok(Outcome::Existing(one.clone())),
                    many => return Err(StoreError::MultipleMatches(many.len())),
                }
            }
            if current(conn, &resource_type, &id)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "{resource_type}/{id} exists already"
                )));
            }
            let v = insert(
                conn,
                state,
                &resource_type,
                &id,
                (1, false),
                Method::Create,
                Some((resource, &entries)),
            )?;
            Ok(Outcome::Created(v))
        }
        Write::Update { resource, if_match } => {
            let resource_type = resource_type_of(&resource)?;
            let id = resource
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| StoreError::Invalid("an update needs the resource's id".into()))?
                .to_string();
            let now = current(conn, &resource_type, &id)?;
            check_match(if_match, now)?;
            let (version, created) = match now {
                Some((v, deleted)) => (v + 1, deleted),
                None => (1, true),
            };
            let v = insert(
                conn,
                state,
                &resource_type,
                &id,
                (version, now.is_some_and(|(_, deleted)| !deleted)),
                Method::Update,
                Some((resource, &entries)),
            )?;
            Ok(if created {
                Outcome::Created(v)
            } else {
                Outcome::Updated(v)
            })
        }
        Write::Delete {
            resource_type,
            id,
            if_match,
        } => {
            let now = current(conn, &resource_type, &id)?;
            check_match(if_match, now)?;
            match now {
                Some((v, false)) => {
                    let t = insert(
                        conn,
                        state,
                        &resource_type,
                        &id,
                        (v + 1, true),
                        Method::Delete,
                        None,
                    )?;
                    Ok(Outcome::Deleted(Some(t)))
                }
                _ => Ok(Outcome::Deleted(None)),
            }
        }
        Write::UpdateWhere {
            mut resource,
            condition,
            id,
        } => {
            let found = matching(conn, state, &condition)?;
            let target = match found.as_slice() {
                [] => resource
                    .get("id")
                    .and_then(Value::as_str)
                    .map_or(id, str::to_string),
                [one] => {
                    if let Some(body_id) = resource.get("id").and_then(Value::as_str)
                        && body_id != one.id
                    {
                        return Err(StoreError::Invalid(format!(
                            "the body's id '{body_id}' is not the id of the resource the condition matched ('{}')",
                            one.id
                        )));
                    }
                    one.id.clone()
                }
                many => return Err(StoreError::MultipleMatches(many.len())),
            };
            if let Some(fields) = resource.as_object_mut() {
                fields.insert("id".into(), Value::String(target));
            }
            apply(
                conn,
                state,
                Indexed {
                    write: Write::Update {
                        resource,
                        if_match: None,
                    },
                    entries,
                },
            )
        }
        Write::DeleteWhere {
            condition,
            multiple,
        } => {
            let found = matching(conn, state, &condition)?;
            if found.len() > 1 && !multiple {
                return Err(StoreError::MultipleMatches(found.len()));
            }
            let mut deleted = Vec::new();
            for v in found {
                let delete = Write::Delete {
                    resource_type: v.resource_type,
                    id: v.id,
                    if_match: None,
                };
                let outcome = apply(
                    conn,
                    state,
                    Indexed {
                        write: delete,
                        entries: Vec::new(),
                    },
                )?;
                if let Outcome::Deleted(Some(t)) = outcome {
                    deleted.push(t);
                }
            }
            Ok(Outcome::DeletedAll(deleted))
        }
        Write::Assert { condition, expect } => {
            let mut found: Vec<String> = matching(conn, state, &condition)?
                .into_iter()
                .map(|v| v.id)
                .collect();
            let mut expect = expect;
            found.sort_unstable();
            expect.sort_unstable();
            if found == expect {
                Ok(Outcome::Checked)
            } else {
                Err(StoreError::Changed(format!(
                    "a condition of the unit of work matched {} resources when it was prepared and {} now",
                    expect.len(),
                    found.len()
                )))
            }
        }
    }
}

fn resource_type_of(resource: &Value) -> Result<String, StoreError> {
    resource
        .get("resourceType")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| StoreError::Invalid("a resource needs its resourceType".into()))
}

fn check_match(if_match: Option<u64>, now: Option<(u64, bool)>) -> Result<(), StoreError> {
    // The version of a tombstone counts too: the ETag of a delete lets a client
    // bring the resource back with version contention (http.html#delete).
    match (if_match, now) {
        (None, _) => Ok(()),
        (Some(expected), Some((v, _))) if v == expected => Ok(()),
        (Some(expected), now) => Err(StoreError::VersionConflict {
            expected,
            current: now.map(|(v, _)| v),
        }),
    }
}

/// What a condition matches, as of this transaction (so including the writes
/// of this commit before it): at most two resources, enough to tell none, one
/// and several apart; with `multiple` deletes, every match.
fn matching(
    conn: &Connection,
    state: &State,
    condition: &Search,
) -> Result<Vec<Version>, StoreError> {
    let mut all = Vec::new();
    let mut search = condition.clone();
    search.includes.clear();
    search.total = crate::search::query::Total::None;
    loop {
        let page = super::search::run_in(conn, &state.pids, &search)?;
        all.extend(page.matches);
        match page.next {
            Some(next) if search.count > 2 => search.page = Some(next),
            _ => return Ok(all),
        }
    }
}

/// Writes a new version (with `id` and `meta` set in the resource) and moves the
/// current pointer and the identifier rows to it.
/// `version` is the new version's number and whether it replaces a live one
/// (whose index rows it closes). `resource` is `None` for a delete.
fn insert(
    conn: &Connection,
    state: &mut State,
    resource_type: &str,
    id: &str,
    version: (u64, bool),
    method: Method,
    resource: Option<(Value, &[Entry])>,
) -> Result<Version, StoreError> {
    let (version, replaces) = version;
    let last_updated = state.clock.tick();
    let (resource, entries) = match resource {
        Some((r, e)) => (Some(r), e),
        None => (None, &[][..]),
    };
    let body: Option<Arc<str>> = match &resource {
        Some(r) => {
            let stamped = stamp(r, id, version, last_updated);
            Some(
                serde_json::to_string(&stamped)
                    .map_err(|e| StoreError::Backend(e.to_string()))?
                    .into(),
            )
        }
        None => None,
    };
    conn.prepare_cached(
        "INSERT INTO resource_version (type, id, version, last_updated, method, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            resource_type,
            id,
            version as i64,
            last_updated,
            method.http_verb(),
            body.as_deref()
        ])
    })
    .map_err(backend)?;
    let seq = conn.last_insert_rowid();
    let rid = index::rid(conn, resource_type, id)?;
    if replaces {
        index::close(conn, rid, seq)?;
    }
    if resource.is_some() {
        index::add_version(
            conn,
            &index::VersionKey {
                resource_type,
                rid,
                seq,
                last_updated,
            },
        )?;
        index::add_entries(conn, &state.pids, rid, seq, entries)?;
    }
    conn.prepare_cached(
        "INSERT INTO resource_current (type, id, version, seq, deleted) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (type, id) DO UPDATE SET version = excluded.version, seq = excluded.seq, deleted = excluded.deleted",
    )
    .and_then(|mut s| s.execute(params![resource_type, id, version as i64, seq, body.is_none()]))
    .map_err(backend)?;
    Ok(Version {
        resource_type: resource_type.to_string(),
        id: id.to_string(),
        version,
        last_updated,
        method,
        body,
    })
}

/// The resource with `resourceType`, `id` and `meta` (versionId, lastUpdated) first.
fn stamp(resource: &Value, id: &str, version: u64, last_updated: i64) -> Value {
    let empty = Map::new();
    let fields = resource.as_object().unwrap_or(&empty);
    let mut out = Map::with_capacity(fields.len() + 2);
    if let Some(t) = fields.get("resourceType") {
        out.insert("resourceType".into(), t.clone());
    }
    out.insert("id".into(), Value::String(id.to_string()));
    let mut meta = Map::new();
    meta.insert("versionId".into(), Value::String(version.to_string()));
    meta.insert(
        "lastUpdated".into(),
        Value::String(format_instant(last_updated)),
    );
    if let Some(Value::Object(old)) = fields.get("meta") {
        for (k, v) in old {
            if k != "versionId" && k != "lastUpdated" {
                meta.insert(k.clone(), v.clone());
            }
        }
    }
    out.insert("meta".into(), Value::Object(meta));
    for (k, v) in fields {
        if !matches!(k.as_str(), "resourceType" | "id" | "meta") {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}
