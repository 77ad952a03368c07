//! Extractors that do the protocol work of a FHIR request: the query parameters
//! every interaction understands (`_format`, `_pretty`, `_summary`, `_elements`),
//! the `Prefer` header, the precondition headers, and the body — read within the
//! size limit, parsed strictly as JSON or XML, and validated against the base R4
//! definitions before any handler sees it.

use super::Shared;
use super::format::{self, BodyType, Syntax, Wanted};
use crate::fhir::error::FhirError;
use crate::fhir::outcome::Issue;
use crate::fhir::{json, validate, xml};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use serde_json::{Value, json};

/// Deepest JSON nesting accepted in a body.
pub(super) const MAX_JSON_DEPTH: usize = json::MAX_DEPTH;

/// Decodes `%XX` escapes and `+` of a query component.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query component: everything but ASCII letters, digits
/// and `-._~` (RFC 3986 unreserved).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The decoded `name=value` pairs of a query string, in order.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// The first value of a query parameter.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    query_pairs(query)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// `_summary` (search.html#summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    True,
    Text,
    Data,
    Count,
    False,
}

impl Summary {
    /// The `_summary` value that asks for this, `None` for the default.
    pub fn code(self) -> Option<&'static str> {
        match self {
            Summary::True => Some("true"),
            Summary::Text => Some("text"),
            Summary::Data => Some("data"),
            Summary::Count => Some("count"),
            Summary::False => None,
        }
    }
}

/// What the client asked for with `Prefer: return=…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Return {
    Minimal,
    Representation,
    OperationOutcome,
}

/// The parameters and headers every interaction reads.
#[derive(Debug, Clone)]
pub struct Fhir {
    pub wanted: Wanted,
    pub pretty: bool,
    pub summary: Summary,
    pub elements: Option<Vec<String>>,
    pub prefer: Return,
    /// `Prefer: handling=strict` (true) or `lenient` (false), if given.
    pub strict: Option<bool>,
    /// Every other query parameter, decoded, for the handler to check.
    pub params: Vec<(String, String)>,
    pub headers: HeaderMap,
}

impl Fhir {
    /// Whether the resource is sent whole (no `_summary`, no `_elements`).
    pub fn whole(&self) -> bool {
        self.summary == Summary::False && self.elements.is_none()
    }

    /// Refuses `_summary=count`, which only a search can honour.
    pub fn no_count(&self) -> Result<(), FhirError> {
        if self.summary == Summary::Count {
            return Err(FhirError::bad_request(
                "not-supported",
                "_summary=count applies to searches only",
            ));
        }
        Ok(())
    }

    /// Refuses parameters this interaction does not know.
    pub fn only(&self, allowed: &[&str]) -> Result<(), FhirError> {
        match self
            .params
            .iter()
            .find(|(k, _)| !allowed.contains(&k.as_str()))
        {
            Some((k, _)) => Err(FhirError::bad_request(
                "not-supported",
                format!("unknown parameter '{k}'"),
            )),
            None => Ok(()),
        }
    }

    /// The value of a header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `If-Match: W/"3"` as a version number.
    pub fn if_match(&self) -> Result<Option<u64>, FhirError> {
        self.header("if-match").map(parse_etag).transpose()
    }
}

/// The version of an entity tag: `W/"3"` or `"3"`.
pub fn parse_etag(text: &str) -> Result<u64, FhirError> {
    let t = text.trim();
    let t = t.strip_prefix("W/").unwrap_or(t);
    t.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            FhirError::bad_request(
                "invalid",
                format!("'{text}' is not a version tag such as W/\"3\""),
            )
        })
}

impl FromRequestParts<Shared> for Fhir {
    type Rejection = FhirError;

    async fn from_request_parts(parts: &mut Parts, _: &Shared) -> Result<Self, Self::Rejection> {
        let mut params = query_pairs(parts.uri.query().unwrap_or(""));
        let mut take = |name: &str| -> Option<String> {
            let i = params.iter().position(|(k, _)| k == name)?;
            Some(params.remove(i).1)
        };
        let format_param = take("_format");
        let accept = parts.headers.get("accept").and_then(|v| v.to_str().ok());
        // Only a Binary can be served in a non-FHIR type (its own content).
        let raw_ok = parts.uri.path().starts_with("/Binary/");
        let wanted = format::negotiate(format_param.as_deref(), accept, raw_ok)?;
        let pretty = match take("_pretty").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(bad_param("_pretty", other, "true or false")),
        };
        let summary = match take("_summary").as_deref() {
            None | Some("false") => Summary::False,
            Some("true") => Summary::True,
            Some("text") => Summary::Text,
            Some("data") => Summary::Data,
            Some("count") => Summary::Count,
            Some(other) => {
                return Err(bad_param(
                    "_summary",
                    other,
                    "true, text, data, count or false",
                ));
            }
        };
        let elements = take("_elements").map(|e| {
            e.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        });
        let preferences: Vec<&str> = parts
            .headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split([',', ';']))
            .map(str::trim)
            .collect();
        let prefer = preferences
            .iter()
            .find_map(|p| match p.strip_prefix("return=") {
                Some("minimal") => Some(Return::Minimal),
                Some("OperationOutcome") => Some(Return::OperationOutcome),
                Some("representation") => Some(Return::Representation),
                _ => None,
            })
            .unwrap_or(Return::Representation);
        let strict = preferences
            .iter()
            .find_map(|p| match p.strip_prefix("handling=") {
                Some("strict") => Some(true),
                Some("lenient") => Some(false),
                _ => None,
            });
        Ok(Fhir {
            wanted,
            pretty,
            summary,
            elements,
            prefer,
            strict,
            params,
            headers: parts.headers.clone(),
        })
    }
}

