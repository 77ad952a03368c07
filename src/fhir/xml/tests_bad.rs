//! Hostile and broken input: each case must give an [`Issue`] with the right
//! code (and expression where one applies), never a panic or an expansion; and a
//! deterministic mutation fuzz loop over example documents.

use super::tests::{files, same};
use super::{from_xml, to_xml};
use crate::fhir::outcome::Issue;
use serde_json::json;

const PATIENT_OPEN: &str = "<Patient xmlns=\"http://hl7.org/fhir\">";

fn patient(body: &str) -> String {
    format!("{PATIENT_OPEN}{body}</Patient>")
}

/// The single issue `from_xml` reports for `xml`.
fn issue(xml: &[u8]) -> Issue {
    let mut issues = from_xml(xml).expect_err("must be refused");
    assert_eq!(issues.len(), 1, "{issues:?}");
    issues.remove(0)
}

fn expect(xml: &[u8], code: &str, expression: Option<&str>) {
    let i = issue(xml);
    assert_eq!(i.code, code, "{i:?} for {}", String::from_utf8_lossy(xml));
    if let Some(e) = expression {
        assert_eq!(i.expression.as_deref(), Some(e), "{i:?}");
    }
}

#[test]
fn malformed_documents() {
    expect(patient("<id value=\"1\">").as_bytes(), "structure", None);
    expect(
        b"<Patient xmlns=\"http://hl7.org/fhir\"><id value=\"1\"/>",
        "structure",
        None,
    );
    expect(b"", "structure", None);
    expect(b"just text", "structure", None);
    expect(
        patient("<id value=\"1\"/></Patient><Patient/>").as_bytes(),
        "structure",
        None,
    );
    expect(
        patient("<id value=\"1\" value=\"2\"/>").as_bytes(),
        "structure",
        None,
    );
    expect(patient("<id value=\"a<b\"/>").as_bytes(), "structure", None);
    expect(patient("<id value=\"a&b\"/>").as_bytes(), "structure", None);
    expect(
        b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Patient xmlns=\"http://hl7.org/fhir\"/>",
        "structure",
        None,
    );
    expect(
        patient("<gender value=\"male\">text</gender>").as_bytes(),
        "structure",
        Some("Patient.gender"),
    );
    expect(patient("stray").as_bytes(), "structure", Some("Patient"));
    expect(
        patient("<name>&amp;</name>").as_bytes(),
        "structure",
        Some("Patient.name[0]"),
    );
}

#[test]
fn invalid_utf8() {
    expect(
        b"<Patient xmlns=\"http://hl7.org/fhir\"><id value=\"\xff\xfe\"/></Patient>",
        "structure",
        None,
    );
    expect(b"\xc3\x28", "structure", None);
}

#[test]
fn dtds_are_refused_without_expansion() {
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml">&lol9;</div></text></Patient>"#;
    expect(laughs.as_bytes(), "security", None);
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Patient xmlns="http://hl7.org/fhir"><id value="&e;"/></Patient>"#;
    expect(xxe.as_bytes(), "security", None);
    // Without the DTD the entities are simply undeclared.
    let div = "<text><status value=\"generated\"/><div xmlns=\"http://www.w3.org/1999/xhtml\">&e;</div></text>";
    expect(
        patient(div).as_bytes(),
        "structure",
        Some("Patient.text.div"),
    );
    expect(
        patient("<id value=\"&e;\"/>").as_bytes(),
        "structure",
        Some("Patient.id"),
    );
    let bad = json!({"resourceType": "Patient", "text": {"status": "generated",
        "div": "<!DOCTYPE d [<!ENTITY e \"x\">]><div xmlns=\"http://www.w3.org/1999/xhtml\">&e;</div>"}});
    let i = to_xml(&bad, false).unwrap_err();
    assert_eq!(
        (i.code, i.expression.as_deref()),
        ("security", Some("Patient.text.div"))
    );
}

#[test]
fn unknown_and_misplaced_content() {
    expect(
        patient("<foo value=\"x\"/>").as_bytes(),
        "structure",
        Some("Patient.foo"),
    );
    expect(
        patient("<name><famly value=\"x\"/></name>").as_bytes(),
        "structure",
        Some("Patient.name[0].famly"),
    );
    expect(
        patient("<gender value=\"male\" colour=\"red\"/>").as_bytes(),
        "structure",
        Some("Patient.gender"),
    );
    expect(
        patient("<name><id value=\"x\"/></name>").as_bytes(),
        "structure",
        Some("Patient.name[0].id"),
    );
    expect(
        patient("<gender/>").as_bytes(),
        "invalid",
        Some("Patient.gender"),
    );
    expect(
        patient("<gender value=\"\"/>").as_bytes(),
        "value",
        Some("Patient.gender"),
    );
    let text = "<text><status value=\"generated\"/><div><p>x</p></div></text>";
    expect(
        patient(text).as_bytes(),
        "structure",
        Some("Patient.text.div"),
    );
    expect(
        patient("<contained/>").as_bytes(),
        "structure",
        Some("Patient.contained[0]"),
    );
    let two = "<contained><Basic><code><text value=\"a\"/></code></Basic><Basic/></contained>";
    expect(
        patient(two).as_bytes(),
        "structure",
        Some("Patient.contained[0]"),
    );
    let inner = "<contained><Basic><foo/></Basic></contained>";
    expect(
        patient(inner).as_bytes(),
        "structure",
        Some("Patient.contained[0].foo"),
    );
}

