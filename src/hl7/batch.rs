//! Batches: a file (`FHS` … `FTS`) or batch (`BHS` … `BTS`) of messages sent
//! as one MLLP frame. Each message in it is handled as if it had come alone;
//! the answer is a batch of the same shape holding one reply per message,
//! with sender and receiver swapped and the original batch's control id in
//! BHS-12 (FHS-12 for a file).

use super::ParseError;
use super::ack::{control_id, timestamp};
use super::charset::Charset;
use super::header::Header;
use std::fmt::Write as _;

/// A batch split into its messages.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The file header, when the batch came in a file.
    pub file: Option<Header>,
    /// The batch header (a file's first `BHS`, when it has one).
    pub batch: Option<Header>,
    /// Each message's bytes, header first, in order.
    pub messages: Vec<Vec<u8>>,
    /// BTS-1, the count the sender declared, when it did.
    pub declared: Option<usize>,
}

/// Whether `bytes` are a batch rather than one message.
pub fn is_batch(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(bytes.len());
    bytes[start..].starts_with(b"FHS") || bytes[start..].starts_with(b"BHS")
}

impl Batch {
    /// Splits a batch. Segments before the first `MSH` other than the
    /// headers, or a declared count that is not the number of messages, are
    /// errors.
    pub fn split(bytes: &[u8], default: Charset) -> Result<Batch, ParseError> {
        let mut batch = Batch {
            file: None,
            batch: None,
            messages: Vec::new(),
            declared: None,
        };
        let mut current: Option<Vec<u8>> = None;
        let lines = bytes
            .split(|&b| b == b'\r' || b == b'\n')
            .filter(|l| !l.is_empty());
        for (i, line) in lines.enumerate() {
            let id = line.get(..3).unwrap_or(line);
            match id {
                b"FHS" if i == 0 => batch.file = Some(Header::read(line, default)?),
                b"BHS" if batch.batch.is_none() && current.is_none() => {
                    batch.batch = Some(Header::read(line, default)?)
                }
                b"MSH" => {
                    if let Some(done) = current.replace(line.to_vec()) {
                        batch.messages.push(done);
                    }
                }
                b"BTS" | b"FTS" => {
                    if let Some(done) = current.take() {
                        batch.messages.push(done);
                    }
                    if id == b"BTS" {
                        let count = line
                            .get(4..)
                            .unwrap_or_default()
                            .split(|b| !b.is_ascii_digit())
                            .next()
                            .unwrap_or_default();
                        batch.declared =
                            std::str::from_utf8(count).ok().and_then(|c| c.parse().ok());
                    }
                }
                _ => match current.as_mut() {
                    Some(message) => {
                        message.push(b'\r');
                        message.extend_from_slice(line);
                    }
                    None => {
                        return Err(ParseError::at(
                            i + 1,
                            0,
                            "a segment outside any message of the batch",
                        ));
                    }
                },
            }
        }
        if let Some(done) = current.take() {
            batch.messages.push(done);
        }
        if let Some(n) = batch.declared
            && n != batch.messages.len()
        {
            return Err(ParseError::at(
                1,
                0,
                &format!(
                    "BTS-1 declares {n} messages, the batch holds {}",
                    batch.messages.len()
                ),
            ));
        }
        Ok(batch)
    }

    /// The answering batch around `replies` (each a message, segments ended
    /// by `\r`), as text.
    pub fn response(&self, replies: &[String], at_micros: i64) -> String {
        let mut out = String::new();
        if let Some(file) = &self.file {
            out.push_str(&envelope(file, at_micros));
        }
        match &self.batch {
            Some(b) => out.push_str(&envelope(b, at_micros)),
            None => out.push_str("BHS|^~\\&\r"),
        }
        for r in replies {
            out.push_str(r);
        }
        let f = self
            .batch
            .as_ref()
            .or(self.file.as_ref())
            .map_or('|', |h| h.delimiters.field as char);
        let _ = write!(out, "BTS{f}{}\r", replies.len());
        if self.file.is_some() {
            let _ = write!(out, "FTS{f}1\r");
        }
        out
    }
}

