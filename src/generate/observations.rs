//! A patient's Observations: vital signs and laboratory results around values of
//! the patient's own (lower haemoglobin with anaemia, higher pressure with
//! hypertension), and the ABO/Rh blood group once.

use super::PatientFacts;
use super::parts::{
    WINDOW_END, WINDOW_START, concept, date_time, hl7_concept, quantity, reference,
};
use super::rng::Rng;
use super::vocab::{
    ABO_RH, BLOOD_PRESSURE, BODY_TEMPERATURE, BODY_WEIGHT, Concept, DIASTOLIC, HAEMOGLOBIN,
    HEART_RATE, LOINC, PLATELETS, SNOMED, SYSTOLIC,
};
use serde_json::{Value, json};

/// An encounter, as observations and conditions refer to it.
pub struct Visit {
    pub id: String,
    /// Seconds since the Unix epoch.
    pub start: i64,
    pub end: i64,
}

#[derive(Clone, Copy)]
enum Kind {
    HeartRate,
    Temperature,
    Weight,
    BloodPressure,
    Haemoglobin,
    Platelets,
    BloodGroup,
}

/// How often each repeated kind is measured.
const KINDS: &[(u32, Kind)] = &[
    (20, Kind::HeartRate),
    (15, Kind::Temperature),
    (15, Kind::Weight),
    (20, Kind::BloodPressure),
    (15, Kind::Haemoglobin),
    (15, Kind::Platelets),
];

/// Conditions that lower haemoglobin, lower platelets, raise blood pressure.
const ANAEMIAS: &[&str] = &["271737000", "87522002", "417357006"];
const THROMBOCYTOPENIA: &str = "302215000";
const HYPERTENSION: &str = "38341003";

/// The patient's usual values (tenths for temperature, weight and haemoglobin).
struct Baseline {
    heart_rate: i64,
    weight: i64,
    systolic: i64,
    diastolic: i64,
    haemoglobin: i64,
    platelets: i64,
    /// The haemoglobin reference range, in tenths of g/dL.
    haemoglobin_range: (i64, i64),
}

fn baseline(rng: &mut Rng, facts: &PatientFacts) -> Baseline {
    let age: i64 = 2024 - facts.birth_date[..4].parse::<i64>().unwrap_or(1970);
    let has = |code: &str| facts.conditions.contains(&code);
    let anaemic = ANAEMIAS.iter().any(|c| has(c));
    let hypertensive = has(HYPERTENSION);
    let male = facts.gender == "male";
    let adult_weight = if male {
        rng.normal(820, 130)
    } else {
        rng.normal(680, 120)
    };
    let weight = if age < 18 {
        ((2 * age + 8) * 10 + rng.normal(0, 20)).min(adult_weight)
    } else {
        adult_weight
    };
    let haemoglobin_range = if male { (135, 175) } else { (120, 160) };
    let haemoglobin = (haemoglobin_range.0 + haemoglobin_range.1) / 2 + rng.normal(0, 8);
    Baseline {
        heart_rate: if age < 12 {
            rng.normal(95, 10)
        } else {
            rng.normal(72, 8)
        },
        weight: weight.max(120),
        systolic: 105 + age / 3 + if hypertensive { 22 } else { 0 } + rng.normal(0, 8),
        diastolic: 68 + age / 8 + if hypertensive { 10 } else { 0 } + rng.normal(0, 5),
        haemoglobin: haemoglobin - if anaemic { 30 } else { 0 },
        platelets: if has(THROMBOCYTOPENIA) {
            rng.normal(85, 25).max(15)
        } else {
            rng.normal(250, 45)
        },
        haemoglobin_range,
    }
}

