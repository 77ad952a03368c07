//! The AuditEvent of one request (R4 auditevent.html): what was done
//! (`type`, `subtype`, `action`, and the resource, search or query as
//! `entity`), by whom (the client, the user, the patient in context), from
//! where (the client's address), when (`recorded`) and how it ended
//! (`outcome`, with the HTTP status). FHIR interactions are `rest` events
//! whose subtype is the interaction; the authorization server's token,
//! sign-in, revocation and introspection answers are DICOM "User
//! Authentication" events. No secret goes in: never a token, password or
//! client secret, and of a request only its method, path and query.

use crate::fhir::instant::{format_instant, now_micros};
use base64::Engine;
use serde_json::{Value, json};

/// Who made a request, as far as the server knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Who {
    /// The OAuth client.
    pub client_id: Option<String>,
    /// The user signed in (the built-in server's username).
    pub user: Option<String>,
    /// The patient the token is confined to.
    pub patient: Option<String>,
}

/// One request, as the audit layer saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    pub address: Option<String>,
    pub who: Who,
}

/// What a request was, from its method and path.
struct Kind {
    /// `rest` interactions, or a DICOM authentication event.
    authentication: bool,
    subtype: &'static str,
    action: &'static str,
    /// The resource it named (`Type/id`).
    what: Option<String>,
    /// Whether it was a search (its query is the entity).
    search: bool,
}

fn kind(method: &str, path: &str) -> Kind {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = |subtype, action, what: Option<String>, search| Kind {
        authentication: false,
        subtype,
        action,
        what,
        search,
    };
    if parts.first() == Some(&"auth") {
        let subtype = match parts.get(1).copied() {
            Some("token") => "token",
            Some("login") => "login",
            Some("revoke") => "revoke",
            Some("introspect") => "introspect",
            _ => "authorize",
        };
        return Kind {
            authentication: true,
            subtype,
            action: "E",
            what: None,
            search: false,
        };
    }
    if parts.first() == Some(&"admin") {
        return rest("operation", "E", None, true);
    }
    let instance = |n: usize| Some(parts[..n].join("/"));
    match (method, parts.as_slice()) {
        ("GET", [""]) | ("POST", ["_search"]) => rest("search-system", "E", None, true),
        ("POST", [""]) => rest("batch", "E", None, false),
        ("GET", ["_history"]) => rest("history-system", "R", None, false),
        ("GET", ["metadata"]) => rest("capabilities", "R", None, false),
        ("GET" | "HEAD", [_, "_history"]) => rest("history-type", "R", None, false),
        ("GET" | "HEAD", [_]) | ("POST", [_, "_search"]) => rest("search-type", "E", None, true),
        ("GET" | "HEAD", [_, _, "_history"]) => rest("history-instance", "R", instance(2), false),
        ("GET" | "HEAD", [_, _, "_history", _]) => rest("vread", "R", instance(4), false),
        ("GET" | "HEAD", [_, _, _]) => rest("search-type", "E", instance(2), true),
        ("GET" | "HEAD", [_, _]) => rest("read", "R", instance(2), false),
        ("POST", [_]) => rest("create", "C", None, false),
        ("PUT", [_, _]) => rest("update", "U", instance(2), false),
        ("PUT", [_]) => rest("update", "U", None, true),
        ("PATCH", [_, _]) => rest("patch", "U", instance(2), false),
        ("PATCH", [_]) => rest("patch", "U", None, true),
        ("DELETE", [_, _]) => rest("delete", "D", instance(2), false),
        ("DELETE", [_]) => rest("delete", "D", None, true),
        _ => rest("operation", "E", None, false),
    }
}

