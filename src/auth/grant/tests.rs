//! Tests of what a grant allows and reaches.

use super::*;
use serde_json::json;

const BASE: &str = "http://h.test/fhir";

fn grant(scopes: &str, patient: Option<&str>) -> Grant {
    Grant {
        client_id: "c".into(),
        scopes: Scope::parse_list(scopes).unwrap(),
        patient: patient.map(str::to_string),
        user: None,
    }
}

fn access(interaction: Interaction, t: Option<&str>) -> Access<'_> {
    Access {
        interaction,
        resource_type: t,
        id: None,
    }
}

fn reaches(g: &Grant, p: Permission, resource: serde_json::Value) -> bool {
    let t = resource["resourceType"].as_str().unwrap().to_string();
    g.filter(p, &t, BASE)
        .admits_resource(registry(), &t, &resource, BASE)
}

#[test]
fn type_and_permission_must_both_be_granted() {
    let g = grant("system/Observation.rs system/Patient.c", None);
    assert!(g.allows(&access(Interaction::Read, Some("Observation"))));
    assert!(g.allows(&access(Interaction::SearchType, Some("Observation"))));
    assert!(g.allows(&access(Interaction::HistoryInstance, Some("Observation"))));
    assert!(!g.allows(&access(Interaction::Update, Some("Observation"))));
    assert!(!g.allows(&access(Interaction::Read, Some("Patient"))));
    assert!(g.allows(&access(Interaction::Create, Some("Patient"))));
    assert!(!g.allows(&access(Interaction::SearchSystem, None)));
    assert!(g.allows(&access(Interaction::Capabilities, None)));
    assert!(!g.reaches_everything(Permission::Read));
    assert!(matches!(
        g.filter(Permission::Read, "Observation", BASE),
        Filter::All
    ));
    assert!(g.filter(Permission::Read, "Patient", BASE).is_nothing());
}

#[test]
fn wildcards_and_v1_scopes() {
    let g = grant("user/*.read", None);
    assert!(g.allows(&access(Interaction::Read, Some("Condition"))));
    assert!(g.allows(&access(Interaction::SearchSystem, None)));
    assert!(!g.allows(&access(Interaction::Delete, Some("Condition"))));
    assert!(g.reaches_everything(Permission::Read));
}

#[test]
fn patient_scopes_reach_the_compartment_of_the_patient_in_context() {
    let g = grant("patient/*.rs", Some("p1"));
    assert!(g.allows(&access(Interaction::Read, Some("Observation"))));
    assert!(!g.reaches_everything(Permission::Read));
    let mine = json!({"resourceType": "Observation", "id": "o1", "status": "final",
        "code": {"text": "x"}, "subject": {"reference": "Patient/p1"}});
    let theirs = json!({"resourceType": "Observation", "id": "o2", "status": "final",
        "code": {"text": "x"}, "subject": {"reference": "Patient/p2"}});
    let absolute = json!({"resourceType": "Observation", "id": "o3", "status": "final",
        "code": {"text": "x"}, "subject": {"reference": format!("{BASE}/Patient/p1")}});
    let nobody = json!({"resourceType": "Observation", "id": "o4", "status": "final",
        "code": {"text": "x"}});
    assert!(reaches(&g, Permission::Read, mine.clone()));
    assert!(reaches(&g, Permission::Read, absolute));
    assert!(!reaches(&g, Permission::Read, theirs));
    assert!(!reaches(&g, Permission::Read, nobody));
    assert!(!reaches(&g, Permission::Update, mine));
    assert!(reaches(
        &g,
        Permission::Read,
        json!({"resourceType": "Patient", "id": "p1"})
    ));
    assert!(!reaches(
        &g,
        Permission::Read,
        json!({"resourceType": "Patient", "id": "p2"})
    ));
    // Shared definitions and care providers: every one; a type outside the
    // compartment that may hold a patient's data: none.
    assert!(reaches(
        &g,
        Permission::Read,
        json!({"resourceType": "Practitioner", "id": "d1"})
    ));
    assert!(!reaches(
        &g,
        Permission::Read,
        json!({"resourceType": "Binary", "id": "b1", "contentType": "text/plain"})
    ));
    assert!(!reaches(
        &g,
        Permission::Read,
        json!({"resourceType": "AuditEvent", "id": "a1", "recorded": "2026-01-01T00:00:00Z",
            "entity": [{"what": {"reference": "Patient/p1"}}]})
    ));
}

#[test]
fn patient_scopes_without_a_patient_reach_nothing() {
    let g = grant("patient/*.cruds openid", None);
    for i in [
        Interaction::Read,
        Interaction::SearchType,
        Interaction::Create,
    ] {
        assert!(!g.allows(&access(i, Some("Observation"))), "{i:?}");
    }
    assert!(g.filter(Permission::Read, "Observation", BASE).is_nothing());
}

#[test]
fn query_constraints_narrow_and_scopes_add_up() {
    let g = grant(
        "patient/Observation.rs?category=laboratory patient/Observation.rs?category=vital-signs",
        Some("p1"),
    );
    let obs = |category: &str, patient: &str| {
        json!({"resourceType": "Observation", "id": "o", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}]}],
            "code": {"text": "x"}, "subject": {"reference": format!("Patient/{patient}")}})
    };
    assert!(reaches(&g, Permission::Read, obs("laboratory", "p1")));
    assert!(reaches(&g, Permission::Read, obs("vital-signs", "p1")));
    assert!(!reaches(&g, Permission::Read, obs("survey", "p1")));
    assert!(!reaches(&g, Permission::Read, obs("laboratory", "p2")));
    let system = grant(
        "system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
        None,
    );
    assert!(reaches(&system, Permission::Read, obs("laboratory", "p2")));
    assert!(!reaches(&system, Permission::Read, obs("survey", "p2")));
    // A constraint that is no filtering search of the type reaches nothing.
    for bad in [
        "system/Observation.rs?nonsense=1",
        "system/Observation.rs?_include=Observation:subject",
        "system/Observation.rs?_count=5",
    ] {
        let g = grant(bad, None);
        assert!(
            g.filter(Permission::Read, "Observation", BASE).is_nothing(),
            "{bad}"
        );
    }
}

#[test]
fn a_constraint_that_cannot_be_judged_in_memory_lets_nothing_through() {
    let g = grant("system/Observation.rs?date=ge2020", None);
    let obs = json!({"resourceType": "Observation", "id": "o", "status": "final",
        "code": {"text": "x"}, "effectiveDateTime": "2021-01-01"});
    // The store applies it to searches; a read judged in memory fails closed.
    assert!(!g.filter(Permission::Read, "Observation", BASE).is_nothing());
    assert!(!reaches(&g, Permission::Read, obs));
}
