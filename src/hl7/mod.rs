//! HL7 v2: reading messages in ER7 (pipe) encoding. [`delimiters`] reads the
//! encoding characters from the header, [`charset`] transcodes MSH-18's
//! character set to UTF-8, [`message`] splits segments and fields and
//! [`escape`] decodes and writes escape sequences. [`header`] reads MSH on its
//! own (a reply needs it even when the rest cannot be read) and [`ack`]
//! writes acknowledgements.
//!
//! Every error is a [`ParseError`] that names the segment (by its position,
//! from 1) and the field, which is what an ERR segment reports.

pub mod ack;
pub mod batch;
pub mod charset;
pub mod delimiters;
pub mod escape;
pub mod exercise;
pub mod header;
pub mod message;

/// Why a message could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The segment's position in the message, from 1.
    pub segment: usize,
    /// The field number (0 for the segment as a whole).
    pub field: usize,
    pub message: String,
}

impl ParseError {
    pub fn at(segment: usize, field: usize, message: &str) -> ParseError {
        ParseError {
            segment,
            field,
            message: message.to_string(),
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "segment {}", self.segment)?;
        if self.field > 0 {
            write!(f, ", field {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ParseError {}