#[test]
fn bad_values() {
    let obs = |v: &str| {
        format!(
            "<Observation xmlns=\"http://hl7.org/fhir\"><status value=\"final\"/><code><text value=\"x\"/></code><valueQuantity><value value=\"{v}\"/></valueQuantity></Observation>"
        )
    };
    for bad in ["1.2.3", "abc", "01", "+1", "1.", ".5", " 1", "NaN", "1e"] {
        expect(
            obs(bad).as_bytes(),
            "value",
            Some("Observation.valueQuantity.value"),
        );
    }
    let ok = from_xml(obs("-0.010e+5").as_bytes()).unwrap();
    assert_eq!(ok["valueQuantity"]["value"].to_string(), "-0.010e+5");
    expect(
        patient("<active value=\"yes\"/>").as_bytes(),
        "value",
        Some("Patient.active"),
    );
    expect(
        patient("<active value=\"True\"/>").as_bytes(),
        "value",
        Some("Patient.active"),
    );
    expect(
        patient("<multipleBirthInteger value=\"1.5\"/>").as_bytes(),
        "value",
        Some("Patient.multipleBirthInteger"),
    );
    expect(
        patient("<multipleBirthInteger value=\"2147483648\"/>").as_bytes(),
        "value",
        None,
    );
    expect(patient("<contact><period><start value=\"2000\"/></period></contact><contact><id value=\"x\"/></contact>").as_bytes(), "structure", Some("Patient.contact[1].id"));
}

#[test]
fn repeated_single_elements() {
    expect(
        patient("<gender value=\"male\"/><gender value=\"female\"/>").as_bytes(),
        "structure",
        Some("Patient.gender"),
    );
    expect(
        patient("<deceasedBoolean value=\"true\"/><deceasedDateTime value=\"2000\"/>").as_bytes(),
        "structure",
        Some("Patient.deceasedDateTime"),
    );
    expect(
        patient("<name><family value=\"a\"/><family value=\"b\"/></name>").as_bytes(),
        "structure",
        Some("Patient.name[0].family"),
    );
}

#[test]
fn namespaces_and_root() {
    expect(b"<Patient/>", "structure", Some("Patient"));
    expect(
        b"<Patient xmlns=\"http://hl7.org/fhir/x\"/>",
        "structure",
        Some("Patient"),
    );
    expect(
        b"<f:Patient xmlns:f=\"http://example.org\"/>",
        "structure",
        None,
    );
    expect(
        b"<Foo xmlns=\"http://hl7.org/fhir\"/>",
        "structure",
        Some("Foo"),
    );
    expect(
        b"<Resource xmlns=\"http://hl7.org/fhir\"/>",
        "structure",
        None,
    );
    expect(
        b"<HumanName xmlns=\"http://hl7.org/fhir\"/>",
        "structure",
        None,
    );
    expect(
        b"<x:Patient xmlns=\"http://hl7.org/fhir\"/>",
        "structure",
        None,
    );
    expect(
        patient("<gender xmlns=\"urn:other\" value=\"male\"/>").as_bytes(),
        "structure",
        Some("Patient.gender"),
    );
    // Prefixed FHIR elements are fine.
    let ok = from_xml(
        b"<f:Patient xmlns:f=\"http://hl7.org/fhir\"><f:gender value=\"male\"/></f:Patient>",
    )
    .unwrap();
    assert_eq!(ok, json!({"resourceType": "Patient", "gender": "male"}));
}

#[test]
fn deep_nesting_is_refused() {
    let n = 10_000;
    let deep = format!(
        "{PATIENT_OPEN}{}{}</Patient>",
        "<extension url=\"u\">".repeat(n),
        "</extension>".repeat(n)
    );
    expect(deep.as_bytes(), "too-long", None);
    let unknown = format!("{PATIENT_OPEN}{}", "<a>".repeat(n));
    expect(unknown.as_bytes(), "structure", Some("Patient.a"));
    let div = format!(
        "{PATIENT_OPEN}<text><status value=\"generated\"/><div xmlns=\"http://www.w3.org/1999/xhtml\">{}{}</div></text></Patient>",
        "<b>".repeat(n),
        "</b>".repeat(n)
    );
    expect(div.as_bytes(), "too-long", Some("Patient.text.div"));
    let contained = format!("{PATIENT_OPEN}{}", "<contained><Patient>".repeat(n));
    expect(contained.as_bytes(), "too-long", None);
    let mut value = json!({"url": "u", "valueString": "x"});
    for _ in 0..200 {
        value = json!({"url": "u", "extension": [value]});
    }
    let i = to_xml(
        &json!({"resourceType": "Patient", "extension": [value]}),
        false,
    )
    .unwrap_err();
    assert_eq!(i.code, "too-long");
}

