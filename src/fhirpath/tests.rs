//! Unit tests of the engine as the search indexer uses it: node types,
//! primitive extensions, decimals, `resolve()`, constants, errors, and a
//! mutation loop that feeds damaged expressions to parser and evaluator.

use super::*;
use serde_json::{Value, json};

fn eval<'a>(text: &str, resource: &'a Value) -> Vec<Item<'a>> {
    Expression::parse(text)
        .and_then(|e| e.evaluate(resource, &Environment::default()))
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The results as text, for compact assertions.
fn texts(items: &[Item<'_>]) -> Vec<String> {
    items
        .iter()
        .map(|i| match (i, i.json()) {
            (Item::Value(v), _) => v.to_string(),
            (_, Some(Value::String(s))) => s.clone(),
            (_, Some(v)) => v.to_string(),
            _ => String::new(),
        })
        .collect()
}

fn types(items: &[Item<'_>]) -> Vec<Option<&'static str>> {
    items.iter().map(Item::type_name).collect()
}

/// An Observation read from text, so that `1.50` keeps its digits.
fn observation() -> Value {
    serde_json::from_str(
        r#"{
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": "Patient/123"},
        "effectivePeriod": {"start": "2020-01-01", "end": "2020-01-02"},
        "valueQuantity": {"value": 1.50, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
        "component": [
            {"code": {"text": "a"}, "valueDateTime": "2020-01-01T10:00:00Z"},
            {"code": {"text": "b"}, "valueString": "x"}
        ]
    }"#,
    )
    .expect("JSON")
}

#[test]
fn node_types_follow_the_model() {
    let obs = observation();
    assert_eq!(types(&eval("Observation.value", &obs)), [Some("Quantity")]);
    assert_eq!(
        types(&eval("Observation.effective", &obs)),
        [Some("Period")]
    );
    assert_eq!(
        types(&eval("Observation.component.value", &obs)),
        [Some("dateTime"), Some("string")]
    );
    assert_eq!(
        types(&eval("Observation.component", &obs)),
        [Some("BackboneElement")].repeat(2)
    );
    assert_eq!(
        types(&eval("Observation.code.coding.code", &obs)),
        [Some("code")]
    );
    assert_eq!(
        types(&eval("Observation.subject", &obs)),
        [Some("Reference")]
    );
    assert_eq!(types(&eval("Observation", &obs)), [Some("Observation")]);
    let narrative =
        json!({"resourceType": "Basic", "text": {"status": "generated", "div": "<div/>"}});
    assert_eq!(types(&eval("Basic.text.div", &narrative)), [Some("xhtml")]);
    assert_eq!(
        texts(&eval("Observation.value.value.toString()", &obs)),
        ["1.50"]
    );
    assert_eq!(
        texts(&eval("Observation.value.value = 1.5", &obs)),
        ["true"]
    );
    assert_eq!(
        texts(&eval("Observation.value.value > 1.49", &obs)),
        ["true"]
    );
    assert_eq!(
        texts(&eval("(Observation.value as Quantity).unit", &obs)),
        ["kg"]
    );
    assert_eq!(
        texts(&eval("Observation.value.ofType(Quantity).code", &obs)),
        ["kg"]
    );
    assert!(eval("Observation.value.ofType(Period)", &obs).is_empty());
    assert_eq!(
        texts(&eval("Observation.effective is Period", &obs)),
        ["true"]
    );
    assert_eq!(texts(&eval("Observation.value = 1500 'g'", &obs)), ["true"]);
}

#[test]
fn nested_contained_and_bundled_resources_are_typed() {
    let patient = json!({
        "resourceType": "Patient",
        "contact": [{"name": {"family": "Doe"}, "telecom": [{"value": "1"}]}],
        "contained": [{"resourceType": "Organization", "id": "o1", "name": "Org"}],
        "managingOrganization": {"reference": "#o1"}
    });
    assert_eq!(
        types(&eval("Patient.contact", &patient)),
        [Some("BackboneElement")]
    );
    assert_eq!(
        types(&eval("Patient.contact.name", &patient)),
        [Some("HumanName")]
    );
    assert_eq!(
        types(&eval("Patient.contact.telecom.value", &patient)),
        [Some("string")]
    );
    assert_eq!(
        types(&eval("Patient.contained", &patient)),
        [Some("Organization")]
    );
    assert_eq!(
        texts(&eval(
            "Patient.contained.ofType(Organization).name",
            &patient
        )),
        ["Org"]
    );
    assert_eq!(
        texts(&eval(
            "Patient.managingOrganization.resolve().name",
            &patient
        )),
        ["Org"]
    );
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "id": "p"}},
                  {"resource": {"resourceType": "Observation", "status": "final"}}]
    });
    assert_eq!(
        types(&eval("Bundle.entry.resource", &bundle)),
        [Some("Patient"), Some("Observation")]
    );
    assert_eq!(
        types(&eval("Bundle.entry[0].resource.id", &bundle)),
        [Some("id")]
    );
    let questionnaire = json!({"resourceType": "Questionnaire", "status": "draft",
        "item": [{"linkId": "1", "type": "group", "item": [{"linkId": "1.1", "type": "string"}]}]});
    assert_eq!(
        texts(&eval("Questionnaire.item.item.linkId", &questionnaire)),
        ["1.1"]
    );
    assert_eq!(
        types(&eval("Questionnaire.item.item", &questionnaire)),
        [Some("BackboneElement")]
    );
}

