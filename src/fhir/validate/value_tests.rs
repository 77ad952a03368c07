//! One failing case (at least) for each primitive value rule (JSON kinds,
//! dates and times, numbers, string codes, base64, the narrative's div), with
//! the exact FHIRPath expression and IssueType code asserted, plus direct
//! checks of the lexical checkers.

use serde_json::{Value, json};

use super::tests::{one, patient, valid};
use super::{primitives, temporal};

#[test]
fn dates_and_times() {
    let d = one(
        patient(json!({"birthDate": "2023-02-29"})),
        "value",
        "Patient.birthDate",
    );
    assert!(d.starts_with("'2023-02-29' is not a valid date"), "{d}");
    one(
        patient(json!({"birthDate": "2024-13-01"})),
        "value",
        "Patient.birthDate",
    );
    one(
        patient(json!({"birthDate": "2024-01-01T10:00:00Z"})),
        "value",
        "Patient.birthDate",
    );
    valid(patient(json!({"birthDate": "2024-02-29"})));
    valid(patient(json!({"birthDate": "2024-02"})));
    let d = one(
        patient(json!({"deceasedDateTime": "2020-01-01T10:00:00"})),
        "value",
        "Patient.deceasedDateTime",
    );
    assert!(d.contains("time zone"), "{d}");
    valid(patient(
        json!({"deceasedDateTime": "2020-01-01T10:00:00.123+14:00"}),
    ));
    one(
        patient(json!({"meta": {"lastUpdated": "2020-01-01"}})),
        "value",
        "Patient.meta.lastUpdated",
    );
    one(
        patient(json!({"meta": {"lastUpdated": "2020-01-01T24:00:00Z"}})),
        "value",
        "Patient.meta.lastUpdated",
    );
    valid(patient(
        json!({"meta": {"lastUpdated": "2020-01-01T23:59:60.5-03:30"}}),
    ));
    let obs = |v: &str| json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "valueTime": v});
    one(obs("25:00:00"), "value", "Observation.valueTime");
    one(obs("10:00:00Z"), "value", "Observation.valueTime");
    valid(obs("10:00:00.25"));
}

#[test]
fn calendar_details() {
    assert!(temporal::check_date("1900-02-29").is_err());
    assert!(temporal::check_date("2000-02-29").is_ok());
    assert!(temporal::check_date("2023-04-31").is_err());
    assert!(temporal::check_date("0000").is_err());
    assert!(temporal::check_date("202").is_err());
    assert!(temporal::check_date("2023-1-01").is_err());
    assert!(temporal::check_date_time("2023-01T10:00:00Z").is_err());
    assert!(temporal::check_date_time("2023-01-01T10:00Z").is_err());
    assert!(temporal::check_date_time("2023-01-01T10:00:00+15:00").is_err());
    assert!(temporal::check_date_time("2023-01-01T10:00:00+14:00").is_ok());
    assert!(temporal::check_date_time("2023-01-01T10:00:00.Z").is_err());
    assert!(temporal::check_instant("2023-01-01T10:00:00").is_err());
    assert!(temporal::check_time("23:59:59").is_ok());
    assert!(temporal::check_time("12:60:00").is_err());
}

