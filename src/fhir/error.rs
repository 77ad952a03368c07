//! The error every FHIR interaction returns: an HTTP status with the
//! OperationOutcome issues that explain it.

use super::outcome::{Issue, operation_outcome};
use axum::http::StatusCode;
use serde_json::Value;

/// A failed interaction: the HTTP status and the issues that explain it.
#[derive(Debug, Clone)]
pub struct FhirError {
    pub status: StatusCode,
    pub issues: Vec<Issue>,
}

impl FhirError {
    /// An error with one issue.
    pub fn new(status: StatusCode, code: &'static str, diagnostics: impl Into<String>) -> Self {
        FhirError {
            status,
            issues: vec![Issue::error(code, diagnostics)],
        }
    }

    /// An error with several issues (validation).
    pub fn with_issues(status: StatusCode, issues: Vec<Issue>) -> Self {
        FhirError { status, issues }
    }

    /// 400: the request breaks the basic rules of FHIR.
    pub fn bad_request(code: &'static str, diagnostics: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, diagnostics)
    }

    /// 404 for a resource or type that is not there.
    pub fn not_found(diagnostics: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", diagnostics)
    }

    /// 500 for a fault of the server; the detail goes to the log, not to the client.
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!("{context}: {detail}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "exception",
            format!("{context}: internal error, see the server log"),
        )
    }

    /// The OperationOutcome to send.
    pub fn outcome(&self) -> Value {
        operation_outcome(&self.issues)
    }
}

impl std::fmt::Display for FhirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text: Vec<&str> = self.issues.iter().map(|i| i.diagnostics.as_str()).collect();
        write!(f, "{}: {}", self.status, text.join("; "))
    }
}
