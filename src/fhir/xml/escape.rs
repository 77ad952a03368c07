//! Character-level XML rules: escaping of attribute values and text on the way
//! out; on the way in, decoding of the five predefined entities and of character
//! references (nothing else: no DTD means no other entity exists), line-end and
//! attribute-value normalization, and the checks on characters and names.

use crate::fhir::outcome::Issue;

/// Whether `c` may appear in an XML 1.0 document.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn bad_char(c: char) -> Issue {
    Issue::error(
        "invalid",
        format!(
            "character U+{:04X} cannot be represented in XML",
            u32::from(c)
        ),
    )
}

/// Whether `s` can be written as it is: no markup character, no control
/// character (other than `also`), and no byte 0xEF (which leads the
/// non-characters U+FFFE and U+FFFF, so such text takes the checking path).
fn plain(s: &str, also: u8) -> bool {
    s.bytes()
        .all(|b| (b >= 0x20 || b == also) && !matches!(b, b'&' | b'<' | b'>' | b'"' | 0xEF))
}

/// Appends `s` escaped for a double-quoted attribute value. Tabs and line ends
/// become character references so that attribute normalization keeps them.
pub(crate) fn escape_attr(s: &str, out: &mut String) -> Result<(), Issue> {
    if plain(s, b'"') {
        out.push_str(s);
        return Ok(());
    }
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            c => return Err(bad_char(c)),
        }
    }
    Ok(())
}

/// Appends `s` escaped as character data. A carriage return becomes a character
/// reference so that line-end normalization keeps it.
pub(crate) fn escape_text(s: &str, out: &mut String) -> Result<(), Issue> {
    if plain(s, b'\n') {
        out.push_str(s);
        return Ok(());
    }
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            c => return Err(bad_char(c)),
        }
    }
    Ok(())
}

/// The character a reference stands for: `amp`, `lt`, `gt`, `quot`, `apos`,
/// `#123` or `#x7B` (the text between `&` and `;`).
pub(crate) fn decode_ref(name: &str) -> Result<char, Issue> {
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => {
            let code = if let Some(hex) = name.strip_prefix("#x") {
                digits(hex, 16)
            } else if let Some(dec) = name.strip_prefix('#') {
                digits(dec, 10)
            } else {
                let shown: String = name.chars().take(40).collect();
                return Err(Issue::error(
                    "structure",
                    format!(
                        "undeclared entity &{shown}; (only the predefined entities are allowed)"
                    ),
                ));
            };
            match code.and_then(char::from_u32).filter(|c| is_xml_char(*c)) {
                Some(c) => c,
                None => {
                    let shown: String = name.chars().take(40).collect();
                    return Err(Issue::error(
                        "structure",
                        format!("invalid character reference &{shown};"),
                    ));
                }
            }
        }
    };
    Ok(c)
}

fn digits(s: &str, radix: u32) -> Option<u32> {
    if s.is_empty() || s.len() > 8 || !s.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(s, radix).ok()
}

/// The value of an attribute from its raw text: references decoded, literal
/// tabs and line ends (a CR LF pair counting once) turned into spaces.
pub(crate) fn attr_value(raw: &[u8]) -> Result<String, Issue> {
    let raw = std::str::from_utf8(raw)
        .map_err(|_| Issue::error("structure", "attribute value is not UTF-8"))?;
    // Fast path: nothing to decode, normalize or check beyond UTF-8 (0xEF leads
    // the non-characters U+FFFE and U+FFFF, so it takes the slow path).
    if raw
        .bytes()
        .all(|b| b >= 0x20 && b != b'&' && b != b'<' && b != 0xEF)
    {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        match c {
            '&' => {
                let end = rest.find(';').ok_or_else(|| {
                    Issue::error("structure", "unterminated reference in attribute value")
                })?;
                out.push(decode_ref(&rest[..end])?);
                rest = &rest[end + 1..];
            }
            '<' => return Err(Issue::error("structure", "'<' in attribute value")),
            '\r' => {
                rest = rest.strip_prefix('\n').unwrap_or(rest);
                out.push(' ');
            }
            '\n' | '\t' => out.push(' '),
            c if is_xml_char(c) => out.push(c),
            c => return Err(bad_char(c)),
        }
    }
    Ok(out)
}

/// Appends character data read from a document: CR LF and lone CR become LF.
pub(crate) fn push_text(raw: &[u8], out: &mut String) -> Result<(), Issue> {
    let raw =
        std::str::from_utf8(raw).map_err(|_| Issue::error("structure", "text is not UTF-8"))?;
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            c if is_xml_char(c) => out.push(c),
            c => return Err(bad_char(c)),
        }
    }
    Ok(())
}

/// Whether raw character data is only XML white space.
pub(crate) fn is_blank(raw: &[u8]) -> bool {
    raw.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// Whether `s` is an XML name without a colon (an NCName), roughly: letters,
/// digits, `_`, `-`, `.` and any non-ASCII character, not starting with a digit,
/// `-` or `.`.
pub(crate) fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let start_ok =
        first.is_alphabetic() || first == '_' || (!first.is_ascii() && is_xml_char(first));
    start_ok
        && chars.all(|c| {
            c.is_alphanumeric() || matches!(c, '_' | '-' | '.') || (!c.is_ascii() && is_xml_char(c))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_normalization() {
        assert_eq!(
            attr_value(b"a&amp;b&#10;c&#x41;\r\nd\te").unwrap(),
            "a&b\ncA d e"
        );
        assert!(attr_value(b"&nbsp;").is_err());
        assert!(attr_value(b"&#0;").is_err());
        assert!(attr_value(b"&#xFFFFFFFFF;").is_err());
        assert!(attr_value(b"&amp").is_err());
        let mut s = String::new();
        escape_attr("a\"<\n\r\t&", &mut s).unwrap();
        assert_eq!(attr_value(s.as_bytes()).unwrap(), "a\"<\n\r\t&");
        assert!(escape_text("\u{1}", &mut s).is_err());
        assert!(is_ncname("div") && is_ncname("é-1") && !is_ncname("a\"b") && !is_ncname("1a"));
    }
}