#[test]
fn numbers() {
    let d = one(
        patient(json!({"multipleBirthInteger": 2147483648_i64})),
        "value",
        "Patient.multipleBirthInteger",
    );
    assert!(d.contains("out of range"), "{d}");
    valid(patient(json!({"multipleBirthInteger": -2147483648_i64})));
    one(
        patient(json!({"multipleBirthInteger": 1.5})),
        "value",
        "Patient.multipleBirthInteger",
    );
    let exp: Value =
        serde_json::from_str(r#"{"resourceType":"Patient","multipleBirthInteger":1e2}"#).unwrap();
    one(exp, "value", "Patient.multipleBirthInteger");
    let d = one(
        patient(json!({"telecom": [{"rank": 0}]})),
        "value",
        "Patient.telecom[0].rank",
    );
    assert!(d.contains("at least 1"), "{d}");
    one(
        patient(json!({"photo": [{"size": -1}]})),
        "value",
        "Patient.photo[0].size",
    );
    valid(patient(
        json!({"photo": [{"size": 0}], "telecom": [{"rank": 1}]}),
    ));
    assert!(primitives::check_number("decimal", "-0.5E-7").is_ok());
    assert!(primitives::check_number("decimal", "01").is_err());
    assert!(primitives::check_number("unsignedInt", "2147483648").is_err());
}

#[test]
fn string_codes() {
    let d = one(patient(json!({"id": "bad id!"})), "value", "Patient.id");
    assert!(d.starts_with("'bad id!' is not a valid id"), "{d}");
    one(
        patient(json!({"id": "a".repeat(65)})),
        "value",
        "Patient.id",
    );
    // Element ids are strings.
    valid(patient(
        json!({"id": "a-1.B", "name": [{"id": "any thing", "family": "X"}]}),
    ));
    one(
        patient(json!({"gender": "fe  male"})),
        "value",
        "Patient.gender",
    );
    one(
        patient(json!({"gender": " male"})),
        "value",
        "Patient.gender",
    );
    one(
        patient(json!({"name": [{"family": "a\u{1}b"}]})),
        "value",
        "Patient.name[0].family",
    );
    one(
        patient(json!({"implicitRules": "http://x y"})),
        "value",
        "Patient.implicitRules",
    );
    valid(patient(json!({"name": [{"text": "multi\nline\ttext "}]})));
    for (code, good, bad) in [
        ("oid", "urn:oid:1.2.840.10008", "urn:oid:1.02"),
        ("oid", "urn:oid:2.0", "urn:oid:3.1"),
        (
            "uuid",
            "urn:uuid:c757873d-ec9a-4326-a141-556f43239520",
            "urn:uuid:c757873d-ec9a-4326-a141-556f4323952",
        ),
        (
            "uuid",
            "urn:uuid:C757873D-EC9A-4326-A141-556F43239520",
            "c757873d-ec9a-4326-a141-556f43239520",
        ),
        ("code", "a b", "a\tb"),
        ("markdown", "# x\r\n", "x\u{b}"),
        ("base64Binary", "aGVs bG8=", "aGVsbG8"),
    ] {
        assert!(
            primitives::check_string(code, good).is_ok(),
            "{code} {good}"
        );
        assert!(primitives::check_string(code, bad).is_err(), "{code} {bad}");
    }
    let long = "x".repeat(primitives::MAX_STRING_BYTES + 1);
    assert!(primitives::check_string("string", &long).is_err());
}

#[test]
fn base64() {
    let d = one(
        patient(json!({"photo": [{"data": "abc"}]})),
        "value",
        "Patient.photo[0].data",
    );
    assert!(d.contains("base64"), "{d}");
    one(
        patient(json!({"photo": [{"data": "ab!c"}]})),
        "value",
        "Patient.photo[0].data",
    );
    valid(patient(json!({"photo": [{"data": "aGVs\nbG8h"}]})));
}

#[test]
fn narrative_div() {
    let text = |div: &str| patient(json!({"text": {"status": "generated", "div": div}}));
    valid(text(
        "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>x</p></div>",
    ));
    valid(text(
        "<div class='a>b' xmlns = 'http://www.w3.org/1999/xhtml'/>",
    ));
    one(text("<div><p>x</p></div>"), "value", "Patient.text.div");
    one(
        text("<p xmlns=\"http://www.w3.org/1999/xhtml\">x</p>"),
        "value",
        "Patient.text.div",
    );
    one(
        text("<divx xmlns=\"http://www.w3.org/1999/xhtml\">x</divx>"),
        "value",
        "Patient.text.div",
    );
    one(
        text("<div xmlns=\"http://www.w3.org/1999/xhtml\""),
        "value",
        "Patient.text.div",
    );
    one(
        patient(json!({"text": {"status": "generated", "div": ["<div/>"]}})),
        "structure",
        "Patient.text.div",
    );
}

#[test]
fn checked_primitives_are_the_model_primitives() {
    // Every R4 primitive, by the name the checkers match on (boolean needs its JSON kind only).
    let model = crate::fhir::model::model();
    for name in [
        "base64Binary",
        "boolean",
        "canonical",
        "code",
        "date",
        "dateTime",
        "decimal",
        "id",
        "instant",
        "integer",
        "markdown",
        "oid",
        "positiveInt",
        "string",
        "time",
        "unsignedInt",
        "uri",
        "url",
        "uuid",
        "xhtml",
    ] {
        let def = model.type_def(name).and_then(|t| t.primitive.as_ref());
        assert!(def.is_some(), "{name} is not a primitive of the model");
    }
}
