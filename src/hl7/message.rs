//! An HL7 v2 message in ER7 (pipe) encoding, read into segments and fields.
//! Fields are kept as written; a value is split into repetitions,
//! components and subcomponents and its escapes decoded when it is asked
//! for, so a message that is only stored costs one pass.
//!
//! Segments may be separated by `\r` (the standard), `\n` or `\r\n`; empty
//! lines are skipped. A segment's id is three capital letters or digits,
//! starting with a letter (Z-segments included). Field numbers are those of
//! the standard: in `MSH`, `BHS` and `FHS` the separator itself is field 1
//! and the encoding characters field 2.

use super::ParseError;
use super::charset::Charset;
use super::delimiters::Delimiters;
use super::escape;

/// A parsed message.
#[derive(Debug, Clone)]
pub struct Message {
    pub delimiters: Delimiters,
    pub charset: Charset,
    pub segments: Vec<Segment>,
}

/// One segment: its id and its fields as written (index 0 is the id).
#[derive(Debug, Clone)]
pub struct Segment {
    pub id: String,
    fields: Vec<String>,
    header: bool,
}

/// Header segments, whose field 1 is the separator itself.
const HEADERS: [&str; 3] = ["MSH", "BHS", "FHS"];

impl Message {
    /// Parses `bytes`, transcoded from MSH-18's character set (`default` when
    /// MSH-18 is empty). The first segment must be a header.
    pub fn parse(bytes: &[u8], default: Charset) -> Result<Message, ParseError> {
        let start = bytes
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n'))
            .unwrap_or(bytes.len());
        let bytes = &bytes[start..];
        if !HEADERS.iter().any(|h| bytes.starts_with(h.as_bytes())) {
            return Err(ParseError::at(1, 0, "the message does not start with MSH"));
        }
        let delimiters = Delimiters::read(bytes)?;
        let charset = match charset_field(bytes, &delimiters) {
            Some(name) if !name.is_empty() => Charset::named(&name).ok_or_else(|| {
                ParseError::at(1, 18, &format!("character set '{name}' is not supported"))
            })?,
            _ => default,
        };
        let text = charset.decode(bytes)?;
        let mut segments = Vec::new();
        for (i, line) in text
            .split(['\r', '\n'])
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            let segment = Segment::read(line, &delimiters, i + 1)?;
            if i > 0 && segment.id == "MSH" && bytes.starts_with(b"MSH") {
                return Err(ParseError::at(i + 1, 0, "a second MSH in one message"));
            }
            segments.push(segment);
        }
        Ok(Message {
            delimiters,
            charset,
            segments,
        })
    }

    /// The first segment with this id.
    pub fn segment(&self, id: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.id == id)
    }

    /// Every segment with this id, in order.
    pub fn all<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Segment> + 'a {
        self.segments.iter().filter(move |s| s.id == id)
    }

    /// The decoded component and subcomponent (from 1; 0 means the whole) of
    /// one repetition of a field as written.
    pub fn decode_part(&self, raw: &str, component: usize, sub: usize) -> String {
        let d = &self.delimiters;
        let c = part(raw, d.component, component);
        let s = match d.subcomponent {
            Some(sc) if component > 0 => part(c, sc, sub),
            _ => c,
        };
        escape::decode(s, d, self.charset)
    }

    /// The decoded value at `SEG-field.component.subcomponent` of the first
    /// repetition in the first segment `id` (`""` when absent).
    pub fn value(&self, id: &str, field: usize, component: usize, sub: usize) -> String {
        self.segment(id)
            .map(|s| s.value(self, field, 0, component, sub))
            .unwrap_or_default()
    }
}

/// MSH-18's first repetition, read from the raw bytes (all delimiters are
/// ASCII in every set, so this is safe before transcoding).
fn charset_field(bytes: &[u8], d: &Delimiters) -> Option<String> {
    let first = bytes.split(|&b| b == b'\r' || b == b'\n').next()?;
    let field = first.split(|&b| b == d.field).nth(17)?;
    let value = field.split(|&b| b == d.repetition).next()?;
    Some(String::from_utf8_lossy(value).trim().to_string())
}

