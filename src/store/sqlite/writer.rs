//! The single writer of the SQLite store. Units of work arrive on a channel; the
//! writer takes every unit waiting, applies each in its own savepoint, and commits
//! them together (group commit: one fsync of the WAL acknowledges them all). A
//! streamed unit (a large transaction, whose writes arrive one at a time) is
//! committed on its own. Only after the commit has returned, so after the
//! fsync, is any caller answered.

use super::super::{Draft, Guard, Indexed, Method, Outcome, Piece, StoreError, Version, Write};
use super::{index, messages, reindex};
use crate::fhir::instant::now_micros;
use crate::search::entry::Entry;
use crate::search::query::{Branch, Clause, Cond, Search, Total};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::Value;
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
    /// Apply a unit of work whose writes arrive one at a time, alone in its
    /// commit, and answer once it is durable.
    Stream {
        pieces: tokio::sync::mpsc::Receiver<Piece>,
        keep_texts: bool,
        reply: Reply,
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
        let mut stream = None;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Unit { writes, reply } => units.push((writes, reply)),
                Job::Stream {
                    pieces,
                    keep_texts,
                    reply,
                } => stream = Some((pieces, keep_texts, reply)),
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
            // A streamed unit ends the group: it is committed on its own.
            if units.len() < MAX_GROUP && stream.is_none() {
                next = jobs.try_recv().ok();
            }
        }
        if !units.is_empty() {
            let (writes, replies): (Vec<_>, Vec<_>) = units.into_iter().unzip();
            let results = commit_group(&mut conn, &mut state, writes, &counters);
            let committed = results.iter().filter(|r| r.is_ok()).count() as u64;
            counters.units.fetch_add(committed, Ordering::Relaxed);
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        if let Some((pieces, keep_texts, reply)) = stream {
            let result = streamed(&mut conn, &mut state, pieces, keep_texts);
            if result.is_ok() {
                counters.units.fetch_add(1, Ordering::Relaxed);
                counters.commits.fetch_add(1, Ordering::Relaxed);
            }
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

type Results = Vec<Result<Vec<Outcome>, StoreError>>;

/// Applies the units and commits them in one transaction. They are first
/// applied one after the other with no savepoint, so SQLite keeps no copy of
/// the pages they change (a savepoint copies every page before its first
/// change, which was a tenth of the writer's time). When a unit fails, that
/// transaction is rolled back and the group applied again, each unit in its
/// own savepoint, so the failed one is undone alone and the others commit.
fn commit_group(
    conn: &mut Connection,
    state: &mut State,
    units: Vec<Vec<Indexed>>,
    counters: &Counters,
) -> Results {
    let results = match straight(conn, state, &units) {
        Ok(Some(results)) => Ok(results),
        Ok(None) => with_savepoints(conn, state, &units),
        Err(e) => Err(e),
    };
    match results {
        Ok(results) => {
            if results.iter().any(Result::is_ok) {
                counters.commits.fetch_add(1, Ordering::Relaxed);
            }
            results
        }
        Err(e) => fail_all(units.len(), &e),
    }
}

fn fail_all(count: usize, e: &rusqlite::Error) -> Results {
    tracing::error!("store commit failed: {e}");
    (0..count)
        .map(|_| Err(StoreError::Backend(format!("commit failed: {e}"))))
        .collect()
}

/// Applies every unit and commits; `None` (after rolling back) when a unit of
/// several failed. A group of one needs no second pass: its failure is the
/// answer, and the rollback undoes it.
fn straight(
    conn: &mut Connection,
    state: &mut State,
    units: &[Vec<Indexed>],
) -> rusqlite::Result<Option<Results>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(units.len());
    for writes in units {
        match apply_unit(&tx, state, writes) {
            Ok(outcomes) => results.push(Ok(outcomes)),
            Err(error) if units.len() == 1 => {
                tx.rollback()?;
                return Ok(Some(vec![Err(error)]));
            }
            Err(_) => {
                tx.rollback()?;
                return Ok(None);
            }
        }
    }
    tx.commit()?;
    Ok(Some(results))
}

/// Applies every unit in its own savepoint and commits those that succeeded.
fn with_savepoints(
    conn: &mut Connection,
    state: &mut State,
    units: &[Vec<Indexed>],
) -> rusqlite::Result<Results> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(units.len());
    for writes in units {
        tx.execute_batch("SAVEPOINT unit")?;
        let result = apply_unit(&tx, state, writes);
        let end = if result.is_ok() {
            "RELEASE unit"
        } else {
            "ROLLBACK TO unit; RELEASE unit"
        };
        tx.execute_batch(end)?;
        results.push(result);
    }
    tx.commit()?;
    Ok(results)
}

