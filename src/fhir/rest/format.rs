//! Content negotiation (R4 http.html#mime-type): what the client sends
//! (`Content-Type`) and what it wants back (`_format`, then `Accept`), with the
//! `json`/`xml` shorthands and the `fhirVersion` MIME parameter.

use crate::fhir::error::FhirError;
use axum::http::StatusCode;

/// A FHIR serialization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Json,
    Xml,
}

/// The representation a response is written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// FHIR in this syntax, labelled with this MIME type.
    Fhir(Syntax, &'static str),
    /// A non-FHIR type the client asked for (only a Binary can be served so).
    Other(String),
}

impl Wanted {
    /// The FHIR syntax to use for resources (errors included), JSON when the client wants something else.
    pub fn syntax(&self) -> Syntax {
        match self {
            Wanted::Fhir(s, _) => *s,
            Wanted::Other(_) => Syntax::Json,
        }
    }

    /// The `Content-Type` of a FHIR response.
    pub fn content_type(&self) -> &'static str {
        match self {
            Wanted::Fhir(_, mime) => mime,
            Wanted::Other(_) => JSON_MIME,
        }
    }
}

pub const JSON_MIME: &str = "application/fhir+json; charset=utf-8";
pub const XML_MIME: &str = "application/fhir+xml; charset=utf-8";

/// A MIME type split into its essence (lower case) and parameters.
struct Mime<'a> {
    essence: String,
    params: Vec<(String, &'a str)>,
}

/// The type of a MIME text without its parameters, lower-cased
/// (`Application/JSON; charset=x` → `application/json`).
pub fn essence(text: &str) -> String {
    parse_mime(text).essence
}

fn parse_mime(text: &str) -> Mime<'_> {
    let mut parts = text.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().trim_matches('"')))
        })
        .collect();
    Mime { essence, params }
}

impl Mime<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }

    /// The FHIR syntax this MIME type names, if any.
    fn syntax(&self) -> Option<Syntax> {
        self.fhir_mime().map(|(s, _)| s)
    }

    /// The FHIR syntax this MIME type names, with the MIME type to answer in:
    /// the generic types are echoed (http.html#mime-type), the FHIR ones and the
    /// shorthands answered as `application/fhir+…`. A `+` that a query string
    /// decoded to a space (`application/fhir json`) is understood too.
    fn fhir_mime(&self) -> Option<(Syntax, &'static str)> {
        Some(match self.essence.as_str() {
            "application/fhir+json"
            | "application/fhir json"
            | "application/json+fhir"
            | "json" => (Syntax::Json, JSON_MIME),
            "application/json" => (Syntax::Json, "application/json; charset=utf-8"),
            "text/json" => (Syntax::Json, "text/json; charset=utf-8"),
            "application/fhir+xml" | "application/fhir xml" | "application/xml+fhir" | "xml" => {
                (Syntax::Xml, XML_MIME)
            }
            "application/xml" => (Syntax::Xml, "application/xml; charset=utf-8"),
            "text/xml" => (Syntax::Xml, "text/xml; charset=utf-8"),
            _ => return None,
        })
    }

    /// Whether a `fhirVersion` parameter, if present, names R4.
    fn r4(&self) -> bool {
        self.param("fhirversion")
            .is_none_or(|v| v == "4.0" || v == "4.0.1")
    }
}

fn fhir(syntax: Syntax) -> Wanted {
    match syntax {
        Syntax::Json => Wanted::Fhir(Syntax::Json, JSON_MIME),
        Syntax::Xml => Wanted::Fhir(Syntax::Xml, XML_MIME),
    }
}

fn not_acceptable(what: &str) -> FhirError {
    FhirError::new(
        StatusCode::NOT_ACCEPTABLE,
        "not-supported",
        format!(
            "cannot respond in {what}: this server speaks FHIR R4 (4.0) as application/fhir+json or application/fhir+xml"
        ),
    )
}

