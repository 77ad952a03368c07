//! Reading a Bundle posted to the base, one entry at a time. A JSON body is
//! parsed with [`json::parse_entries`]: each entry, as soon as it is parsed,
//! is validated on its own, its request is read into an [`Entry`], and what a
//! transaction must know of its resource before writing it is noted
//! ([`Facts`]). The tree of the entry is then kept only for a small body; for
//! a large one (over [`LARGE`] bytes) only its place in the body is kept, and
//! it is parsed again when it is written. So the trees of a large Bundle's
//! entries are never all in memory at once. An XML body is parsed whole (its
//! entries are trees) and then read the same way.

use super::references::conditional_references;
use super::{Entry, Resource, Verb, entry_error};
use crate::fhir::error::FhirError;
use crate::fhir::outcome::Issue;
use crate::fhir::rest::Shared;
use crate::fhir::rest::format::{self, BodyType, Syntax};
use crate::fhir::rest::request::{MAX_JSON_DEPTH, content_type, not_json, read_limited};
use crate::fhir::validate::{self, MAX_ISSUES};
use crate::fhir::{json, xml};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde_json::Value;

/// A JSON body larger than this keeps its entries' resources as text.
pub const LARGE: usize = 1 << 20;

/// A Bundle posted to the base (batch or transaction), read under its own
/// limit (`max_bundle_size`).
pub struct BundleBody(pub Posted);

/// What was read of a posted Bundle.
pub struct Posted {
    /// The Bundle without its entries.
    pub shell: Value,
    pub entries: Vec<Entry>,
    /// What validation found, each issue at its place: a batch fails only the
    /// entries whose resources are invalid.
    pub issues: Vec<Issue>,
    /// The first entry whose request cannot be carried out.
    pub refused: Option<FhirError>,
    /// Whether the entries' resources were kept as text (a large JSON body).
    pub large: bool,
}

/// What a transaction checks of an entry's resource before writing it.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub resource_type: Option<String>,
    pub id: Option<String>,
    /// `meta.versionId` (bdl-7 lets entries share a fullUrl when it differs).
    pub version_id: Option<String>,
    /// Tagged SUBSETTED: a partial copy, which may not be stored.
    pub subsetted: bool,
    /// The references by search criteria (`Patient?identifier=…`), with the
    /// FHIRPath of each.
    pub conditional: Vec<(String, String)>,
}

impl Facts {
    fn of(resource: &mut Value) -> Facts {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        Facts {
            resource_type: text(resource.get("resourceType")),
            id: text(resource.get("id")),
            version_id: text(resource.pointer("/meta/versionId")),
            subsetted: crate::fhir::summary::is_subsetted(resource),
            conditional: conditional_references(resource),
        }
    }
}

impl FromRequest<Shared> for BundleBody {
    type Rejection = FhirError;

    async fn from_request(request: Request, state: &Shared) -> Result<Self, Self::Rejection> {
        let limit = (state.config.max_bundle_size, "max_bundle_size");
        let syntax = match format::body_type(content_type(&request), false)? {
            BodyType::Fhir(syntax) => syntax,
            BodyType::Raw(mime) => {
                return Err(FhirError::bad_request(
                    "not-supported",
                    format!("a Bundle cannot be sent as {mime}"),
                ));
            }
        };
        let bytes = read_limited(request, limit).await?;
        read(&bytes, syntax, &state.config.base_url).map(BundleBody)
    }
}

/// Reads a Bundle body: the entries one at a time, the rest whole.
pub fn read(bytes: &Bytes, syntax: Syntax, base: &str) -> Result<Posted, FhirError> {
    let large = syntax == Syntax::Json && bytes.len() > LARGE;
    let mut reader = Reader {
        base,
        entries: Vec::new(),
        count: 0,
        issues: Vec::new(),
        suppressed: 0,
        refused: None,
    };
    let mut shell = match syntax {
        Syntax::Json => json::parse_entries(bytes, MAX_JSON_DEPTH, &mut |value, range| {
            reader.add(value, large.then(|| bytes.slice(range)));
        })
        .map_err(|e| not_json(e, Some("Bundle")))?,
        Syntax::Xml => {
            let mut bundle = xml::from_xml(bytes)
                .map_err(|issues| FhirError::with_issues(StatusCode::BAD_REQUEST, issues))?;
            if let Some(Value::Array(list)) = bundle.get_mut("entry") {
                for value in std::mem::take(list) {
                    reader.add(value, None);
                }
            }
            bundle
        }
    };
    let Some(fields) = shell.as_object_mut() else {
        return Err(FhirError::bad_request(
            "structure",
            "the body is not a FHIR resource (a JSON object)",
        ));
    };
    // What is left of a non-empty array whose entries were taken out.
    if reader.count > 0 {
        fields.remove("entry");
    }
    let mut issues = validate::validate_resource(&shell);
    issues.append(&mut reader.issues);
    if reader.suppressed > 0 {
        issues.push(Issue::error(
            "invalid",
            format!(
                "{} further issues were found in the entries but not reported",
                reader.suppressed
            ),
        ));
    }
    Ok(Posted {
        shell,
        entries: reader.entries,
        issues,
        refused: reader.refused,
        large,
    })
}

/// The entries read so far.
struct Reader<'a> {
    base: &'a str,
    entries: Vec<Entry>,
    /// Entries seen, the refused one included.
    count: usize,
    issues: Vec<Issue>,
    /// Issues beyond [`MAX_ISSUES`], counted only.
    suppressed: usize,
    refused: Option<FhirError>,
}

