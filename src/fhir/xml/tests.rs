//! Conversion tests over the R4 examples: JSON → XML → JSON round trips, XML
//! examples against their JSON twins, definition order and primitive details.
//! Comparison is order-insensitive for object keys, exact for number text and
//! array order, and canonical for narrative (see [`canonical_div`]).

use super::escape::{attr_value, decode_ref};
use super::{from_xml, to_xml};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The R4 test data (see `crate::fhir::testdata`).
fn data_dir() -> PathBuf {
    crate::fhir::testdata::fhir_r4()
}

/// The files of `dir` ending in `ext`, sorted; none (with a note) if it is missing.
pub(super) fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let path = data_dir().join(dir);
    let Ok(entries) = std::fs::read_dir(&path) else {
        println!("note: {} does not exist, skipped", path.display());
        return Vec::new();
    };
    let mut list: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(ext))
        })
        .collect();
    list.sort();
    list
}

/// A narrative reduced to tokens: element names with namespaces, attribute sets
/// (namespace declarations left out), and text with white space runs collapsed.
fn canonical_div(div: &str) -> Result<Vec<String>, String> {
    let mut reader = NsReader::from_str(div);
    let mut tokens = Vec::new();
    let mut text = String::new();
    let flush = |text: &mut String, tokens: &mut Vec<String>| {
        if !text.is_empty() {
            let mut collapsed = String::new();
            for c in text.chars() {
                if !c.is_whitespace() {
                    collapsed.push(c);
                } else if !collapsed.ends_with(' ') {
                    collapsed.push(' ');
                }
            }
            tokens.push(format!("T:{collapsed}"));
            text.clear();
        }
    };
    loop {
        let (res, event) = reader.read_resolved_event().map_err(|e| e.to_string())?;
        let ns = match res {
            ResolveResult::Bound(ns) => String::from_utf8_lossy(ns.as_ref()).into_owned(),
            _ => String::new(),
        };
        let (e, is_empty) = match event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                flush(&mut text, &mut tokens);
                tokens.push("E".to_string());
                continue;
            }
            Event::Text(t) => {
                text.push_str(&String::from_utf8_lossy(&t));
                continue;
            }
            Event::CData(t) => {
                text.push_str(&String::from_utf8_lossy(&t));
                continue;
            }
            Event::GeneralRef(r) => {
                text.push(decode_ref(&String::from_utf8_lossy(&r)).map_err(|i| i.diagnostics)?);
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        flush(&mut text, &mut tokens);
        let mut attrs: Vec<String> = Vec::new();
        for a in e.attributes() {
            let a = a.map_err(|e| e.to_string())?;
            if a.key.as_namespace_binding().is_some() {
                continue;
            }
            let (res, local) = reader.resolve_attribute(a.key);
            let v = attr_value(&a.value).map_err(|i| i.diagnostics)?;
            let local = String::from_utf8_lossy(local.as_ref()).into_owned();
            attrs.push(format!("{res:?}{local}={v}"));
        }
        attrs.sort();
        let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        tokens.push(format!("S:{{{ns}}}{local} {attrs:?}"));
        if is_empty {
            tokens.push("E".to_string());
        }
    }
    flush(&mut text, &mut tokens);
    Ok(tokens)
}

/// Compares two JSON values (see the module doc); `Err` names the first difference.
pub(super) fn same(a: &Value, b: &Value, path: &str) -> Result<(), String> {
    compare(a, b, path, false)
}

/// A decimal's exact value as (negative, significant digits, power of ten).
fn decimal_value(text: &str) -> Option<(bool, String, i64)> {
    let (negative, text) = text.strip_prefix('-').map_or((false, text), |t| (true, t));
    let (mantissa, exp) = text.split_once(['e', 'E']).unwrap_or((text, "0"));
    let mut exp: i64 = exp.parse().ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    exp -= i64::try_from(frac.len()).ok()?;
    let mut digits = format!("{int}{frac}").trim_start_matches('0').to_string();
    while digits.ends_with('0') {
        digits.pop();
        exp += 1;
    }
    if digits.is_empty() {
        return Some((false, digits, 0));
    }
    Some((negative, digits, exp))
}