#[test]
fn bad_json_is_refused_on_write() {
    let cases = [
        json!([1]),
        json!({"id": "x"}),
        json!({"resourceType": "Nope"}),
        json!({"resourceType": "Patient", "foo": 1}),
        json!({"resourceType": "Patient", "active": "true"}),
        json!({"resourceType": "Patient", "gender": ""}),
        json!({"resourceType": "Patient", "name": {"family": "x"}}),
        json!({"resourceType": "Patient", "name": []}),
        json!({"resourceType": "Patient", "name": [{"given": ["a"], "_given": [null, null]}]}),
        json!({"resourceType": "Patient", "name": [{"given": [null]}]}),
        json!({"resourceType": "Patient", "_name": {"id": "x"}}),
        json!({"resourceType": "Patient", "gender": null}),
        json!({"resourceType": "Patient", "name": [{}]}),
        json!({"resourceType": "Patient", "gender": "male", "_gender": {}}),
        json!({"resourceType": "Patient", "deceasedBoolean": true, "deceasedDateTime": "2000"}),
        json!({"resourceType": "Patient", "gender": "\u{1}"}),
        json!({"resourceType": "Patient", "text": {"status": "generated", "div": "<p xmlns=\"http://www.w3.org/1999/xhtml\"/>"}}),
    ];
    for case in cases {
        assert!(to_xml(&case, false).is_err(), "{case}");
    }
}

/// A deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const SNIPPETS: &[&[u8]] = &[
    b"<",
    b">",
    b"/>",
    b"</",
    b"&",
    b"&amp;",
    b"&#0;",
    b"&#x10FFFF;",
    b"&lol;",
    b"\"",
    b"=",
    b"\xff",
    b"\xc3",
    b"<!DOCTYPE x [<!ENTITY e \"x\">]>",
    b"<![CDATA[x]]>",
    b"<!-- c -->",
    b"<?pi x?>",
    b"xmlns=\"urn:x\"",
    b"xmlns:p=\"http://hl7.org/fhir\"",
    b"<extension url=\"u\"><valueString value=\"v\"/></extension>",
    b"<value value=\"1.5\"/>",
    b"<div xmlns=\"http://www.w3.org/1999/xhtml\">",
    b"</div>",
    b"<contained>",
    b"<Patient>",
    b"id=\"x\"",
    b" value=\"",
    b"p:",
    b"\r\n",
    b"\t",
    b"0",
    b"e",
];

fn mutate(rng: &mut Rng, doc: &[u8]) -> Vec<u8> {
    let mut out = doc.to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 if at < out.len() => out[at] = (rng.next() & 0xff) as u8,
            1 => {
                let s = SNIPPETS[rng.below(SNIPPETS.len())];
                out.splice(at..at, s.iter().copied());
            }
            2 => {
                let end = (at + rng.below(64)).min(out.len());
                out.drain(at..end);
            }
            3 => {
                let end = (at + rng.below(200)).min(out.len());
                let copy = out[at..end].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, copy);
            }
            4 => out.truncate(at),
            _ => {
                let end = (at + rng.below(16)).min(out.len());
                out[at..end].reverse();
            }
        }
    }
    out
}

#[test]
fn mutation_fuzz_never_panics() {
    let mut docs: Vec<Vec<u8>> = Vec::new();
    for dir in ["examples-xml-json", "fhirpath"] {
        for path in files(dir, ".xml") {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if [
                "patient-example.xml",
                "observation-example.xml",
                "questionnaire-example.xml",
            ]
            .contains(&name)
            {
                docs.extend(std::fs::read(&path).ok());
            }
        }
    }
    docs.push(patient("<text><status value=\"generated\"/><div xmlns=\"http://www.w3.org/1999/xhtml\"><p a=\"1\">x &lt; <b>y</b></p></div></text><contained><Basic><code><text value=\"t\"/></code></Basic></contained><name><given value=\"a\"><extension url=\"u\"><valueInteger value=\"1\"/></extension></given></name>").into_bytes());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut accepted, iterations) = (0, 100_000);
    for _ in 0..iterations {
        let doc = &docs[rng.below(docs.len())];
        let input = mutate(&mut rng, doc);
        if let Ok(json) = from_xml(&input) {
            accepted += 1;
            // Whatever is accepted must convert back and read the same.
            let xml = to_xml(&json, false)
                .unwrap_or_else(|i| panic!("{i:?}: {}", String::from_utf8_lossy(&input)));
            let again = from_xml(xml.as_bytes()).unwrap_or_else(|i| panic!("{i:?}: {xml}"));
            same(&json, &again, "").unwrap_or_else(|e| panic!("{e}: {xml}"));
        }
    }
    println!("fuzz: {iterations} mutations, {accepted} accepted");
}