/// Applies the writes of a streamed unit as they arrive and commits them once
/// its end arrives. A failed write, or the channel closing first, rolls all
/// of it back (dropping the transaction does). Every error names its write.
fn streamed(
    conn: &mut Connection,
    state: &mut State,
    mut pieces: tokio::sync::mpsc::Receiver<Piece>,
    keep_texts: bool,
) -> Result<Vec<Outcome>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let mut outcomes = Vec::new();
    loop {
        match pieces.blocking_recv() {
            Some(Piece::Write(w)) => {
                let index = outcomes.len();
                let mut outcome = apply(&tx, state, &w).map_err(|e| at_write(index, e))?;
                if !keep_texts {
                    without_text(&mut outcome);
                }
                outcomes.push(outcome);
            }
            Some(Piece::End) => break,
            None => {
                return Err(StoreError::Backend(
                    "the unit of work was abandoned before its end".into(),
                ));
            }
        }
    }
    tx.commit().map_err(backend)?;
    Ok(outcomes)
}

/// Drops the text of the versions an outcome carries.
fn without_text(outcome: &mut Outcome) {
    match outcome {
        Outcome::Created(v) | Outcome::Updated(v) | Outcome::Existing(v) => v.body = None,
        Outcome::Deleted(_) | Outcome::DeletedAll(_) | Outcome::Checked | Outcome::Message(_) => {}
    }
}

/// Applies the writes of one unit; an error of a unit of several names its write.
fn apply_unit(
    conn: &Connection,
    state: &mut State,
    writes: &[Indexed],
) -> Result<Vec<Outcome>, StoreError> {
    let several = writes.len() > 1;
    writes
        .iter()
        .enumerate()
        .map(|(index, w)| {
            apply(conn, state, w).map_err(|e| if several { at_write(index, e) } else { e })
        })
        .collect()
}

