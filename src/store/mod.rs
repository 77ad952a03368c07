//! The store: one API for everything Hemolink keeps. Every backend (the embedded
//! SQLite file now, MongoDB later) implements [`Backend`]; the rest of the server
//! only sees [`Store`].
//!
//! The model is the same for every backend: each resource has immutable versions
//! (a delete is a tombstone version), a pointer to its current version, and the
//! rows that conditional operations look up. A [`Write`] list given to
//! [`Store::transact`] is a unit of work: it commits whole or not at all, and it
//! is acknowledged only once it is durable.

pub mod sqlite;

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

/// A criterion of a conditional create (`If-None-Exist`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Criterion {
    /// `_id=…`
    Id(String),
    /// `identifier=[system]|[value]`: `system` `None` matches any system, and
    /// `Some("")` only identifiers without one; `value` `None` matches any value.
    Identifier {
        system: Option<String>,
        value: Option<String>,
    },
}

/// One write of a unit of work.
#[derive(Debug, Clone)]
pub enum Write {
    /// Create `resource` with the given (server-assigned) id, unless the
    /// criteria (all of them) match an existing resource of the type.
    Create {
        id: String,
        resource: Value,
        if_none_exist: Vec<Criterion>,
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
    /// The backend failed (message for the log).
    Backend(String),
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
            StoreError::Invalid(m) | StoreError::Conflict(m) => write!(f, "{m}"),
            StoreError::Backend(m) => write!(f, "store failure: {m}"),
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

/// Counters a backend keeps for `/metrics` and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Units of work acknowledged.
    pub units: u64,
    /// Store transactions committed (a commit can carry many units: group commit).
    pub commits: u64,
    /// File syncs the backend asked of the OS, all files.
    pub syncs: u64,
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
    /// Applies a unit of work: all writes commit together, durably, or none does.
    fn transact(&self, writes: Vec<Write>) -> BoxFuture<'_, Result<Vec<Outcome>, StoreError>>;
    /// Counters since start.
    fn stats(&self) -> Stats;
    /// Flushes and closes; later calls fail.
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// The store the server uses: a cheap handle to one backend.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

impl Store {
    /// A store over a backend.
    pub fn new(backend: Arc<dyn Backend>) -> Store {
        Store { backend }
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
        self.backend.transact(writes).await
    }

    /// One write on its own.
    pub async fn write(&self, write: Write) -> Result<Outcome, StoreError> {
        let mut outcomes = self.backend.transact(vec![write]).await?;
        outcomes
            .pop()
            .ok_or_else(|| StoreError::Backend("a write produced no outcome".into()))
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
