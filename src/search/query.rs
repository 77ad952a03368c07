//! The search query, as the REST layer parsed it and as every backend executes
//! it: per resource type, an AND of clauses, each an OR of conditions; then the
//! sort, the page, the includes and what to count.

use super::registry::Param;
use super::value::date::DateRange;
use super::value::decimal::Decimal;
use super::value::number::NumRange;
use super::value::prefix::{Condition, Prefix};
use std::sync::Arc;

/// A whole search.
#[derive(Debug, Clone)]
pub struct Search {
    /// One branch per resource type searched.
    pub branches: Vec<Branch>,
    pub sort: Vec<Sort>,
    /// Entries per page.
    pub count: usize,
    pub total: Total,
    pub includes: Vec<Include>,
    /// At most this many included resources per page; the walk of a page's
    /// includes goes on in the pages its `next` link leads to.
    pub max_included: usize,
    /// Where the page starts; `None` for the first page.
    pub page: Option<Cursor>,
}

/// The conditions of a search on one resource type.
#[derive(Debug, Clone)]
pub struct Branch {
    pub resource_type: String,
    /// All must hold.
    pub clauses: Vec<Clause>,
}

/// Any one of the conditions must hold (`a,b` in a parameter value).
#[derive(Debug, Clone)]
pub struct Clause(pub Vec<Cond>);

/// A condition on a resource.
#[derive(Debug, Clone)]
pub enum Cond {
    /// `_id`.
    Id(String),
    /// `_lastUpdated`.
    LastUpdated(Prefix, DateRange),
    /// A value of `param` passes `test`.
    Index { param: Arc<Param>, test: Test },
    /// No value of `param` passes `test` (`:not`).
    Not { param: Arc<Param>, test: Test },
    /// `:missing`: whether the resource has no value for `param`.
    Missing { param: Arc<Param>, missing: bool },
    /// A reference of `param` points to a resource meeting `inner` (chains);
    /// one branch per possible target type.
    Chain {
        param: Arc<Param>,
        targets: Vec<(String, Box<Cond>)>,
    },
    /// A resource of another type refers to this one by `param` and meets
    /// `inner` (`_has`).
    Has {
        source_type: String,
        param: Arc<Param>,
        inner: Box<Cond>,
    },
    /// Any of several conditions (a compartment: any of its parameters).
    Any(Vec<Cond>),
    /// Every one of several conditions (what an access token lets a request
    /// see: a compartment and a scope's query constraint).
    All(Vec<Cond>),
}

/// A test on one indexed value.
#[derive(Debug, Clone)]
pub enum Test {
    /// String: the normalized key starts with (or contains) `key`, or the text
    /// equals `key` exactly.
    String {
        key: String,
        mode: StringMode,
    },
    /// Token: `system` `None` is any system, `Some("")` none; `code` `None` any code.
    Token {
        system: Option<String>,
        code: Option<String>,
    },
    /// `:text`: the normalized text starts with `key`.
    TokenText(String),
    /// `:of-type`: an identifier of this type and value.
    OfType {
        type_system: String,
        type_code: String,
        value: String,
    },
    Date(Prefix, DateRange),
    Number(Prefix, NumRange),
    Quantity {
        prefix: Prefix,
        number: NumRange,
        system: Option<String>,
        code: Option<String>,
        /// The condition on values in canonical units, and that unit, when
        /// the search's unit converts.
        canonical: Option<(Condition<Decimal>, &'static str)>,
    },
    Reference(RefTarget),
    Uri {
        value: String,
        mode: UriMode,
    },
    /// One test per component, all on values of the same element.
    Composite(Vec<Test>),
}

/// How a string parameter matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringMode {
    StartsWith,
    Contains,
    Exact,
}

/// How a uri parameter matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriMode {
    Exact,
    /// The stored uri is the value or a prefix of it along `/`.
    Above,
    /// The stored uri starts with the value.
    Below,
}

/// What a reference search names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefTarget {
    /// A resource of this server; `resource_type` `None` for a bare id.
    Local {
        resource_type: Option<String>,
        id: String,
    },
    /// A URL that is not on this server.
    Url(String),
    /// `:identifier`: the Reference.identifier.
    Identifier {
        system: Option<String>,
        value: Option<String>,
    },
}

/// A sort key.
#[derive(Debug, Clone)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

/// What to sort by.
#[derive(Debug, Clone)]
pub enum SortKey {
    Id,
    LastUpdated,
    /// One parameter per resource type searched.
    Param(Vec<Arc<Param>>),
}

/// `_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    None,
    Estimate,
    Accurate,
}

/// `_include` or `_revinclude`.
#[derive(Debug, Clone)]
pub struct Include {
    /// `_revinclude` when true.
    pub reverse: bool,
    pub iterate: bool,
    /// The source type's reference parameters (several for `*`).
    pub params: Vec<Arc<Param>>,
    /// The target type, when named.
    pub target_type: Option<String>,
}

/// Where a page starts, as its link carries it: the snapshot of the first page
/// and the total counted on it, the position of the page's matches, and, on a
/// page that goes on with another page's included resources, where that walk
/// stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub snapshot: i64,
    pub total: Option<u64>,
    /// Where the matches start; `None` from the first match.
    pub after: Option<Position>,
    /// Set on a page that carries no matches but the included resources of the
    /// page whose matches start at `after`, from this point of their walk on.
    pub includes: Option<Vec<IncludeFrame>>,
}

/// A position among the matches: the sort keys and `rid` of the last entry of
/// the previous page (or the first of the next, when going back).
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    pub keys: Vec<KeyValue>,
    pub rid: i64,
    pub backwards: bool,
}

/// One level of the walk of included resources (a depth-first walk from each
/// match of the page, in page order): the resource whose references (or
/// referrers) are being followed, which `_include` of the search and which of
/// its parameters, and the last resource taken (`None` before the first).
#[derive(Debug, Clone, PartialEq)]
pub struct IncludeFrame {
    pub source: i64,
    pub include: usize,
    pub param: usize,
    pub after: Option<IncludeKey>,
}

/// The order in which one parameter's resources are walked: a target by its
/// type and id, a referrer by the reference's text and its `rid` (the order of
/// the index, so that the walk resumes with a range scan).
#[derive(Debug, Clone, PartialEq)]
pub enum IncludeKey {
    Target { resource_type: String, id: String },
    Referrer { url: String, rid: i64 },
}

/// The value of one sort key of an entry.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValue {
    Int(i64),
    Real(f64),
    Text(String),
}
