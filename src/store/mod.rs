//! The store: one API for everything Hemolink keeps. Every backend (the embedded
//! SQLite file now, MongoDB later) implements [`Backend`]; the rest of the server
//! only sees [`Store`].
//!
//! The model is the same for every backend: each resource has immutable versions
//! (a delete is a tombstone version), a pointer to its current version, and the
//! rows that conditional operations look up. A [`Write`] list given to
//! [`Store::transact`] is a unit of work: it commits whole or not at all, and it
//! is acknowledged only once it is durable.

pub mod messages;
pub mod sqlite;

use crate::search::entry::Entry;
use crate::search::extract::extract;
use crate::search::filter::Filter;
use crate::search::query::{Cursor, Search};
use crate::search::registry::registry;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed future, so that backends can be used behind `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How a version came to be; history entries report it as `request.method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Create,
    Update,
    Delete,
}

impl Method {
    /// The HTTP verb of the interaction that wrote the version.
    pub fn http_verb(self) -> &'static str {
        match self {
            Method::Create => "POST",
            Method::Update => "PUT",
            Method::Delete => "DELETE",
        }
    }

    fn from_verb(verb: &str) -> Method {
        match verb {
            "POST" => Method::Create,
            "DELETE" => Method::Delete,
            _ => Method::Update,
        }
    }
}

/// A new server-assigned id: a version 7 UUID, which starts with the time it was
/// made, so ids made one after the other sort together. Every table keyed by id
/// (and every reference to a new resource) then grows at a few pages instead of
/// at random places over the whole tree, which keeps bulk writes fast as the
/// store grows; a random (version 4) id made each insert touch another page.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// One stored version of a resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub resource_type: String,
    pub id: String,
    pub version: u64,
    /// `meta.lastUpdated`, in microseconds since the Unix epoch.
    pub last_updated: i64,
    pub method: Method,
    /// The resource as JSON text with `id` and `meta` set; `None` for a delete.
    pub body: Option<Arc<str>>,
}

impl Version {
    /// Whether this version is a delete (tombstone).
    pub fn is_deleted(&self) -> bool {
        self.body.is_none()
    }
}

/// One write of a unit of work.
#[derive(Debug, Clone)]
pub enum Write {
    /// Create `resource` with the given (server-assigned) id, unless the
    /// search `if_none_exist` matches a resource (then nothing is written).
    Create {
        id: String,
        resource: Value,
        if_none_exist: Option<Search>,
    },
    /// Update (or create with a client id) the resource named by its
    /// `resourceType` and `id`; `if_match` is the version the client expects.
    Update {
        resource: Value,
        if_match: Option<u64>,
    },
    /// Delete (write a tombstone), if the resource exists and is not deleted.
    Delete {
        resource_type: String,
        id: String,
        if_match: Option<u64>,
    },
    /// Conditional update (http.html#cond-update): update the one resource the
    /// search matches; create with `id` when none matches (the resource's own
    /// id if it has one); several matches fail.
    UpdateWhere {
        resource: Value,
        condition: Search,
        id: String,
    },
    /// Conditional delete (http.html#cond-delete): delete what the search
    /// matches; several matches fail unless `multiple`.
    DeleteWhere { condition: Search, multiple: bool },
    /// Fails the unit of work with [`StoreError::Changed`] unless the search
    /// matches exactly the resources `expect` (ids of its type, in any order):
    /// a transaction resolved its conditions before it was written, and this
    /// makes the commit depend on them still holding.
    Assert {
        condition: Search,
        expect: Vec<String>,
    },
    /// A write to the HL7 v2 message store or outbox.
    Message(messages::MessageWrite),
}

/// What a request may write, judged by the writer inside the unit of work
/// for every version it writes: the resources of a type (the first argument)
/// the method (the second) may reach. An update or a delete must reach the
/// resource as it is stored, and a create or an update the version it
/// writes; otherwise the unit fails with [`StoreError::Forbidden`]. Set for
/// the task serving a request by the token check ([`GUARD`]); writes made
/// without one (the HL7 pipeline, the loader) are not judged.
pub type Guard = Arc<dyn Fn(&str, Method) -> Filter + Send + Sync>;

