//! The patch section of the conformance runner: the generic JSON Patch cases
//! of `DATA/fhir-r4/patch/json-patch-tests.json` (each a `doc`, a `patch`
//! and the `expected` result, or an `error` meaning the patch must fail)
//! through [`crate::fhir::patch::json`], and the FHIRPath Patch cases of
//! `DATA/fhir-r4/patch/fhir-patch-tests.xml` (each `<case>` an `<input>`
//! resource, a `<diff>` Parameters and the `<output>` resource, or an
//! `<error>`), read with our XML reader, through
//! [`crate::fhir::patch::fhirpath`]. Results are compared with
//! [`compare::differences`] (members in any order, numbers by their text,
//! narrative canonically). The files are read at run time, never copied.

use super::compare;
use super::fhirpath::attr;
use crate::fhir::patch::{fhirpath, json};
use crate::fhir::xml;
use quick_xml::events::Event;
use quick_xml::name::QName;
use quick_xml::reader::Reader;
use serde_json::Value;
use std::fmt;
use std::path::Path;

/// The outcome of one file.
#[derive(Debug)]
pub struct Score {
    pub label: &'static str,
    pub passed: usize,
    pub failed: usize,
    /// Each failing case's name and why it failed.
    pub failures: Vec<(String, String)>,
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} passed, {} failed",
            self.label, self.passed, self.failed
        )
    }
}

/// One case's name and verdict (`Err` says why it failed).
type Verdict = (String, Result<(), String>);

/// A file of cases: its label, its name under `fhir-r4/patch`, and how its
/// text becomes verdicts.
struct Suite {
    label: &'static str,
    file: &'static str,
    run: fn(&str) -> Result<Vec<Verdict>, String>,
}

const SUITES: [Suite; 2] = [
    Suite {
        label: "json patch",
        file: "json-patch-tests.json",
        run: json_cases,
    },
    Suite {
        label: "fhirpath patch",
        file: "fhir-patch-tests.xml",
        run: fhirpath_cases,
    },
];

/// Runs each file found under `data`: `Ok(None)` for a file that is absent,
/// `Err` for one that cannot be read.
pub fn run(data: &Path) -> Vec<(&'static str, Result<Option<Score>, String>)> {
    let dir = data.join("fhir-r4/patch");
    SUITES
        .iter()
        .map(|suite| {
            let path = dir.join(suite.file);
            if !path.exists() {
                return (suite.label, Ok(None));
            }
            let score = std::fs::read_to_string(&path)
                .map_err(|e| format!("{}: {e}", path.display()))
                .and_then(|text| (suite.run)(&text))
                .map(|verdicts| Some(score(suite.label, verdicts)));
            (suite.label, score)
        })
        .collect()
}

fn score(label: &'static str, verdicts: Vec<Verdict>) -> Score {
    let mut score = Score {
        label,
        passed: 0,
        failed: 0,
        failures: Vec::new(),
    };
    for (name, verdict) in verdicts {
        match verdict {
            Ok(()) => score.passed += 1,
            Err(why) => {
                score.failed += 1;
                score.failures.push((name, why));
            }
        }
    }
    score
}

/// Whether an outcome is the one a case expects: the `expected` value, or
/// any failure when it gives an `error`.
fn judge<E: fmt::Display>(
    outcome: Result<Value, E>,
    expected: Option<&Value>,
    error: Option<&str>,
) -> Result<(), String> {
    match (outcome, expected, error) {
        (Err(_), _, Some(_)) => Ok(()),
        (Ok(got), _, Some(error)) => Err(format!("expected an error ({error}), got {got}")),
        (Ok(got), Some(expected), None) => match compare::differences(expected, &got).first() {
            None => Ok(()),
            Some(d) => Err(format!("the result differs: {d}")),
        },
        (Err(e), Some(_), None) => Err(format!("failed: {e}")),
        (_, None, None) => Err("the case gives neither a result nor an error".into()),
    }
}

/// The JSON Patch cases: an array of `{comment, doc, patch, expected | error}`.
fn json_cases(text: &str) -> Result<Vec<Verdict>, String> {
    let cases: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let cases = cases.as_array().ok_or("the cases are not an array")?;
    Ok(cases
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let name = case
                .get("comment")
                .and_then(Value::as_str)
                .map_or_else(|| format!("case {i}"), str::to_string);
            let verdict = match (case.get("doc"), case.get("patch")) {
                (Some(doc), Some(patch)) => judge(
                    json::apply(doc, patch),
                    case.get("expected"),
                    case.get("error").map(|e| e.as_str().unwrap_or("an error")),
                ),
                _ => Err("the case has no doc or no patch".into()),
            };
            (name, verdict)
        })
        .collect())
}

/// One FHIRPath Patch case: the XML of its resources, as written in the file.
#[derive(Default)]
struct XmlCase<'t> {
    name: String,
    input: Option<&'t str>,
    diff: Option<&'t str>,
    output: Option<&'t str>,
    error: Option<String>,
}

