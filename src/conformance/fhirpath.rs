//! The FHIRPath conformance score: runs the official R4 FHIRPath test suite
//! (`DATA/fhir-r4/fhirpath/tests-fhir-r4.xml`, 935 tests, with the input
//! resources beside it, read at run time and never copied) through
//! [`crate::fhirpath`] and counts what passes.
//!
//! A test passes when an expression marked `invalid` fails to parse, to check
//! against the model (`check`, strict when the test says `mode="strict"`) or
//! to evaluate, and otherwise when its results match the expected outputs in
//! number, order (unless `ordered="false"`), type and value (decimals
//! compared as numbers). `predicate="true"` tests compare `exists()` of the
//! result.
//!
//! **The R4 subset.** The suite also tests functions that came after
//! FHIRPath N1 (the version FHIR R4 uses). A test counts outside the R4
//! subset when the suite marks it `version="2.1.0"` (`encode`, `decode`,
//! `escape`, `unescape`, `trim`, `split`, `join`), when it is in one of the
//! groups devoted to a later function (`LowBoundary`, `HighBoundary`,
//! `Comparable`, `Precision`), or when it calls `matchesFull()`. That leaves
//! 847 of the 935 tests. (`sort()` is not in N1 either, but its ten tests
//! count as R4 in that figure, and so does `testPeriodInvariantNew`, which
//! calls `lowBoundary()` from the `period` group; a rule by function names
//! alone gives 836 or 846.) The engine implements the later functions as
//! well, so the overall score covers them.

use crate::fhir::xml;
use crate::fhirpath::{Environment, Expression, Item, SystemValue};
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// The share of the R4 subset that must pass.
pub const TARGET_PERCENT: f64 = 95.0;

/// Groups devoted to functions added after FHIRPath N1.
const LATER_GROUPS: &[&str] = &["LowBoundary", "HighBoundary", "Comparable", "Precision"];

/// The outcome of a run.
#[derive(Debug, Default)]
pub struct Score {
    pub passed: usize,
    pub total: usize,
    pub r4_passed: usize,
    pub r4_total: usize,
    /// Every failing test, with why.
    pub failures: Vec<Failure>,
}

/// A failing test.
#[derive(Debug)]
pub struct Failure {
    pub name: String,
    pub expression: String,
    /// Whether the test is in the R4 subset.
    pub r4: bool,
    pub reason: String,
}

fn percent(passed: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        passed as f64 * 100.0 / total as f64
    }
}

impl Score {
    /// Whether the R4 subset reaches [`TARGET_PERCENT`].
    pub fn target_met(&self) -> bool {
        percent(self.r4_passed, self.r4_total) >= TARGET_PERCENT
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fhirpath score {}/{} ({:.1} %), R4 functions {}/{} ({:.1} %), target {} %: {}",
            self.passed,
            self.total,
            percent(self.passed, self.total),
            self.r4_passed,
            self.r4_total,
            percent(self.r4_passed, self.r4_total),
            TARGET_PERCENT,
            if self.target_met() { "met" } else { "not met" }
        )
    }
}

/// One test of the suite.
#[derive(Debug, Default)]
struct Case {
    group: String,
    name: String,
    input: Option<String>,
    expression: String,
    /// `invalid="…"`: the expression must fail.
    invalid: bool,
    strict: bool,
    predicate: bool,
    ordered: bool,
    later_version: bool,
    /// Expected outputs: type (if given) and text.
    outputs: Vec<(Option<String>, String)>,
}

impl Case {
    /// Whether the test uses only what FHIRPath N1 (R4) defines; see the module comment.
    fn is_r4(&self) -> bool {
        !self.later_version
            && !LATER_GROUPS.contains(&self.group.as_str())
            && !self.expression.contains("matchesFull(")
    }
}