tokio::task_local! {
    /// The guard of the request this task serves, if it has one.
    pub static GUARD: Guard;
}

/// A write with the index entries of the resource it writes (none for a delete)
/// and, when made ahead of the writer, the resource's text.
#[derive(Clone)]
pub struct Indexed {
    pub write: Write,
    pub entries: Vec<Entry>,
    /// The resource's text without its stamp, for the writes that carry a
    /// resource; their resource then holds only `resourceType` and `id`
    /// (`Store::index` makes both).
    pub draft: Option<Draft>,
    /// The guard of the request that made the write.
    pub guard: Option<Guard>,
}

impl std::fmt::Debug for Indexed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Indexed")
            .field("write", &self.write)
            .field("entries", &self.entries)
            .field("draft", &self.draft)
            .field("guarded", &self.guard.is_some())
            .finish()
    }
}

/// How many writes of a streamed unit may be made ahead of the one being
/// written.
pub const STREAM_AHEAD: usize = 32;

/// One piece of a streamed unit of work.
pub enum Piece {
    Write(Box<Indexed>),
    /// The unit is complete: commit it.
    End,
}

/// A resource's JSON text made before it reaches the writer: every member but
/// `resourceType`, `id` and meta's `versionId` and `lastUpdated`, which only the
/// writer knows. Serializing is the larger part of storing a resource; done
/// here, it runs on the callers' threads instead of the single writer's.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The other members of `meta`, each as `,"key":value`.
    meta: String,
    /// The other members of the resource, each as `,"key":value`.
    rest: String,
}

impl Draft {
    /// The draft of a resource (a JSON object).
    pub fn of(resource: &Value) -> Draft {
        let mut draft = Draft {
            meta: String::new(),
            rest: String::with_capacity(1024),
        };
        let Some(fields) = resource.as_object() else {
            return draft;
        };
        for (k, v) in fields {
            match k.as_str() {
                "resourceType" | "id" => {}
                "meta" => {
                    for (mk, mv) in v.as_object().into_iter().flatten() {
                        if mk != "versionId" && mk != "lastUpdated" {
                            member(&mut draft.meta, mk, mv);
                        }
                    }
                }
                _ => member(&mut draft.rest, k, v),
            }
        }
        draft
    }

    /// The stored text: `resourceType`, `id` and `meta` (with `versionId` and
    /// `lastUpdated` first) lead, the other members follow in their order.
    pub fn stamp(&self, resource_type: &str, id: &str, version: u64, last_updated: i64) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(self.rest.len() + self.meta.len() + 128);
        out.push_str("{\"resourceType\":");
        quoted(&mut out, resource_type);
        out.push_str(",\"id\":");
        quoted(&mut out, id);
        let _ = write!(
            out,
            ",\"meta\":{{\"versionId\":\"{version}\",\"lastUpdated\":"
        );
        quoted(
            &mut out,
            &crate::fhir::instant::format_instant(last_updated),
        );
        out.push_str(&self.meta);
        out.push('}');
        out.push_str(&self.rest);
        out.push('}');
        out
    }
}

/// Appends `,"key":value`.
fn member(out: &mut String, key: &str, value: &Value) {
    use std::fmt::Write as _;
    out.push(',');
    quoted(out, key);
    out.push(':');
    let _ = write!(out, "{value}");
}

/// Appends `text` as a JSON string.
fn quoted(out: &mut String, text: &str) {
    use std::fmt::Write as _;
    if text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        let _ = write!(out, "{}", Value::from(text));
    } else {
        out.push('"');
        out.push_str(text);
        out.push('"');
    }
}

/// What a write did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A new resource (or a deleted one brought back by an update).
    Created(Version),
    /// A new version of an existing resource.
    Updated(Version),
    /// A conditional create found this resource and wrote nothing.
    Existing(Version),
    /// The tombstone written, or `None` when there was nothing to delete.
    Deleted(Option<Version>),
    /// The tombstones a conditional delete wrote (none when nothing matched).
    DeletedAll(Vec<Version>),
    /// An assertion held.
    Checked,
    /// A message store or outbox row was written: its id (0 when the write
    /// changed rows rather than adding one).
    Message(i64),
}

