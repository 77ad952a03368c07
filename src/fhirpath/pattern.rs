//! Regular expressions for `matches`, `matchesFull` and `replaceMatches`:
//! FHIRPath patterns run in single-line mode (`.` matches newlines) with
//! Unicode classes, under a compiled-size limit so that no pattern can take
//! unbounded memory.

use super::error::Error;
use regex::{Regex, RegexBuilder};

/// Compiled programs larger than this are refused.
const SIZE_LIMIT: usize = 1 << 20;

/// Compiles a pattern; `full` anchors it to the whole string.
pub(crate) fn compile(pattern: &str, full: bool) -> Result<Regex, Error> {
    let anchored;
    let text = if full {
        anchored = format!("^(?:{pattern})$");
        &anchored
    } else {
        pattern
    };
    RegexBuilder::new(text)
        .dot_matches_new_line(true)
        .size_limit(SIZE_LIMIT)
        .build()
        .map_err(|e| Error::execution(format!("invalid regular expression {pattern:?}: {e}")))
}
