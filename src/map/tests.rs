//! The maps against the fixtures of `tests/fixtures/hl7` (hand-made v2.5.1
//! and v2.6 messages that hl7apy validates): every resource they make is
//! valid FHIR R4, and each message type's key elements are checked.

use super::*;
use crate::fhir::validate::validate_resource;
use crate::hl7::charset::Charset;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/hl7/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn mapped(name: &str) -> Result<Vec<Value>, Problem> {
    let raw = fixture(name);
    let header = Header::read(&raw, Charset::Utf8).unwrap();
    let message = Message::parse(&raw, Charset::Utf8).unwrap();
    let plan = map(&message, &header, Context { offset: 60 })?.expect("a mapped type");
    let resources: Vec<Value> = plan.resources.into_iter().map(|p| p.resource).collect();
    for r in &resources {
        let issues = validate_resource(r);
        assert!(issues.is_empty(), "{name}: {r:#}\n{issues:?}");
    }
    Ok(resources)
}

fn find<'a>(resources: &'a [Value], t: &str) -> Vec<&'a Value> {
    resources
        .iter()
        .filter(|r| r["resourceType"] == t)
        .collect()
}

#[test]
fn every_fixture_maps_to_valid_resources_and_the_bad_ones_are_located() {
    let dir = format!("{}/tests/fixtures/hl7", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() >= 24, "{names:?}");
    for name in names {
        let result = mapped(&name);
        if name.starts_with("bad_") {
            let p = result.expect_err(&name);
            assert_eq!(p.condition, crate::hl7::ack::Condition::DataType, "{name}");
        } else {
            assert!(!result.expect(&name).is_empty(), "{name}");
        }
    }
    let p = mapped("bad_adt_a04_date.hl7").unwrap_err();
    assert_eq!((p.segment_id.as_str(), p.sequence, p.field), ("PID", 1, 7));
    let p = mapped("bad_oru_r01_nm_text.hl7").unwrap_err();
    assert_eq!((p.segment_id.as_str(), p.sequence, p.field), ("OBX", 1, 5));
}

#[test]
fn a_donor_registration_is_a_patient_and_a_visit() {
    let r = mapped("adt_a04.hl7").unwrap();
    let patient = find(&r, "Patient")[0];
    assert_eq!(patient["identifier"][0]["value"], "D100234");
    assert_eq!(patient["name"][0]["family"], "Müller");
    assert_eq!(patient["birthDate"], "1988-05-14");
    assert_eq!(patient["gender"], "female");
    let visit = find(&r, "Encounter")[0];
    assert_eq!(visit["class"]["code"], "AMB");
    assert_eq!(visit["subject"], reference(patient));
    assert_eq!(visit["identifier"][0]["value"], "V26001");
    let update = mapped("adt_a08.hl7").unwrap();
    assert_eq!(
        find(&update, "Patient")[0]["id"],
        patient["id"],
        "one donor, one id"
    );
    assert_ne!(find(&update, "Patient")[0]["address"], patient["address"]);
    let person = mapped("adt_a28.hl7").unwrap();
    assert!(find(&person, "Encounter").is_empty(), "PV1-2 N is no visit");
}

#[test]
fn a_merge_links_both_patients() {
    let r = mapped("adt_a40.hl7").unwrap();
    let patients = find(&r, "Patient");
    assert_eq!(patients.len(), 2);
    let (survivor, old) = (patients[0], patients[1]);
    assert_eq!(survivor["link"][0]["type"], "replaces");
    assert_eq!(survivor["link"][0]["other"], reference(old));
    assert_eq!(old["link"][0]["type"], "replaced-by");
    assert_eq!(old["active"], false);
    assert_eq!(
        survivor["id"],
        find(&mapped("adt_a04.hl7").unwrap(), "Patient")[0]["id"]
    );
}