/// Why a write or read failed.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreError {
    /// `If-Match` named another version than the current one (`None`: the resource does not exist).
    VersionConflict { expected: u64, current: Option<u64> },
    /// A conditional create's criteria matched more than one resource.
    MultipleMatches(usize),
    /// Something in the unit of work is not acceptable (message for the client).
    Invalid(String),
    /// The write clashes with what is stored (message for the client).
    Conflict(String),
    /// What a unit of work was prepared against changed before it was written
    /// (an [`Write::Assert`] failed); preparing it again may succeed.
    Changed(String),
    /// The request's [`Guard`] refused a write (message for the client).
    Forbidden(String),
    /// The backend failed (message for the log).
    Backend(String),
    /// An HL7 v2 message with the key of a kept one (message `of`) was
    /// received again; `ack` is the reply the first one got, `same` whether
    /// the two are byte for byte the same.
    Duplicate {
        of: i64,
        ack: Option<Vec<u8>>,
        same: bool,
    },
    /// Write number `index` of a unit of work of several writes failed.
    Write {
        index: usize,
        error: Box<StoreError>,
    },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::VersionConflict {
                expected,
                current: Some(c),
            } => {
                write!(
                    f,
                    "version {expected} was expected, the current version is {c}"
                )
            }
            StoreError::VersionConflict {
                expected,
                current: None,
            } => {
                write!(
                    f,
                    "version {expected} was expected, the resource does not exist"
                )
            }
            StoreError::MultipleMatches(n) => write!(f, "the condition matched {n} resources"),
            StoreError::Invalid(m)
            | StoreError::Conflict(m)
            | StoreError::Changed(m)
            | StoreError::Forbidden(m) => {
                write!(f, "{m}")
            }
            StoreError::Backend(m) => write!(f, "store failure: {m}"),
            StoreError::Duplicate { of, .. } => {
                write!(f, "the message's key is that of message {of}")
            }
            StoreError::Write { index, error } => write!(f, "write {index}: {error}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Which versions a history request covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryScope {
    System,
    Type(String),
    Instance(String, String),
}

/// A history request: newest first, `count` at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    pub scope: HistoryScope,
    /// `_since`: versions written at or after this time.
    pub since: Option<i64>,
    /// `_at`: versions that were current at some moment of `[start, end)`.
    pub at: Option<(i64, i64)>,
    pub count: usize,
    /// Where the previous page ended (from [`HistoryPage::next`]).
    pub cursor: Option<i64>,
}

/// One page of history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    pub versions: Vec<Version>,
    /// How many versions the whole query matches.
    pub total: u64,
    /// The cursor of the next page, if there is one.
    pub next: Option<i64>,
}

/// One page of search results, as of the search's snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    /// The matches of this page, in order.
    pub matches: Vec<Version>,
    /// What `_include`/`_revinclude` brought in for them.
    pub included: Vec<Version>,
    /// How many resources match in all, when counted.
    pub total: Option<u64>,
    pub next: Option<Cursor>,
    pub previous: Option<Cursor>,
}

/// Counters a backend keeps for `/metrics` and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Units of work acknowledged.
    pub units: u64,
    /// Store transactions committed (a commit can carry many units: group commit).
    pub commits: u64,
    /// File syncs the backend asked of the OS, all files.
    pub syncs: u64,
    /// Microseconds those syncs waited for the disk (their wall time less the
    /// CPU time of their thread).
    pub sync_wait_micros: u64,
}