#[test]
fn primitive_extensions_are_seen() {
    let ext = json!([{"url": "http://x/birthTime", "valueDateTime": "1974-12-25T14:35:45-05:00"}]);
    let patient = json!({"resourceType": "Patient", "_birthDate": {"extension": ext},
        "name": [{"given": ["A", null], "_given": [null, {"id": "g2"}]}]});
    assert_eq!(
        texts(&eval("Patient.birthDate.exists()", &patient)),
        ["true"]
    );
    assert_eq!(
        texts(&eval("Patient.birthDate.hasValue()", &patient)),
        ["false"]
    );
    let found = eval(
        "Patient.birthDate.extension('http://x/birthTime').value",
        &patient,
    );
    assert_eq!(types(&found), [Some("dateTime")]);
    assert!(matches!(found[0], Item::Node { .. }));
    let given = eval("Patient.name.given", &patient);
    assert_eq!(given.len(), 2);
    assert!(given[1].json().is_some_and(Value::is_null));
    assert_eq!(texts(&eval("Patient.name.given[1].id", &patient)), ["g2"]);
    let only_ids =
        json!({"resourceType": "Patient", "name": [{"_given": [{"id": "a"}, {"id": "b"}]}]});
    assert_eq!(texts(&eval("Patient.name.given.id", &only_ids)), ["a", "b"]);
    assert_eq!(texts(&eval("Patient.name.given.count()", &only_ids)), ["2"]);
}

#[test]
fn resolve_without_a_resolver_gives_stand_ins() {
    let reference = |r: &str| json!({"resourceType": "Observation", "subject": {"reference": r}});
    for r in [
        "Patient/123",
        "http://x/fhir/Patient/123",
        "Patient/123/_history/2",
    ] {
        let obs = reference(r);
        assert_eq!(
            texts(&eval(
                "Observation.subject.where(resolve() is Patient).reference",
                &obs
            )),
            [r],
            "{r}"
        );
        assert_eq!(
            texts(&eval("Observation.subject.resolve().id", &obs)),
            ["123"]
        );
    }
    for r in ["Group/1", "Unknown/1", "#missing", "urn:uuid:1"] {
        let obs = reference(r);
        assert!(eval("Observation.subject.where(resolve() is Patient)", &obs).is_empty());
    }
}

struct Store;

