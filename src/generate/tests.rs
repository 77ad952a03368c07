//! Tests of the generator: the same seed gives the same data, every resource is
//! valid R4, every reference resolves, ids are unique and the fixed dates are
//! what their comments say.

use super::parts::{FIRST_BIRTH_DAY, LAST_BIRTH_DAY, WINDOW_END, WINDOW_START, ascii, date};
use super::{Counts, Plan, RARE_CONDITION, patient_id};
use crate::fhir::instant::parse_range;
use crate::fhir::validate::validate_resource;
use serde_json::Value;
use std::collections::HashSet;

fn plan() -> Plan {
    Plan::new(7, 250)
}

/// Every resource of the plan: shared first, then each patient's.
fn everything(plan: &Plan) -> Vec<Value> {
    let mut all: Vec<Value> = plan.shared().collect();
    for n in 1..=plan.patients {
        all.extend(plan.patient(n).resources);
    }
    all
}

/// Every `reference` string anywhere in a resource.
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("reference", Value::String(s)) => out.push(s.clone()),
                    _ => references(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

fn key(r: &Value) -> String {
    format!(
        "{}/{}",
        r["resourceType"].as_str().unwrap(),
        r["id"].as_str().unwrap()
    )
}

#[test]
fn a_seed_gives_the_same_data_and_another_seed_other_data() {
    let a = everything(&plan());
    assert_eq!(a, everything(&plan()));
    let other = everything(&Plan::new(8, 250));
    assert!(!a.is_empty());
    assert_ne!(a, other);
    // A patient does not depend on how many others there are (only its shared
    // references may).
    let alone = Plan::new(7, 1).patient(1).facts;
    let among = plan().patient(1).facts;
    assert_eq!(
        (alone.family, alone.birth_date),
        (among.family, among.birth_date)
    );
}

#[test]
fn every_resource_is_valid_r4() {
    for r in everything(&plan()) {
        let issues = validate_resource(&r);
        assert!(issues.is_empty(), "{}: {issues:?}\n{r:#}", key(&r));
    }
}

#[test]
fn ids_are_unique_and_references_resolve() {
    let plan = plan();
    let shared: HashSet<String> = plan.shared().map(|r| key(&r)).collect();
    assert_eq!(
        shared.len() as u64,
        plan.practitioners() + plan.organizations()
    );
    let mut seen = shared.clone();
    for n in 1..=plan.patients {
        let set = plan.patient(n);
        let own: HashSet<String> = set.resources.iter().map(key).collect();
        assert_eq!(own.len(), set.resources.len());
        for k in &own {
            assert!(seen.insert(k.clone()), "{k} twice");
        }
        for r in &set.resources {
            let mut refs = Vec::new();
            references(r, &mut refs);
            for target in refs {
                assert!(
                    own.contains(&target) || shared.contains(&target),
                    "{} → {target}",
                    key(r)
                );
            }
        }
    }
}

#[test]
fn about_twenty_resources_per_patient_mostly_observations() {
    let plan = plan();
    let c = Counts::of(&everything(&plan));
    assert_eq!(c.patients, plan.patients);
    assert_eq!((c.practitioners, c.organizations), (3, 3));
    let per = |x: u64| x as f64 / plan.patients as f64;
    assert!((1.6..2.4).contains(&per(c.encounters)), "{c:?}");
    assert!((1.6..2.4).contains(&per(c.conditions)), "{c:?}");
    assert!((14.0..16.0).contains(&per(c.observations)), "{c:?}");
    assert!((18.0..22.0).contains(&per(c.total())), "{c:?}");
    assert_eq!(Plan::new(1, 1).practitioners(), 1);
}

#[test]
fn facts_match_the_patient_resource() {
    let set = plan().patient(42);
    let f = &set.facts;
    let p = &set.resources[0];
    assert_eq!(f.id, patient_id(42));
    assert_eq!(p["id"], f.id.as_str());
    assert_eq!(p["name"][0]["family"], f.family);
    assert_eq!(p["birthDate"], f.birth_date.as_str());
    assert_eq!(p["identifier"][0]["system"], super::MRN_SYSTEM);
    assert_eq!(p["identifier"][0]["value"], f.mrn.as_str());
    assert_eq!(p["address"][0]["postalCode"], f.postal_code.as_str());
    let codes: Vec<&str> = set
        .resources
        .iter()
        .filter(|r| r["resourceType"] == "Condition")
        .map(|r| r["code"]["coding"][0]["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, f.conditions);
    let group = set
        .resources
        .iter()
        .find(|r| r["code"]["coding"][0]["code"] == "882-1");
    assert_eq!(
        group.unwrap()["valueCodeableConcept"]["coding"][0]["code"],
        f.blood_group.0
    );
}

#[test]
fn the_rare_condition_is_rare_but_present() {
    let plan = Plan::new(7, 2000);
    let with = (1..=plan.patients)
        .filter(|n| plan.patient(*n).facts.conditions.contains(&RARE_CONDITION))
        .count();
    assert!((1..60).contains(&with), "{with}");
}

#[test]
fn non_ascii_names_occur() {
    let plan = plan();
    let families: HashSet<&str> = (1..=plan.patients)
        .map(|n| plan.patient(n).facts.family)
        .collect();
    assert!(families.iter().any(|f| !f.is_ascii()), "{families:?}");
    assert_eq!(ascii("Ñúñez"), "nunez");
    assert_eq!(ascii("Müller"), "mueller");
    assert_eq!(ascii("山田"), "");
}

#[test]
fn fixed_dates_are_what_they_say() {
    let micros = |d: &str| parse_range(d).unwrap().0 / 1_000_000;
    assert_eq!(WINDOW_START, micros("2021-11-01"));
    assert_eq!(WINDOW_END, micros("2026-11-01"));
    assert_eq!(date(FIRST_BIRTH_DAY), "1930-01-01");
    assert_eq!(date(LAST_BIRTH_DAY), "2020-12-31");
}