/// [`same`], with numbers compared by exact decimal value instead of text when `by_value`.
fn compare(a: &Value, b: &Value, path: &str, by_value: bool) -> Result<(), String> {
    let same = |a: &Value, b: &Value, path: &str| compare(a, b, path, by_value);
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let at = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(Value::String(s)), Some(Value::String(t))) if k == "div" => {
                        let (cs, ct) = (canonical_div(s)?, canonical_div(t)?);
                        if cs != ct {
                            let i = cs.iter().zip(&ct).take_while(|(p, q)| p == q).count();
                            return Err(format!(
                                "{at}: narrative differs at {:?} / {:?}",
                                cs.get(i),
                                ct.get(i)
                            ));
                        }
                    }
                    (Some(v), Some(w)) => same(v, w, &at)?,
                    _ => return Err(format!("{at}: present on one side only")),
                }
            }
            Ok(())
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .try_for_each(|(i, (v, w))| same(v, w, &format!("{path}[{i}]"))),
        (Value::Number(x), Value::Number(y)) if x.to_string() == y.to_string() => Ok(()),
        (Value::Number(x), Value::Number(y))
            if by_value
                && decimal_value(&x.to_string())
                    .is_some_and(|v| Some(v) == decimal_value(&y.to_string())) =>
        {
            Ok(())
        }
        _ if a == b && !a.is_number() => Ok(()),
        _ => Err(format!("{path}: {a} != {b}")),
    }
}

/// Converts one JSON example both ways; returns the conversion time.
fn round_trip(path: &Path) -> Result<Option<Duration>, String> {
    let text = std::fs::read(path).map_err(|e| e.to_string())?;
    let json: Value = serde_json::from_slice(&text).map_err(|e| format!("not JSON: {e}"))?;
    if json.get("resourceType").and_then(Value::as_str).is_none() {
        println!("skip {}: not a resource", path.display());
        return Ok(None);
    }
    let start = Instant::now();
    let xml = to_xml(&json, true).map_err(|i| format!("to_xml: {i:?}"))?;
    let back = from_xml(xml.as_bytes()).map_err(|i| format!("from_xml: {:?}", i[0]))?;
    let elapsed = start.elapsed();
    let compact = to_xml(&json, false).map_err(|i| format!("to_xml compact: {i:?}"))?;
    let back2 =
        from_xml(compact.as_bytes()).map_err(|i| format!("from_xml compact: {:?}", i[0]))?;
    let rt = json["resourceType"].as_str().unwrap_or("");
    same(&json, &back, rt)?;
    same(&json, &back2, rt)?;
    Ok(Some(elapsed))
}

#[test]
fn round_trip_all_json_examples() {
    let mut list = files("examples", ".json");
    list.extend(files("examples-xml-json", ".json"));
    let (mut passed, mut failed, mut total) = (0, 0, Duration::ZERO);
    for path in &list {
        match round_trip(path) {
            Ok(Some(t)) => {
                passed += 1;
                total += t;
            }
            Ok(None) => {}
            Err(e) => {
                failed += 1;
                if failed <= 10 {
                    println!("FAIL {}: {e}", path.display());
                }
            }
        }
    }
    println!(
        "json examples converted both ways (to_xml pretty, then from_xml) in {} ms",
        total.as_millis()
    );
    println!("roundtrip: {passed} passed, {failed} failed");
    assert_eq!(failed, 0);
}

/// XML examples whose JSON twin really differs in the source data, and how the
/// comparison allows for it.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "observation-decimal.xml",
        "the XML writes three decimals differently from its JSON (1.0e0 for 1.0, 0.0000000000000000000001 for 1E-22, e245 for E+245): compared by exact decimal value",
    ),
    (
        "observation-example.xml",
        "the XML has an extension (patient-age) that its JSON twin lacks: compared without it",
    ),
];

/// Compares an XML example's conversion with its JSON twin.
fn compare_twin(name: &str, want: &Value, got: &Value) -> Result<(), String> {
    let exact = same(want, got, "");
    match (exact, name) {
        (Ok(()), _) => Ok(()),
        (Err(_), "observation-decimal.xml") => compare(want, got, "", true),
        (Err(_), "observation-example.xml") => {
            let mut got = got.clone();
            got.as_object_mut()
                .and_then(|o| o.shift_remove("extension"))
                .ok_or("no extension")?;
            same(want, &got, "")
        }
        (Err(e), _) => Err(e),
    }
}