/// The FHIRPath Patch cases: `<tests>` of `<case name>` elements.
fn fhirpath_cases(text: &str) -> Result<Vec<Verdict>, String> {
    let mut reader = Reader::from_str(text);
    let mut verdicts = Vec::new();
    let mut case: Option<XmlCase<'_>> = None;
    loop {
        let at = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| format!("fhir-patch-tests.xml at {at}: {e}"))?;
        match event {
            Event::Start(e) if e.name().as_ref() == b"case" => {
                case = Some(XmlCase {
                    name: attr(&e, "name").unwrap_or_default(),
                    ..XmlCase::default()
                });
            }
            Event::Start(e) if matches!(e.name().as_ref(), b"input" | b"diff" | b"output") => {
                let name = e.name().as_ref().to_vec();
                let span = reader
                    .read_to_end(QName(&name))
                    .map_err(|e| format!("fhir-patch-tests.xml at {at}: {e}"))?;
                let inner = usize::try_from(span.start)
                    .ok()
                    .zip(usize::try_from(span.end).ok())
                    .and_then(|(start, end)| text.get(start..end));
                if let Some(c) = case.as_mut() {
                    match name.as_slice() {
                        b"input" => c.input = inner,
                        b"diff" => c.diff = inner,
                        _ => c.output = inner,
                    }
                }
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"error" => {
                if let Some(c) = case.as_mut() {
                    c.error = Some(attr(&e, "msg").unwrap_or_else(|| "an error".into()));
                }
            }
            Event::End(e) if e.name().as_ref() == b"case" => {
                if let Some(c) = case.take() {
                    let verdict = fhirpath_verdict(&c);
                    verdicts.push((c.name, verdict));
                }
            }
            Event::Eof => return Ok(verdicts),
            _ => {}
        }
    }
}

fn fhirpath_verdict(case: &XmlCase<'_>) -> Result<(), String> {
    let read = |what: &str, xml_text: Option<&str>| -> Result<Value, String> {
        let xml_text = xml_text.ok_or_else(|| format!("the case has no {what}"))?;
        xml::from_xml(xml_text.trim().as_bytes()).map_err(|issues| {
            format!(
                "our XML reader refuses its {what}: {}",
                issues[0].diagnostics
            )
        })
    };
    let input = read("input", case.input)?;
    let diff = read("diff", case.diff)?;
    let expected = match case.output {
        Some(_) => Some(read("output", case.output)?),
        None => None,
    };
    judge(
        fhirpath::apply(&input, &diff),
        expected.as_ref(),
        case.error.as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::fhir::testdata::root as data_dir;

    #[test]
    fn official_patch_cases() {
        for (label, outcome) in run(&data_dir()) {
            match outcome {
                Ok(None) => println!("{label}: skipped, no test file"),
                Ok(Some(score)) => {
                    for (name, why) in &score.failures {
                        println!("FAIL {label} {name}: {why}");
                    }
                    println!("{score}");
                    assert_eq!(score.failed, 0, "{score}");
                    assert!(score.passed > 0, "{score}");
                }
                Err(e) => panic!("{label}: {e}"),
            }
        }
    }

    #[test]
    fn verdicts() {
        let cases = r#"[
            {"comment": "ok", "doc": {"a": 1}, "patch": [{"op": "remove", "path": "/a"}], "expected": {}},
            {"comment": "wrong", "doc": {"a": 1}, "patch": [], "expected": {"a": 2}},
            {"comment": "fails", "doc": {}, "patch": [{"op": "remove", "path": "/a"}], "error": "no a"},
            {"comment": "should fail", "doc": {}, "patch": [], "error": "x"},
            {"doc": {}}
        ]"#;
        let s = score("json patch", json_cases(cases).expect("cases"));
        assert_eq!(s.to_string(), "json patch: 2 passed, 3 failed");
        let names: Vec<&str> = s.failures.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["wrong", "should fail", "case 4"]);
        assert!(json_cases("{").is_err());
        let xml = r#"<tests>
          <case name="rename"><input><Patient xmlns="http://hl7.org/fhir"><gender value="male"/></Patient></input>
            <diff><Parameters xmlns="http://hl7.org/fhir"><parameter><name value="operation"/>
              <part><name value="type"/><valueCode value="delete"/></part>
              <part><name value="path"/><valueString value="Patient.gender"/></part>
            </parameter></Parameters></diff>
            <output><Patient xmlns="http://hl7.org/fhir"/></output></case>
          <case name="refused"><input><Patient xmlns="http://hl7.org/fhir"/></input>
            <diff><Parameters xmlns="http://hl7.org/fhir"><parameter><name value="nope"/></parameter></Parameters></diff>
            <error msg="not an operation"/></case>
          <case name="no diff"><input><Patient xmlns="http://hl7.org/fhir"/></input><error msg="x"/></case>
        </tests>"#;
        let s = score("fhirpath patch", fhirpath_cases(xml).expect("cases"));
        assert_eq!(s.to_string(), "fhirpath patch: 2 passed, 1 failed");
        assert_eq!(s.failures[0].0, "no diff");
        assert!(fhirpath_cases("<tests><case name='x'></tests>").is_err());
    }
}