fn bad_param(name: &str, value: &str, expected: &str) -> FhirError {
    FhirError::bad_request("invalid", format!("{name}={value}: expected {expected}"))
}

/// A request body parsed and validated as a FHIR resource.
pub struct ResourceBody(pub Value);

impl FromRequest<Shared> for ResourceBody {
    type Rejection = FhirError;

    async fn from_request(request: Request, state: &Shared) -> Result<Self, Self::Rejection> {
        let limit = (state.config.max_body_size, "max_body_size");
        read_resource(request, limit).await.map(ResourceBody)
    }
}

/// Reads a request body of at most `limit` bytes (the option that sets it
/// named beside), parses it as a FHIR resource and checks it.
async fn read_resource(request: Request, limit: (usize, &str)) -> Result<Value, FhirError> {
    let is_binary = request.uri().path().starts_with("/Binary");
    let url_id = request.uri().path().split('/').nth(2).map(str::to_string);
    let url_type = request
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    let body_type = format::body_type(content_type(&request), is_binary)?;
    let bytes = read_limited(request, limit).await?;
    let resource = match body_type {
        BodyType::Fhir(Syntax::Json) => {
            json::parse(&bytes, MAX_JSON_DEPTH).map_err(|e| not_json(e, Some(&url_type)))?
        }
        BodyType::Fhir(Syntax::Xml) => xml::from_xml(&bytes)
            .map_err(|issues| FhirError::with_issues(StatusCode::BAD_REQUEST, issues))?,
        BodyType::Raw(mime) => {
            let mut binary = json!({
                "resourceType": "Binary",
                "contentType": mime,
                "data": base64::engine::general_purpose::STANDARD.encode(&bytes),
            });
            if let Some(id) = url_id {
                binary["id"] = json!(id);
            }
            binary
        }
    };
    if !resource.is_object() {
        return Err(FhirError::bad_request(
            "structure",
            "the body is not a FHIR resource (a JSON object)",
        ));
    }
    let issues = validate::validate_resource(&resource);
    if !issues.is_empty() {
        return Err(FhirError::with_issues(StatusCode::BAD_REQUEST, issues));
    }
    if crate::fhir::summary::is_subsetted(&resource) {
        return Err(FhirError::with_issues(
                StatusCode::BAD_REQUEST,
                vec![
                    Issue::error(
                        "processing",
                        "the resource is tagged SUBSETTED (a _summary or _elements copy); storing it would lose the elements left out",
                    )
                    .at(format!("{url_type}.meta.tag")),
                ],
            ));
    }
    Ok(resource)
}

fn too_large((limit, option): (usize, &str)) -> FhirError {
    FhirError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-long",
        format!("the request body is larger than the limit of {limit} bytes ({option})"),
    )
}

/// The request's `Content-Type`, if it is text.
pub(super) fn content_type(request: &Request) -> Option<&str> {
    request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
}

/// A 400 for a body that is not JSON; the issue names where, from `root` (the
/// resource type) on, when a root is given and the error has a path.
pub(super) fn not_json(e: json::JsonError, root: Option<&str>) -> FhirError {
    let issue = Issue::error("structure", format!("the body is not valid JSON: {e}"));
    let issue = match root {
        Some(root) if !e.path.is_empty() => issue.at(format!("{root}.{}", e.path)),
        _ => issue,
    };
    FhirError::with_issues(StatusCode::BAD_REQUEST, vec![issue])
}

/// How long a client may take to send a request body.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Reads the body of a request, refused with 413 beyond `limit` bytes (the
/// option that sets it named beside): at once when `Content-Length` says so,
/// else as soon as more arrives.
pub(super) async fn read_limited(
    request: Request,
    limit: (usize, &str),
) -> Result<axum::body::Bytes, FhirError> {
    let declared = request
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit.0) {
        return Err(too_large(limit));
    }
    let body = request.into_body();
    let Ok(read) = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, limit.0)).await
    else {
        return Err(FhirError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "the request body did not arrive within {} s",
                BODY_TIMEOUT.as_secs()
            ),
        ));
    };
    read.map_err(|e| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = source {
            if s.is::<http_body_util::LengthLimitError>() {
                return too_large(limit);
            }
            source = s.source();
        }
        FhirError::bad_request(
            "incomplete",
            format!("the request body could not be read: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        assert_eq!(
            query_pairs("identifier=http%3A%2F%2Fx%7C1&a+b=c+d&flag&bad=%zz"),
            vec![
                ("identifier".into(), "http://x|1".into()),
                ("a b".into(), "c d".into()),
                ("flag".into(), "".into()),
                ("bad".into(), "%zz".into()),
            ]
        );
        assert_eq!(
            query_value("x=1&_format=xml", "_format").as_deref(),
            Some("xml")
        );
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%41"), "A");
    }

    #[test]
    fn etags() {
        assert_eq!(parse_etag("W/\"3\"").unwrap(), 3);
        assert_eq!(parse_etag("\"12\"").unwrap(), 12);
        assert!(parse_etag("3").is_err());
        assert!(parse_etag("W/\"x\"").is_err());
    }
}