/// Appends patient `n`'s Observations to `out`: twelve to eighteen, the first
/// the blood group, about half of them made during one of `visits` and the
/// others (home and device readings) anywhere in the window.
pub fn all(rng: &mut Rng, n: u64, facts: &PatientFacts, visits: &[Visit], out: &mut Vec<Value>) {
    let base = baseline(rng, facts);
    for k in 1..=rng.range(12, 18) {
        let kind = if k == 1 {
            Kind::BloodGroup
        } else {
            *rng.weighted(KINDS)
        };
        let (visit, at) = if rng.percent(50) {
            let v = rng.pick(visits);
            (Some(v), rng.range(v.start, v.end) / 60 * 60)
        } else {
            (None, rng.range(WINDOW_START, WINDOW_END - 1) / 60 * 60)
        };
        let mut o = json!({
            "resourceType": "Observation",
            "id": format!("gen-obs-{n:06}-{k:02}"),
            "status": "final",
        });
        let laboratory = matches!(kind, Kind::Haemoglobin | Kind::Platelets | Kind::BloodGroup);
        o["category"] = json!([if laboratory {
            hl7_concept("observation-category", ("laboratory", "Laboratory"))
        } else {
            hl7_concept("observation-category", ("vital-signs", "Vital Signs"))
        }]);
        o["code"] = concept(LOINC, code(kind));
        o["subject"] = reference("Patient", &facts.id);
        if let Some(v) = visit {
            o["encounter"] = reference("Encounter", &v.id);
        }
        o["effectiveDateTime"] = json!(date_time(at));
        o["performer"] = json!([if laboratory {
            reference("Organization", &facts.organization)
        } else {
            reference("Practitioner", &facts.general_practitioner)
        }]);
        value(rng, kind, &base, facts, &mut o);
        out.push(o);
    }
}

fn code(kind: Kind) -> Concept {
    match kind {
        Kind::HeartRate => HEART_RATE,
        Kind::Temperature => BODY_TEMPERATURE,
        Kind::Weight => BODY_WEIGHT,
        Kind::BloodPressure => BLOOD_PRESSURE,
        Kind::Haemoglobin => HAEMOGLOBIN,
        Kind::Platelets => PLATELETS,
        Kind::BloodGroup => ABO_RH,
    }
}

/// Sets the value (and for laboratory results the interpretation and reference
/// range) of an observation of `kind`.
fn value(rng: &mut Rng, kind: Kind, base: &Baseline, facts: &PatientFacts, o: &mut Value) {
    match kind {
        Kind::HeartRate => {
            let v = (base.heart_rate + rng.normal(0, 6)).clamp(40, 180);
            o["valueQuantity"] = quantity(v, false, "beats/minute", "/min");
        }
        Kind::Temperature => {
            let v = if rng.percent(5) {
                rng.range(381, 395)
            } else {
                rng.normal(368, 3)
            };
            o["valueQuantity"] = quantity(v, true, "°C", "Cel");
        }
        Kind::Weight => {
            let v = base.weight + rng.normal(0, 8);
            o["valueQuantity"] = quantity(v, true, "kg", "kg");
        }
        Kind::BloodPressure => {
            let systolic = base.systolic + rng.normal(0, 7);
            let diastolic = (base.diastolic + rng.normal(0, 5)).min(systolic - 20);
            o["component"] = json!([
                {"code": concept(LOINC, SYSTOLIC), "valueQuantity": quantity(systolic, false, "mmHg", "mm[Hg]")},
                {"code": concept(LOINC, DIASTOLIC), "valueQuantity": quantity(diastolic, false, "mmHg", "mm[Hg]")},
            ]);
        }
        Kind::Haemoglobin => {
            let v = base.haemoglobin + rng.normal(0, 4);
            let range = base.haemoglobin_range;
            lab(o, quantity(v, true, "g/dL", "g/dL"), v, range, true, "g/dL");
        }
        Kind::Platelets => {
            let v = (base.platelets + rng.normal(0, 20)).max(5);
            lab(
                o,
                quantity(v, false, "10*3/uL", "10*3/uL"),
                v,
                (150, 400),
                false,
                "10*3/uL",
            );
        }
        Kind::BloodGroup => o["valueCodeableConcept"] = concept(SNOMED, facts.blood_group),
    }
}

/// A laboratory value with its interpretation (low, normal, high) against the
/// reference range.
fn lab(o: &mut Value, q: Value, v: i64, (low, high): (i64, i64), tenths: bool, unit: &str) {
    let flag = if v < low {
        ("L", "Low")
    } else if v > high {
        ("H", "High")
    } else {
        ("N", "Normal")
    };
    o["valueQuantity"] = q;
    o["interpretation"] = json!([hl7_concept("v3-ObservationInterpretation", flag)]);
    o["referenceRange"] = json!([{
        "low": quantity(low, tenths, unit, unit),
        "high": quantity(high, tenths, unit, unit),
    }]);
}
