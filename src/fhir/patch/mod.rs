//! The two patch formats of the R4 `patch` interaction, as pure functions
//! from a resource and a patch document to the patched resource:
//!
//! - [`json`]: JSON Patch (RFC 6902) with JSON Pointer (RFC 6901), for
//!   `application/json-patch+json` bodies;
//! - [`fhirpath`]: FHIRPath Patch (R4 `fhirpatch.html`), a `Parameters`
//!   resource whose `operation` parameters name elements with FHIRPath.
//!
//! Both apply the operations in order to a copy and return it, so a failure
//! leaves nothing half done; both refuse to grow a document deeper than
//! [`MAX_DEPTH`]. They know nothing of HTTP, versions or validation: the REST
//! layer protects `id` and `meta`, and validates the result.

pub mod fhirpath;
pub mod json;

use crate::fhir::outcome::Issue;
use std::fmt;

/// How deep a patched document may nest (arrays and objects), as deep as the
/// server parses bodies: deeper documents could not be read back anyway.
pub const MAX_DEPTH: usize = crate::fhir::json::MAX_DEPTH;

/// Why a patch failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The patch document itself is malformed (a 400 in HTTP terms).
    Invalid,
    /// The patch is well formed but cannot be applied to this resource: a
    /// path that matches nothing, a failed `test`, an index out of range (a
    /// 422).
    Unprocessable,
}

/// A failed patch: which operation, where in the patch document, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchError {
    pub kind: ErrorKind,
    /// Where in the patch document the fault is, for an OperationOutcome's
    /// `expression`: `[2].path` for JSON Patch, `Parameters.parameter[1]`
    /// for FHIRPath Patch; `None` when it is the whole document.
    pub expression: Option<String>,
    /// For people: the operation and what went wrong.
    pub message: String,
}

impl PatchError {
    pub(crate) fn invalid(expression: Option<String>, message: impl Into<String>) -> PatchError {
        PatchError {
            kind: ErrorKind::Invalid,
            expression,
            message: message.into(),
        }
    }

    pub(crate) fn unprocessable(
        expression: Option<String>,
        message: impl Into<String>,
    ) -> PatchError {
        PatchError {
            kind: ErrorKind::Unprocessable,
            expression,
            message: message.into(),
        }
    }

    /// The error as an OperationOutcome issue: IssueType `invalid` for a
    /// malformed patch, `processing` for one that cannot be applied.
    pub fn issue(&self) -> Issue {
        let code = match self.kind {
            ErrorKind::Invalid => "invalid",
            ErrorKind::Unprocessable => "processing",
        };
        let issue = Issue::error(code, self.message.clone());
        match &self.expression {
            Some(e) => issue.at(e.clone()),
            None => issue,
        }
    }
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.expression {
            Some(e) => write!(f, "{} (at {e})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for PatchError {}

/// How deep `value` nests: 0 for a scalar, 1 for a flat array or object.
pub(crate) fn depth(value: &serde_json::Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, d)) = stack.pop() {
        match v {
            serde_json::Value::Array(a) => {
                deepest = deepest.max(d + 1);
                stack.extend(a.iter().map(|c| (c, d + 1)));
            }
            serde_json::Value::Object(o) => {
                deepest = deepest.max(d + 1);
                stack.extend(o.values().map(|c| (c, d + 1)));
            }
            _ => {}
        }
    }
    deepest
}