/// The AuditEvent of `request`, observed by the server at `base`.
pub fn audit_event(base: &str, request: &Request) -> Value {
    let kind = kind(&request.method, &request.path);
    let (event_type, subtype) = if kind.authentication {
        (
            json!({"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110114",
                "display": "User Authentication"}),
            json!([{"system": "https://hemolink.dev/fhir/CodeSystem/auth-endpoint",
                "code": kind.subtype}]),
        )
    } else {
        (
            json!({"system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
                "code": "rest", "display": "RESTful Operation"}),
            json!([{"system": "http://hl7.org/fhir/restful-interaction", "code": kind.subtype}]),
        )
    };
    let outcome = match request.status {
        0..=399 => "0",
        400..=499 => "4",
        _ => "8",
    };
    let who = &request.who;
    let mut agent = json!({
        "type": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
            "code": if who.user.is_some() { "humanuser" } else { "dataprocessor" },
        }]},
        "requestor": true,
    });
    match (&who.user, &who.client_id) {
        (Some(user), client) => {
            agent["who"] = json!({"identifier": {"system": "https://hemolink.dev/fhir/sid/user", "value": user}});
            agent["name"] = json!(user);
            if let Some(c) = client {
                agent["altId"] = json!(c);
            }
        }
        (None, Some(client)) => {
            agent["who"] = json!({"identifier": {"system": "https://hemolink.dev/fhir/sid/client", "value": client}});
        }
        (None, None) => agent["who"] = json!({"display": "unauthenticated"}),
    }
    if let Some(address) = &request.address {
        agent["network"] = json!({"address": address, "type": "2"});
    }
    let mut entity = Vec::new();
    if let Some(what) = &kind.what {
        entity.push(json!({"what": {"reference": what}, "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2"}}));
    }
    if kind.search || request.query.is_some() && !kind.authentication {
        let query = format!(
            "{} {}{}",
            request.method,
            request.path,
            request
                .query
                .as_deref()
                .map(|q| format!("?{q}"))
                .unwrap_or_default()
        );
        entity.push(json!({
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "24", "display": "Query"},
            "query": base64::engine::general_purpose::STANDARD.encode(query),
        }));
    }
    if let Some(p) = &who.patient {
        entity.push(json!({"what": {"reference": format!("Patient/{p}")}, "role": {
            "system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"}}));
    }
    let mut event = json!({
        "resourceType": "AuditEvent",
        "type": event_type,
        "subtype": subtype,
        "action": kind.action,
        "recorded": format_instant(now_micros()),
        "outcome": outcome,
        "outcomeDesc": format!("HTTP {} {} {}", request.status, request.method, request.path),
        "agent": [agent],
        "source": {
            "site": base,
            "observer": {"display": "Hemolink"},
            "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                "code": "4", "display": "Application Server"}],
        },
    });
    if !entity.is_empty() {
        event["entity"] = Value::Array(entity);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str, query: Option<&str>, status: u16) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            query: query.map(str::to_string),
            status,
            address: Some("10.1.2.3".into()),
            who: Who {
                client_id: Some("portal".into()),
                user: Some("ana".into()),
                patient: Some("P1".into()),
            },
        }
    }

    #[test]
    fn each_interaction_is_named_with_its_resource_or_query() {
        for (method, path, subtype, action, what) in [
            ("GET", "/Patient/p1", "read", "R", Some("Patient/p1")),
            (
                "GET",
                "/Patient/p1/_history/2",
                "vread",
                "R",
                Some("Patient/p1/_history/2"),
            ),
            (
                "GET",
                "/Patient/p1/_history",
                "history-instance",
                "R",
                Some("Patient/p1"),
            ),
            ("GET", "/Patient/_history", "history-type", "R", None),
            ("GET", "/_history", "history-system", "R", None),
            ("GET", "/Observation", "search-type", "E", None),
            ("POST", "/Observation/_search", "search-type", "E", None),
            (
                "GET",
                "/Patient/p1/Observation",
                "search-type",
                "E",
                Some("Patient/p1"),
            ),
            ("GET", "/", "search-system", "E", None),
            ("POST", "/", "batch", "E", None),
            ("POST", "/Observation", "create", "C", None),
            (
                "PUT",
                "/Observation/o1",
                "update",
                "U",
                Some("Observation/o1"),
            ),
            (
                "PATCH",
                "/Observation/o1",
                "patch",
                "U",
                Some("Observation/o1"),
            ),
            (
                "DELETE",
                "/Observation/o1",
                "delete",
                "D",
                Some("Observation/o1"),
            ),
            ("GET", "/metadata", "capabilities", "R", None),
        ] {
            let e = audit_event("http://h", &request(method, path, None, 200));
            assert_eq!(e["subtype"][0]["code"], subtype, "{method} {path}");
            assert_eq!(e["action"], action, "{method} {path}");
            let named = e["entity"][0]["what"]["reference"].as_str();
            match what {
                Some(w) => assert_eq!(named, Some(w), "{method} {path}"),
                // No resource named: the first entity is the query or the patient.
                None => assert_ne!(named.map(|n| n.starts_with("Observation/")), Some(true)),
            }
        }
    }

    #[test]
    fn who_where_outcome_and_no_secret() {
        let e = audit_event(
            "http://h",
            &request("GET", "/Observation", Some("code=x&_count=5"), 403),
        );
        assert_eq!(e["outcome"], "4");
        assert_eq!(e["agent"][0]["name"], "ana");
        assert_eq!(e["agent"][0]["altId"], "portal");
        assert_eq!(e["agent"][0]["network"]["address"], "10.1.2.3");
        let query = e["entity"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|x| x["query"].as_str())
            .unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(query)
            .unwrap();
        assert_eq!(decoded, b"GET /Observation?code=x&_count=5");
        assert!(
            e["entity"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["what"]["reference"] == "Patient/P1")
        );
        let login = audit_event("http://h", &request("POST", "/auth/token", None, 401));
        assert_eq!(login["type"]["code"], "110114");
        assert_eq!(login["subtype"][0]["code"], "token");
        assert!(
            login["entity"]
                .as_array()
                .is_none_or(|e| e.iter().all(|x| x.get("query").is_none()))
        );
        assert_eq!(
            audit_event("http://h", &request("GET", "/x", None, 500))["outcome"],
            "8"
        );
    }
}
