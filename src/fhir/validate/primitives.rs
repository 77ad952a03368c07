//! Lexical checks of primitive values, written by hand after the regular
//! expressions of the R4 definitions (`Primitive::regex`) and the rules of
//! datatypes.html: integer ranges, code spacing, id characters, oid and uuid
//! forms, URIs without whitespace, base64, and the `<div>` of a narrative.
//! Dates and times are in `temporal.rs`. Each check returns the diagnostics.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{show, temporal};

/// Largest string or markdown value accepted, in bytes (datatypes.html: 1 MB).
pub const MAX_STRING_BYTES: usize = 1024 * 1024;

/// Checks the text of a JSON number as a value of primitive type `code`.
pub(super) fn check_number(code: &str, text: &str) -> Result<(), String> {
    let ok = match code {
        "integer" => digits_int(text.strip_prefix('-').unwrap_or(text)),
        "positiveInt" => digits_int(text) && text != "0",
        "unsignedInt" => digits_int(text),
        "decimal" => is_decimal(text),
        _ => true,
    };
    if !ok {
        let hint = match code {
            "positiveInt" if text == "0" => " (it must be at least 1)",
            "positiveInt" | "unsignedInt" | "integer" => {
                " (a whole number without fraction or exponent)"
            }
            _ => "",
        };
        return Err(format!("'{}' is not a valid {code}{hint}", show(text)));
    }
    if code != "decimal" && text.parse::<i32>().is_err() {
        return Err(format!(
            "'{}' is out of range for {code} (at most 2147483647{})",
            show(text),
            if code == "integer" {
                ", at least -2147483648"
            } else {
                ""
            }
        ));
    }
    Ok(())
}

/// Checks a (non-empty) JSON string as a value of primitive type `code`.
pub(super) fn check_string(code: &str, s: &str) -> Result<(), String> {
    let result = match code {
        "string" | "markdown" => return check_text(code, s),
        "code" => is_code(s)
            .then_some(())
            .ok_or("no leading, trailing or repeated whitespace; single spaces only"),
        "id" => is_id(s)
            .then_some(())
            .ok_or("1 to 64 letters, digits, '-' and '.'"),
        "oid" => is_oid(s)
            .then_some(())
            .ok_or("expected urn:oid: and dotted numbers"),
        "uuid" => is_uuid(s)
            .then_some(())
            .ok_or("expected urn:uuid: and 8-4-4-4-12 hexadecimal digits"),
        "uri" | "url" | "canonical" => (!s.bytes().any(is_space))
            .then_some(())
            .ok_or("it must not contain whitespace"),
        "base64Binary" => return check_base64(s),
        "date" => temporal::check_date(s),
        "dateTime" => temporal::check_date_time(s),
        "instant" => temporal::check_instant(s),
        "time" => temporal::check_time(s),
        "xhtml" => return check_div(s),
        _ => Ok(()),
    };
    result.map_err(|why| format!("'{}' is not a valid {code} ({why})", show(s)))
}

/// JSON's `\s` of the spec's expressions: space, tab, line feed, vertical tab, form feed, return.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `0|[1-9][0-9]*`
fn digits_int(t: &str) -> bool {
    let b = t.as_bytes();
    match b.first() {
        Some(b'0') => b.len() == 1,
        Some(b'1'..=b'9') => b.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
fn is_decimal(t: &str) -> bool {
    let t = t.strip_prefix('-').unwrap_or(t);
    let int_end = t.find(['.', 'e', 'E']).unwrap_or(t.len());
    if !digits_int(&t[..int_end]) {
        return false;
    }
    let mut rest = &t[int_end..];
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &r[n..];
    }
    if let Some(r) = rest.strip_prefix(['e', 'E']) {
        let r = r.strip_prefix(['+', '-']).unwrap_or(r);
        return !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit());
    }
    rest.is_empty()
}

/// string and markdown: no control characters but tab, return and line feed; at most 1 MB.
fn check_text(code: &str, s: &str) -> Result<(), String> {
    if s.len() > MAX_STRING_BYTES {
        return Err(format!(
            "a {code} value must not be longer than 1 MB ({} bytes given)",
            s.len()
        ));
    }
    // Control characters are single bytes in UTF-8.
    match s
        .bytes()
        .find(|&b| b < b' ' && !matches!(b, b'\t' | b'\r' | b'\n'))
    {
        Some(b) => Err(format!(
            "'{}' is not a valid {code} (it contains the control character U+{b:04X})",
            show(s)
        )),
        None => Ok(()),
    }
}

