//! The one error type of the engine: what went wrong while reading an expression
//! (syntax), checking it against the type model (semantic) or evaluating it
//! (execution), with a message for people.

use std::fmt;

/// When the fault was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text is not a FHIRPath expression (or uses an unknown function or type).
    Syntax,
    /// The expression does not fit the type model (`Patient.name.given1`).
    Semantic,
    /// Evaluation failed (`single()` on two items, `'a' - 'b'`, …).
    Execution,
}

/// A failed parse, check or evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub message: String,
    pub kind: ErrorKind,
}

impl Error {
    pub(crate) fn syntax(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            kind: ErrorKind::Syntax,
        }
    }

    pub(crate) fn semantic(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            kind: ErrorKind::Semantic,
        }
    }

    pub(crate) fn execution(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            kind: ErrorKind::Execution,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ErrorKind::Syntax => "syntax error",
            ErrorKind::Semantic => "semantic error",
            ErrorKind::Execution => "evaluation error",
        };
        write!(f, "FHIRPath {kind}: {}", self.message)
    }
}

impl std::error::Error for Error {}