/// Runs the suite found under `data_dir` (the `../shared/data` root).
pub fn run(data_dir: &Path) -> Result<Score, String> {
    let dir = data_dir.join("fhir-r4/fhirpath");
    let path = dir.join("tests-fhir-r4.xml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let cases = read_cases(&text)?;
    let mut inputs: HashMap<String, Value> = HashMap::new();
    let mut score = Score::default();
    for case in &cases {
        let resource = match &case.input {
            None => Value::Null,
            Some(file) => {
                if !inputs.contains_key(file) {
                    inputs.insert(file.clone(), load(&dir.join(file))?);
                }
                inputs.get(file).cloned().unwrap_or(Value::Null)
            }
        };
        let verdict = verdict(case, &resource);
        let r4 = case.is_r4();
        score.total += 1;
        score.r4_total += usize::from(r4);
        match verdict {
            Ok(()) => {
                score.passed += 1;
                score.r4_passed += usize::from(r4);
            }
            Err(reason) => score.failures.push(Failure {
                name: case.name.clone(),
                expression: case.expression.clone(),
                r4,
                reason,
            }),
        }
    }
    Ok(score)
}

/// An input resource, XML or JSON.
fn load(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if path.extension().is_some_and(|e| e == "xml") {
        xml::from_xml(&bytes).map_err(|i| format!("{}: {}", path.display(), i[0].diagnostics))
    } else {
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Runs one test: `Ok` when it passes, else why not.
fn verdict(case: &Case, resource: &Value) -> Result<(), String> {
    let env = Environment::default();
    let outcome = Expression::parse(&case.expression).and_then(|expr| {
        if let Some(t) = resource.get("resourceType").and_then(Value::as_str) {
            expr.check(t, case.strict)?;
        }
        expr.evaluate(resource, &env).map(|items| render(&items))
    });
    let got = match (outcome, case.invalid) {
        (Err(_), true) => return Ok(()),
        (Err(e), false) => return Err(e.to_string()),
        (Ok(got), true) => return Err(format!("expected an error, got {got:?}")),
        (Ok(got), false) => got,
    };
    let got = if case.predicate {
        vec![("boolean".to_string(), (!got.is_empty()).to_string())]
    } else {
        got
    };
    if same_outputs(&case.outputs, &got, case.ordered) {
        Ok(())
    } else {
        Err(format!("expected {:?}, got {got:?}", case.outputs))
    }
}

/// Whether results match the expected outputs.
fn same_outputs(
    expected: &[(Option<String>, String)],
    got: &[(String, String)],
    ordered: bool,
) -> bool {
    if expected.len() != got.len() {
        return false;
    }
    let matches = |(et, ev): &(Option<String>, String), (gt, gv): &(String, String)| {
        et.as_ref().is_none_or(|t| t == gt) && same_value(ev, gv)
    };
    if ordered {
        return expected.iter().zip(got).all(|(e, g)| matches(e, g));
    }
    let mut used = vec![false; got.len()];
    expected.iter().all(|e| {
        let found = (0..got.len()).find(|&j| !used[j] && matches(e, &got[j]));
        found.inspect(|&j| used[j] = true).is_some()
    })
}

fn same_value(expected: &str, got: &str) -> bool {
    if expected == got {
        return true;
    }
    match (
        crate::fhirpath::Decimal::parse(expected),
        crate::fhirpath::Decimal::parse(got),
    ) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Results as (type, text) in the suite's notation (`@` before dates).
fn render(items: &[Item<'_>]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|item| match item {
            Item::Value(v) => {
                let text = match v {
                    SystemValue::Date(_) | SystemValue::DateTime(_) => format!("@{v}"),
                    SystemValue::Time(_) => format!("@T{v}"),
                    other => other.to_string(),
                };
                let t = match v.type_name() {
                    "DateTime" => "dateTime".to_string(),
                    "Quantity" => "Quantity".to_string(),
                    other => other.to_lowercase(),
                };
                (t, text)
            }
            node => {
                // Untyped JSON (a `type()` result, say) reads as System values.
                let t = match (node.type_name(), node.json()) {
                    (Some(t), _) => t.to_string(),
                    (None, Some(Value::String(_))) => "string".to_string(),
                    (None, Some(Value::Bool(_))) => "boolean".to_string(),
                    (None, Some(Value::Number(n))) if n.is_i64() => "integer".to_string(),
                    (None, Some(Value::Number(_))) => "decimal".to_string(),
                    (None, _) => "?".to_string(),
                };
                let text = match node.json() {
                    Some(Value::String(s)) => match t.as_str() {
                        "date" | "dateTime" | "instant" => format!("@{s}"),
                        "time" => format!("@T{s}"),
                        _ => s.clone(),
                    },
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                (t, text)
            }
        })
        .collect()
}

/// The value of an attribute.
pub(super) fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name.as_bytes())
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// Reads the tests of the suite.
fn read_cases(text: &str) -> Result<Vec<Case>, String> {
    let mut reader = Reader::from_str(text);
    let mut cases = Vec::new();
    let mut group = String::new();
    let mut case: Option<Case> = None;
    // The element whose text is being collected, and the text so far.
    let mut collecting: Option<(String, Option<String>)> = None;
    let mut buffer = String::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("tests-fhir-r4.xml at {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                match name.as_str() {
                    "group" => group = attr(&e, "name").unwrap_or_default(),
                    "test" => {
                        case = Some(Case {
                            group: group.clone(),
                            name: attr(&e, "name").unwrap_or_default(),
                            input: attr(&e, "inputfile"),
                            strict: attr(&e, "mode").as_deref() == Some("strict"),
                            predicate: attr(&e, "predicate").as_deref() == Some("true"),
                            ordered: attr(&e, "ordered").as_deref() != Some("false"),
                            later_version: attr(&e, "version").is_some(),
                            ..Case::default()
                        })
                    }
                    "expression" => {
                        if let Some(c) = case.as_mut() {
                            c.invalid = attr(&e, "invalid").is_some();
                            c.strict |= attr(&e, "mode").as_deref() == Some("strict");
                        }
                        collecting = Some((name, None));
                        buffer.clear();
                    }
                    "output" => {
                        collecting = Some((name, attr(&e, "type")));
                        buffer.clear();
                    }
                    _ => {}
                }
            }
            Event::Text(t) if collecting.is_some() => {
                buffer.push_str(&t.xml_content().map_err(|e| e.to_string())?);
            }
            Event::CData(t) if collecting.is_some() => {
                buffer.push_str(&t.decode().map_err(|e| e.to_string())?);
            }
            Event::GeneralRef(r) if collecting.is_some() => {
                let c = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c,
                    None => match r.decode().map_err(|e| e.to_string())?.as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(format!("unknown entity &{other};")),
                    },
                };
                buffer.push(c);
            }
            Event::End(e) => match e.name().as_ref() {
                b"expression" | b"output" => {
                    if let (Some((element, kind)), Some(c)) = (collecting.take(), case.as_mut()) {
                        if element == "expression" {
                            c.expression = buffer.clone();
                        } else {
                            c.outputs.push((kind, buffer.clone()));
                        }
                    }
                }
                b"test" => cases.extend(case.take()),
                _ => {}
            },
            Event::Eof => return Ok(cases),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::fhir::testdata::root as data_dir;

    #[test]
    fn official_fhirpath_suite() {
        let data = data_dir();
        let suite = data.join("fhir-r4/fhirpath/tests-fhir-r4.xml");
        if !suite.exists() {
            println!("skipped: no FHIRPath test suite at {}", suite.display());
            return;
        }
        let score = run(&data).expect("the suite runs");
        for f in &score.failures {
            let subset = if f.r4 { "R4" } else { "later" };
            println!(
                "FAIL [{subset}] {}: {}\n    {}",
                f.name, f.expression, f.reason
            );
        }
        println!("{score}");
        assert_eq!(score.total, 935);
        assert_eq!(score.r4_total, 847);
        assert!(score.target_met(), "{score}");
    }
}
