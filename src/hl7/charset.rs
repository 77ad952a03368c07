//! Character sets of HL7 v2 messages (MSH-18, table 0211). A message is
//! transcoded to UTF-8 before it is parsed; its delimiters are ASCII in every
//! set read here, so decoding first cannot move them. A message whose MSH-18
//! is empty is read in the listener's configured default.

use super::ParseError;

/// A character set this side can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// `ASCII` (and `ISO IR6`): 7-bit only.
    Ascii,
    /// `8859/1` (and `ISO IR100`): each byte is the code point of its value.
    Latin1,
    /// `UNICODE UTF-8`.
    Utf8,
}

impl Charset {
    /// The set named by an MSH-18 value; `None` for one not read here.
    pub fn named(name: &str) -> Option<Charset> {
        match name.trim().to_ascii_uppercase().as_str() {
            "ASCII" | "ISO IR6" => Some(Charset::Ascii),
            "8859/1" | "ISO IR100" => Some(Charset::Latin1),
            "UNICODE UTF-8" | "UTF-8" => Some(Charset::Utf8),
            _ => None,
        }
    }

    /// Its name in MSH-18.
    pub fn name(self) -> &'static str {
        match self {
            Charset::Ascii => "ASCII",
            Charset::Latin1 => "8859/1",
            Charset::Utf8 => "UNICODE UTF-8",
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
