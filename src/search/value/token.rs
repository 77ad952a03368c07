//! Splitting and reading search values: the R4 escaping rules, and the
//! `token`, `quantity` and `reference` value forms.
//!
//! R4 search gives `,` (OR between values), `|` (parts of a token, quantity
//! or canonical reference) and `$` (parts of a composite) a meaning; a value
//! that contains one of them literally writes `\,`, `\|`, `\$`, and `\\` for
//! a backslash. This escaping applies after URL percent-decoding.
//!
//! The order matters: first split a parameter value on unescaped commas
//! with [`split_unescaped`] (or [`split_or`] for types whose values have no
//! inner structure, such as `string` and `uri`), then give each still-escaped
//! piece to [`parse_token`], [`parse_quantity`] or [`parse_reference`], which
//! split on unescaped `|` and unescape the parts. R4 calls a backslash before
//! any other character illegal; these functions are lenient and keep such a
//! backslash as a literal character.

use super::number::{NumRange, decimal_range};
use super::prefix::{Prefix, split_prefix};

/// Splits `value` on each `sep` that is not escaped by a backslash. The
/// pieces keep their escapes (unescape them with [`unescape`]).
pub fn split_unescaped(value: &str, sep: char) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            pieces.push(&value[start..i]);
            start = i + c.len_utf8();
        }
    }
    pieces.push(&value[start..]);
    pieces
}

/// Removes the search escapes: `\\`, `\,`, `\|` and `\$` become the character
/// escaped; any other backslash is kept as it is.
pub fn unescape(piece: &str) -> String {
    let mut out = String::with_capacity(piece.len());
    let mut chars = piece.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&next) = chars.peek()
            && matches!(next, '\\' | ',' | '|' | '$')
        {
            out.push(next);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

/// The values of a parameter (split on unescaped commas), unescaped. For
/// parameter types whose values have no inner `|` or `$` structure.
pub fn split_or(value: &str) -> Vec<String> {
    split_unescaped(value, ',')
        .into_iter()
        .map(unescape)
        .collect()
}

/// Which code systems a token search value accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum System {
    /// `code`: any system, or none.
    Any,
    /// `|code`: only codes without a system.
    Absent,
    /// `system|code` or `system|`: this system.
    Is(String),
}

/// A token search value: `code`, `system|code`, `|code` or `system|`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The systems accepted.
    pub system: System,
    /// The code, or `None` for any code (`system|`).
    pub code: Option<String>,
}

/// Reads one (still escaped) token value. `None` when it is empty, is a bare
/// `|`, or has more than one unescaped `|`.
pub fn parse_token(raw: &str) -> Option<Token> {
    let parts = split_unescaped(raw, '|');
    match parts.as_slice() {
        [code] if !code.is_empty() => Some(Token {
            system: System::Any,
            code: Some(unescape(code)),
        }),
        ["", code] if !code.is_empty() => Some(Token {
            system: System::Absent,
            code: Some(unescape(code)),
        }),
        [system, ""] if !system.is_empty() => Some(Token {
            system: System::Is(unescape(system)),
            code: None,
        }),
        [system, code] if !system.is_empty() => Some(Token {
            system: System::Is(unescape(system)),
            code: Some(unescape(code)),
        }),
        _ => None,
    }
}

/// A quantity search value: `[prefix][number]|[system]|[code]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantityValue {
    /// The comparison prefix (`Eq` when none).
    pub prefix: Prefix,
    /// The number with its implicit range.
    pub number: NumRange,
    /// The unit system, `None` when empty or absent (any system).
    pub system: Option<String>,
    /// The unit code, `None` when empty or absent (any unit). R4: with no
    /// system, the code may match either `Quantity.code` or `Quantity.unit`.
    pub code: Option<String>,
}