impl Resolver for Store {
    fn resolve(&self, reference: &str) -> Option<Value> {
        (reference == "Patient/1").then(|| {
            json!({"resourceType": "Patient", "id": "1",
            "name": [{"family": "Okafor"}]})
        })
    }
}

#[test]
fn resolve_uses_the_resolver_and_owned_results_navigate() {
    let env = Environment::default().with_resolver(std::sync::Arc::new(Store));
    let obs = json!({"resourceType": "Observation", "subject": {"reference": "Patient/1"}});
    let expr = Expression::parse("Observation.subject.resolve().name.family").unwrap();
    let items = expr.evaluate(&obs, &env).unwrap();
    assert_eq!(texts(&items), ["Okafor"]);
    assert_eq!(types(&items), [Some("string")]);
    let missing = json!({"resourceType": "Observation", "subject": {"reference": "Patient/2"}});
    assert!(expr.evaluate(&missing, &env).unwrap().is_empty());
}

#[test]
fn constants_and_clock() {
    let mut env = Environment::default()
        .with_now("2024-05-06T07:08:09.000Z")
        .unwrap();
    env.set_constant("limit", vec![SystemValue::Integer(3)]);
    env.set_json_constant("other", json!({"resourceType": "Patient", "id": "x"}));
    let run = |t: &str| {
        let items = Expression::parse(t)
            .unwrap()
            .evaluate(&Value::Null, &env)
            .unwrap();
        texts(&items)
    };
    assert_eq!(run("%limit + 1"), ["4"]);
    assert_eq!(run("%other.id"), ["x"]);
    assert_eq!(run("today()"), ["2024-05-06"]);
    assert_eq!(run("now()"), ["2024-05-06T07:08:09.000Z"]);
    assert_eq!(run("%ucum"), ["http://unitsofmeasure.org"]);
    assert_eq!(run("%`vs-x`"), ["http://hl7.org/fhir/ValueSet/x"]);
    let unknown = Expression::parse("%nope").unwrap();
    assert!(unknown.evaluate(&Value::Null, &env).is_err());
}

#[test]
fn errors_are_errors() {
    for bad in [
        "Patient.foo(",
        "nosuch()",
        "1 +",
        "where(1, 2)",
        "x.as(NoType)",
        "'a",
        "@2020-13",
    ] {
        let e = Expression::parse(bad).expect_err(bad);
        assert_eq!(e.kind, ErrorKind::Syntax, "{bad}");
    }
    let patient = json!({"resourceType": "Patient", "name": [{"given": ["a", "b"]}]});
    let e = Expression::parse("Patient.name.given.single()")
        .unwrap()
        .evaluate(&patient, &Environment::default())
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Execution);
    let e = Expression::parse("Patient.nmae")
        .unwrap()
        .check("Patient", false)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Semantic);
    assert!(
        Expression::parse("Patient.name | Practitioner.name")
            .unwrap()
            .check("Patient", false)
            .is_ok()
    );
    let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
    assert!(Expression::parse(&deep).is_err());
    let long = format!("Patient{}", ".name".repeat(5000));
    assert!(Expression::parse(&long).is_err());
}

#[test]
fn deep_nesting_fits_the_stack() {
    // As deep as the parser allows, evaluated on a test thread's 2 MiB stack.
    let patient = json!({"resourceType": "Patient", "name": [{"given": ["a"]}]});
    let mut deepest = String::new();
    let mut text = "true".to_string();
    for _ in 0..300 {
        text = format!("name.select(given.where(iif({text}, -(1 + 2) < 4, false))).exists()");
        if Expression::parse(&text).is_err() {
            break;
        }
        deepest.clone_from(&text);
    }
    assert!(deepest.len() > 1000);
    let expr = Expression::parse(&deepest).unwrap();
    let items = expr.evaluate(&patient, &Environment::default()).unwrap();
    assert_eq!(items.len(), 1);
    // The inner `name` steps run on strings: the checker says so.
    assert!(expr.check("Patient", true).is_err());
}

