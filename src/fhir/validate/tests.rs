//! One failing case (at least) for each structural rule (elements, arrays,
//! empty values, null, choices, cardinality, nested resources, companions,
//! limits), with the exact FHIRPath expression and IssueType code asserted,
//! and the valid counterparts that must stay silent. Shared helpers for
//! `value_tests.rs`.

use serde_json::{Value, json};

use super::{MAX_ISSUES, validate_resource};

/// Asserts exactly one issue, with this code and expression; returns its diagnostics.
pub(super) fn one(resource: Value, code: &str, expression: &str) -> String {
    let issues = validate_resource(&resource);
    assert_eq!(issues.len(), 1, "expected one issue, got {issues:#?}");
    let issue = &issues[0];
    assert_eq!(issue.code, code, "{issue:?}");
    assert_eq!(issue.expression.as_deref(), Some(expression), "{issue:?}");
    assert_eq!(issue.severity, crate::fhir::outcome::Severity::Error);
    issue.diagnostics.clone()
}

pub(super) fn valid(resource: Value) {
    let issues = validate_resource(&resource);
    assert!(issues.is_empty(), "{issues:#?}");
}

pub(super) fn patient(extra: Value) -> Value {
    let mut p = json!({"resourceType": "Patient"});
    if let (Some(p), Some(extra)) = (p.as_object_mut(), extra.as_object()) {
        p.extend(extra.clone());
    }
    p
}

#[test]
fn root_must_be_a_known_resource() {
    for (bad, code) in [
        (json!([1]), "structure"),
        (json!({"id": "x"}), "structure"),
        (json!({"resourceType": 3}), "structure"),
        (json!({"resourceType": "Foo"}), "not-supported"),
        (json!({"resourceType": "DomainResource"}), "not-supported"),
    ] {
        let issues = validate_resource(&bad);
        assert_eq!(issues.len(), 1, "{bad}: {issues:?}");
        assert_eq!(issues[0].code, code);
        assert_eq!(issues[0].expression, None);
    }
    valid(json!({"resourceType": "Patient"}));
}

#[test]
fn unknown_and_misplaced_elements() {
    let d = one(patient(json!({"foo": 1})), "structure", "Patient.foo");
    assert_eq!(d, "unknown element 'foo'");
    one(
        patient(json!({"name": [{"family": "X", "resourceType": "HumanName"}]})),
        "structure",
        "Patient.name[0].resourceType",
    );
    one(
        patient(json!({"fhir_comments": ["x"]})),
        "structure",
        "Patient.fhir_comments",
    );
    let d = one(
        patient(json!({"deceased": true})),
        "structure",
        "Patient.deceased",
    );
    assert!(d.contains("deceasedBoolean"), "{d}");
    one(
        patient(json!({"deceasedFoo": true})),
        "structure",
        "Patient.deceasedFoo",
    );
    one(
        patient(json!({"_name": {"id": "x"}})),
        "structure",
        "Patient._name",
    );
    one(
        patient(json!({"_foo": {"id": "x"}})),
        "structure",
        "Patient._foo",
    );
    // ExampleScenario.instance has an element called resourceType.
    valid(json!({"resourceType": "ExampleScenario", "status": "draft",
        "instance": [{"resourceId": "a", "resourceType": "Patient"}]}));
}

#[test]
fn arrays_exactly_where_elements_repeat() {
    let d = one(
        patient(json!({"gender": ["male"]})),
        "structure",
        "Patient.gender",
    );
    assert_eq!(d, "element 'gender' must not be an array");
    one(
        patient(json!({"maritalStatus": [{"text": "x"}]})),
        "structure",
        "Patient.maritalStatus",
    );
    one(
        patient(json!({"name": {"family": "X"}})),
        "structure",
        "Patient.name",
    );
    one(
        patient(json!({"name": [{"given": "Jo"}]})),
        "structure",
        "Patient.name[0].given",
    );
    one(
        patient(json!({"name": [[{"family": "X"}]]})),
        "structure",
        "Patient.name[0]",
    );
}

#[test]
fn no_empty_values() {
    one(patient(json!({"name": []})), "structure", "Patient.name");
    one(
        patient(json!({"name": [{}]})),
        "structure",
        "Patient.name[0]",
    );
    one(
        patient(json!({"maritalStatus": {}})),
        "structure",
        "Patient.maritalStatus",
    );
    one(
        patient(json!({"name": [{"family": ""}]})),
        "structure",
        "Patient.name[0].family",
    );
    one(
        patient(json!({"name": [{"given": []}]})),
        "structure",
        "Patient.name[0].given",
    );
}

