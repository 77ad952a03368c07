//! HL7 v2 escape sequences (chapter 2.7), between two escape characters:
//!
//! - `\F\ \S\ \T\ \R\ \E\` are the field, component, subcomponent, repetition
//!   and escape characters, and `\P\` (v2.7+) the truncation character;
//! - `\Xhh…\` is data in hexadecimal, read in the message's character set;
//! - `\.br\` and `\.sp\` are line breaks, the other formatting commands
//!   (`\.in\ \.ti\ \.sk\ \.ce\ \.fi\ \.nf\`) and highlighting (`\H\ \N\`)
//!   only shape display, so a decoded value leaves them out;
//! - `\Zxx\` (locally defined) and `\Cxxyy\ \Mxxyyzz\` (ISO 2022 character
//!   set switches) have no meaning this side can apply: they stay as written.
//!
//! An escape character with no closing one is kept as a literal.

use super::charset::Charset;
use super::delimiters::Delimiters;

/// `raw` with its escape sequences decoded.
pub fn decode(raw: &str, d: &Delimiters, charset: Charset) -> String {
    let Some(esc) = d.escape.map(char::from) else {
        return raw.to_string();
    };
    if !raw.contains(esc) {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find(esc) {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(len) = after.find(esc) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let body = &after[..len];
        match sequence(body, d, charset) {
            Some(text) => out.push_str(&text),
            None => {
                out.push(esc);
                out.push_str(body);
                out.push(esc);
            }
        }
        rest = &after[len + 1..];
    }
    out.push_str(rest);
    out
}

/// The text of one escape sequence's body; `None` to keep it as written.
fn sequence(body: &str, d: &Delimiters, charset: Charset) -> Option<String> {
    let ch = |c: u8| Some((c as char).to_string());
    match body {
        "F" => ch(d.field),
        "S" => ch(d.component),
        "T" => d.subcomponent.and_then(ch),
        "R" => ch(d.repetition),
        "E" => d.escape.and_then(ch),
        "P" => d.truncation.and_then(ch),
        "H" | "N" => Some(String::new()),
        ".br" => Some("\n".into()),
        _ if body.starts_with(".sp") => {
            let n = body[3..].trim().parse::<usize>().unwrap_or(1).clamp(1, 100);
            Some("\n".repeat(n))
        }
        _ if [".in", ".ti", ".sk", ".ce", ".fi", ".nf"]
            .iter()
            .any(|c| body.starts_with(c)) =>
        {
            Some(String::new())
        }
        _ if body.len() > 1 && body.starts_with('X') => hex(&body[1..], charset),
        _ => None,
    }
}

/// `\Xhh…\`: pairs of hex digits, read as text in the message's character set.
fn hex(digits: &str, charset: Charset) -> Option<String> {
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
        .collect();
    charset.decode(&bytes?).ok()
}

/// `text` with every delimiter escaped, for a value written into a message.
pub fn encode(text: &str, d: &Delimiters) -> String {
    let Some(esc) = d.escape else {
        return text.to_string();
    };
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let code = match u8::try_from(c) {
            Ok(b) if b == d.field => Some('F'),
            Ok(b) if b == d.component => Some('S'),
            Ok(b) if Some(b) == d.subcomponent => Some('T'),
            Ok(b) if b == d.repetition => Some('R'),
            Ok(b) if b == esc => Some('E'),
            Ok(b) if Some(b) == d.truncation => Some('P'),
            Ok(b'\r') | Ok(b'\n') => None,
            _ => {
                out.push(c);
                continue;
            }
        };
        match code {
            Some(code) => {
                out.push(esc as char);
                out.push(code);
                out.push(esc as char);
            }
            None => {
                out.push(esc as char);
                out.push_str(".br");
                out.push(esc as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(raw: &str) -> String {
        decode(raw, &Delimiters::default(), Charset::Utf8)
    }

    #[test]
    fn delimiter_escapes_decode_to_their_characters() {
        assert_eq!(plain(r"a\F\b\S\c\T\d\R\e\E\f"), r"a|b^c&d~e\f");
        let t = Delimiters {
            truncation: Some(b'#'),
            ..Delimiters::default()
        };
        assert_eq!(decode(r"x\P\y", &t, Charset::Utf8), "x#y");
    }

    #[test]
    fn hex_is_read_in_the_message_character_set() {
        assert_eq!(plain(r"caf\XC3A9\"), "café");
        assert_eq!(
            decode(r"caf\XE9\", &Delimiters::default(), Charset::Latin1),
            "café"
        );
        assert_eq!(plain(r"\XZZ\"), r"\XZZ\");
        assert_eq!(plain(r"\XABC\"), r"\XABC\");
    }

    #[test]
    fn formatting_is_decoded_and_local_or_charset_escapes_stay() {
        assert_eq!(plain(r"one\.br\two\.sp 2\three"), "one\ntwo\n\nthree");
        assert_eq!(plain(r"\H\bold\N\ \.in+4\x"), "bold x");
        assert_eq!(
            plain(r"\Zlocal\ \C2842\ \M2442\"),
            r"\Zlocal\ \C2842\ \M2442\"
        );
        assert_eq!(plain(r"open \F"), r"open \F");
    }

    #[test]
    fn encoding_escapes_every_delimiter_and_round_trips() {
        let d = Delimiters::default();
        let text = "a|b^c&d~e\\f\rg";
        let encoded = encode(text, &d);
        assert_eq!(encoded, r"a\F\b\S\c\T\d\R\e\E\f\.br\g");
        assert_eq!(decode(&encoded, &d, Charset::Utf8), "a|b^c&d~e\\f\ng");
    }
}