impl Segment {
    fn read(line: &str, d: &Delimiters, position: usize) -> Result<Segment, ParseError> {
        let sep = d.field as char;
        let id: String = line.chars().take_while(|&c| c != sep).collect();
        let valid = id.len() == 3
            && id.starts_with(|c: char| c.is_ascii_uppercase())
            && id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !valid {
            return Err(ParseError::at(
                position,
                0,
                &format!(
                    "'{}' is not a segment id",
                    id.chars().take(16).collect::<String>()
                ),
            ));
        }
        let header = HEADERS.contains(&id.as_str());
        Ok(Segment {
            fields: line.split(sep).map(str::to_string).collect(),
            id,
            header,
        })
    }

    /// Field `n` as written (`""` when absent). In a header, field 1 is the
    /// field separator and field 2 the encoding characters.
    pub fn raw(&self, n: usize) -> &str {
        let index = if self.header {
            match n {
                0 => 0,
                1 => return "",
                n => n - 1,
            }
        } else {
            n
        };
        self.fields.get(index).map(String::as_str).unwrap_or("")
    }

    /// How many fields the segment has (its last field number).
    pub fn len(&self) -> usize {
        if self.header {
            self.fields.len()
        } else {
            self.fields.len() - 1
        }
    }

    /// Whether the segment has no field after its id.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The repetitions of field `n`, as written.
    pub fn repetitions<'a>(&'a self, m: &Message, n: usize) -> impl Iterator<Item = &'a str> {
        let raw = self.raw(n);
        let whole = raw.is_empty() || (self.header && n == 2);
        let sep = if whole {
            None
        } else {
            Some(m.delimiters.repetition as char)
        };
        raw.split(move |c| Some(c) == sep)
    }

    /// The decoded value of field `n`, repetition `rep` (from 0), component
    /// and subcomponent (from 1; 0 means the whole).
    pub fn value(&self, m: &Message, n: usize, rep: usize, component: usize, sub: usize) -> String {
        let d = &m.delimiters;
        if self.header && n <= 2 {
            return if n == 1 {
                (d.field as char).to_string()
            } else {
                self.raw(2).to_string()
            };
        }
        let Some(raw) = self.repetitions(m, n).nth(rep) else {
            return String::new();
        };
        m.decode_part(raw, component, sub)
    }
}