impl Reader<'_> {
    /// Reads entry number `count`; `text` is its JSON when its resource is not
    /// to be kept as a tree.
    fn add(&mut self, mut value: Value, text: Option<Bytes>) {
        let index = self.count;
        self.count += 1;
        for issue in validate::validate_bundle_entry(&value, index) {
            if self.issues.len() < MAX_ISSUES {
                self.issues.push(issue);
            } else {
                self.suppressed += 1;
            }
        }
        if self.refused.is_some() {
            return;
        }
        match entry(index, &mut value, text, self.base) {
            Ok(e) => self.entries.push(e),
            Err(e) => self.refused = Some(e),
        }
    }
}

/// An entry of a batch or transaction, its request checked.
fn entry(index: usize, e: &mut Value, text: Option<Bytes>, base: &str) -> Result<Entry, FhirError> {
    let bad = |member: &str, text: String| {
        entry_error(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("Bundle.entry[{index}]{member}"),
            text,
        )
    };
    let request = e.get("request").filter(|r| r.is_object()).ok_or_else(|| {
        bad(
            ".request",
            "each entry of a batch or transaction needs a request".into(),
        )
    })?;
    let text_of = |name: &str| {
        request
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let method = text_of("method").unwrap_or_default();
    let verb = Verb::parse(&method).ok_or_else(|| {
        bad(
            ".request.method",
            format!("'{method}' is not GET, HEAD, POST, PUT, PATCH or DELETE"),
        )
    })?;
    let raw_url = text_of("url").unwrap_or_default();
    let url = relative_url(&raw_url, base).ok_or_else(|| {
        bad(
            ".request.url",
            format!("'{raw_url}' is not a URL of this server"),
        )
    })?;
    let (if_none_exist, if_match) = (text_of("ifNoneExist"), text_of("ifMatch"));
    let (if_none_match, if_modified_since) = (text_of("ifNoneMatch"), text_of("ifModifiedSince"));
    let full_url = e.get("fullUrl").and_then(Value::as_str).map(str::to_string);
    let (resource, facts) = match e.get_mut("resource") {
        None if matches!(verb, Verb::Post | Verb::Put | Verb::Patch) => {
            return Err(bad(
                ".resource",
                format!("a {method} entry needs a resource"),
            ));
        }
        None => (None, Facts::default()),
        Some(r) => {
            let facts = if verb == Verb::Patch {
                Facts::default()
            } else {
                Facts::of(r)
            };
            let resource = match text {
                Some(text) => Resource::Text(text),
                None => Resource::Tree(r.take()),
            };
            (Some(resource), facts)
        }
    };
    Ok(Entry {
        index,
        full_url,
        verb,
        url,
        resource,
        facts,
        if_none_exist,
        if_match,
        if_none_match,
        if_modified_since,
    })
}

/// `url` relative to the base (absolute URLs must be on it), without a leading `/`.
fn relative_url(url: &str, base: &str) -> Option<String> {
    let rest = if url.contains("://") {
        url.strip_prefix(base)?
    } else {
        url
    };
    let rest = rest.trim_start_matches('/');
    (!rest.is_empty()).then(|| rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(entries: usize, padding: usize) -> Bytes {
        let list: Vec<Value> = (0..entries)
            .map(|i| {
                json!({"fullUrl": format!("urn:uuid:{i}"),
                    "resource": {"resourceType": "Basic", "code": {"text": "x".repeat(padding)},
                        "meta": {"versionId": "2"}},
                    "request": {"method": "POST", "url": "Basic"}})
            })
            .collect();
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": list});
        Bytes::from(bundle.to_string())
    }

    #[test]
    fn a_large_body_keeps_its_resources_as_text() {
        for (padding, large) in [(10, false), (2_000, true)] {
            let posted = read(&body(600, padding), Syntax::Json, "http://x").unwrap();
            assert_eq!(posted.large, large);
            assert_eq!(posted.shell["type"], "transaction");
            assert!(posted.shell.get("entry").is_none());
            assert!(posted.issues.is_empty() && posted.refused.is_none());
            assert_eq!(posted.entries.len(), 600);
            let e = &posted.entries[599];
            assert_eq!(e.index, 599);
            assert_eq!(matches!(e.resource, Some(Resource::Text(_))), large);
            assert_eq!(e.facts.version_id.as_deref(), Some("2"));
            let r = e.resource().unwrap().unwrap();
            assert_eq!(r["code"]["text"].as_str().unwrap().len(), padding);
        }
    }

    #[test]
    fn entries_are_validated_and_refused_by_position() {
        let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"resource": {"resourceType": "Patient", "birthDate": "x"}, "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Patient"}, "request": {"method": "FETCH", "url": "Patient"}},
            {"resource": {"resourceType": "Patient"}}
        ]});
        let posted = read(&Bytes::from(bundle.to_string()), Syntax::Json, "http://x").unwrap();
        let at: Vec<_> = posted.issues.iter().map(|i| i.expression.clone()).collect();
        assert_eq!(
            at,
            vec![Some("Bundle.entry[0].resource.birthDate".to_string())]
        );
        let refused = posted.refused.unwrap();
        assert_eq!(
            refused.issues[0].expression.as_deref(),
            Some("Bundle.entry[1].request.method")
        );
        // An empty entry array is left for validation to refuse.
        let empty = Bytes::from_static(br#"{"resourceType":"Bundle","type":"batch","entry":[]}"#);
        let posted = read(&empty, Syntax::Json, "http://x").unwrap();
        assert_eq!(posted.issues.len(), 1, "{:?}", posted.issues);
    }
}
