//! Validation of incoming resources against the base FHIR R4 definitions: the
//! JSON representation rules of json.html (known elements only, arrays exactly
//! where an element repeats, no empty or null values, `_name` companions) and
//! the cardinality and primitive value rules of the type model.
//! Profiles and invariants are not checked here.
//!
//! The walk lives in `walk.rs` (objects, complex elements, resources) and
//! `primitive_elements.rs`, the lexical checks of primitive values in
//! `primitives.rs` and `temporal.rs`.

mod primitive_elements;
mod primitives;
mod temporal;
mod walk;

#[cfg(test)]
mod example_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod value_tests;

use std::fmt;

use serde_json::Value;

use crate::fhir::model::{Model, model};
use crate::fhir::outcome::Issue;

/// At most this many issues are reported; one more issue then says how many were left out.
pub const MAX_ISSUES: usize = 100;

/// Objects nested deeper than this are not looked into (one `structure` issue instead).
pub const MAX_DEPTH: usize = 100;

/// Checks a resource (the JSON form, already parsed; numbers keep their text
/// because of `arbitrary_precision`) against the base R4 definitions. Returns
/// every problem found (empty = valid), at most [`MAX_ISSUES`] of them plus a
/// last issue saying how many more were found. Each issue is an error with an
/// IssueType code (`structure` for unknown or misplaced elements and wrong JSON
/// shapes, `required` for missing mandatory elements, `value` for bad primitive
/// values, `not-supported` for an unknown resource type, `invalid` otherwise)
/// and the FHIRPath of the element at fault (`Patient.name[0].given[1]`).
pub fn validate_resource(resource: &Value) -> Vec<Issue> {
    let mut v = Validator::new();
    v.resource(resource, "Resource", 0);
    v.finish()
}

/// Checks one item of a Bundle's `entry` array as [`validate_resource`]
/// checks it within its Bundle; the issues name `Bundle.entry[index]`. With
/// the Bundle's other members checked on their own, a Bundle is validated one
/// entry at a time.
pub fn validate_bundle_entry(entry: &Value, index: usize) -> Vec<Issue> {
    let mut v = Validator::new();
    v.bundle_entry(entry, index);
    v.finish()
}

/// The state of one validation: where the walk is and what it has found.
struct Validator<'m> {
    model: &'m Model,
    /// FHIRPath of the current element; empty until the root's type is known.
    path: String,
    issues: Vec<Issue>,
    suppressed: usize,
    /// The root resource's type, once known.
    root: &'m str,
}

impl Validator<'_> {
    fn new() -> Validator<'static> {
        Validator {
            model: model(),
            path: String::with_capacity(64),
            issues: Vec::new(),
            suppressed: 0,
            root: "",
        }
    }

    /// Records an issue at the current path (formatted only if it is kept).
    fn report(&mut self, code: &'static str, diagnostics: fmt::Arguments<'_>) {
        if self.issues.len() >= MAX_ISSUES {
            self.suppressed += 1;
            return;
        }
        let mut issue = Issue::error(code, diagnostics.to_string());
        if !self.path.is_empty() {
            issue = issue.at(self.path.as_str());
        }
        self.issues.push(issue);
    }

    /// Records an issue at `path.name` (the current path extended by one element).
    fn report_at(&mut self, name: &str, code: &'static str, diagnostics: fmt::Arguments<'_>) {
        let mark = self.enter(name);
        self.report(code, diagnostics);
        self.leave(mark);
    }

    /// Extends the path by `.name` (or starts it with `name`); returns the mark to leave to.
    fn enter(&mut self, name: &str) -> usize {
        let mark = self.path.len();
        if mark > 0 {
            self.path.push('.');
        }
        self.path.push_str(name);
        mark
    }

    /// Extends the path by `[index]`; returns the mark to leave to.
    fn enter_index(&mut self, index: usize) -> usize {
        let mark = self.path.len();
        self.path.push('[');
        self.path.push_str(&index.to_string());
        self.path.push(']');
        mark
    }

    /// Goes back to a mark returned by `enter` or `enter_index`.
    fn leave(&mut self, mark: usize) {
        self.path.truncate(mark);
    }

    /// The issues, with a closing note when some were left out.
    fn finish(mut self) -> Vec<Issue> {
        if self.suppressed > 0 {
            let mut note = Issue::error(
                "invalid",
                format!(
                    "{} further issues were found but not reported (at most {MAX_ISSUES} are listed)",
                    self.suppressed
                ),
            );
            if !self.root.is_empty() {
                note = note.at(self.root);
            }
            self.issues.push(note);
        }
        self.issues
    }
}

/// A short, printable rendering of a value for diagnostics: control characters
/// escaped, long values cut.
fn show(text: &str) -> String {
    const LIMIT: usize = 64;
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == LIMIT {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