/// The answer to a batch that cannot be split: an empty response batch whose
/// BTS-2 (batch comment) says why, under the batch's own header swapped
/// when that header can be read.
pub fn refusal(raw: &[u8], default: Charset, why: &str, at_micros: i64) -> String {
    let first = Header::read(raw, default).ok();
    let d = first.as_ref().map(|h| h.delimiters).unwrap_or_default();
    let f = d.field as char;
    let mut out = match first.as_ref().filter(|h| h.id() == "BHS") {
        Some(h) => envelope(h, at_micros),
        None => format!("BHS{f}{}\r", d.encoding_characters()),
    };
    let _ = write!(out, "BTS{f}0{f}{}\r", super::escape::encode(why, &d));
    out
}

/// The answering header of a batch or file header.
fn envelope(h: &Header, at_micros: i64) -> String {
    let f = h.delimiters.field as char;
    format!(
        "{id}{f}{enc}{f}{ra}{f}{rf}{f}{sa}{f}{sf}{f}{ts}{f}{f}{f}{f}{cid}{f}{reference}\r",
        id = h.id(),
        enc = h.field(2),
        ra = h.field(5),
        rf = h.field(6),
        sa = h.field(3),
        sf = h.field(4),
        ts = timestamp(at_micros),
        cid = control_id(),
        reference = h.field(11),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BATCH: &[u8] = b"FHS|^~\\&|LAB|SITE|HUB|HQ|20260101||||F1\r\
BHS|^~\\&|LAB|SITE|HUB|HQ|20260101||||B1\r\
MSH|^~\\&|LAB|SITE|HUB|HQ|20260101||ADT^A04|M1|P|2.5\rPID|1||X\r\
MSH|^~\\&|LAB|SITE|HUB|HQ|20260101||ADT^A08|M2|P|2.5\rPID|1||Y\r\
BTS|2\rFTS|1\r";

    #[test]
    fn a_file_is_split_into_its_messages_and_answered_in_kind() {
        assert!(is_batch(BATCH));
        assert!(!is_batch(b"MSH|^~\\&|"));
        let b = Batch::split(BATCH, Charset::Utf8).unwrap();
        assert_eq!(b.messages.len(), 2);
        assert_eq!(
            b.messages[1],
            b"MSH|^~\\&|LAB|SITE|HUB|HQ|20260101||ADT^A08|M2|P|2.5\rPID|1||Y"
        );
        let out = b.response(
            &["MSH|a\rMSA|AA|M1\r".into(), "MSH|b\rMSA|AA|M2\r".into()],
            0,
        );
        let lines: Vec<&str> = out.split('\r').collect();
        assert!(
            lines[0].starts_with("FHS|^~\\&|HUB|HQ|LAB|SITE|19700101000000+0000||||HL"),
            "{out}"
        );
        assert!(lines[0].ends_with("|F1"), "{out}");
        assert!(
            lines[1].starts_with("BHS|^~\\&|HUB|HQ|LAB|SITE|") && lines[1].ends_with("|B1"),
            "{out}"
        );
        assert_eq!(&lines[6..], ["BTS|2", "FTS|1", ""]);
    }

    #[test]
    fn a_batch_that_cannot_be_split_is_refused_in_its_comment() {
        let raw = b"BHS|^~\\&|LAB|SITE|HUB|HQ|1||||B9\rPID|1\r";
        let e = Batch::split(raw, Charset::Utf8).unwrap_err();
        let out = refusal(raw, Charset::Utf8, &e.to_string(), 0);
        assert!(out.starts_with("BHS|^~\\&|HUB|HQ|LAB|SITE|"), "{out}");
        assert!(
            out.ends_with("|B9\rBTS|0|segment 2: a segment outside any message of the batch\r"),
            "{out}"
        );
    }

    #[test]
    fn counts_and_stray_segments_are_checked() {
        let wrong = b"BHS|^~\\&|A\rMSH|^~\\&|A|B|C|D|1||ADT^A04|M1|P|2.5\rBTS|3\r";
        assert!(
            Batch::split(wrong, Charset::Utf8)
                .unwrap_err()
                .message
                .contains("declares 3")
        );
        let stray = b"BHS|^~\\&|A\rPID|1\rMSH|^~\\&|A\rBTS|1\r";
        assert_eq!(Batch::split(stray, Charset::Utf8).unwrap_err().segment, 2);
        let empty = Batch::split(b"BHS|^~\\&|A\rBTS|0\r", Charset::Utf8).unwrap();
        assert!(empty.messages.is_empty());
        let answer = empty.response(&[], 0);
        assert!(
            answer.starts_with("BHS|^~\\&|||A|") && answer.ends_with("|\rBTS|0\r"),
            "{answer}"
        );
    }
}