/// What every backend implements.
pub trait Backend: Send + Sync + 'static {
    /// The current version of a resource (possibly a tombstone).
    fn read<'a>(
        &'a self,
        resource_type: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Version>, StoreError>>;
    /// One version of a resource.
    fn vread<'a>(
        &'a self,
        resource_type: &'a str,
        id: &'a str,
        version: u64,
    ) -> BoxFuture<'a, Result<Option<Version>, StoreError>>;
    /// A page of history.
    fn history<'a>(
        &'a self,
        query: &'a HistoryQuery,
    ) -> BoxFuture<'a, Result<HistoryPage, StoreError>>;
    /// A page of search results.
    fn search<'a>(&'a self, search: &'a Search) -> BoxFuture<'a, Result<SearchPage, StoreError>>;
    /// Rewrites the index entries of every current version from the registry
    /// (`base` as for writes). With `only_if_stale`, does it only when the
    /// registry differs from the one the index was built with. Returns how
    /// many resources were indexed, `None` when nothing had to be done.
    fn reindex<'a>(
        &'a self,
        base: &'a str,
        only_if_stale: bool,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>>;
    /// Applies a unit of work: all writes commit together, durably, or none does.
    fn transact(&self, writes: Vec<Indexed>) -> BoxFuture<'_, Result<Vec<Outcome>, StoreError>>;
    /// Applies a unit of work whose writes arrive one at a time, ended by
    /// [`Piece::End`] (the channel closing before it abandons the unit), as
    /// [`Store::transact_streamed`] describes.
    fn transact_stream(
        &self,
        pieces: tokio::sync::mpsc::Receiver<Piece>,
        keep_texts: bool,
    ) -> BoxFuture<'_, Result<Vec<Outcome>, StoreError>>;
    /// Messages of the HL7 v2 message store.
    fn messages<'a>(
        &'a self,
        query: &'a messages::MessageQuery,
    ) -> BoxFuture<'a, Result<Vec<messages::StoredMessage>, StoreError>>;
    /// Entries of the outbox.
    fn outbox<'a>(
        &'a self,
        query: &'a messages::OutboxQuery,
    ) -> BoxFuture<'a, Result<Vec<messages::OutboxEntry>, StoreError>>;
    /// Counters since start.
    fn stats(&self) -> Stats;
    /// Flushes and closes; later calls fail.
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// The store the server uses: a cheap handle to one backend.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    base: Arc<str>,
}

impl Store {
    /// A store over a backend. `base` is the server's base URL: references to
    /// it are indexed as references to local resources.
    pub fn new(backend: Arc<dyn Backend>, base: &str) -> Store {
        Store {
            backend,
            base: base.trim_end_matches('/').into(),
        }
    }

    /// The index entries and the draft text of a write, made here, on the
    /// caller's thread, so that the backend's writer only stores them. The
    /// resource of a drafted write keeps only `resourceType` and `id` (the rest
    /// is in the draft), so it is also freed here rather than by the writer.
    fn indexed(&self, mut write: Write) -> Indexed {
        let (entries, draft) = match &mut write {
            Write::Create { resource, .. }
            | Write::Update { resource, .. }
            | Write::UpdateWhere { resource, .. } => {
                let t = resource["resourceType"].as_str().unwrap_or("");
                let entries = extract(registry(), t, resource, &self.base);
                let draft = Draft::of(resource);
                if let Some(fields) = resource.as_object_mut() {
                    fields.retain(|k, _| k == "resourceType" || k == "id");
                }
                (entries, Some(draft))
            }
            Write::Delete { .. }
            | Write::DeleteWhere { .. }
            | Write::Assert { .. }
            | Write::Message(_) => (Vec::new(), None),
        };
        Indexed {
            write,
            entries,
            draft,
            guard: GUARD.try_with(Guard::clone).ok(),
        }
    }

    fn index(&self, writes: Vec<Write>) -> Vec<Indexed> {
        writes.into_iter().map(|w| self.indexed(w)).collect()
    }

    /// The current version of a resource (possibly a tombstone).
    pub async fn read(&self, resource_type: &str, id: &str) -> Result<Option<Version>, StoreError> {
        self.backend.read(resource_type, id).await
    }

    /// One version of a resource.
    pub async fn vread(
        &self,
        resource_type: &str,
        id: &str,
        version: u64,
    ) -> Result<Option<Version>, StoreError> {
        self.backend.vread(resource_type, id, version).await
    }

    /// A page of history.
    pub async fn history(&self, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        self.backend.history(query).await
    }

    /// A unit of work: every write commits, durably, or none does.
    pub async fn transact(&self, writes: Vec<Write>) -> Result<Vec<Outcome>, StoreError> {
        self.backend.transact(self.index(writes)).await
    }