/// Conversion cost over all JSON examples: `cargo test --release -- --ignored --nocapture xml_timing`.
#[test]
#[ignore]
fn xml_timing() {
    let mut list = files("examples", ".json");
    list.extend(files("examples-xml-json", ".json"));
    let docs: Vec<Value> = list
        .iter()
        .filter_map(|p| serde_json::from_slice(&std::fs::read(p).ok()?).ok())
        .collect();
    let (mut to, mut from, mut bytes) = (Duration::ZERO, Duration::ZERO, 0);
    for doc in &docs {
        let start = Instant::now();
        let xml = to_xml(doc, false).unwrap();
        let middle = Instant::now();
        from_xml(xml.as_bytes()).unwrap();
        from += middle.elapsed();
        to += middle - start;
        bytes += xml.len();
    }
    println!(
        "{} examples, {} KiB of XML: to_xml {} ms, from_xml {} ms, total {} ms",
        docs.len(),
        bytes / 1024,
        to.as_millis(),
        from.as_millis(),
        (to + from).as_millis()
    );
}

#[test]
fn xml_examples_match_their_json() {
    let (mut passed, mut failed) = (0, 0);
    for xml_path in files("examples-xml-json", ".xml") {
        let name = xml_path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let json_path = xml_path.with_extension("json");
        let result = (|| {
            let xml = std::fs::read(&xml_path).map_err(|e| e.to_string())?;
            let got = from_xml(&xml).map_err(|i| format!("from_xml: {:?}", i[0]))?;
            let again = from_xml(
                to_xml(&got, false)
                    .map_err(|i| format!("{i:?}"))?
                    .as_bytes(),
            )
            .map_err(|i| format!("re-read: {:?}", i[0]))?;
            same(&got, &again, "xml->json->xml->json")?;
            if !json_path.exists() {
                println!("{name}: converts (no JSON twin)");
                return Ok(());
            }
            let text = std::fs::read(&json_path).map_err(|e| e.to_string())?;
            let want: Value = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
            if let Some((_, why)) = KNOWN_DIFFERENCES.iter().find(|(n, _)| *n == name) {
                println!("{name}: {why}");
            }
            compare_twin(&name, &want, &got)
        })();
        match result {
            Ok(()) => passed += 1,
            Err(e) => {
                failed += 1;
                println!("FAIL {}: {e}", xml_path.display());
            }
        }
    }
    println!("xml-json: {passed} passed, {failed} failed");
    assert_eq!(failed, 0);
}

#[test]
fn fhirpath_xml_examples_convert() {
    let (mut converted, mut skipped) = (0, 0);
    for path in files("fhirpath", ".xml") {
        let xml = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&xml);
        if !text.contains("xmlns=\"http://hl7.org/fhir\"") {
            println!("skip {}: not a FHIR resource", path.display());
            skipped += 1;
            continue;
        }
        let json = from_xml(&xml).unwrap_or_else(|i| panic!("{}: {:?}", path.display(), i));
        let back = from_xml(to_xml(&json, true).unwrap().as_bytes()).unwrap();
        same(&json, &back, "").unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        converted += 1;
    }
    println!("fhirpath xml: {converted} converted, {skipped} skipped");
}

