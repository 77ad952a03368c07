//! Tests of filters: judged in memory, and added to searches.

use super::*;
use crate::search::extract::extract;
use crate::search::parse::{Limits, parse};
use crate::search::registry::registry;
use serde_json::json;

const BASE: &str = "http://h.test/fhir";

fn conds(t: &str, query: &str) -> Vec<Cond> {
    let pairs: Vec<(String, String)> = query
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    let limits = Limits {
        default_count: 10,
        max_count: 10,
        max_included: 10,
    };
    let parsed = parse(registry(), &[t.to_string()], &pairs, BASE, true, limits).unwrap();
    let branch = parsed.search.branches.into_iter().next().unwrap();
    branch.clauses.into_iter().map(|c| Cond::Any(c.0)).collect()
}

fn filter(t: &str, query: &str) -> Filter {
    Filter::Any(vec![Cond::All(conds(t, query))])
}

fn admits(f: &Filter, resource: &serde_json::Value) -> bool {
    let t = resource["resourceType"].as_str().unwrap();
    let id = resource["id"].as_str().unwrap();
    let entries = extract(registry(), t, resource, BASE);
    let judged = f.admits(id, &entries);
    assert_eq!(judged, f.admits_resource(registry(), t, resource, BASE));
    judged
}

fn patient() -> serde_json::Value {
    json!({"resourceType": "Patient", "id": "p1", "active": true,
        "name": [{"family": "Müller", "given": ["Ann"]}],
        "identifier": [{"system": "urn:donor", "value": "D-1"}],
        "gender": "female", "birthDate": "1980-05-01",
        "generalPractitioner": [{"reference": "Practitioner/d1"}]})
}

#[test]
fn tests_judged_in_memory_as_the_index_applies_them() {
    let p = patient();
    for (query, expected) in [
        ("_id=p1", true),
        ("_id=p2", false),
        ("gender=female", true),
        ("gender=male", false),
        ("identifier=urn:donor|D-1", true),
        ("identifier=urn:other|D-1", false),
        ("identifier=|D-1", false),
        ("identifier=D-1", true),
        ("family=mul", true),
        ("family:exact=Müller", true),
        ("family:exact=muller", false),
        ("family:contains=ll", true),
        ("general-practitioner=Practitioner/d1", true),
        ("general-practitioner=d1", true),
        ("general-practitioner=Practitioner/d2", false),
        ("general-practitioner:missing=false", true),
        ("death-date:missing=false", false),
        ("death-date:missing=true", true),
        ("gender:not=male", true),
        ("gender:not=female", false),
        ("gender=male,female", true),
        ("gender=female&active=false", false),
    ] {
        assert_eq!(admits(&filter("Patient", query), &p), expected, "{query}");
    }
}

#[test]
fn what_cannot_be_judged_in_memory_fails_closed() {
    let p = patient();
    for query in [
        "birthdate=1980",
        "birthdate=ge2000",
        "gender:not=male&birthdate=1980",
    ] {
        assert!(!admits(&filter("Patient", query), &p), "{query}");
    }
    // Unless another alternative holds.
    let either = Filter::Any(vec![
        Cond::All(conds("Patient", "birthdate=1980")),
        Cond::All(conds("Patient", "gender=female")),
    ]);
    assert!(admits(&either, &p));
}

#[test]
fn all_nothing_and_their_intersections() {
    let p = patient();
    assert!(admits(&Filter::All, &p));
    assert!(!admits(&Filter::nothing(), &p));
    assert!(Filter::nothing().is_nothing());
    let female = filter("Patient", "gender=female");
    let active = filter("Patient", "active=true");
    let male = filter("Patient", "gender=male");
    assert!(admits(&female.clone().and(Filter::All), &p));
    assert!(admits(&female.clone().and(active), &p));
    assert!(!admits(&female.clone().and(male), &p));
    assert!(female.and(Filter::nothing()).is_nothing());
}

#[test]
fn restricting_a_search_adds_the_filter_of_every_type_it_reaches() {
    let limits = Limits {
        default_count: 10,
        max_count: 10,
        max_included: 10,
    };
    let pairs = vec![
        ("subject:Patient.name".to_string(), "ann".to_string()),
        (
            "_has:Provenance:target:agent".to_string(),
            "Practitioner/d1".to_string(),
        ),
    ];
    let mut search = parse(
        registry(),
        &["Observation".to_string()],
        &pairs,
        BASE,
        true,
        limits,
    )
    .unwrap()
    .search;
    let before = search.branches[0].clauses.len();
    let filter_of = |t: &str| match t {
        "Patient" => filter("Patient", "_id=p1"),
        "Observation" => filter("Observation", "subject=Patient/p1"),
        _ => Filter::nothing(),
    };
    restrict(&mut search, &filter_of);
    let branch = &search.branches[0];
    assert_eq!(branch.clauses.len(), before + 1);
    let text = format!("{:?}", branch.clauses);
    // The chain's Patient must be p1; the `_has` source (Provenance) can be
    // no resource at all.
    match &branch.clauses[0].0[0] {
        Cond::Chain { targets, .. } => {
            assert!(targets.iter().all(|(t, inner)| t != "Patient"
                || matches!(inner.as_ref(), Cond::All(parts) if parts.len() == 2)));
        }
        other => panic!("not a chain: {other:?}"),
    }
    match &branch.clauses[1].0[0] {
        Cond::Has { inner, .. } => match inner.as_ref() {
            Cond::All(parts) => {
                assert!(matches!(&parts[1], Cond::Any(none) if none.is_empty()))
            }
            other => panic!("not restricted: {other:?}"),
        },
        other => panic!("not a _has: {other:?}"),
    }
    assert!(text.contains("p1"));
    // Everything reached with `All`: the search is unchanged.
    let mut open = search.clone();
    let clauses = open.branches[0].clauses.len();
    restrict(&mut open, &|_| Filter::All);
    assert_eq!(open.branches[0].clauses.len(), clauses);
}
