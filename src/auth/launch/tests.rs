//! Tests of launch contexts: what is accepted, and one use within the lifetime.

use super::*;

#[test]
fn a_context_is_checked_member_by_member() {
    let good = json!({"patient": "P1", "encounter": "E1",
        "fhirContext": [{"reference": "DiagnosticReport/r1", "role": "launch"},
                        {"canonical": "http://example.org/Questionnaire/q|1"},
                        {"identifier": {"system": "urn:x", "value": "1"}, "type": "ServiceRequest"}],
        "need_patient_banner": false, "intent": "reconcile-medications"});
    let c = LaunchContext::from_json(&good).unwrap();
    assert_eq!(c.patient.as_deref(), Some("P1"));
    assert!(!c.need_patient_banner);
    assert_eq!(LaunchContext::from_json(&c.to_json()).unwrap(), c);
    let fields = c.token_fields();
    assert!(fields.get("patient").is_none());
    assert_eq!(fields["encounter"], "E1");
    assert_eq!(fields["fhirContext"].as_array().unwrap().len(), 3);
    assert!(
        LaunchContext::from_json(&json!({}))
            .unwrap()
            .need_patient_banner
    );
    for (bad, at) in [
        (json!([]), "$"),
        (json!({"patient": "a/b"}), "patient"),
        (json!({"patient": 7}), "patient"),
        (json!({"encounter": ""}), "encounter"),
        (json!({"user": "x"}), "user"),
        (
            json!({"fhirContext": {"reference": "Patient/1"}}),
            "fhirContext",
        ),
        (
            json!({"fhirContext": [{"reference": "Nope/1"}]}),
            "fhirContext[0]",
        ),
        (
            json!({"fhirContext": [{"reference": "Patient/1", "canonical": "x"}]}),
            "fhirContext[0]",
        ),
        (
            json!({"fhirContext": [{"type": "Patient"}]}),
            "fhirContext[0]",
        ),
        (
            json!({"fhirContext": [{"reference": "http://evil/Patient/1"}]}),
            "fhirContext[0]",
        ),
        (json!({"need_patient_banner": "yes"}), "need_patient_banner"),
        (json!({"intent": ""}), "intent"),
    ] {
        let (member, _) = LaunchContext::from_json(&bad).expect_err(&bad.to_string());
        assert_eq!(member, at, "{bad}");
    }
    let many: Vec<Value> = (0..33)
        .map(|i| json!({"reference": format!("Patient/{i}")}))
        .collect();
    assert!(LaunchContext::from_json(&json!({ "fhirContext": many })).is_err());
}

#[test]
fn a_launch_is_taken_once_and_not_after_it_expired() {
    let dir = tempfile::tempdir().unwrap();
    let r = Registry::open(dir.path()).unwrap();
    let c = LaunchContext::from_json(&json!({"patient": "P1"})).unwrap();
    let launch = r.add_launch(&c).unwrap();
    assert_ne!(r.add_launch(&c).unwrap(), launch, "each launch is new");
    assert_eq!(r.take_launch(&launch).unwrap(), Some(c.clone()));
    assert_eq!(r.take_launch(&launch).unwrap(), None, "used");
    assert_eq!(r.take_launch("made-up").unwrap(), None);
    let old = r.add_launch(&c).unwrap();
    r.conn
        .execute(
            "UPDATE launch_context SET expires = expires - ?1 WHERE id = ?2",
            params![LAUNCH_LIFETIME + 1, old],
        )
        .unwrap();
    assert_eq!(r.take_launch(&old).unwrap(), None, "expired");
}