/// Part `i` (from 1) of `text` split at `sep`; the whole for 0, `""` past the end.
fn part(text: &str, sep: u8, i: usize) -> &str {
    if i == 0 {
        return text;
    }
    text.split(sep as char).nth(i - 1).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADT: &str = "MSH|^~\\&|DONORAPP|BLOODCTR|HEMOLINK|HUB|20261121101500||ADT^A04^ADT_A01|MSG0001|P|2.5.1||||||UNICODE UTF-8\r\
        EVN|A04|20261121101500\r\
        PID|1||D123^^^BLOODCTR^MR~998877^^^NHS^NH||Smith^Ann^B\\S\\C||19800101|F\r\
        ZBD|1|O NEG\r";

    #[test]
    fn fields_repetitions_components_and_subcomponents_are_read() {
        let m = Message::parse(ADT.as_bytes(), Charset::Ascii).unwrap();
        assert_eq!(m.charset, Charset::Utf8);
        assert_eq!(m.segments.len(), 4);
        assert_eq!(m.value("MSH", 1, 0, 0), "|");
        assert_eq!(m.value("MSH", 2, 0, 0), "^~\\&");
        assert_eq!(m.value("MSH", 9, 2, 0), "A04");
        assert_eq!(m.value("MSH", 10, 0, 0), "MSG0001");
        assert_eq!(m.value("MSH", 12, 0, 0), "2.5.1");
        let pid = m.segment("PID").unwrap();
        assert_eq!(pid.repetitions(&m, 3).count(), 2);
        assert_eq!(pid.value(&m, 3, 1, 1, 0), "998877");
        assert_eq!(pid.value(&m, 3, 1, 4, 0), "NHS");
        assert_eq!(pid.value(&m, 5, 0, 3, 0), "B^C");
        assert_eq!(m.value("ZBD", 2, 0, 0), "O NEG");
        assert_eq!(m.value("PV1", 2, 0, 0), "");
    }

    #[test]
    fn line_feeds_and_custom_delimiters_are_accepted() {
        let text = "MSH#$*@%#APP#FAC\nPID#1##ID1$$$AUTH%X\r\nZZ1#a\n\n";
        let m = Message::parse(text.as_bytes(), Charset::Ascii).unwrap();
        assert_eq!(m.segments.len(), 3);
        let pid = m.segment("PID").unwrap();
        assert_eq!(pid.value(&m, 3, 0, 4, 2), "X");
        assert_eq!(m.value("MSH", 3, 0, 0), "APP");
    }

    #[test]
    fn the_character_set_of_msh_18_is_applied() {
        let mut latin =
            b"MSH|^~\\&|A|B|C|D|20260101||ADT^A08|1|P|2.4||||||8859/1\rPID|1||X||M\xfcller\r"
                .to_vec();
        let m = Message::parse(&latin, Charset::Utf8).unwrap();
        assert_eq!(m.value("PID", 5, 0, 0), "Müller");
        latin = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A08|1|P|2.4\rPID|1||X||M\xfcller\r".to_vec();
        let e = Message::parse(&latin, Charset::Utf8).unwrap_err();
        assert_eq!((e.segment, e.field), (1, 18));
        let mut big5 =
            b"MSH|^~\\&|A|B|C|D|20260101||ADT^A08|1|P|2.4||||||BIG-5\rPID|1||X||".to_vec();
        big5.extend(Charset::named("BIG-5").unwrap().encode("許功蓋^大"));
        big5.push(b'\r');
        let m = Message::parse(&big5, Charset::Ascii).unwrap();
        assert_eq!(
            m.value("PID", 5, 1, 0),
            "許功蓋",
            "a 0x5C trail byte is not an escape"
        );
        assert_eq!(m.value("PID", 5, 2, 0), "大");
        let unknown = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A08|1|P|2.4||||||ISO IR87\r";
        assert!(Message::parse(unknown, Charset::Utf8).is_err());
    }

    #[test]
    fn malformed_messages_are_refused_with_a_position() {
        let e = Message::parse(b"PID|1\r", Charset::Ascii).unwrap_err();
        assert_eq!(e.segment, 1);
        let e = Message::parse(b"MSH|^~\\&|A\rpid|1\r", Charset::Ascii).unwrap_err();
        assert_eq!(e.segment, 2);
        let e = Message::parse(b"MSH|^~\\&|A\rMSH|^~\\&|B\r", Charset::Ascii).unwrap_err();
        assert_eq!(e.segment, 2);
    }

    #[test]
    fn never_panics_on_mutations() {
        let alphabet = b"|^~\\&#\r\nMSHPIDXZ019.\xc3\xa9\xff\x00 ";
        for bytes in crate::testing::mutations(ADT, alphabet, 50_000, 0x005e_ed17) {
            for charset in [
                Charset::Ascii,
                Charset::Latin1,
                Charset::Utf8,
                Charset::named("BIG-5").unwrap(),
            ] {
                if let Ok(m) = Message::parse(&bytes, charset) {
                    for s in &m.segments {
                        for n in 0..s.len() + 2 {
                            for rep in 0..3 {
                                let _ = s.value(&m, n, rep, 1, 1);
                                let _ = s.value(&m, n, rep, 3, 0);
                            }
                        }
                    }
                }
            }
        }
    }
}