/// The error of write number `index` of a unit, named by it (a backend
/// failure is the whole commit's, not one write's, and a duplicate message
/// is the whole unit's answer).
fn at_write(index: usize, error: StoreError) -> StoreError {
    match error {
        StoreError::Backend(_) | StoreError::Duplicate { .. } => error,
        _ => StoreError::Write {
            index,
            error: Box::new(error),
        },
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

/// What is stored of a resource before a write.
#[derive(Clone, Copy)]
struct Now {
    version: u64,
    deleted: bool,
    /// Its number in the search index (`None` only if it has none yet).
    rid: Option<i64>,
}

/// The current version of a resource, whether it is deleted, and its index
/// number, in one lookup.
fn current(conn: &Connection, resource_type: &str, id: &str) -> Result<Option<Now>, StoreError> {
    conn.prepare_cached(
        "SELECT c.version, c.deleted, s.rid FROM resource_current c \
         LEFT JOIN search_resource s ON s.type = c.type AND s.id = c.id \
         WHERE c.type = ?1 AND c.id = ?2",
    )
    .and_then(|mut s| {
        s.query_row(params![resource_type, id], |r| {
            Ok(Now {
                version: r.get::<_, i64>(0)? as u64,
                deleted: r.get(1)?,
                rid: r.get(2)?,
            })
        })
        .optional()
    })
    .map_err(backend)
}

fn apply(conn: &Connection, state: &mut State, indexed: &Indexed) -> Result<Outcome, StoreError> {
    let Indexed {
        write,
        entries,
        draft,
        guard,
    } = indexed;
    let guard = guard.as_ref();
    match write {
        Write::Create {
            id,
            resource,
            if_none_exist,
        } => {
            let resource_type = resource_type_of(resource)?;
            if let Some(condition) = if_none_exist {
                match matching(conn, state, condition)?.as_slice() {
                    [] => {}
                    [one] => return Ok(Outcome::Existing(one.clone())),
                    many => return Err(StoreError::MultipleMatches(many.len())),
                }
            }
            if current(conn, resource_type, id)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "{resource_type}/{id} exists already"
                )));
            }
            let draft = drafted(draft.as_ref())?;
            guarded(
                conn,
                state,
                guard,
                (resource_type, id),
                None,
                Method::Create,
                Some(entries),
            )?;
            let v = insert(
                conn,
                state,
                (resource_type, id),
                None,
                Method::Create,
                Some((draft, entries)),
            )?;
            Ok(Outcome::Created(v))
        }
        Write::Update { resource, if_match } => {
            let id = resource
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| StoreError::Invalid("an update needs the resource's id".into()))?;
            update(
                conn,
                state,
                (resource, id),
                *if_match,
                (entries, draft.as_ref()),
                guard,
            )
        }
        Write::Delete {
            resource_type,
            id,
            if_match,
        } => delete(conn, state, (resource_type, id), *if_match, guard),
        Write::UpdateWhere {
            resource,
            condition,
            id,
        } => {
            let body_id = resource.get("id").and_then(Value::as_str);
            let found = matching(conn, state, condition)?;
            let target = match found.as_slice() {
                [] => body_id.unwrap_or(id),
                [one] => {
                    if let Some(body_id) = body_id
                        && body_id != one.id
                    {
                        return Err(StoreError::Invalid(format!(
                            "the body's id '{body_id}' is not the id of the resource the condition matched ('{}')",
                            one.id
                        )));
                    }
                    one.id.as_str()
                }
                many => return Err(StoreError::MultipleMatches(many.len())),
            };
            update(
                conn,
                state,
                (resource, target),
                None,
                (entries, draft.as_ref()),
                guard,
            )
        }
        Write::DeleteWhere {
            condition,
            multiple,
        } => {
            let found = matching(conn, state, condition)?;
            if found.len() > 1 && !multiple {
                return Err(StoreError::MultipleMatches(found.len()));
            }
            let mut deleted = Vec::new();
            for v in found {
                if let Outcome::Deleted(Some(t)) =
                    delete(conn, state, (&v.resource_type, &v.id), None, guard)?
                {
                    deleted.push(t);
                }
            }
            Ok(Outcome::DeletedAll(deleted))
        }
        Write::Message(m) => messages::apply(conn, m).map(Outcome::Message),
        Write::Assert { condition, expect } => {
            let mut found: Vec<String> = matching(conn, state, condition)?
                .into_iter()
                .map(|v| v.id)
                .collect();
            let mut expect = expect.clone();
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

/// The draft [`crate::store::Store`] made for a write that carries a resource.
fn drafted(draft: Option<&Draft>) -> Result<&Draft, StoreError> {
    draft
        .ok_or_else(|| StoreError::Backend("a resource came to the writer without its text".into()))
}

/// Writes a new version of the resource `target` (its resource and the id to
/// store it under), creating it when it does not exist or is deleted.
fn update(
    conn: &Connection,
    state: &mut State,
    target: (&Value, &str),
    if_match: Option<u64>,
    (entries, draft): (&[Entry], Option<&Draft>),
    guard: Option<&Guard>,
) -> Result<Outcome, StoreError> {
    let (resource, id) = target;
    let resource_type = resource_type_of(resource)?;
    let now = current(conn, resource_type, id)?;
    check_match(if_match, now)?;
    let draft = drafted(draft)?;
    guarded(
        conn,
        state,
        guard,
        (resource_type, id),
        now,
        Method::Update,
        Some(entries),
    )?;
    let v = insert(
        conn,
        state,
        (resource_type, id),
        now,
        Method::Update,
        Some((draft, entries)),
    )?;
    Ok(if now.is_none_or(|n| n.deleted) {
        Outcome::Created(v)
    } else {
        Outcome::Updated(v)
    })
}

/// Writes a tombstone, if the resource exists and is not deleted.
fn delete(
    conn: &Connection,
    state: &mut State,
    (resource_type, id): (&str, &str),
    if_match: Option<u64>,
    guard: Option<&Guard>,
) -> Result<Outcome, StoreError> {
    let now = current(conn, resource_type, id)?;
    check_match(if_match, now)?;
    match now {
        Some(n) if !n.deleted => {
            guarded(
                conn,
                state,
                guard,
                (resource_type, id),
                now,
                Method::Delete,
                None,
            )?;
            let t = insert(conn, state, (resource_type, id), now, Method::Delete, None)?;
            Ok(Outcome::Deleted(Some(t)))
        }
        _ => Ok(Outcome::Deleted(None)),
    }
}

/// The request's guard on one write: the resource as stored (for an update
/// or a delete of a live one) and the version written (its index entries,
/// for a create or an update) must both be within what `method` reaches.
fn guarded(
    conn: &Connection,
    state: &State,
    guard: Option<&Guard>,
    (resource_type, id): (&str, &str),
    now: Option<Now>,
    method: Method,
    written: Option<&[Entry]>,
) -> Result<(), StoreError> {
    let Some(guard) = guard else {
        return Ok(());
    };
    let filter = guard(resource_type, method);
    let verb = match method {
        Method::Create => "create",
        Method::Update => "update",
        Method::Delete => "delete",
    };
    if now.is_some_and(|n| !n.deleted)
        && let Some(cond) = filter.cond()
    {
        let search = Search {
            branches: vec![Branch {
                resource_type: resource_type.to_string(),
                clauses: vec![Clause(vec![Cond::Id(id.to_string())]), Clause(vec![cond])],
            }],
            sort: Vec::new(),
            count: 1,
            total: Total::None,
            includes: Vec::new(),
            max_included: 0,
            page: None,
        };
        if matching(conn, state, &search)?.is_empty() {
            return Err(StoreError::Forbidden(format!(
                "the access token's scopes do not let this request {verb} {resource_type}/{id} as it is stored"
            )));
        }
    }
    if let Some(entries) = written
        && !filter.admits(id, entries)
    {
        return Err(StoreError::Forbidden(format!(
            "the access token's scopes do not reach the {resource_type} this request would {verb} (it would be outside the patient's compartment or the scope's query)"
        )));
    }
    Ok(())
}

fn resource_type_of(resource: &Value) -> Result<&str, StoreError> {
    resource
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or_else(|| StoreError::Invalid("a resource needs its resourceType".into()))
}

fn check_match(if_match: Option<u64>, now: Option<Now>) -> Result<(), StoreError> {
    // The version of a tombstone counts too: the ETag of a delete lets a client
    // bring the resource back with version contention (http.html#delete).
    match (if_match, now) {
        (None, _) => Ok(()),
        (Some(expected), Some(n)) if n.version == expected => Ok(()),
        (Some(expected), now) => Err(StoreError::VersionConflict {
            expected,
            current: now.map(|n| n.version),
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
/// current pointer and the index rows to it. `now` is what was stored before
/// (`None` for a new resource): the new version follows it, and closes its
/// index rows if it was live. `resource` is `None` for a delete.
fn insert(
    conn: &Connection,
    state: &mut State,
    (resource_type, id): (&str, &str),
    now: Option<Now>,
    method: Method,
    resource: Option<(&Draft, &[Entry])>,
) -> Result<Version, StoreError> {
    let version = now.map_or(1, |n| n.version + 1);
    let replaces = now.is_some_and(|n| !n.deleted);
    let last_updated = state.clock.tick();
    let body: Option<Arc<str>> =
        resource.map(|(draft, _)| draft.stamp(resource_type, id, version, last_updated).into());
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
    let rid = match now.and_then(|n| n.rid) {
        Some(rid) => rid,
        None => index::rid(conn, resource_type, id, now.is_none())?,
    };
    if replaces {
        index::close(conn, rid, seq)?;
    }
    if let Some((_, entries)) = resource {
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