#[test]
fn null_only_in_aligned_primitive_arrays() {
    let d = one(
        patient(json!({"gender": null})),
        "structure",
        "Patient.gender",
    );
    assert_eq!(d, "element 'gender' must not be null");
    one(
        patient(json!({"name": [null]})),
        "structure",
        "Patient.name[0]",
    );
    one(
        patient(json!({"maritalStatus": null})),
        "structure",
        "Patient.maritalStatus",
    );
    one(
        patient(json!({"name": [{"given": ["a", null]}]})),
        "structure",
        "Patient.name[0].given[1]",
    );
    one(
        patient(json!({"name": [{"given": ["a", null], "_given": [null, null]}]})),
        "structure",
        "Patient.name[0].given[1]",
    );
    one(
        patient(json!({"_gender": null})),
        "structure",
        "Patient.gender",
    );
    valid(patient(
        json!({"name": [{"given": [null, "b"], "_given": [{"id": "g1"}, null]}]}),
    ));
}

#[test]
fn primitive_json_kinds() {
    let d = one(patient(json!({"gender": 1})), "structure", "Patient.gender");
    assert_eq!(
        d,
        "element 'gender' (code) must be a JSON string, not a number"
    );
    one(
        patient(json!({"active": "true"})),
        "structure",
        "Patient.active",
    );
    one(
        patient(json!({"birthDate": {"value": "2000"}})),
        "structure",
        "Patient.birthDate",
    );
    one(
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "valueQuantity": {"value": "5"}}),
        "structure",
        "Observation.valueQuantity.value",
    );
    one(
        patient(json!({"name": [{"text": "x"}], "telecom": {"system": "phone"}})),
        "structure",
        "Patient.telecom",
    );
    valid(
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "valueQuantity": {"value": 1.5e3}}),
    );
}

#[test]
fn choice_elements() {
    let d = one(
        patient(json!({"deceasedBoolean": true, "deceasedDateTime": "2020"})),
        "structure",
        "Patient.deceasedDateTime",
    );
    assert!(d.contains("deceasedBoolean"), "{d}");
    one(
        patient(json!({"deceasedBoolean": true, "_deceasedDateTime": {"id": "x"}})),
        "structure",
        "Patient.deceasedDateTime",
    );
    one(
        patient(
            json!({"extension": [{"url": "http://x", "valueQuantity": {"value": 1}, "_valueQuantity": {"id": "q"}}]}),
        ),
        "structure",
        "Patient.extension[0]._valueQuantity",
    );
    valid(patient(
        json!({"extension": [{"url": "http://x", "valueString": "s", "_valueString": {"id": "v"}}]}),
    ));
}

#[test]
fn cardinality() {
    let d = one(
        json!({"resourceType": "Observation", "code": {"text": "x"}}),
        "required",
        "Observation.status",
    );
    assert_eq!(d, "missing required element 'status'");
    // A primitive that only has extensions is present.
    valid(json!({"resourceType": "Observation", "code": {"text": "x"},
        "_status": {"extension": [{"url": "http://x", "valueCode": "unknown"}]}}));
    one(
        patient(json!({"extension": [{"valueString": "x"}]})),
        "required",
        "Patient.extension[0].url",
    );
    one(
        patient(json!({"text": {"div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}})),
        "required",
        "Patient.text.status",
    );
    one(
        json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": {"reference": "Patient/1"}}),
        "required",
        "MedicationRequest.medication",
    );
}

#[test]
fn nested_resources() {
    one(
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "contained": [{"resourceType": "Patient", "birthDate": "2023-02-29"}]}),
        "value",
        "Observation.contained[0].birthDate",
    );
    one(
        patient(json!({"contained": [{"resourceType": "Patient", "id": "p 1"}]})),
        "value",
        "Patient.contained[0].id",
    );
    one(
        patient(json!({"contained": [{"resourceType": "Patient", "name": [{"given": "Jo"}]}]})),
        "structure",
        "Patient.contained[0].name[0].given",
    );
    one(
        patient(json!({"contained": [{"name": [{"family": "X"}]}]})),
        "structure",
        "Patient.contained[0]",
    );
    one(
        patient(json!({"contained": [{"resourceType": "Nope"}]})),
        "not-supported",
        "Patient.contained[0]",
    );
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient"}},
        {"resource": {"resourceType": "Patient", "birthDate": "2024-13-01"}}]});
    for (i, entry) in bundle["entry"].as_array().unwrap().iter().enumerate() {
        let alone = super::validate_bundle_entry(entry, i);
        let within: Vec<_> = super::validate_resource(&bundle)
            .into_iter()
            .filter(|issue| {
                issue
                    .expression
                    .as_deref()
                    .is_some_and(|e| e.starts_with(&format!("Bundle.entry[{i}]")))
            })
            .collect();
        assert_eq!(alone, within);
    }
    assert_eq!(
        super::validate_bundle_entry(&json!([1]), 4)[0]
            .expression
            .as_deref(),
        Some("Bundle.entry[4]")
    );
    let d = one(bundle, "value", "Bundle.entry[1].resource.birthDate");
    assert!(d.starts_with("'2024-13-01' is not a valid date"), "{d}");
    one(
        json!({"resourceType": "Bundle", "type": "batch-response", "entry": [{"response": {"status": "200",
        "outcome": {"resourceType": "Patient"}}}]}),
        "structure",
        "Bundle.entry[0].response.outcome",
    );
    one(
        json!({"resourceType": "Parameters", "parameter": [{"name": "p", "resource": {"resourceType": "Patient", "foo": 1}}]}),
        "structure",
        "Parameters.parameter[0].resource.foo",
    );
}

