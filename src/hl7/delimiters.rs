//! The encoding characters of an HL7 v2 message, read from its header: MSH-1
//! is the field separator (the byte after `MSH`), MSH-2 the component,
//! repetition, escape and subcomponent characters, and from v2.7 an optional
//! fifth, the truncation character. Any printable ASCII characters may be
//! chosen, as long as they differ; `|^~\&` is only the usual set.

use super::ParseError;

/// The separators and escape character of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiters {
    pub field: u8,
    pub component: u8,
    pub repetition: u8,
    pub escape: Option<u8>,
    pub subcomponent: Option<u8>,
    /// The v2.7+ truncation character (MSH-2's fifth), if the message has one.
    pub truncation: Option<u8>,
}

impl Default for Delimiters {
    fn default() -> Delimiters {
        Delimiters {
            field: b'|',
            component: b'^',
            repetition: b'~',
            escape: Some(b'\\'),
            subcomponent: Some(b'&'),
            truncation: None,
        }
    }
}

impl Delimiters {
    /// Reads the encoding characters of a header segment (`MSH`, `BHS` or
    /// `FHS`) from its first bytes.
    pub fn read(segment: &[u8]) -> Result<Delimiters, ParseError> {
        let bad = |why: &str| ParseError::at(1, 2, why);
        let field = *segment
            .get(3)
            .ok_or_else(|| bad("the header ends before its field separator"))?;
        let rest = &segment[4..];
        let end = rest.iter().position(|&b| b == field).unwrap_or(rest.len());
        let chars = &rest[..end];
        if chars.is_empty() {
            return Err(bad("MSH-2 (the encoding characters) is empty"));
        }
        if chars.len() > 5 {
            return Err(bad("MSH-2 has more than five encoding characters"));
        }
        let all: Vec<u8> = std::iter::once(field)
            .chain(chars.iter().copied())
            .collect();
        for (i, &c) in all.iter().enumerate() {
            if !c.is_ascii_graphic() {
                return Err(bad("an encoding character is not printable ASCII"));
            }
            if c.is_ascii_alphanumeric() {
                return Err(bad("an encoding character is a letter or digit"));
            }
            if all[..i].contains(&c) {
                return Err(bad("two encoding characters are the same"));
            }
        }
        if chars.len() == 1 {
            return Err(bad(
                "MSH-2 needs at least the component and repetition characters",
            ));
        }
        Ok(Delimiters {
            field,
            component: chars[0],
            repetition: chars[1],
            escape: chars.get(2).copied(),
            subcomponent: chars.get(3).copied(),
            truncation: chars.get(4).copied(),
        })
    }

    /// MSH-2 as written back into a reply (the same characters).
    pub fn encoding_characters(&self) -> String {
        let mut s = String::new();
        for c in [
            Some(self.component),
            Some(self.repetition),
            self.escape,
            self.subcomponent,
            self.truncation,
        ]
        .into_iter()
        .map_while(|c| c)
        {
            s.push(c as char);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_and_custom_sets_are_read_and_written_back() {
        let d = Delimiters::read(b"MSH|^~\\&|APP").unwrap();
        assert_eq!(d, Delimiters::default());
        assert_eq!(d.encoding_characters(), "^~\\&");
        let custom = Delimiters::read(b"MSH#$*@%#APP").unwrap();
        assert_eq!(custom.field, b'#');
        assert_eq!(custom.component, b'$');
        assert_eq!(custom.escape, Some(b'@'));
        assert_eq!(custom.encoding_characters(), "$*@%");
        let truncation = Delimiters::read(b"MSH|^~\\&#|APP").unwrap();
        assert_eq!(truncation.truncation, Some(b'#'));
    }

    #[test]
    fn unusable_sets_are_refused() {
        for bad in [
            &b"MSH"[..],
            b"MSH||APP",
            b"MSH|^^\\&|",
            b"MSH|^~\\&#!|",
            b"MSH|A~\\&|",
            b"MSH|^|",
            b"MSH|^~\\\x01|",
        ] {
            assert!(
                Delimiters::read(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