/// Reads one (still escaped) quantity value: `5.4`, `le5.4|http://unitsofmeasure.org|mg`,
/// `5.40e-3||g`. `None` when the number is not a decimal or the value has
/// two or more than three `|`-separated parts.
pub fn parse_quantity(raw: &str) -> Option<QuantityValue> {
    let parts = split_unescaped(raw, '|');
    let (number, system, code) = match parts.as_slice() {
        [number] => (*number, "", ""),
        [number, system, code] => (*number, *system, *code),
        _ => return None,
    };
    let (prefix, number) = split_prefix(number);
    let number = decimal_range(number)?;
    let text = |s: &str| (!s.is_empty()).then(|| unescape(s));
    Some(QuantityValue {
        prefix,
        number,
        system: text(system),
        code: text(code),
    })
}

/// A reference search value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    /// A resource on this server: `id`, `Type/id`, `Type/id/_history/vid`, or
    /// the same after this server's base URL.
    Local {
        /// The resource type, when given.
        resource_type: Option<String>,
        /// The logical id.
        id: String,
        /// The version, when given (`_history`).
        version: Option<String>,
    },
    /// Any other absolute URL or URN, with the version of a canonical
    /// reference (`url|version`) when given.
    Absolute {
        /// The URL, as written.
        url: String,
        /// The version after `|`, when given.
        version: Option<String>,
    },
}

/// Whether `s` is a FHIR id: 1 to 64 of `A-Z a-z 0-9 - .`.
fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Whether `s` looks like a resource type name: an upper-case ASCII letter,
/// then ASCII letters. (Whether the type exists is for the caller to check.)
fn is_type(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_uppercase()) && bytes.all(|b| b.is_ascii_alphabetic())
}

/// `id`, `Type/id` or `Type/id/_history/vid`.
fn parse_relative(path: &str) -> Option<Reference> {
    let segments: Vec<&str> = path.split('/').collect();
    let (resource_type, id, version) = match segments.as_slice() {
        [id] => (None, *id, None),
        [t, id] if is_type(t) => (Some(*t), *id, None),
        [t, id, "_history", v] if is_type(t) && is_id(v) => (Some(*t), *id, Some(*v)),
        _ => return None,
    };
    is_id(id).then(|| Reference::Local {
        resource_type: resource_type.map(str::to_string),
        id: id.to_string(),
        version: version.map(str::to_string),
    })
}

/// Reads one (still escaped) reference value, given this server's base URL
/// (with or without a trailing `/`). A URL under the base that names a
/// resource (`[base]/Type/id`, with an optional `_history`) is local, as R4
/// asks ("a relative reference resolving to the same value as a specified
/// absolute URL … qualifies as a match"); the comparison with the base is
/// exact (scheme, host and case). Other URLs (with `://`) and URNs (`urn:`)
/// are absolute. `None` for anything else, including `Type/id|version`.
pub fn parse_reference(value: &str, base: &str) -> Option<Reference> {
    let parts = split_unescaped(value, '|');
    let (target, version) = match parts.as_slice() {
        [target] => (unescape(target), None),
        [target, version] if !version.is_empty() => (unescape(target), Some(unescape(version))),
        _ => return None,
    };
    if target.is_empty() {
        return None;
    }
    let base = base.trim_end_matches('/');
    if version.is_none()
        && !base.is_empty()
        && let Some(path) = target
            .strip_prefix(base)
            .and_then(|rest| rest.strip_prefix('/'))
        && let Some(
            local @ Reference::Local {
                resource_type: Some(_),
                ..
            },
        ) = parse_relative(path)
    {
        return Some(local);
    }
    if target.contains("://") || target.starts_with("urn:") {
        return Some(Reference::Absolute {
            url: target,
            version,
        });
    }
    if version.is_some() {
        return None;
    }
    parse_relative(&target)
}

#[cfg(test)]
mod tests {
    use super::super::test_rng::{ALPHABET, Rng};
    use super::*;

