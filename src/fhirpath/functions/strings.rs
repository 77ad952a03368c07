//! String functions: `indexOf`, `lastIndexOf`, `substring`, `startsWith`,
//! `endsWith`, `contains`, `upper`, `lower`, `replace`, `matches`,
//! `matchesFull`, `replaceMatches`, `length`, `toChars`, and the later
//! additions `trim`, `split`, `join`, `encode`, `decode`, `escape`,
//! `unescape`. Positions and lengths count characters, not bytes.

use super::Args;
use crate::fhirpath::ast::Func;
use crate::fhirpath::error::Error;
use crate::fhirpath::eval::{Items, boolean, single};
use crate::fhirpath::pattern::compile;
use crate::fhirpath::value::{Item, Prim, SystemValue};
use base64::Engine as _;
use regex::Regex;
use std::borrow::Cow;

/// The input as one string: empty, the string, or an error for several
/// items or a value that is not a string (a FHIR primitive counts as its text).
fn input_string<'x>(input: &'x [Item<'_>], func: Func) -> Result<Option<Cow<'x, str>>, Error> {
    let Some(item) = single(input, func.name())? else {
        return Ok(None);
    };
    match (item.prim(), item.json()) {
        (Some(Prim::String(s)), _) => Ok(Some(Cow::Borrowed(s))),
        (Some(p), Some(_)) => Ok(Some(Cow::Owned(p.to_text().into_owned()))),
        (None, Some(serde_json::Value::Null)) => Ok(None),
        _ => Err(Error::execution(format!(
            "{}() needs a string",
            func.name()
        ))),
    }
}

fn integer<'a>(n: usize) -> Items<'a> {
    vec![Item::Value(SystemValue::Integer(
        i64::try_from(n).unwrap_or(i64::MAX),
    ))]
}

fn string<'a>(s: &str) -> Items<'a> {
    vec![Item::string(s)]
}

/// The character position of a byte offset.
fn char_index(s: &str, byte: usize) -> usize {
    s[..byte].chars().count()
}

pub(super) fn call<'a>(
    func: Func,
    input: &[Item<'a>],
    args: &Args<'_, '_, 'a>,
) -> Result<Items<'a>, Error> {
    if func == Func::Join {
        return join(input, args);
    }
    let Some(s) = input_string(input, func)? else {
        return Ok(Vec::new());
    };
    let s = s.as_ref();
    // The first argument as a string, or empty: most functions need one.
    let first = || args.string(0);
    Ok(match func {
        Func::IndexOf => match first()? {
            Some(sub) => match s.find(&sub) {
                Some(b) => integer(char_index(s, b)),
                None => vec![Item::Value(SystemValue::Integer(-1))],
            },
            None => Vec::new(),
        },
        Func::LastIndexOf => match first()? {
            Some(sub) => match s.rfind(&sub) {
                Some(b) => integer(char_index(s, b)),
                None => vec![Item::Value(SystemValue::Integer(-1))],
            },
            None => Vec::new(),
        },
        Func::Substring => {
            let Some(start) = args.integer(0)? else {
                return Ok(Vec::new());
            };
            let count = s.chars().count();
            let Ok(start) = usize::try_from(start) else {
                return Ok(Vec::new());
            };
            if start >= count {
                return Ok(Vec::new());
            }
            let length = match args.len() {
                1 => count,
                _ => match args.integer(1)? {
                    Some(l) => usize::try_from(l).unwrap_or(0),
                    None => count,
                },
            };
            string(&s.chars().skip(start).take(length).collect::<String>())
        }
        Func::StartsWith => first()?
            .map(|p| s.starts_with(&p))
            .map(boolean)
            .unwrap_or_default(),
        Func::EndsWith => first()?
            .map(|p| s.ends_with(&p))
            .map(boolean)
            .unwrap_or_default(),
        Func::Contains => first()?
            .map(|p| s.contains(&p))
            .map(boolean)
            .unwrap_or_default(),
        Func::Upper => string(&s.to_uppercase()),
        Func::Lower => string(&s.to_lowercase()),
        Func::Replace => match (first()?, args.string(1)?) {
            (Some(pattern), Some(with)) => string(&s.replace(&pattern, &with)),
            _ => Vec::new(),
        },
        Func::Matches | Func::MatchesFull => match regex(args, func == Func::MatchesFull)? {
            Some(re) => boolean(re.is_match(s)),
            None => Vec::new(),
        },
        Func::ReplaceMatches => {
            let with = args.string(1)?;
            match (regex(args, false)?, with) {
                (Some(re), Some(_)) if re.as_str().is_empty() => string(s),
                (Some(re), Some(with)) => string(&re.replace_all(s, with.as_str())),
                _ => Vec::new(),
            }
        }
        Func::Length => integer(s.chars().count()),
        Func::ToChars => s
            .chars()
            .map(|c| Item::string(c.encode_utf8(&mut [0; 4])))
            .collect(),
        Func::Trim => string(s.trim()),
        Func::Split => match first()? {
            Some(sep) if !sep.is_empty() => s.split(sep.as_str()).map(Item::string).collect(),
            Some(_) => s
                .chars()
                .map(|c| Item::string(c.encode_utf8(&mut [0; 4])))
                .collect(),
            None => Vec::new(),
        },
        Func::Encode => match first()? {
            Some(format) => encode(s.as_bytes(), &format)
                .map(|e| string(&e))
                .unwrap_or_default(),
            None => Vec::new(),
        },
        Func::Decode => match first()? {
            Some(format) => decode(s, &format).map(|d| string(&d)).unwrap_or_default(),
            None => Vec::new(),
        },
        Func::Escape => match first()?.as_deref() {
            Some("html") => string(&escape_html(s)),
            Some("json") => string(&escape_json(s)),
            _ => Vec::new(),
        },
        _ => match first()?.as_deref() {
            Some("html") => string(&unescape_html(s)),
            Some("json") => string(&unescape_json(s)),
            _ => Vec::new(),
        },
    })
}

