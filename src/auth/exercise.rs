//! Everything untrusted text goes through in authorization, run on arbitrary
//! bytes: SMART scopes (parsed, printed and compared), query constraints
//! (made into filters and judged against a resource), launch contexts, an
//! audit chain, JWKS URLs and origins, and the parts of a JWS read before
//! its signature is checked. The fuzz target `auth` (`fuzz/`) calls it, and
//! the committed corpus is replayed by `cargo test`. It must return for
//! every input; a panic is a bug.

use super::grant::{Grant, Permission};
use super::scope::Scope;
use serde_json::{Value, json};

/// Runs `data` through every reader above.
pub fn exercise(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(scopes) = Scope::parse_list(&text) {
        for a in &scopes {
            let again = Scope::parse(&a.to_string());
            assert!(again.is_ok(), "a printed scope parses again: {a}");
            for b in &scopes {
                let _ = a.covers(b);
            }
        }
        let grant = Grant {
            client_id: "fuzz".into(),
            scopes,
            patient: Some("p1".into()),
            user: None,
        };
        let resource = json!({"resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"text": "x"}, "subject": {"reference": "Patient/p1"}});
        for t in ["Observation", "Patient", "AuditEvent"] {
            let filter = grant.filter(Permission::Read, t, "http://h");
            let _ = filter.admits_resource(
                crate::search::registry::registry(),
                t,
                &resource,
                "http://h",
            );
        }
    }
    for word in text.split_whitespace().take(64) {
        let _ = Scope::parse(word);
        let _ = super::fetch::check_url(word);
        let _ = super::cors::origin_of(word);
        let _ = jsonwebtoken::decode_header(word);
    }
    if let Ok(v) = crate::fhir::json::parse(data, 64) {
        let _ = super::launch::LaunchContext::from_json(&v);
        let events: Vec<Value> = match &v {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        let _ = crate::audit::chain::verify(&events);
    }
}

#[cfg(test)]
mod tests {
    /// The fuzz corpus (seeds and inputs found by `cargo fuzz run auth`),
    /// replayed on every test run.
    #[test]
    fn the_fuzz_corpus_replays() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/auth");
        let mut count = 0;
        for entry in std::fs::read_dir(dir).expect("the committed corpus") {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            super::exercise(&bytes);
            count += 1;
        }
        assert!(count >= 10, "{count} corpus files");
    }
}