    /// The create of `resource` under `id`, made ready for the backend with
    /// index entries the caller extracted (on its own thread), and judged by
    /// no request's guard: the server's own writes (its AuditEvents).
    pub fn prepared_create(&self, id: String, mut resource: Value, entries: Vec<Entry>) -> Indexed {
        let draft = Draft::of(&resource);
        if let Some(fields) = resource.as_object_mut() {
            fields.retain(|k, _| k == "resourceType" || k == "id");
        }
        Indexed {
            write: Write::Create {
                id,
                resource,
                if_none_exist: None,
            },
            entries,
            draft: Some(draft),
            guard: None,
        }
    }

    /// A unit of work of writes made ready by [`Store::prepared_create`].
    pub async fn transact_prepared(
        &self,
        writes: Vec<Indexed>,
    ) -> Result<Vec<Outcome>, StoreError> {
        self.backend.transact(writes).await
    }

    /// The server's base URL, as references are indexed against it.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A unit of work whose writes are made one at a time while it is written,
    /// so that they are never all in memory: each is indexed and handed to the
    /// backend as soon as it is made, at most [`STREAM_AHEAD`] ahead of the
    /// one being written. The unit commits whole, durably, or not at all; when
    /// making a write fails, nothing is written and that error is returned
    /// (the outer one). Without `keep_texts` the versions of the outcomes come
    /// back without their text (`body` is `None`), for a caller that does not
    /// return them.
    pub async fn transact_streamed<E>(
        &self,
        writes: impl Iterator<Item = Result<Write, E>> + Send,
        keep_texts: bool,
    ) -> Result<Result<Vec<Outcome>, StoreError>, E> {
        let (tx, rx) = tokio::sync::mpsc::channel(STREAM_AHEAD);
        let written = self.backend.transact_stream(rx, keep_texts);
        let made = async move {
            for write in writes {
                // Dropping `tx` without an end abandons the unit.
                let piece = Piece::Write(Box::new(self.indexed(write?)));
                if tx.send(piece).await.is_err() {
                    // The backend stopped at a failed write: its error is the answer.
                    return Ok(());
                }
            }
            let _ = tx.send(Piece::End).await;
            Ok(())
        };
        let (written, made) = tokio::join!(written, made);
        made.map(|()| written)
    }

    /// A page of search results.
    pub async fn search(&self, search: &Search) -> Result<SearchPage, StoreError> {
        self.backend.search(search).await
    }

    /// Rebuilds the search index of every current resource from the registry
    /// (only when the registry changed since the index was built, with
    /// `only_if_stale`); `None` when nothing had to be done.
    pub async fn reindex(&self, only_if_stale: bool) -> Result<Option<u64>, StoreError> {
        self.backend.reindex(&self.base, only_if_stale).await
    }

    /// One write on its own.
    pub async fn write(&self, write: Write) -> Result<Outcome, StoreError> {
        let mut outcomes = self.backend.transact(self.index(vec![write])).await?;
        outcomes
            .pop()
            .ok_or_else(|| StoreError::Backend("a write produced no outcome".into()))
    }

    /// Messages of the HL7 v2 message store, oldest first.
    pub async fn messages(
        &self,
        query: &messages::MessageQuery,
    ) -> Result<Vec<messages::StoredMessage>, StoreError> {
        self.backend.messages(query).await
    }

    /// One message of the message store.
    pub async fn message(&self, id: i64) -> Result<Option<messages::StoredMessage>, StoreError> {
        let query = messages::MessageQuery {
            id: Some(id),
            limit: 1,
            ..Default::default()
        };
        Ok(self.backend.messages(&query).await?.pop())
    }

    /// One entry of the outbox.
    pub async fn outbox_entry(&self, id: i64) -> Result<Option<messages::OutboxEntry>, StoreError> {
        let query = messages::OutboxQuery {
            id: Some(id),
            limit: 1,
            ..Default::default()
        };
        Ok(self.backend.outbox(&query).await?.pop())
    }

    /// Entries of the outbox, oldest first.
    pub async fn outbox(
        &self,
        query: &messages::OutboxQuery,
    ) -> Result<Vec<messages::OutboxEntry>, StoreError> {
        self.backend.outbox(query).await
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        self.backend.stats()
    }

    /// Flushes and closes the backend.
    pub async fn close(&self) {
        self.backend.close().await
    }
}