#[test]
fn expressions_are_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Expression>();
    shareable::<Environment>();
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SEEDS: &[&str] = &[
    "Patient.name.where(use = 'official').given.first() & ' ' & Patient.name.family",
    "Observation.value.ofType(Quantity).value > 1.5 'kg' and status != 'cancelled'",
    "(Observation.value as Quantity).value.round(2) | Observation.effective.start",
    "iif(Patient.birthDate < @2000-01-01T10:00:00Z, 'old', 'young').upper().substring(1, 2)",
    "Patient.telecom.select(iif(value.matches('^[0-9]+$'), $index, {})).aggregate($this + $total, 0)",
    "descendants().ofType(Coding).where(system = %loinc).code.distinct().count() >= 1",
    "Observation.subject.where(resolve() is Patient).reference.replaceMatches('/(.*)', '-$1')",
    "@2020-01-31 + 1 month - 7 days = @2020-02-22 xor (4 'g' ~ 4000 'mg') implies true",
    "Patient.extension('http://x').value.as(String).toChars().repeat($this).count()",
    "'\\u00e9t\\u00e9'.indexOf('t') + 1.0.power(2).sqrt().ln().exp() div 2 mod 3",
    "(3 'µg/mL' * 2 '[in_i]2' / 1 '{x}.(m/s)2').toString() & 'é🔥'.length().toString()",
];

#[test]
fn damaged_expressions_never_panic() {
    let resources = [
        Value::Null,
        crate::fhir::sample::resource("Patient", "p").unwrap(),
        crate::fhir::sample::resource("Observation", "o").unwrap(),
        observation(),
    ];
    let alphabet = [
        "(", ")", ".", "[", "]", "{", "}", "'", "`", "\"", "%", "$", "@", ",", "|", "&", "+", "-",
        "*", "/", "=", "<", ">", "!", "~", " ", "\\", "0", "1", "9", "a", "e", "T", ":", "Z", "é",
        "µ", "🔥", "\\u", "//", "/*", "*/",
    ];
    let env = Environment::default();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for round in 0..4000 {
        let seed = SEEDS[round % SEEDS.len()];
        let mut bytes = seed.as_bytes().to_vec();
        for _ in 0..=rng.below(4) {
            let at = rng.below(bytes.len() + 1);
            match rng.below(4) {
                0 if at < bytes.len() => {
                    bytes.remove(at);
                }
                1 if at < bytes.len() => {
                    bytes.splice(at..=at, alphabet[rng.below(alphabet.len())].bytes());
                }
                2 => {
                    // A piece of another seed, to mix valid fragments.
                    let other = SEEDS[rng.below(SEEDS.len())].as_bytes();
                    let start = rng.below(other.len());
                    let end = (start + 1 + rng.below(24)).min(other.len());
                    bytes.splice(at..at, other[start..end].iter().copied());
                }
                _ => {
                    bytes.splice(at..at, alphabet[rng.below(alphabet.len())].bytes());
                }
            }
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if let Ok(expr) = Expression::parse(&text) {
                let _ = expr.check("Patient", true);
                for r in &resources {
                    let _ = expr.evaluate(r, &env);
                }
            }
        }));
        assert!(outcome.is_ok(), "panicked on {text:?}");
    }
}

#[test]
fn the_as_operator_filters_repeating_elements() {
    let obs = json!({"resourceType": "Observation", "component": [
        {"code": {"text": "a"}, "valueQuantity": {"value": 1}},
        {"code": {"text": "b"}, "valueQuantity": {"value": 2}},
        {"code": {"text": "c"}, "valueString": "x"}]});
    assert_eq!(
        texts(&eval(
            "(Observation.component.value as Quantity).value",
            &obs
        )),
        ["1", "2"]
    );
    let function = Expression::parse("Observation.component.value.as(Quantity)").unwrap();
    assert!(function.evaluate(&obs, &Environment::default()).is_err());
}