/// The call's pattern: compiled at parse time when literal, else now.
fn regex<'r>(args: &'r Args<'_, '_, '_>, full: bool) -> Result<Option<Cow<'r, Regex>>, Error> {
    if let Some(re) = &args.call.regex {
        return Ok(Some(Cow::Borrowed(re)));
    }
    match args.string(0)? {
        Some(p) => compile(&p, full).map(|re| Some(Cow::Owned(re))),
        None => Ok(None),
    }
}

/// `join(separator)`: the input strings joined.
fn join<'a>(input: &[Item<'a>], args: &Args<'_, '_, 'a>) -> Result<Items<'a>, Error> {
    let separator = if args.len() > 0 {
        args.string(0)?.unwrap_or_default()
    } else {
        String::new()
    };
    let mut parts = Vec::with_capacity(input.len());
    for item in input {
        match item.prim() {
            Some(p) => parts.push(p.to_text().into_owned()),
            None => return Err(Error::execution("join() needs strings")),
        }
    }
    Ok(string(&parts.join(&separator)))
}

fn encode(bytes: &[u8], format: &str) -> Option<String> {
    Some(match format {
        "base64" => base64::engine::general_purpose::STANDARD.encode(bytes),
        "urlbase64" => base64::engine::general_purpose::URL_SAFE.encode(bytes),
        "hex" => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        _ => return None,
    })
}

fn decode(s: &str, format: &str) -> Option<String> {
    let bytes = match format {
        "base64" => base64::engine::general_purpose::STANDARD.decode(s).ok()?,
        "urlbase64" => base64::engine::general_purpose::URL_SAFE.decode(s).ok()?,
        "hex" => {
            if !s.len().is_multiple_of(2) || !s.is_ascii() {
                return None;
            }
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
                .collect::<Option<Vec<u8>>>()?
        }
        _ => return None,
    };
    String::from_utf8(bytes).ok()
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn unescape_html(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn escape_json(s: &str) -> String {
    let quoted = serde_json::Value::String(s.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

fn unescape_json(s: &str) -> String {
    serde_json::from_str::<String>(&format!("\"{s}\"")).unwrap_or_else(|_| s.to_string())
}
