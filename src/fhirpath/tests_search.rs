//! Every R4 SearchParameter expression of `definitions/search-parameters.json`
//! parses, passes the model check for each of its base types, and evaluates
//! without error on a generated instance of each base type.

use super::{Environment, Expression};
use crate::fhir::model::model;
use crate::fhir::sample;
use serde_json::Value;

fn search_parameters() -> Vec<(String, Vec<String>, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/definitions/search-parameters.json"
    );
    let text = std::fs::read(path).expect("the vendored search parameters");
    let bundle: Value = serde_json::from_slice(&text).expect("JSON");
    bundle["entry"]
        .as_array()
        .expect("a Bundle")
        .iter()
        .filter_map(|e| {
            let r = &e["resource"];
            let expression = r["expression"].as_str()?;
            let bases = r["base"]
                .as_array()?
                .iter()
                .filter_map(|b| b.as_str().map(str::to_string))
                .collect();
            Some((
                r["url"].as_str()?.to_string(),
                bases,
                expression.to_string(),
            ))
        })
        .collect()
}

/// Resource types an expression for `base` may run on.
fn instances_of(base: &str) -> Vec<String> {
    match base {
        "Resource" | "DomainResource" => vec!["Patient".into(), "Bundle".into()],
        other => vec![other.to_string()],
    }
}

#[test]
fn every_search_parameter_expression_parses_checks_and_evaluates() {
    let params = search_parameters();
    assert_eq!(params.len(), 1375);
    let env = Environment::default();
    let mut failures = Vec::new();
    for (url, bases, text) in &params {
        let expr = match Expression::parse(text) {
            Ok(e) => e,
            Err(e) => {
                failures.push(format!("{url}: {text}: {e}"));
                continue;
            }
        };
        for base in bases {
            if let Err(e) = expr.check(base, false) {
                failures.push(format!("{url} on {base}: {text}: {e}"));
            }
            for t in instances_of(base) {
                let Some(resource) = sample::resource(&t, "s1") else {
                    failures.push(format!("{url}: no sample {t}"));
                    continue;
                };
                if let Err(e) = expr.evaluate(&resource, &env) {
                    failures.push(format!("{url} on a {t}: {text}: {e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn search_expressions_find_values_in_generated_resources() {
    // On the generated instances, most expressions of a type find something
    // (1,520 of 1,700 when written).
    let env = Environment::default();
    let mut found = 0;
    let mut tried = 0;
    for (_, bases, text) in search_parameters() {
        let expr = Expression::parse(&text).expect("parses");
        for base in bases.iter().filter(|b| model().resource(b).is_some()) {
            let resource = sample::resource(base, "s1").expect("sample");
            tried += 1;
            if !expr
                .evaluate(&resource, &env)
                .expect("evaluates")
                .is_empty()
            {
                found += 1;
            }
        }
    }
    assert!(
        found * 10 >= tried * 8,
        "only {found} of {tried} found a value"
    );
}
