//! The embedded store: one SQLite file (`hemolink.db`) in the data directory, in
//! WAL mode with `synchronous=FULL` on every connection, so that a commit has
//! reached the disk before it returns. One writer thread applies units of work
//! with group commit (see [`writer`]); reads run on a pool of connections that
//! never block the writer.

pub mod floor;
mod index;
mod messages;
mod reindex;
mod schema;
mod search;
pub mod vfs;
mod writer;

use super::{
    Backend, BoxFuture, HistoryPage, HistoryQuery, HistoryScope, Indexed, Method, Stats,
    StoreError, Version,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// The file name of the database inside the data directory.
pub const DB_FILE: &str = "hemolink.db";

/// Most idle read connections kept.
const POOL_SIZE: usize = 16;

/// The SQLite backend.
pub struct SqliteStore {
    path: PathBuf,
    jobs: Mutex<Option<mpsc::Sender<writer::Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    counters: Arc<writer::Counters>,
    /// The database numbers of the registry's index slots.
    pids: Arc<Vec<i64>>,
    /// The lock on the data directory, held while the store is open.
    _lock: std::fs::File,
}

/// The file whose lock says a process has the data directory open.
pub const LOCK_FILE: &str = "hemolink.lock";

/// Takes the data directory's lock, so that two processes (a server and
/// `hemolink generate`, say) never write one store at once.
fn lock(dir: &Path) -> Result<std::fs::File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Backend(format!(
            "{} is in use by another Hemolink process",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Backend(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Opens a connection through the counting VFS with the durability settings, and
/// checks that SQLite took them. The WAL is copied back into the database file
/// every 65,536 pages (256 MiB) rather than SQLite's default 1,000: a bulk load
/// rewrites the same index pages over and over, and each checkpoint writes
/// (and syncs) every page changed since the last one once, so a longer interval
/// writes the hot pages fewer times. At 100,000 Synthea resources this took
/// `hemolink load` from 2,014 to 3,053 resources/s and from 0.0123 to 0.0039
/// fsyncs per resource (docs/benchmarks.md).
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags_and_vfs(path, flags, vfs::VFS_NAME).map_err(backend)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA busy_timeout = 10000;
         PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -32768;
         PRAGMA wal_autocheckpoint = 65536;",
    )
    .map_err(backend)?;
    conn.set_prepared_statement_cache_capacity(128);
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .map_err(backend)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .map_err(backend)?;
    if sync != 2 || mode != "wal" {
        return Err(StoreError::Backend(format!(
            "SQLite refused the durability settings (synchronous={sync}, journal_mode={mode})"
        )));
    }
    Ok(conn)
}

/// `EXPLAIN QUERY PLAN` of the first page of `search` on the store in `dir`,
/// opened read-only (for the benchmark's record of query plans): each
/// statement's SQL and its plan.
pub fn explain_search(
    dir: &Path,
    search: &crate::search::query::Search,
) -> Result<Vec<(String, Vec<String>)>, StoreError> {
    let conn = Connection::open_with_flags(dir.join(DB_FILE), OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(backend)?;
    let pids = index::read_params(&conn, crate::search::registry::registry())?;
    search::explain(&conn, &pids, search)
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`, migrating its schema.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", dir.display())))?;
        let lock = lock(dir)?;
        vfs::register().map_err(backend)?;
        let path = dir.join(DB_FILE);
        let mut conn = connect(&path)?;
        schema::migrate(&mut conn)?;
        let pids = {
            let tx = conn.transaction().map_err(backend)?;
            let pids = index::sync_params(&tx, crate::search::registry::registry())?;
            reindex::stamp_if_empty(&tx)?;
            tx.commit().map_err(backend)?;
            pids
        };
        let (tx, rx) = mpsc::channel();
        let counters = Arc::new(writer::Counters::default());
        let thread_counters = counters.clone();
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn({
                let pids = pids.clone();
                move || writer::run(conn, rx, thread_counters, pids)
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the writer: {e}")))?;
        Ok(SqliteStore {
            path,
            jobs: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            readers: Mutex::new(Vec::new()),
            counters,
            pids: Arc::new(pids),
            _lock: lock,
        })
    }

    /// The `synchronous` and `journal_mode` settings of every open connection:
    /// the writer's first, then each pooled reader's.
    pub async fn connection_settings(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(writer::Job::Pragmas(tx))?;
        let mut all = vec![rx.await.map_err(|_| closed())?];
        let pool = self.readers.lock().map_err(|_| poisoned())?;
        for conn in pool.iter() {
            let sync = conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .map_err(backend)?;
            let mode = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .map_err(backend)?;
            all.push((sync, mode));
        }
        Ok(all)
    }

    fn send(&self, job: writer::Job) -> Result<(), StoreError> {
        let jobs = self.jobs.lock().map_err(|_| poisoned())?;
        jobs.as_ref()
            .ok_or_else(closed)?
            .send(job)
            .map_err(|_| closed())
    }

    /// Runs `f` on a pooled read connection.
    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.jobs.lock().map_err(|_| poisoned())?.is_none() {
            return Err(closed());
        }
        let pooled = self.readers.lock().map_err(|_| poisoned())?.pop();
        let conn = match pooled {
            Some(c) => c,
            None => connect(&self.path)?,
        };
        let result = f(&conn);
        let mut pool = self.readers.lock().map_err(|_| poisoned())?;
        if pool.len() < POOL_SIZE {
            pool.push(conn);
        }
        result
    }
}

fn closed() -> StoreError {
    StoreError::Backend("the store is closed".into())
}

fn poisoned() -> StoreError {
    StoreError::Backend("a store lock was poisoned".into())
}

const VERSION_COLUMNS: &str = "v.seq, v.type, v.id, v.version, v.last_updated, v.method, v.body";

fn version_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Version)> {
    let method: String = r.get(5)?;
    let body: Option<String> = r.get(6)?;
    Ok((
        r.get(0)?,
        Version {
            resource_type: r.get(1)?,
            id: r.get(2)?,
            version: r.get::<_, i64>(3)? as u64,
            last_updated: r.get(4)?,
            method: Method::from_verb(&method),
            body: body.map(Into::into),
        },
    ))
}

/// The current version of a resource, from any connection.
fn read_current(
    conn: &Connection,
    resource_type: &str,
    id: &str,
) -> Result<Option<Version>, StoreError> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM resource_current c JOIN resource_version v ON v.seq = c.seq \
         WHERE c.type = ?1 AND c.id = ?2"
    );
    conn.prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_row(params![resource_type, id], version_row)
                .optional()
        })
        .map(|o| o.map(|(_, v)| v))
        .map_err(backend)
}

fn read_version(
    conn: &Connection,
    resource_type: &str,
    id: &str,
    version: u64,
) -> Result<Option<Version>, StoreError> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM resource_version v WHERE v.type = ?1 AND v.id = ?2 AND v.version = ?3"
    );
    conn.prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_row(params![resource_type, id, version as i64], version_row)
                .optional()
        })
        .map(|o| o.map(|(_, v)| v))
        .map_err(backend)
}

/// The filters of a history query as SQL, with their parameters from `?3` on
/// (`?1` and `?2` are the type and id of the scope).
fn history_filter(query: &HistoryQuery) -> String {
    let mut sql = String::from(match query.scope {
        HistoryScope::System => "1 = 1",
        HistoryScope::Type(_) => "v.type = ?1",
        HistoryScope::Instance(..) => "v.type = ?1 AND v.id = ?2",
    });
    if query.since.is_some() {
        sql.push_str(" AND v.last_updated >= ?3");
    }
    if query.at.is_some() {
        // Current at some moment of [start, end): written before the end, and not
        // replaced by a later version at or before the start.
        sql.push_str(
            " AND v.last_updated < ?5 AND NOT EXISTS (SELECT 1 FROM resource_version n \
             WHERE n.type = v.type AND n.id = v.id AND n.version > v.version AND n.last_updated <= ?4)",
        );
    }
    sql
}

/// A page of history; the total and the page come from one read transaction,
/// so they agree even while writes go on.
fn history(conn: &Connection, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
    let tx = conn.unchecked_transaction().map_err(backend)?;
    let page = history_in(&tx, query);
    tx.finish().map_err(backend)?;
    page
}

fn history_in(conn: &Connection, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
    let (t, i) = match &query.scope {
        HistoryScope::System => (None, None),
        HistoryScope::Type(t) => (Some(t.as_str()), None),
        HistoryScope::Instance(t, i) => (Some(t.as_str()), Some(i.as_str())),
    };
    let (at_start, at_end) = query.at.map_or((None, None), |(s, e)| (Some(s), Some(e)));
    let filter = history_filter(query);
    let count_sql = format!("SELECT count(*) FROM resource_version v WHERE {filter}");
    let total: i64 = conn
        .prepare_cached(&count_sql)
        .and_then(|mut s| {
            let mut p = named(&count_sql, t, i, query.since, at_start, at_end, None, 0);
            s.query_row(rusqlite::params_from_iter(p.drain(..)), |r| r.get(0))
        })
        .map_err(backend)?;
    let page_sql = format!(
        "SELECT {VERSION_COLUMNS} FROM resource_version v WHERE {filter} AND (?6 IS NULL OR v.seq < ?6) \
         ORDER BY v.seq DESC LIMIT ?7"
    );
    let limit = query.count as i64 + 1;
    let mut rows: Vec<(i64, Version)> = conn
        .prepare_cached(&page_sql)
        .and_then(|mut s| {
            let p = named(
                &page_sql,
                t,
                i,
                query.since,
                at_start,
                at_end,
                query.cursor,
                limit,
            );
            s.query_map(rusqlite::params_from_iter(p), version_row)?
                .collect::<Result<_, _>>()
        })
        .map_err(backend)?;
    let next = if rows.len() > query.count {
        rows.truncate(query.count);
        rows.last().map(|(seq, _)| *seq)
    } else {
        None
    };
    Ok(HistoryPage {
        versions: rows.into_iter().map(|(_, v)| v).collect(),
        total: total as u64,
        next,
    })
}

/// Positional parameters `?1`…`?7` of the history statements, cut to the highest
/// one the statement uses.
#[allow(clippy::too_many_arguments)]
fn named(
    sql: &str,
    t: Option<&str>,
    i: Option<&str>,
    since: Option<i64>,
    at_start: Option<i64>,
    at_end: Option<i64>,
    cursor: Option<i64>,
    limit: i64,
) -> Vec<rusqlite::types::Value> {
    use rusqlite::types::Value as V;
    let text = |s: Option<&str>| s.map_or(V::Null, |s| V::Text(s.to_string()));
    let int = |n: Option<i64>| n.map_or(V::Null, V::Integer);
    let all = vec![
        text(t),
        text(i),
        int(since),
        int(at_start),
        int(at_end),
        int(cursor),
        V::Integer(limit),
    ];
    let used = (1..=all.len())
        .rev()
        .find(|n| sql.contains(&format!("?{n}")))
        .unwrap_or(0);
    all.into_iter().take(used).collect()
}

impl Backend for SqliteStore {
    fn read<'a>(
        &'a self,
        resource_type: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Version>, StoreError>> {
        Box::pin(async move { self.with_reader(|c| read_current(c, resource_type, id)) })
    }

    fn vread<'a>(
        &'a self,
        resource_type: &'a str,
        id: &'a str,
        version: u64,
    ) -> BoxFuture<'a, Result<Option<Version>, StoreError>> {
        Box::pin(async move { self.with_reader(|c| read_version(c, resource_type, id, version)) })
    }

    fn history<'a>(
        &'a self,
        query: &'a HistoryQuery,
    ) -> BoxFuture<'a, Result<HistoryPage, StoreError>> {
        Box::pin(async move { self.with_reader(|c| history(c, query)) })
    }

    fn transact(
        &self,
        writes: Vec<Indexed>,
    ) -> BoxFuture<'_, Result<Vec<super::Outcome>, StoreError>> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            self.send(writer::Job::Unit { writes, reply })?;
            rx.await.map_err(|_| closed())?
        })
    }

    fn transact_stream(
        &self,
        pieces: tokio::sync::mpsc::Receiver<super::Piece>,
        keep_texts: bool,
    ) -> BoxFuture<'_, Result<Vec<super::Outcome>, StoreError>> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            self.send(writer::Job::Stream {
                pieces,
                keep_texts,
                reply,
            })?;
            rx.await.map_err(|_| closed())?
        })
    }

    fn search<'a>(
        &'a self,
        search: &'a crate::search::query::Search,
    ) -> BoxFuture<'a, Result<super::SearchPage, StoreError>> {
        Box::pin(async move { self.with_reader(|c| search::run(c, &self.pids, search)) })
    }

    fn reindex<'a>(
        &'a self,
        base: &'a str,
        only_if_stale: bool,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            self.send(writer::Job::Reindex {
                base: base.to_string(),
                only_if_stale,
                reply,
            })?;
            rx.await.map_err(|_| closed())?
        })
    }

    fn messages<'a>(
        &'a self,
        query: &'a super::messages::MessageQuery,
    ) -> BoxFuture<'a, Result<Vec<super::messages::StoredMessage>, StoreError>> {
        Box::pin(async move { self.with_reader(|c| messages::list(c, query)) })
    }

    fn outbox<'a>(
        &'a self,
        query: &'a super::messages::OutboxQuery,
    ) -> BoxFuture<'a, Result<Vec<super::messages::OutboxEntry>, StoreError>> {
        Box::pin(async move { self.with_reader(|c| messages::outbox(c, query)) })
    }

    fn stats(&self) -> Stats {
        Stats {
            units: self.counters.units.load(Ordering::Relaxed),
            commits: self.counters.commits.load(Ordering::Relaxed),
            syncs: vfs::sync_counts().total(),
            sync_wait_micros: u64::try_from(vfs::sync_wait().as_micros()).unwrap_or(u64::MAX),
        }
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let sender = self.jobs.lock().ok().and_then(|mut j| j.take());
            drop(sender);
            if let Ok(mut pool) = self.readers.lock() {
                pool.clear();
            }
            let handle = self.writer.lock().ok().and_then(|mut w| w.take());
            if let Some(handle) = handle {
                let joined = tokio::task::spawn_blocking(move || handle.join()).await;
                if !matches!(joined, Ok(Ok(()))) {
                    tracing::error!("the store writer did not stop cleanly");
                }
            }
        })
    }
}