/// `[^\s]+( [^\s]+)*`: tokens separated by single spaces.
fn is_code(s: &str) -> bool {
    s.split(' ')
        .all(|token| !token.is_empty() && !token.bytes().any(is_space))
}

/// `[A-Za-z0-9\-\.]{1,64}`
fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// `urn:oid:[0-2](\.(0|[1-9][0-9]*))+`
fn is_oid(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("urn:oid:") else {
        return false;
    };
    let mut arcs = rest.split('.');
    matches!(arcs.next(), Some("0" | "1" | "2")) && {
        let mut n = 0;
        arcs.all(|arc| {
            n += 1;
            digits_int(arc)
        }) && n > 0
    }
}

/// `urn:uuid:` and 8-4-4-4-12 hexadecimal digits (either case).
fn is_uuid(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("urn:uuid:") else {
        return false;
    };
    rest.len() == 36
        && rest.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Base64 (standard alphabet, padded), whitespace anywhere tolerated.
fn check_base64(s: &str) -> Result<(), String> {
    let spaced = s.bytes().any(is_space);
    let length = if spaced {
        s.bytes().filter(|&b| !is_space(b)).count()
    } else {
        s.len()
    };
    let decoded = if length % 4 != 0 {
        Err(base64::DecodeError::InvalidLength(length))
    } else if spaced {
        let compact: Vec<u8> = s.bytes().filter(|&b| !is_space(b)).collect();
        STANDARD.decode(compact)
    } else {
        STANDARD.decode(s)
    };
    decoded.map(drop).map_err(|e| {
        let why = match e {
            base64::DecodeError::InvalidByte(_, b) if b.is_ascii_graphic() => {
                format!("the character '{}' is not allowed", char::from(b))
            }
            base64::DecodeError::InvalidByte(..) => {
                "it holds a character outside the base64 alphabet".into()
            }
            base64::DecodeError::InvalidLength(_) => {
                "its length (without whitespace) is not a multiple of 4".into()
            }
            base64::DecodeError::InvalidLastSymbol(..) => "its last symbol is not canonical".into(),
            base64::DecodeError::InvalidPadding => "its '=' padding is wrong".into(),
        };
        format!("'{}' is not valid base64Binary ({why})", show(s))
    })
}

/// The XHTML of a narrative: a `<div>` element in the XHTML namespace. The
/// content itself is not checked yet.
fn check_div(s: &str) -> Result<(), String> {
    const XHTML_NS: &str = "http://www.w3.org/1999/xhtml";
    let Some(mut rest) = s.trim_start().strip_prefix("<div") else {
        return Err(
            "the narrative must be an XHTML <div> element (it must start with '<div')".into(),
        );
    };
    if !rest.starts_with(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/') {
        return Err(
            "the narrative must be an XHTML <div> element (it must start with '<div')".into(),
        );
    }
    // The attributes of the opening tag: name = "value" or name = 'value'.
    let mut namespace_ok = false;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() || rest.starts_with('>') || rest.starts_with("/>") {
            break;
        }
        let name_end = rest
            .find(|c: char| c.is_ascii_whitespace() || matches!(c, '=' | '>' | '/'))
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        let after = rest[name_end..].trim_start();
        let Some(after) = after.strip_prefix('=') else {
            return Err(format!(
                "the attribute '{}' of the narrative's <div> has no value",
                show(name)
            ));
        };
        let after = after.trim_start();
        let Some(quote) = after.chars().next().filter(|c| matches!(c, '"' | '\'')) else {
            return Err(format!(
                "the attribute '{}' of the narrative's <div> is not quoted",
                show(name)
            ));
        };
        let body = &after[1..];
        let Some(end) = body.find(quote) else {
            return Err("the narrative's opening <div> tag is not closed".into());
        };
        if name == "xmlns" && &body[..end] == XHTML_NS {
            namespace_ok = true;
        }
        rest = &body[end + 1..];
    }
    if rest.is_empty() {
        return Err("the narrative's opening <div> tag is not closed".into());
    }
    if !namespace_ok {
        return Err(format!(
            "the narrative's <div> must be in the XHTML namespace (xmlns=\"{XHTML_NS}\")"
        ));
    }
    Ok(())
}
