//! HL7 v2 messages mapped to FHIR, over the wire: every fixture of
//! `tests/fixtures/hl7` (hand-made v2.5.1 and v2.6 messages, validated by
//! hl7apy here too) is sent to the real server over MLLP, and what it maps to
//! is read back through the FHIR API: the donor and its visits, one
//! appointment through all its events, results, device data with and without
//! a patient, and one blood unit from order to transfusion, with its
//! history. A replay writes nothing but its own Binary and Provenance; bad
//! content is answered AE with an ERR segment and writes no resource.

use crate::mllp::{Client, field, messages, mllp_server, python_with, wait_for};
use serde_json::Value;
use std::process::Command;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/hl7/{name}", env!("CARGO_MANIFEST_DIR"));
    String::from_utf8(std::fs::read(&path).unwrap()).unwrap()
}

/// The fixture with another message control id (MSH-10).
fn renamed(message: &str, control: &str) -> String {
    let (msh, rest) = message.split_once('\r').unwrap();
    let mut fields: Vec<&str> = msh.split('|').collect();
    fields[9] = control;
    format!("{}\r{rest}", fields.join("|"))
}

/// How many versions of every resource the server holds.
fn versions(s: &crate::harness::Server) -> u64 {
    s.get("/_history?_count=1").json()["total"]
        .as_u64()
        .unwrap()
}

fn search(s: &crate::harness::Server, query: &str) -> Vec<Value> {
    let r = s.get(&format!("/{query}"));
    assert_eq!(r.status, 200, "{query}: {}", r.text());
    r.json()["entry"]
        .as_array()
        .map(|e| e.iter().map(|x| x["resource"].clone()).collect())
        .unwrap_or_default()
}

const ORDER: [&str; 22] = [
    "adt_a04.hl7",
    "adt_a08.hl7",
    "adt_a01.hl7",
    "adt_a28.hl7",
    "adt_a31.hl7",
    "siu_s12.hl7",
    "siu_s13.hl7",
    "siu_s14.hl7",
    "siu_s15.hl7",
    "siu_s17.hl7",
    "siu_s26.hl7",
    "oru_r01_lab.hl7",
    "oru_r01_20obx.hl7",
    "oru_r01_pcd_fridge.hl7",
    "oru_r01_pcd_fridge_nopid.hl7",
    "omb_o27.hl7",
    "bps_o29_reserved.hl7",
    "bps_o29_dispensed.hl7",
    "bts_o31.hl7",
    "bts_o31_reaction.hl7",
    "adt_a40.hl7",
    "oru_r01_pcd_vitals.hl7",
];