#[test]
fn content_references() {
    one(
        json!({"resourceType": "Questionnaire", "status": "draft", "item": [{"linkId": "1", "type": "group",
        "item": [{"linkId": "1.1", "type": "string", "item": [{"type": "display"}]}]}]}),
        "required",
        "Questionnaire.item[0].item[0].item[0].linkId",
    );
}

#[test]
fn primitive_companions() {
    let d = one(
        patient(json!({"birthDate": "2000-01-01", "_birthDate": {"foo": 1}})),
        "structure",
        "Patient.birthDate.foo",
    );
    assert_eq!(d, "unknown element 'foo'");
    one(
        patient(json!({"_birthDate": {"extension": [{"valueString": "x"}]}})),
        "required",
        "Patient.birthDate.extension[0].url",
    );
    one(
        patient(json!({"_birthDate": "x"})),
        "structure",
        "Patient.birthDate",
    );
    one(
        patient(json!({"_birthDate": {}})),
        "structure",
        "Patient.birthDate",
    );
    one(
        patient(json!({"_birthDate": {"id": 5}})),
        "structure",
        "Patient.birthDate.id",
    );
    one(
        patient(
            json!({"text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"/>",
        "_div": {"extension": [{"url": "http://x", "valueString": "x"}]}}}),
        ),
        "structure",
        "Patient.text.div.extension",
    );
    let d = one(
        patient(json!({"name": [{"given": ["a", "b"], "_given": [{"id": "1"}]}]})),
        "structure",
        "Patient.name[0].given",
    );
    assert!(d.contains("same length"), "{d}");
    one(
        patient(json!({"name": [{"given": ["a"], "_given": {"id": "1"}}]})),
        "structure",
        "Patient.name[0].given",
    );
    one(
        patient(json!({"name": [{"_given": [{"id": "1"}, {"foo": 2}]}]})),
        "structure",
        "Patient.name[0].given[1].foo",
    );
    valid(patient(
        json!({"_birthDate": {"extension": [{"url": "http://x", "valueCode": "masked"}]}}),
    ));
}

#[test]
fn depth_is_limited() {
    let mut ext = json!({"url": "http://x", "valueString": "leaf"});
    for _ in 0..150 {
        ext = json!({"url": "http://x", "extension": [ext]});
    }
    let issues = validate_resource(&patient(json!({"extension": [ext]})));
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].code, "structure");
    assert!(issues[0].diagnostics.contains("nested"));
}

#[test]
fn issues_are_capped() {
    let mut p = json!({"resourceType": "Patient"});
    for i in 0..150 {
        p[format!("x{i}")] = json!(1);
    }
    let issues = validate_resource(&p);
    assert_eq!(issues.len(), MAX_ISSUES + 1);
    let last = &issues[MAX_ISSUES];
    assert!(
        last.diagnostics.starts_with("50 further issues"),
        "{}",
        last.diagnostics
    );
    assert_eq!(last.expression.as_deref(), Some("Patient"));
}

#[test]
fn never_panics_on_odd_input() {
    for v in [
        json!(null),
        json!("Patient"),
        json!({"resourceType": "Patient", "": 1}),
        json!({"resourceType": "Patient", "_": {}}),
        json!({"resourceType": "Patient", "name": [{"_given": [null]}]}),
        json!({"resourceType": "Patient", "text": {"status": "generated", "div": "<div =\"x\">"}}),
        json!({"resourceType": "Patient", "text": {"status": "generated", "div": "<div / >"}}),
        json!({"resourceType": "Patient", "birthDate": "2000-01-0é"}),
    ] {
        let _ = validate_resource(&v);
    }
}
