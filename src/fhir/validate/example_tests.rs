//! The official R4 examples must validate without issues (the folders are
//! optional: the tests skip when they are absent), and validating them must be
//! cheap (`examples_timing`, run with `--release -- --ignored --nocapture`).

use std::time::Instant;

use serde_json::Value;

use super::validate_resource;

const FOLDERS: [&str; 2] = ["examples", "examples-xml-json"];

/// Examples that break a base R4 rule themselves: (file name, reason).
const EXEMPT: &[(&str, &str)] = &[
    (
        "Questionnaire-qs1.json",
        "display items nested in groups have no linkId (Questionnaire.item.linkId is 1..1)",
    ),
    (
        "bundle-questionnaire.json",
        "the same qs1 Questionnaire: nested display items have no linkId (1..1)",
    ),
];

/// Every `*.json` resource of the example folders, with its file name.
fn examples() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for folder in FOLDERS {
        let folder = crate::fhir::testdata::fhir_r4().join(folder);
        let Ok(dir) = std::fs::read_dir(&folder) else {
            eprintln!("{} is absent: skipped", folder.display());
            continue;
        };
        let mut paths: Vec<_> = dir
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        for path in paths {
            let Ok(text) = std::fs::read(&path) else {
                continue;
            };
            let Ok(value) = serde_json::from_slice::<Value>(&text) else {
                continue;
            };
            if !value.get("resourceType").is_some_and(Value::is_string) {
                continue;
            }
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            out.push((name.unwrap_or_default(), value));
        }
    }
    out
}

#[test]
fn official_examples_are_valid() {
    let examples = examples();
    let (mut passed, mut failed, mut exempted) = (0, 0, 0);
    for (name, resource) in &examples {
        let issues = validate_resource(resource);
        let exempt = EXEMPT.iter().any(|(n, _)| n == name);
        match (issues.is_empty(), exempt) {
            (true, false) => passed += 1,
            (false, true) => exempted += 1,
            (true, true) => panic!("{name} is exempted but valid: drop it from EXEMPT"),
            (false, false) => {
                failed += 1;
                for issue in issues.iter().take(5) {
                    eprintln!(
                        "{name}: {} {} at {}",
                        issue.code,
                        issue.diagnostics,
                        issue.expression.as_deref().unwrap_or("-")
                    );
                }
            }
        }
    }
    eprintln!("{passed} passed, {failed} failed, {exempted} exempted");
    assert_eq!(failed, 0);
}

#[test]
#[ignore = "timing; run in release with --ignored --nocapture"]
fn examples_timing() {
    const ROUNDS: usize = 20;
    let examples = examples();
    if examples.is_empty() {
        return;
    }
    let texts: Vec<Vec<u8>> = examples
        .iter()
        .map(|(_, v)| serde_json::to_vec(v).unwrap_or_default())
        .collect();
    let bytes: usize = texts.iter().map(Vec::len).sum();
    let start = Instant::now();
    for _ in 0..ROUNDS {
        for text in &texts {
            std::hint::black_box(serde_json::from_slice::<Value>(text).is_ok());
        }
    }
    let parse = start.elapsed().as_secs_f64();
    let mut each: Vec<f64> = Vec::with_capacity(examples.len());
    let mut issues = 0;
    let start = Instant::now();
    for (_, resource) in &examples {
        let one = Instant::now();
        for _ in 0..ROUNDS {
            issues += validate_resource(resource).len();
        }
        each.push(one.elapsed().as_secs_f64() * 1e6 / ROUNDS as f64);
    }
    let total = start.elapsed().as_secs_f64();
    each.sort_by(f64::total_cmp);
    let runs = (ROUNDS * examples.len()) as f64;
    println!(
        "{} resources ({} KB of JSON), {ROUNDS} rounds, {issues} issues: validation {:.1} µs per resource \
         (median {:.1} µs, max {:.0} µs), {:.0} MB/s; parsing the same JSON {:.1} µs per resource",
        examples.len(),
        bytes / 1024,
        total * 1e6 / runs,
        each[each.len() / 2],
        each[each.len() - 1],
        (bytes * ROUNDS) as f64 / total / 1e6,
        parse * 1e6 / runs,
    );
}
