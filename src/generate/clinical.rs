//! A patient's encounters and conditions; the observations are in
//! `observations.rs`.

use super::observations::{self, Visit};
use super::parts::{WINDOW_END, WINDOW_START, concept, date_time, hl7_concept, reference};
use super::rng::Rng;
use super::vocab::{CONDITIONS, Concept, ENCOUNTER_CLASSES, SNOMED};
use super::{PatientFacts, patient_id};
use serde_json::{Value, json};

/// Appends patient `n`'s Encounters, Conditions and Observations to `out`, and
/// the condition codes to `facts`.
pub fn records(rng: &mut Rng, n: u64, facts: &mut PatientFacts, out: &mut Vec<Value>) {
    let visits: Vec<Visit> = (1..=*rng.weighted(&[(35, 1), (35, 2), (30, 3)]))
        .map(|k| encounter(rng, n, k, facts, out))
        .collect();
    let count = *rng.weighted(&[(10, 0), (25, 1), (30, 2), (20, 3), (15, 4)]);
    for k in 1..=count {
        let code = loop {
            let c = *rng.weighted(CONDITIONS);
            if !facts.conditions.contains(&c.0) {
                break c;
            }
        };
        facts.conditions.push(code.0);
        let visit = rng.pick(&visits);
        out.push(condition(rng, n, k, code, visit));
    }
    observations::all(rng, n, facts, &visits, out);
}

/// Encounter `k` of patient `n`, finished within the window.
fn encounter(rng: &mut Rng, n: u64, k: u64, facts: &PatientFacts, out: &mut Vec<Value>) -> Visit {
    let (class, kind, shortest, longest) = *rng.weighted(ENCOUNTER_CLASSES);
    let minutes = rng.range(shortest, longest);
    let start = rng.range(WINDOW_START, WINDOW_END - longest * 60) / 60 * 60;
    let end = start + minutes * 60;
    let id = format!("gen-enc-{n:06}-{k}");
    out.push(json!({
        "resourceType": "Encounter",
        "id": id,
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": class.0,
            "display": class.1,
        },
        "type": [concept(SNOMED, kind)],
        "subject": reference("Patient", &patient_id(n)),
        "participant": [{"individual": reference("Practitioner", &facts.general_practitioner)}],
        "period": {"start": date_time(start), "end": date_time(end)},
        "serviceProvider": reference("Organization", &facts.organization),
    }));
    Visit { id, start, end }
}

/// Condition `k` of patient `n`, diagnosed at `visit`; some have resolved since.
fn condition(rng: &mut Rng, n: u64, k: u64, code: Concept, visit: &Visit) -> Value {
    let status = *rng.weighted(&[(75, "active"), (15, "resolved"), (10, "remission")]);
    let display = match status {
        "active" => "Active",
        "resolved" => "Resolved",
        _ => "Remission",
    };
    let mut condition = json!({
        "resourceType": "Condition",
        "id": format!("gen-con-{n:06}-{k}"),
        "clinicalStatus": hl7_concept("condition-clinical", (status, display)),
        "verificationStatus": hl7_concept("condition-ver-status", ("confirmed", "Confirmed")),
        "category": [hl7_concept("condition-category", ("encounter-diagnosis", "Encounter Diagnosis"))],
        "code": concept(SNOMED, code),
        "subject": reference("Patient", &patient_id(n)),
        "encounter": reference("Encounter", &visit.id),
        "onsetDateTime": date_time(visit.start),
        "recordedDate": date_time(visit.end),
    });
    if status == "resolved" {
        let abated = (visit.end + rng.range(14, 365) * 86_400).min(WINDOW_END - 1);
        condition["abatementDateTime"] = json!(date_time(abated));
    }
    condition
}
