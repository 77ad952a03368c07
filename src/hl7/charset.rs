//! Character sets of HL7 v2 messages (MSH-18, table 0211). A message is
//! transcoded to UTF-8 before it is parsed, so a multi-byte set whose
//! trailing bytes can look like a delimiter (Big5's `|` and `\`) cannot
//! split a field. A message whose MSH-18 is empty is read in the listener's
//! configured default.
//!
//! ASCII, 8859/1 and UTF-8 are decoded here; the other parts of 8859 and the
//! East Asian sets by `encoding_rs`, which follows the WHATWG Encoding
//! Standard. That standard reads `8859/9` as windows-1254, which differs from
//! ISO 8859-9 only in 0x80–0x9F (C1 controls, which no HL7 text holds), so
//! 8859/9 uses it. 8859/1 stays our own: the standard would read it as
//! windows-1252. The ISO 2022 sets (ISO IR14, IR87, IR159) and UTF-16/32
//! (which MLLP cannot frame) are refused.

use super::ParseError;
use encoding_rs::Encoding;

/// A character set this side can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// `ASCII` (and `ISO IR6`): 7-bit only.
    Ascii,
    /// `8859/1` (and `ISO IR100`): each byte is the code point of its value.
    Latin1,
    /// `UNICODE UTF-8`.
    Utf8,
    /// Another set of table 0211 (its name there), read by `encoding_rs`.
    Other(&'static str, &'static Encoding),
}

/// The other sets of table 0211, with their ISO IR aliases.
const OTHERS: &[(&str, &str, &Encoding)] = &[
    ("8859/2", "ISO IR101", encoding_rs::ISO_8859_2),
    ("8859/3", "ISO IR109", encoding_rs::ISO_8859_3),
    ("8859/4", "ISO IR110", encoding_rs::ISO_8859_4),
    ("8859/5", "ISO IR144", encoding_rs::ISO_8859_5),
    ("8859/6", "ISO IR127", encoding_rs::ISO_8859_6),
    ("8859/7", "ISO IR126", encoding_rs::ISO_8859_7),
    ("8859/8", "ISO IR138", encoding_rs::ISO_8859_8),
    ("8859/9", "ISO IR148", encoding_rs::WINDOWS_1254),
    ("8859/15", "ISO IR203", encoding_rs::ISO_8859_15),
    ("GB 18030-2000", "GB18030", encoding_rs::GB18030),
    ("KS X 1001", "EUC-KR", encoding_rs::EUC_KR),
    ("BIG-5", "BIG5", encoding_rs::BIG5),
];

impl Charset {
    /// The set named by an MSH-18 value; `None` for one not read here.
    pub fn named(name: &str) -> Option<Charset> {
        let upper = name.trim().to_ascii_uppercase();
        match upper.as_str() {
            "ASCII" | "ISO IR6" => Some(Charset::Ascii),
            "8859/1" | "ISO IR100" => Some(Charset::Latin1),
            "UNICODE UTF-8" | "UTF-8" => Some(Charset::Utf8),
            other => OTHERS
                .iter()
                .find(|(n, alias, _)| *n == other || *alias == other)
                .map(|&(n, _, e)| Charset::Other(n, e)),
        }
    }