#[test]
fn every_message_type_maps_to_fhir_and_a_replay_changes_nothing() {
    let s = mllp_server(&["--mllp-utc-offset", "+01:00"]);
    let mut c = Client::connect(s.mllp.as_ref().unwrap());
    for name in ORDER {
        let message = fixture(name);
        let before = versions(&s);
        let reply = c.exchange(&message);
        let control = message.split('|').nth(9).unwrap().to_string();
        let msh: Vec<&str> = message.split('\r').next().unwrap().split('|').collect();
        let enhanced = msh.get(14).is_some_and(|f| !f.is_empty())
            || msh.get(15).is_some_and(|f| !f.is_empty());
        let expected = if enhanced { "CA" } else { "AA" };
        assert_eq!(field(&reply, "MSA", 1), expected, "{name}: {reply}");
        if enhanced {
            wait_for("the enhanced-mode message processed", || {
                messages(&s, "&status=processed")
                    .iter()
                    .any(|m| m["controlId"] == control.as_str())
            });
        }
        let written = versions(&s) - before;
        assert!(written >= 3, "{name} wrote {written} versions");
        // The same content again under a new control id: only its own
        // Binary and Provenance are new.
        let before = versions(&s);
        let again = c.exchange(&renamed(&message, &format!("{control}R")));
        assert_eq!(field(&again, "MSA", 1), expected, "{name}: {again}");
        if enhanced {
            wait_for("the replay processed", || versions(&s) == before + 2);
        }
        assert_eq!(versions(&s) - before, 2, "a replay of {name}");
    }
    let stored = messages(&s, "&status=processed");
    assert_eq!(stored.len(), ORDER.len() * 2);
    for m in &stored {
        let resources = m["resources"].as_array().unwrap();
        assert!(resources.len() >= 3, "{m}");
        assert!(
            resources
                .iter()
                .any(|r| r.as_str().unwrap().starts_with("Binary/"))
        );
    }

    // The donor: registered, updated, merged.
    let donors = search(&s, "Patient?identifier=D100234");
    assert_eq!(donors.len(), 1);
    let donor = &donors[0];
    assert_eq!(donor["name"][0]["family"], "Müller");
    assert_eq!(donor["link"][0]["type"], "replaces");
    let old = search(&s, "Patient?identifier=D100999");
    assert_eq!(old[0]["active"], false);
    let visits = search(
        &s,
        &format!(
            "Encounter?subject=Patient/{}",
            donor["id"].as_str().unwrap()
        ),
    );
    assert_eq!(visits.len(), 1);
    assert_eq!(visits[0]["period"]["start"], "2026-12-03T08:45:00+01:00");

    // One appointment, one version per event.
    let appointments = search(&s, "Appointment?identifier=FA7001");
    assert_eq!(appointments.len(), 1);
    assert_eq!(appointments[0]["status"], "noshow");
    let id = appointments[0]["id"].as_str().unwrap();
    let history = s.get(&format!("/Appointment/{id}/_history")).json();
    assert_eq!(history["total"], 6, "{history}");

    // Results and device data.
    let reports = search(&s, "DiagnosticReport?code=58410-2");
    assert_eq!(reports[0]["result"].as_array().unwrap().len(), 20);
    let fridge = search(&s, "Device?identifier=0012A3FFFE0F0002");
    assert_eq!(fridge.len(), 1);
    let fridge_id = fridge[0]["id"].as_str().unwrap();
    assert!(fridge[0]["location"]["reference"].is_string());
    let temperatures = search(&s, &format!("Observation?subject=Device/{fridge_id}"));
    assert_eq!(temperatures.len(), 2);
    let vitals = search(&s, "Observation?code=urn:iso:std:iso:11073:10101|150456");
    assert_eq!(vitals.len(), 1);
    assert_eq!(vitals[0]["valueQuantity"]["value"], 98);
    assert!(!search(&s, "DeviceMetric?_count=100").is_empty());

    // One unit: ordered, reserved, dispensed, transfused.
    let units = search(&s, "BiologicallyDerivedProduct?identifier=W123426100001");
    assert_eq!(units.len(), 1);
    let unit = &units[0];
    assert_eq!(unit["status"], "unavailable");
    assert_eq!(
        unit["storage"][0]["duration"]["end"], "2026-12-22T23:59:00+01:00",
        "the BPS expiry stays after the BTS"
    );
    let history = s
        .get(&format!(
            "/BiologicallyDerivedProduct/{}/_history",
            unit["id"].as_str().unwrap()
        ))
        .json();
    let codes: Vec<String> = history["entry"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| {
            e["resource"]["extension"][0]["extension"][0]["valueCoding"]["code"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(codes, ["RS", "DS", "TX"]);
    let transfusions = search(&s, "Procedure?code=116859006");
    assert_eq!(transfusions.len(), 2);
    assert!(transfusions.iter().any(|p| p["complication"].is_array()));
    let order = search(&s, "ServiceRequest?identifier=BB5001");
    assert_eq!(
        unit["request"][0]["reference"],
        format!("ServiceRequest/{}", order[0]["id"].as_str().unwrap())
    );

    // Provenance: the versions written and the raw message as a Binary.
    let provenances = search(
        &s,
        &format!(
            "Provenance?target=BiologicallyDerivedProduct/{}&_count=100",
            unit["id"].as_str().unwrap()
        ),
    );
    assert!(provenances.len() >= 3, "{provenances:?}");
    let source = provenances[0]["entity"][0]["what"]["reference"]
        .as_str()
        .unwrap()
        .to_string();
    let binary = s.get_with(
        &format!("/{source}"),
        &[("Accept", "x-application/hl7-v2+er7")],
    );
    assert_eq!(binary.status, 200);
    assert!(binary.text().starts_with("MSH|^~\\&|"), "{}", binary.text());

    // Reprocessing the latest message changes nothing either.
    let before = versions(&s);
    let first = stored.last().unwrap();
    let r = s.post_json(
        &format!("/admin/hl7/messages/{}/reprocess", first["id"]),
        &Value::Null,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(versions(&s), before);
}

#[test]
fn bad_content_is_answered_ae_with_its_location_and_writes_nothing() {
    let s = mllp_server(&[]);
    let mut c = Client::connect(s.mllp.as_ref().unwrap());
    let before = versions(&s);
    for (name, location) in [
        ("bad_adt_a04_date.hl7", "PID^1^7"),
        ("bad_oru_r01_nm_text.hl7", "OBX^1^5"),
    ] {
        let reply = c.exchange(&fixture(name));
        assert_eq!(field(&reply, "MSA", 1), "AE", "{name}: {reply}");
        assert!(
            reply.contains(&format!("ERR||{location}|102^")),
            "{name}: {reply}"
        );
    }
    assert_eq!(versions(&s), before, "nothing was written");
    let errors = messages(&s, "&status=error");
    assert_eq!(errors.len(), 2);
    assert!(errors[0]["error"].as_str().unwrap().contains("20241301"));
    // In enhanced mode the accept acknowledgement comes first, and the
    // error is recorded when the message is processed.
    let enhanced = renamed(&fixture("bad_oru_r01_nm_text.hl7"), "BADCA").replacen(
        "|2.5.1|",
        "|2.5.1||||AL|NE|",
        1,
    );
    let reply = c.exchange(&enhanced);
    assert_eq!(field(&reply, "MSA", 1), "CA", "{reply}");
    wait_for("the error recorded", || {
        messages(&s, "&status=error").len() == 3
    });
    assert_eq!(versions(&s), before);
}

#[test]
fn hl7apy_validates_every_fixture() {
    if !python_with("hl7apy") {
        return;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/validate_hl7_fixtures.py"
    );
    let out = Command::new("python3").arg(script).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}

#[test]
fn an_unknown_escape_sequence_is_kept_as_written() {
    let s = mllp_server(&[]);
    let mut c = Client::connect(s.mllp.as_ref().unwrap());
    let message = fixture("adt_a04.hl7").replacen("Müller^", "M\\Q1\\üller^", 1);
    let reply = c.exchange(&renamed(&message, "ESC1"));
    assert_eq!(field(&reply, "MSA", 1), "AA", "{reply}");
    let donors = search(&s, "Patient?identifier=D100234");
    assert_eq!(donors[0]["name"][0]["family"], "M\\Q1\\üller");
}