    #[test]
    fn split_unescaped_keeps_escapes() {
        assert_eq!(split_unescaped("a,b", ','), ["a", "b"]);
        assert_eq!(split_unescaped(r"a\,b,c", ','), [r"a\,b", "c"]);
        assert_eq!(split_unescaped(r"a\\,b", ','), [r"a\\", "b"]);
        assert_eq!(split_unescaped(r"a\\\,b", ','), [r"a\\\,b"]);
        assert_eq!(split_unescaped(",", ','), ["", ""]);
        assert_eq!(split_unescaped("", ','), [""]);
        assert_eq!(split_unescaped(r"x\", ','), [r"x\"]);
        assert_eq!(split_unescaped("é|ß|", '|'), ["é", "ß", ""]);
    }

    #[test]
    fn unescape_the_four_escapes_only() {
        assert_eq!(unescape(r"a\,b"), "a,b");
        assert_eq!(unescape(r"a\|b\$c"), "a|b$c");
        assert_eq!(unescape(r"a\\b"), r"a\b");
        assert_eq!(unescape(r"a\\\\b"), r"a\\b");
        assert_eq!(unescape(r"xx\xx"), r"xx\xx");
        assert_eq!(unescape(r"end\"), r"end\");
        assert_eq!(unescape(r"\é"), r"\é");
    }

    #[test]
    fn split_or_values() {
        assert_eq!(split_or("a,b"), ["a", "b"]);
        assert_eq!(split_or(r"a\,b"), ["a,b"]);
        assert_eq!(
            split_or(
                r"http://acme.org/fhir/ValueSet/123,http://acme.org/fhir/ValueSet/124\,ValueSet/125"
            ),
            [
                "http://acme.org/fhir/ValueSet/123",
                "http://acme.org/fhir/ValueSet/124,ValueSet/125"
            ]
        );
        assert_eq!(split_or(r"xx\$xx"), ["xx$xx"]);
        assert_eq!(split_or(r"a\\,b"), [r"a\", "b"]);
        assert_eq!(split_or(",,"), ["", "", ""]);
    }

    #[test]
    fn token_forms() {
        let t = |s: Option<&str>, c: Option<&str>| {
            Some(Token {
                system: match s {
                    None => System::Any,
                    Some("") => System::Absent,
                    Some(s) => System::Is(s.to_string()),
                },
                code: c.map(str::to_string),
            })
        };
        assert_eq!(parse_token("male"), t(None, Some("male")));
        assert_eq!(
            parse_token("http://loinc.org|1234-5"),
            t(Some("http://loinc.org"), Some("1234-5"))
        );
        assert_eq!(parse_token("|x"), t(Some(""), Some("x")));
        assert_eq!(
            parse_token("http://loinc.org|"),
            t(Some("http://loinc.org"), None)
        );
        assert_eq!(
            parse_token(r"urn:oid:1.2|a\|b"),
            t(Some("urn:oid:1.2"), Some("a|b"))
        );
        assert_eq!(parse_token(r"a\|b"), t(None, Some("a|b")));
        assert_eq!(parse_token(r"a\,b"), t(None, Some("a,b")));
        assert_eq!(parse_token(""), None);
        assert_eq!(parse_token("|"), None);
        assert_eq!(parse_token("a|b|c"), None);
    }

    #[test]
    fn quantity_forms() {
        let q = parse_quantity("5.4|http://unitsofmeasure.org|mg").unwrap();
        assert_eq!(q.prefix, Prefix::Eq);
        assert_eq!(q.number, decimal_range("5.4").unwrap());
        assert_eq!(q.system.as_deref(), Some("http://unitsofmeasure.org"));
        assert_eq!(q.code.as_deref(), Some("mg"));
        let q = parse_quantity("le5.40e-3||g").unwrap();
        assert_eq!(
            (q.prefix, q.system, q.code.as_deref()),
            (Prefix::Le, None, Some("g"))
        );
        assert_eq!(q.number, decimal_range("5.40e-3").unwrap());
        let q = parse_quantity("ap5.4").unwrap();
        assert_eq!((q.prefix, q.system, q.code), (Prefix::Ap, None, None));
        let q = parse_quantity(r"1|urn:x|a\|b").unwrap();
        assert_eq!(q.code.as_deref(), Some("a|b"));
        assert_eq!(parse_quantity("5.4|mg"), None);
        assert_eq!(parse_quantity("5.4|a|b|c"), None);
        assert_eq!(parse_quantity("xx5.4"), None);
        assert_eq!(parse_quantity("|http://unitsofmeasure.org|mg"), None);
        assert_eq!(parse_quantity("ge"), None);
    }

    #[test]
    fn reference_forms() {
        let base = "http://example.org/fhir/";
        let local = |t: Option<&str>, id: &str, v: Option<&str>| {
            Some(Reference::Local {
                resource_type: t.map(str::to_string),
                id: id.to_string(),
                version: v.map(str::to_string),
            })
        };
        let abs = |u: &str, v: Option<&str>| {
            Some(Reference::Absolute {
                url: u.to_string(),
                version: v.map(str::to_string),
            })
        };
        assert_eq!(parse_reference("123", base), local(None, "123", None));
        assert_eq!(
            parse_reference("Patient/123", base),
            local(Some("Patient"), "123", None)
        );
        assert_eq!(
            parse_reference("Patient/123/_history/2", base),
            local(Some("Patient"), "123", Some("2"))
        );
        assert_eq!(
            parse_reference("http://example.org/fhir/Patient/123", base),
            local(Some("Patient"), "123", None)
        );
        assert_eq!(
            parse_reference(
                "http://example.org/fhir/Patient/a.b-c/_history/7",
                "http://example.org/fhir"
            ),
            local(Some("Patient"), "a.b-c", Some("7"))
        );
        assert_eq!(
            parse_reference("http://other.org/fhir/Patient/123", base),
            abs("http://other.org/fhir/Patient/123", None)
        );
        assert_eq!(
            parse_reference("https://example.org/fhir/Patient/123", base),
            abs("https://example.org/fhir/Patient/123", None)
        );
        assert_eq!(
            parse_reference("http://example.org/fhirx/Patient/1", base),
            abs("http://example.org/fhirx/Patient/1", None)
        );
        assert_eq!(
            parse_reference("http://example.org/fhir/123", base),
            abs("http://example.org/fhir/123", None)
        );
        assert_eq!(
            parse_reference("http://hl7.org/fhir/ValueSet/x|4.0.1", base),
            abs("http://hl7.org/fhir/ValueSet/x", Some("4.0.1"))
        );
        assert_eq!(
            parse_reference("urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", base),
            abs("urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", None)
        );
        for bad in [
            "",
            "Patient/",
            "/Patient/1",
            "patient/1",
            "Patient/1/2",
            "Patient/1/_history",
            "Patient/1|2",
            "a b",
            "Patient/é",
            &"x".repeat(65),
            "http://x|",
        ] {
            assert_eq!(parse_reference(bad, base), None, "{bad:?}");
        }
    }

    #[test]
    fn parsers_never_panic_on_mutations() {
        let mut rng = Rng::new(41);
        let seeds = [
            r"http://loinc.org|12\|3",
            "le5.4|http://unitsofmeasure.org|mg",
            "http://example.org/fhir/Patient/1/_history/2",
            r"a\,b,c",
        ];
        for _ in 0..20_000 {
            let seed = *rng.pick(&seeds);
            let text = rng.mutate(seed, ALPHABET);
            let pieces = split_unescaped(&text, ',');
            assert_eq!(pieces.concat().len() + pieces.len() - 1, text.len());
            let _ = split_or(&text);
            let _ = parse_token(&text);
            let _ = parse_quantity(&text);
            let _ = parse_reference(&text, "http://example.org/fhir");
            let _ = parse_reference(&text, "");
        }
    }
}