    /// Its name in MSH-18.
    pub fn name(self) -> &'static str {
        match self {
            Charset::Ascii => "ASCII",
            Charset::Latin1 => "8859/1",
            Charset::Utf8 => "UNICODE UTF-8",
            Charset::Other(name, _) => name,
        }
    }

    /// `bytes` as text; an error names the first byte this set cannot hold.
    pub fn decode(self, bytes: &[u8]) -> Result<String, ParseError> {
        let bad = |at: usize| {
            ParseError::at(
                1,
                18,
                &format!("byte {at} is not valid {} text", self.name()),
            )
        };
        match self {
            Charset::Ascii => match bytes.iter().position(|b| !b.is_ascii()) {
                Some(at) => Err(bad(at)),
                None => Ok(String::from_utf8_lossy(bytes).into_owned()),
            },
            Charset::Latin1 => Ok(bytes.iter().map(|&b| b as char).collect()),
            Charset::Utf8 => {
                String::from_utf8(bytes.to_vec()).map_err(|e| bad(e.utf8_error().valid_up_to()))
            }
            Charset::Other(_, encoding) => {
                let mut decoder = encoding.new_decoder_without_bom_handling();
                let mut text = String::with_capacity(bytes.len() * 3 / 2 + 16);
                let mut read = 0;
                loop {
                    let (result, n) = decoder.decode_to_string_without_replacement(
                        &bytes[read..],
                        &mut text,
                        true,
                    );
                    read += n;
                    match result {
                        encoding_rs::DecoderResult::InputEmpty => return Ok(text),
                        encoding_rs::DecoderResult::OutputFull => {
                            text.reserve(bytes.len() - read + 16);
                        }
                        encoding_rs::DecoderResult::Malformed(bad_len, after) => {
                            let at = read - after as usize - bad_len as usize;
                            return Err(bad(at));
                        }
                    }
                }
            }
        }
    }

    /// `text` in this set, for a reply; characters it cannot hold become `?`.
    pub fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Charset::Utf8 => text.as_bytes().to_vec(),
            Charset::Latin1 => text
                .chars()
                .map(|c| u8::try_from(c).unwrap_or(b'?'))
                .collect(),
            Charset::Ascii => text
                .chars()
                .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
                .collect(),
            Charset::Other(_, encoding) => {
                let mut out = Vec::with_capacity(text.len());
                let mut buf = [0u8; 4];
                for c in text.chars() {
                    let (bytes, _, unmappable) = encoding.encode(c.encode_utf8(&mut buf));
                    if unmappable {
                        out.push(b'?');
                    } else {
                        out.extend_from_slice(&bytes);
                    }
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_table_0211_are_recognised() {
        assert_eq!(Charset::named("UNICODE UTF-8"), Some(Charset::Utf8));
        assert_eq!(Charset::named("8859/1"), Some(Charset::Latin1));
        assert_eq!(Charset::named("iso ir100"), Some(Charset::Latin1));
        assert_eq!(Charset::named("ASCII"), Some(Charset::Ascii));
        assert_eq!(Charset::named("ISO IR87"), None);
        assert_eq!(Charset::named("UNICODE UTF-16"), None);
        assert_eq!(Charset::named("8859/5").map(Charset::name), Some("8859/5"));
        assert_eq!(
            Charset::named("iso ir101").map(Charset::name),
            Some("8859/2")
        );
        assert_eq!(Charset::named("BIG-5").map(Charset::name), Some("BIG-5"));
    }

    #[test]
    fn other_parts_of_8859_and_east_asian_sets_round_trip() {
        let cyrillic = Charset::named("8859/5").unwrap();
        assert_eq!(cyrillic.decode(b"\xb8\xd2\xd0\xdd").unwrap(), "Иван");
        assert_eq!(cyrillic.encode("Иван €"), b"\xb8\xd2\xd0\xdd ?");
        let polish = Charset::named("8859/2").unwrap();
        assert_eq!(polish.decode(b"\xa3\xf3d\xbc").unwrap(), "Łódź");
        let big5 = Charset::named("BIG-5").unwrap();
        let bytes = big5.encode("許功蓋");
        assert!(bytes.contains(&b'\\'), "Big5 trail bytes include 0x5C");
        assert_eq!(big5.decode(&bytes).unwrap(), "許功蓋");
        let e = big5.decode(b"ab\xff\xff").unwrap_err();
        assert!(e.to_string().contains("byte 2"), "{e}");
    }

    #[test]
    fn text_is_decoded_or_the_first_bad_byte_is_named() {
        assert_eq!(Charset::Latin1.decode(b"Jos\xe9").unwrap(), "José");
        assert_eq!(Charset::Utf8.decode("José".as_bytes()).unwrap(), "José");
        let e = Charset::Utf8.decode(b"Jos\xe9").unwrap_err();
        assert!(e.to_string().contains("byte 3"), "{e}");
        assert!(Charset::Ascii.decode(b"Jos\xe9").is_err());
        assert_eq!(Charset::Latin1.encode("José 😀"), b"Jos\xe9 ?");
    }
}