/// What the response should be written in: `_format` first, then `Accept`, JSON by
/// default. A non-FHIR type is chosen only when `raw_ok` (a Binary read); otherwise
/// such ranges are passed over.
pub fn negotiate(
    format_param: Option<&str>,
    accept: Option<&str>,
    raw_ok: bool,
) -> Result<Wanted, FhirError> {
    if let Some(f) = format_param {
        let mime = parse_mime(f);
        return match mime.fhir_mime() {
            Some((s, m)) if mime.r4() => Ok(Wanted::Fhir(s, m)),
            _ => Err(not_acceptable(&format!("_format={f}"))),
        };
    }
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(fhir(Syntax::Json));
    };
    let mut ranges: Vec<(f32, usize, Mime<'_>)> = accept
        .split(',')
        .enumerate()
        .map(|(i, r)| {
            let m = parse_mime(r);
            let q = m.param("q").and_then(|q| q.parse().ok()).unwrap_or(1.0);
            (q, i, m)
        })
        .filter(|(q, _, _)| *q > 0.0)
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut fhir_version_refused = false;
    for (_, _, m) in &ranges {
        if let Some((s, mime)) = m.fhir_mime() {
            if m.r4() {
                return Ok(Wanted::Fhir(s, mime));
            }
            fhir_version_refused = true;
            continue;
        }
        match m.essence.as_str() {
            "*/*" | "application/*" => return Ok(fhir(Syntax::Json)),
            "text/*" => return Ok(fhir(Syntax::Xml)),
            other if raw_ok && !fhir_version_refused && other.contains('/') => {
                return Ok(Wanted::Other(other.to_string()));
            }
            _ => {}
        }
    }
    Err(not_acceptable(accept))
}

/// What a request body is: FHIR in a syntax, or (for Binary) raw bytes of another type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyType {
    Fhir(Syntax),
    Raw(String),
}

/// Reads the `Content-Type` of a request body; `raw_allowed` lets a Binary take any type.
pub fn body_type(content_type: Option<&str>, raw_allowed: bool) -> Result<BodyType, FhirError> {
    let unsupported = |text: &str| {
        FhirError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            format!("{text}: send application/fhir+json or application/fhir+xml (FHIR R4)"),
        )
    };
    let Some(text) = content_type else {
        return Err(unsupported("the request has no Content-Type"));
    };
    let mime = parse_mime(text);
    if mime.syntax().is_some()
        && let Some(charset) = mime.param("charset")
        && !charset.eq_ignore_ascii_case("utf-8")
    {
        return Err(unsupported(&format!("Content-Type charset {charset}")));
    }
    match mime.syntax() {
        Some(s) if mime.r4() => Ok(BodyType::Fhir(s)),
        Some(_) => Err(unsupported(&format!("Content-Type {text}"))),
        None if raw_allowed && mime.essence.contains('/') => {
            Ok(BodyType::Raw(text.trim().to_string()))
        }
        None => Err(unsupported(&format!("Content-Type {text}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_parameter_wins() {
        assert_eq!(
            negotiate(Some("xml"), Some("application/fhir+json"), false)
                .unwrap()
                .syntax(),
            Syntax::Xml
        );
        assert_eq!(
            negotiate(Some("application/fhir+json"), None, false)
                .unwrap()
                .syntax(),
            Syntax::Json
        );
        assert!(negotiate(Some("html"), None, false).is_err());
    }

    #[test]
    fn accept_with_quality() {
        let w = negotiate(
            None,
            Some("application/fhir+json;q=0.5, application/fhir+xml"),
            false,
        )
        .unwrap();
        assert_eq!(w.syntax(), Syntax::Xml);
        let browser = Some("text/html, */*;q=0.8");
        assert_eq!(
            negotiate(None, browser, true).unwrap(),
            Wanted::Other("text/html".into())
        );
        assert_eq!(
            negotiate(None, browser, false).unwrap().syntax(),
            Syntax::Json
        );
        assert_eq!(
            negotiate(None, Some("image/png"), false)
                .unwrap_err()
                .status,
            StatusCode::NOT_ACCEPTABLE
        );
        assert_eq!(negotiate(None, None, false).unwrap().syntax(), Syntax::Json);
        let xml4 = Some("application/fhir+xml; fhirVersion=4.0");
        assert_eq!(negotiate(None, xml4, false).unwrap().syntax(), Syntax::Xml);
        let stu3 = Some("application/fhir+json; fhirVersion=3.0");
        assert_eq!(
            negotiate(None, stu3, false).unwrap_err().status,
            StatusCode::NOT_ACCEPTABLE
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(
            body_type(Some("application/fhir+json; charset=UTF-8"), false).unwrap(),
            BodyType::Fhir(Syntax::Json)
        );
        assert_eq!(
            body_type(Some("text/xml"), false).unwrap(),
            BodyType::Fhir(Syntax::Xml)
        );
        assert_eq!(
            body_type(Some("image/png"), true).unwrap(),
            BodyType::Raw("image/png".into())
        );
        for bad in [
            None,
            Some("text/plain"),
            Some("application/fhir+json; fhirVersion=5.0"),
            Some("application/json; charset=latin1"),
        ] {
            assert_eq!(
                body_type(bad, false).unwrap_err().status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            );
        }
    }
}