#[test]
fn elements_come_out_in_definition_order() {
    let mut pairs: Vec<(&str, Value)> = vec![
        ("resourceType", json!("Patient")),
        ("id", json!("p1")),
        ("meta", json!({"versionId": "1"})),
        (
            "text",
            json!({"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}),
        ),
        ("identifier", json!([{"value": "1"}])),
        ("active", json!(true)),
        ("name", json!([{"given": ["A"], "family": "B"}])),
        ("gender", json!("male")),
        ("birthDate", json!("2000-01-01")),
        ("deceasedBoolean", json!(false)),
    ];
    pairs.reverse();
    let patient = Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
    let xml = to_xml(&patient, false).unwrap();
    let order = [
        "<id ",
        "<meta>",
        "<text>",
        "<identifier>",
        "<active ",
        "<name>",
        "<family ",
        "<given ",
        "<gender ",
        "<birthDate ",
        "<deceasedBoolean ",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|t| xml.find(t).unwrap_or_else(|| panic!("{t} in {xml}")))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{xml}");
    assert!(xml.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Patient xmlns=\"http://hl7.org/fhir\">"
    ));
    let pretty = to_xml(&patient, true).unwrap();
    assert!(
        pretty
            .contains("\n  <id value=\"p1\"/>\n  <meta>\n    <versionId value=\"1\"/>\n  </meta>"),
        "{pretty}"
    );
    assert_eq!(
        from_xml(pretty.as_bytes()).unwrap(),
        from_xml(xml.as_bytes()).unwrap()
    );
}

#[test]
fn primitives_extensions_numbers_and_resources() {
    // Parsed from text: the json! macro would turn 0.010 into an f64.
    let obs: Value = serde_json::from_str(
        r#"{
        "resourceType": "Observation",
        "contained": [{"resourceType": "Patient", "id": "p",
            "_gender": {"extension": [{"url": "http://e", "valueDecimal": 0.010}]}}],
        "extension": [{"url": "http://x", "valueBoolean": true}],
        "status": "final",
        "code": {"coding": [{"code": "x", "_code": {"id": "c1"}}]},
        "valueQuantity": {"value": 1.50, "unit": "mg"},
        "component": [{"code": {"text": "t"}, "valueSampledData": {"origin": {"value": 0},
            "period": 1E-3, "dimensions": 1, "data": "1 2"}}],
        "note": [{"text": "a \"quoted\" <b>&amp;</b>\nline\ttab\r\n é 😀"}]
    }"#,
    )
    .unwrap();
    let xml = to_xml(&obs, false).unwrap();
    assert!(xml.contains("<contained><Patient><id value=\"p\"/><gender><extension url=\"http://e\"><valueDecimal value=\"0.010\"/>"), "{xml}");
    assert!(
        xml.contains("<value value=\"1.50\"/>") && xml.contains("<period value=\"1e-3\"/>"),
        "{xml}"
    );
    assert!(xml.contains("<code id=\"c1\" value=\"x\"/>"), "{xml}");
    let back = from_xml(xml.as_bytes()).unwrap();
    same(&obs, &back, "Observation").unwrap();
    assert_eq!(back["valueQuantity"]["value"].to_string(), "1.50");

    let patient = json!({
        "resourceType": "Patient",
        "name": [{"given": ["a", null, "c"], "_given": [null, {"extension": [{"url": "u", "valueCode": "x"}]}, {"id": "g3"}]}],
        "birthDate": "1970",
    });
    let compact = to_xml(&patient, false).unwrap();
    assert!(
        compact.contains("<given value=\"a\"/><given><extension url=\"u\"><valueCode value=\"x\"/></extension></given><given id=\"g3\" value=\"c\"/>"),
        "{compact}"
    );
    let xml = to_xml(&patient, true).unwrap();
    let back = from_xml(xml.as_bytes()).unwrap();
    assert_eq!(back, patient, "{xml}");
    assert!(
        from_xml(
            b"<Patient xmlns=\"http://hl7.org/fhir\"><name><given value=\"x\"/></name></Patient>"
        )
        .unwrap()["name"][0]["given"]
            .is_array()
    );
}

#[test]
fn narrative_is_kept() {
    let div = "<div xmlns=\"http://www.w3.org/1999/xhtml\" xmlns:xl=\"http://www.w3.org/1999/xlink\">a &lt;b&gt; &amp; &quot;c&quot; é<br/><p class=\"x\" xml:lang=\"en\">t<a xl:href=\"#y\">l</a></p><!-- c --></div>";
    let patient = json!({"resourceType": "Patient", "text": {"status": "generated", "div": div}});
    let xml = to_xml(&patient, true).unwrap();
    let back = from_xml(xml.as_bytes()).unwrap();
    same(&patient, &back, "Patient").unwrap();
    let got = back["text"]["div"].as_str().unwrap();
    assert!(
        got.starts_with(
            "<div xmlns=\"http://www.w3.org/1999/xhtml\">a &lt;b&gt; &amp; \"c\" é<br/>"
        ),
        "{got}"
    );
    let prefixed = "<Patient xmlns=\"http://hl7.org/fhir\" xmlns:h=\"http://www.w3.org/1999/xhtml\"><text><status value=\"generated\"/><h:div><h:p>x</h:p></h:div></text></Patient>";
    let back = from_xml(prefixed.as_bytes()).unwrap();
    assert_eq!(
        back["text"]["div"],
        "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>x</p></div>"
    );
    let bad = json!({"resourceType": "Patient", "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p></div>"}});
    let issue = to_xml(&bad, false).unwrap_err();
    assert_eq!(issue.expression.as_deref(), Some("Patient.text.div"));
}