#[test]
fn every_scheduling_event_updates_one_appointment() {
    let mut ids = Vec::new();
    for (file, status) in [
        ("siu_s12.hl7", "booked"),
        ("siu_s13.hl7", "booked"),
        ("siu_s14.hl7", "booked"),
        ("siu_s15.hl7", "cancelled"),
        ("siu_s17.hl7", "entered-in-error"),
        ("siu_s26.hl7", "noshow"),
    ] {
        let r = mapped(file).unwrap();
        let a = find(&r, "Appointment")[0];
        assert_eq!(a["status"], status, "{file}");
        ids.push(a["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
    let booked = mapped("siu_s12.hl7").unwrap();
    let moved = mapped("siu_s13.hl7").unwrap();
    assert_eq!(
        find(&booked, "Appointment")[0]["start"],
        "2026-12-03T09:00:00+01:00"
    );
    assert_ne!(
        find(&moved, "Appointment")[0]["start"],
        find(&booked, "Appointment")[0]["start"]
    );
}

#[test]
fn results_are_typed_by_obx_2() {
    let r = mapped("oru_r01_lab.hl7").unwrap();
    let report = find(&r, "DiagnosticReport")[0];
    let observations = find(&r, "Observation");
    assert_eq!(
        report["result"].as_array().unwrap().len(),
        observations.len()
    );
    assert_eq!(
        observations[0]["valueQuantity"]["value"].to_string(),
        "14.2"
    );
    assert_eq!(observations[0]["valueQuantity"]["code"], "g/dL");
    assert!(
        observations
            .iter()
            .any(|o| o.get("valueCodeableConcept").is_some())
    );
    assert!(observations.iter().any(|o| o.get("valueString").is_some()));
    let sn = observations
        .iter()
        .find(|o| o["valueQuantity"]["comparator"] == ">");
    assert!(sn.is_some(), "SN >^200 is a Quantity with a comparator");
    assert_eq!(
        find(&mapped("oru_r01_20obx.hl7").unwrap(), "Observation").len(),
        20
    );
}

#[test]
fn device_data_names_the_device_its_metrics_and_a_fridge_has_no_patient() {
    let r = mapped("oru_r01_pcd_vitals.hl7").unwrap();
    let device = find(&r, "Device")[0];
    assert_eq!(device["identifier"][0]["value"], "0012A3FFFE4B5C6D");
    let observations = find(&r, "Observation");
    assert_eq!(observations.len(), 6);
    assert!(observations.iter().all(|o| {
        o["subject"]["reference"]
            .as_str()
            .unwrap()
            .starts_with("Patient/")
    }));
    assert_eq!(find(&r, "DeviceMetric").len(), 6);
    let spo2 = observations
        .iter()
        .find(|o| o["code"]["coding"][0]["code"] == "150456")
        .unwrap();
    assert_eq!(
        spo2["code"]["coding"][0]["system"],
        "urn:iso:std:iso:11073:10101"
    );
    assert_eq!(spo2["valueQuantity"]["code"], "262688");
    for file in ["oru_r01_pcd_fridge.hl7", "oru_r01_pcd_fridge_nopid.hl7"] {
        let r = mapped(file).unwrap();
        assert!(find(&r, "Patient").is_empty(), "{file}");
        let device = find(&r, "Device")[0];
        let temperature = find(&r, "Observation")[0];
        assert_eq!(temperature["subject"], reference(device), "{file}");
        assert_eq!(temperature["code"]["coding"][0]["code"], "150344");
    }
    let fridge = mapped("oru_r01_pcd_fridge.hl7").unwrap();
    let place = find(&fridge, "Location")[0];
    assert_eq!(find(&fridge, "Device")[0]["location"], reference(place));
}

#[test]
fn blood_bank_messages_follow_one_unit() {
    let order = mapped("omb_o27.hl7").unwrap();
    let request = find(&order, "ServiceRequest")[0];
    assert_eq!(request["code"]["coding"][0]["code"], "E0336V00");
    assert_eq!(request["quantityQuantity"]["value"].to_string(), "2");
    let reserved = mapped("bps_o29_reserved.hl7").unwrap();
    let dispensed = mapped("bps_o29_dispensed.hl7").unwrap();
    let transfused = mapped("bts_o31.hl7").unwrap();
    let (a, b, c) = (
        find(&reserved, "BiologicallyDerivedProduct")[0],
        find(&dispensed, "BiologicallyDerivedProduct")[0],
        find(&transfused, "BiologicallyDerivedProduct")[0],
    );
    assert_eq!(a["id"], b["id"]);
    assert_eq!(b["id"], c["id"]);
    assert_eq!(a["request"][0], reference(request));
    let status = |u: &Value| u["extension"][0]["extension"][0]["valueCoding"]["code"].clone();
    assert_eq!(
        (a["status"].clone(), status(a)),
        (json!("available"), json!("RS"))
    );
    assert_eq!(
        (b["status"].clone(), status(b)),
        (json!("unavailable"), json!("DS"))
    );
    assert_eq!(status(c), json!("TX"));
    let procedure = find(&transfused, "Procedure")[0];
    assert_eq!(procedure["usedReference"][0], reference(c));
    assert_eq!(procedure["status"], "completed");
    let reaction = mapped("bts_o31_reaction.hl7").unwrap();
    assert!(find(&reaction, "Procedure")[0]["complication"].is_array());
}

#[test]
fn no_mutation_of_a_fixture_makes_a_map_panic() {
    let alphabet = b"|^~\\&\r0123456789.+-\"ANFXRTMPIDS ";
    for name in [
        "adt_a40.hl7",
        "siu_s12.hl7",
        "oru_r01_lab.hl7",
        "oru_r01_pcd_vitals.hl7",
        "bts_o31_reaction.hl7",
        "bps_o29_reserved.hl7",
    ] {
        let text = String::from_utf8(fixture(name)).unwrap();
        for bytes in crate::testing::mutations(&text, alphabet, 3_000, 0x0d0e_5eed) {
            if let (Ok(h), Ok(m)) = (
                Header::read(&bytes, Charset::Utf8),
                Message::parse(&bytes, Charset::Utf8),
            ) {
                let _ = map(&m, &h, Context { offset: -300 });
            }
        }
    }
}

#[test]
fn combining_keeps_what_the_message_does_not_say() {
    let current = json!({
        "resourceType": "BiologicallyDerivedProduct", "id": "u",
        "status": "available",
        "storage": [{ "duration": { "end": "2026-12-20" } }],
        "extension": [{ "url": "a", "valueString": "1" }, { "url": "b", "valueString": "2" }],
    });
    let new = json!({
        "resourceType": "BiologicallyDerivedProduct", "id": "u",
        "status": "unavailable",
        "extension": [{ "url": "b", "valueString": "3" }, { "url": "c", "valueString": "4" }],
    });
    let out = combine(&current, new);
    assert_eq!(out["status"], "unavailable");
    assert_eq!(out["storage"][0]["duration"]["end"], "2026-12-20");
    let urls: Vec<_> = out["extension"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["valueString"].clone())
        .collect();
    assert_eq!(urls, vec![json!("1"), json!("3"), json!("4")]);
}
