//! The message header (MSH) read on its own, before and apart from the rest
//! of the message: a reply needs it even when a later segment, or the
//! character set, cannot be read. Fields are kept as written (escapes and
//! all), so a reply can echo them byte for byte in the same delimiters.

use super::ParseError;
use super::charset::Charset;
use super::delimiters::Delimiters;

/// An MSH segment's fields, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub delimiters: Delimiters,
    /// MSH-18's set, or the default when MSH-18 is empty; `None` when MSH-18
    /// names a set this side cannot read.
    pub charset: Option<Charset>,
    /// Index `n` is MSH-n; 0 is the segment id.
    fields: Vec<String>,
}

impl Header {
    /// Reads the header line of `bytes`, which must start with `MSH` (or a
    /// batch's `BHS` or `FHS`, read the same way) after any empty lines. The line is decoded in its own character set, or as
    /// Latin-1 when that fails, so the fields of a reply are always there.
    pub fn read(bytes: &[u8], default: Charset) -> Result<Header, ParseError> {
        let start = bytes
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n'))
            .unwrap_or(bytes.len());
        let bytes = &bytes[start..];
        if ![b"MSH", b"BHS", b"FHS"]
            .iter()
            .any(|h| bytes.starts_with(*h))
        {
            return Err(ParseError::at(1, 0, "the message does not start with MSH"));
        }
        let delimiters = Delimiters::read(bytes)?;
        let end = bytes
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .unwrap_or(bytes.len());
        let line = &bytes[..end];
        let named = line
            .split(|&b| b == delimiters.field)
            .nth(17)
            .and_then(|f| f.split(|&b| b == delimiters.repetition).next())
            .map(|f| String::from_utf8_lossy(f).trim().to_string())
            .unwrap_or_default();
        let charset = if named.is_empty() {
            Some(default)
        } else {
            Charset::named(&named)
        };
        let text = charset
            .and_then(|c| c.decode(line).ok())
            .unwrap_or_else(|| Charset::Latin1.decode(line).unwrap_or_default());
        let sep = delimiters.field as char;
        let mut fields: Vec<String> = Vec::with_capacity(21);
        let mut parts = text.split(sep);
        fields.push(parts.next().unwrap_or_default().to_string());
        fields.push(sep.to_string());
        fields.extend(parts.map(str::to_string));
        Ok(Header {
            delimiters,
            charset,
            fields,
        })
    }

    /// MSH-`n` as written (`""` when absent).
    pub fn field(&self, n: usize) -> &str {
        self.fields.get(n).map(String::as_str).unwrap_or("")
    }

    /// Component `c` (from 1) of MSH-`n`'s first repetition, as written.
    pub fn component(&self, n: usize, c: usize) -> &str {
        let d = &self.delimiters;
        self.field(n)
            .split(d.repetition as char)
            .next()
            .unwrap_or("")
            .split(d.component as char)
            .nth(c.saturating_sub(1))
            .unwrap_or("")
    }

    /// The segment's id: `MSH`, `BHS` or `FHS`.
    pub fn id(&self) -> &str {
        self.field(0)
    }

    /// MSH-10, the message control id.
    pub fn control_id(&self) -> &str {
        self.field(10)
    }

    /// MSH-12's version id (`2.5.1`).
    pub fn version(&self) -> &str {
        self.component(12, 1)
    }

    /// The version as (major, minor), when it is a 2.x this side reads.
    pub fn version_number(&self) -> Option<(u32, u32)> {
        let mut parts = self.version().split('.');
        let major: u32 = parts.next()?.parse().ok()?;
        let minor: u32 = parts.next()?.parse().ok()?;
        (major == 2 && (1..=9).contains(&minor)).then_some((major, minor))
    }

    /// MSH-9's message code, trigger event and structure.
    pub fn message_type(&self) -> (&str, &str, &str) {
        (
            self.component(9, 1),
            self.component(9, 2),
            self.component(9, 3),
        )
    }

    /// Whether the sender asked for enhanced acknowledgement (MSH-15 or
    /// MSH-16 given).
    pub fn enhanced(&self) -> bool {
        !self.field(15).is_empty() || !self.field(16).is_empty()
    }

    /// The duplicate key: MSH-3, MSH-4 and MSH-10.
    pub fn key(&self) -> (String, String, String) {
        (
            self.field(3).to_string(),
            self.field(4).to_string(),
            self.field(10).to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_read_alone() {
        let h = Header::read(
            b"\r\nMSH|^~\\&|APP^1.2^ISO|FAC|HUB|HF|20260101||ORU^R01^ORU_R01|C1|P|2.5.1|||AL|NE||8859/1\rPID|\xff",
            Charset::Ascii,
        )
        .unwrap();
        assert_eq!(h.field(1), "|");
        assert_eq!(h.field(2), "^~\\&");
        assert_eq!(h.field(3), "APP^1.2^ISO");
        assert_eq!(h.component(3, 2), "1.2");
        assert_eq!(h.message_type(), ("ORU", "R01", "ORU_R01"));
        assert_eq!(h.control_id(), "C1");
        assert_eq!(h.version_number(), Some((2, 5)));
        assert!(h.enhanced());
        assert_eq!(h.charset, Some(Charset::Latin1));
        assert_eq!(h.field(30), "");
    }

    #[test]
    fn versions_and_sets_outside_what_is_read_are_told() {
        let h = Header::read(
            b"MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|3.0||||||KLINGON",
            Charset::Utf8,
        )
        .unwrap();
        assert_eq!(h.version_number(), None);
        assert_eq!(h.charset, None);
        assert!(!h.enhanced());
        assert!(Header::read(b"PID|1", Charset::Utf8).is_err());
        assert!(Header::read(b"MSH", Charset::Utf8).is_err());
    }
}
