//! Formats: JSON and XML in both directions, negotiation by `Accept`,
//! `Content-Type` and `_format`, `_pretty`, the `fhirVersion` parameter, element
//! order in XML, exact decimals, and `_summary`/`_elements` with `SUBSETTED`.

use crate::harness::start;

const XML: &str = "application/fhir+xml";

#[test]
fn xml_in_json_out_and_back() {
    let s = start(&[]);
    let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<Observation xmlns="http://hl7.org/fhir">
  <id value="fridge-7"/>
  <status value="final"/>
  <code><text value="storage temperature"/></code>
  <valueQuantity><value value="4.50"/><unit value="Cel"/><system value="http://unitsofmeasure.org"/><code value="Cel"/></valueQuantity>
</Observation>"#;
    let r = s.request(
        "PUT",
        "/Observation/fridge-7",
        &[("Content-Type", XML)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let json = s.get("/Observation/fridge-7").text();
    assert!(json.contains(r#""value":4.50"#), "{json}");
    let x = s.get_with("/Observation/fridge-7", &[("Accept", XML)]);
    assert!(x.header("content-type").unwrap().starts_with(XML));
    let text = x.text();
    assert!(text.contains(r#"<value value="4.50"/>"#), "{text}");
    let (meta, status, code) = (
        text.find("<meta>").unwrap(),
        text.find("<status").unwrap(),
        text.find("<code>").unwrap(),
    );
    assert!(meta < status && status < code, "definition order: {text}");
}

#[test]
fn xml_elements_follow_the_definition_order_whatever_the_json_order() {
    let s = start(&[]);
    let body = br#"{"birthDate":"1980-02-03","gender":"female","name":[{"given":["Ada"],"family":"Okafor"}],"id":"p1","resourceType":"Patient"}"#;
    assert_eq!(
        s.request(
            "PUT",
            "/Patient/p1",
            &[("Content-Type", "application/fhir+json")],
            body
        )
        .status,
        201
    );
    let text = s.get("/Patient/p1?_format=xml").text();
    let pos = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle} in {text}"))
    };
    assert!(
        pos("<id ") < pos("<name>")
            && pos("<name>") < pos("<gender")
            && pos("<gender") < pos("<birthDate")
    );
    assert!(pos("<family") < pos("<given"), "HumanName order: {text}");
}

#[test]
fn negotiation_by_format_accept_and_version() {
    let s = start(&[]);
    let id = s.create(&serde_json::json!({"resourceType": "Patient", "active": true}));
    let p = format!("/Patient/{id}");
    assert!(
        s.get(&format!("{p}?_format=xml"))
            .text()
            .starts_with("<?xml")
    );
    assert!(
        s.get(&format!("{p}?_format=application/fhir%2Bxml"))
            .text()
            .starts_with("<?xml")
    );
    assert!(
        s.get_with(&format!("{p}?_format=json"), &[("Accept", XML)])
            .text()
            .starts_with('{')
    );
    assert!(
        s.get_with(&p, &[("Accept", "application/xml")])
            .text()
            .starts_with("<?xml")
    );
    assert!(
        s.get_with(&p, &[("Accept", "application/fhir+json; fhirVersion=4.0")])
            .text()
            .starts_with('{')
    );
    assert_eq!(
        s.get_with(&p, &[("Accept", "application/fhir+json; fhirVersion=3.0")])
            .status,
        406
    );
    let pretty = s.get(&format!("{p}?_pretty=true")).text();
    assert!(pretty.contains("\n  "), "{pretty}");
    let pretty_xml = s.get(&format!("{p}?_format=xml&_pretty=true")).text();
    assert!(pretty_xml.contains("\n  <"), "{pretty_xml}");
    let r = s.request(
        "POST",
        "/Patient",
        &[("Content-Type", "application/fhir+json; fhirVersion=3.0")],
        b"{\"resourceType\":\"Patient\"}",
    );
    assert_eq!(r.status, 415);
}

#[test]
fn summary_and_elements_on_reads() {
    let s = start(&[]);
    let body = serde_json::json!({
        "resourceType": "Patient", "id": "s1",
        "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Ada</div>"},
        "name": [{"family": "Okafor"}], "gender": "female", "maritalStatus": {"text": "single"},
        "photo": [{"contentType": "image/png", "data": "aGk="}]
    });
    s.put_json("/Patient/s1", &body);
    let summary = s.get("/Patient/s1?_summary=true").json();
    assert!(summary.get("name").is_some() && summary.get("gender").is_some());
    assert!(
        summary.get("photo").is_none()
            && summary.get("text").is_none()
            && summary.get("maritalStatus").is_none()
    );
    assert_eq!(summary["meta"]["tag"][0]["code"], "SUBSETTED");
    let text = s.get("/Patient/s1?_summary=text").json();
    assert!(text.get("text").is_some() && text.get("gender").is_none());
    let data = s.get("/Patient/s1?_summary=data").json();
    assert!(data.get("text").is_none() && data.get("photo").is_some());
    let elements = s.get("/Patient/s1?_elements=gender").json();
    let keys: Vec<&String> = elements.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["resourceType", "id", "meta", "gender"]);
    assert_eq!(elements["meta"]["tag"][0]["code"], "SUBSETTED");
    let whole = s.get("/Patient/s1?_summary=false").json();
    assert!(whole["meta"].get("tag").is_none());
    let xml = s.get("/Patient/s1?_summary=true&_format=xml").text();
    assert!(
        xml.contains("SUBSETTED") && !xml.contains("<photo>"),
        "{xml}"
    );
}

#[test]
fn a_subsetted_copy_cannot_overwrite_the_resource() {
    let s = start(&[]);
    s.put_json("/Patient/s2", &serde_json::json!({"resourceType": "Patient", "id": "s2", "gender": "female", "photo": [{"data": "aGk="}]}));
    let summary = s.get("/Patient/s2?_summary=true").json();
    let r = s.put_json("/Patient/s2", &summary);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["issue"][0]["expression"][0], "Patient.meta.tag");
    assert!(
        s.get("/Patient/s2").json().get("photo").is_some(),
        "nothing was lost"
    );
    let twice = s.get("/Patient/s2?_summary=true&_elements=gender").json();
    assert_eq!(twice["meta"]["tag"].as_array().unwrap().len(), 1);
}

#[test]
fn generic_mime_types_are_echoed_and_plus_signs_survive() {
    let s = start(&[]);
    let id = s.create(&serde_json::json!({"resourceType": "Patient"}));
    let p = format!("/Patient/{id}");
    let r = s.get_with(&p, &[("Accept", "application/json")]);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json"),
        "{:?}",
        r.headers
    );
    let r = s.get_with(&p, &[("Accept", "text/json")]);
    assert!(r.header("content-type").unwrap().starts_with("text/json"));
    assert_eq!(r.header("vary"), Some("Accept"));
    let r = s.get(&format!("{p}?_format=application/fhir+xml"));
    assert_eq!(r.status, 200, "an unencoded + in _format");
    assert!(r.text().starts_with("<?xml"));
    let h = s.get(&format!("{p}/_history?_since=2000-01-01T00:00:00+01:00"));
    assert_eq!(h.status, 200, "an unencoded + in a time zone: {}", h.text());
}
