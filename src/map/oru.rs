//! ORU^R01 (results) → DiagnosticReport and Observation, after the
//! v2-to-FHIR maps ORU_R01, OBR[DiagnosticReport] and OBX[Observation]:
//! each OBR with the OBX rows that follow it is one report, named by its
//! filler order number (OBR-3, else the placer's, OBR-2); each OBX is one
//! Observation, named by its report, its code (OBX-3) and sub-id (OBX-4).
//!
//! OBX-2 decides the value, and the value must be of that type: an `NM`
//! whose OBX-5 is not a number is an error, not a string.

use super::person::patient;
use super::v2::{Seg, Time, decimal, id, quantity};
use super::{Context, Merge, Plan, group, notes, order_identifiers, put};
use crate::hl7::ack::{Condition, Problem};
use serde_json::{Map, Value, json};

pub fn map(segments: &[Seg], ctx: Context, plan: &mut Plan) -> Result<(), Problem> {
    let mut subject = None;
    let mut reports = 0;
    for (i, seg) in segments.iter().enumerate() {
        match seg.id() {
            "PID" => subject = patient(seg, ctx, plan)?,
            "OBR" => {
                let children = group(segments, i, &["OBR", "PID", "ORC"]);
                report(seg, children, subject.as_ref(), ctx, plan)?;
                reports += 1;
            }
            _ => {}
        }
    }
    if reports == 0 {
        return Err(Problem::at(
            Condition::SegmentSequence,
            "OBR",
            1,
            0,
            "the message has no OBR segment",
        ));
    }
    Ok(())
}

fn report(
    obr: &Seg,
    children: &[Seg],
    subject: Option<&Value>,
    ctx: Context,
    plan: &mut Plan,
) -> Result<(), Problem> {
    let filler = obr.ei(3, 0);
    let placer = obr.ei(2, 0);
    let order = filler
        .as_ref()
        .or(placer.as_ref())
        .ok_or_else(|| obr.missing(3, "filler order number"))?;
    let key = order.key();
    let code = obr
        .code(4, 0)
        .ok_or_else(|| obr.missing(4, "universal service identifier"))?;
    let effective = obr.time(7, 1)?;
    let mut results = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (j, obx) in children.iter().enumerate() {
        if obx.id() != "OBX" {
            continue;
        }
        let name = format!("{}|{}", obx.get(3, 1), obx.get(4, 0));
        let nth = seen.iter().filter(|s| **s == name).count();
        seen.push(name.clone());
        let mut o = json!({
            "resourceType": "Observation",
            "id": id(&["Observation", &key, &name, &nth.to_string()]),
        });
        observation(obx, &mut o, ctx)?;
        if o.get("effectiveDateTime").is_none()
            && let Some(t) = effective
        {
            o["effectiveDateTime"] = t.date_time(ctx.offset).into();
        }
        if let Some(s) = subject {
            o["subject"] = s.clone();
        }
        put(&mut o, "note", notes(&children[j + 1..]));
        results.push(plan.add(o, Merge::Replace));
    }
    let mut r = json!({
        "resourceType": "DiagnosticReport",
        "id": id(&["DiagnosticReport", &key]),
    });
    r["identifier"] = order_identifiers(&placer, &filler);
    r["status"] = match obr.get(25, 0).as_str() {
        "F" => "final",
        "C" => "corrected",
        "P" | "S" => "preliminary",
        "A" => "partial",
        "X" => "cancelled",
        "I" | "O" | "R" | "" => "registered",
        other => {
            return Err(obr.problem(
                Condition::TableValueNotFound,
                25,
                format!("OBR-25 '{other}' is not a result status of HL7 table 0123"),
            ));
        }
    }
    .into();
    r["code"] = code;
    if let Some(s) = subject {
        r["subject"] = s.clone();
    }
    if let Some(t) = effective {
        r["effectiveDateTime"] = t.date_time(ctx.offset).into();
    }
    if let Some(issued) = obr.time(22, 1)?.and_then(|t| t.instant(ctx.offset)) {
        r["issued"] = issued.into();
    }
    put(&mut r, "result", results);
    plan.add(r, Merge::Replace);
    Ok(())
}

/// Fills an Observation from an OBX: code, status, value (as OBX-2 says),
/// units, reference range, interpretation, time and method.
pub fn observation(obx: &Seg, o: &mut Value, ctx: Context) -> Result<(), Problem> {
    let code = obx
        .code(3, 0)
        .ok_or_else(|| obx.missing(3, "observation identifier"))?;
    o["status"] = match obx.get(11, 0).as_str() {
        "F" | "U" => "final",
        "C" => "corrected",
        "A" => "amended",
        "P" | "R" | "S" => "preliminary",
        "D" | "W" => "entered-in-error",
        "X" | "N" => "cancelled",
        "I" | "O" => "registered",
        "" => return Err(obx.missing(11, "observation result status")),
        other => {
            return Err(obx.problem(
                Condition::TableValueNotFound,
                11,
                format!("OBX-11 '{other}' is not a result status of HL7 table 0085"),
            ));
        }
    }
    .into();
    o["code"] = code;
    value(obx, o, ctx)?;
    if let Some(t) = obx.time(14, 1)? {
        o["effectiveDateTime"] = t.date_time(ctx.offset).into();
    }
    let range = obx.get(7, 0);
    if !range.is_empty() {
        o["referenceRange"] = json!([{ "text": range }]);
    }
    let flags: Vec<Value> = obx
        .each(8)
        .iter()
        .filter_map(|r| {
            let flag = r.at(1, 0);
            (!flag.is_empty()).then(|| {
                json!({ "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                    "code": flag,
                }]})
            })
        })
        .collect();
    put(o, "interpretation", flags);
    if let Some(method) = obx.code(17, 0) {
        o["method"] = method;
    }
    Ok(())
}

/// The value of an OBX as OBX-2 says, checked against it.
fn value(obx: &Seg, o: &mut Value, ctx: Context) -> Result<(), Problem> {
    let kind = obx.get(2, 0);
    let raw = obx.get(5, 0);
    if raw.is_empty() {
        return Ok(());
    }
    let wrong = |what: &str| {
        obx.bad(
            5,
            format!("OBX-2 says {kind} but OBX-5 '{raw}' is not {what}"),
        )
    };
    let units = obx.code(6, 0);
    match kind.as_str() {
        "" => {
            return Err(obx.missing(2, "value type (OBX-5 has a value)"));
        }
        "NM" => {
            let n = decimal(&raw).ok_or_else(|| wrong("a number"))?;
            o["valueQuantity"] = quantity(n, units.as_ref());
        }
        "ST" | "TX" | "FT" => o["valueString"] = raw.clone().into(),
        "CWE" | "CE" | "CNE" | "CF" | "IS" | "ID" => {
            let concept = obx.code(5, 0).ok_or_else(|| wrong("a code"))?;
            o["valueCodeableConcept"] = concept;
        }
        "DT" | "DTM" | "TS" => {
            let t = Time::parse(&obx.get(5, 1))
                .map_err(|why| wrong(&format!("a date/time ({why})")))?;
            o["valueDateTime"] = t.date_time(ctx.offset).into();
        }
        "TM" => {
            let t = time_of_day(&raw).ok_or_else(|| wrong("a time of day"))?;
            o["valueTime"] = t.into();
        }
        "SN" => structured_numeric(obx, o, units.as_ref())
            .map_err(|()| wrong("a structured numeric"))?,
        "NR" => {
            let (low, high) = (obx.get(5, 1), obx.get(5, 2));
            let mut range = Map::new();
            for (text, key) in [(low, "low"), (high, "high")] {
                if !text.is_empty() {
                    let n = decimal(&text).ok_or_else(|| wrong("a numeric range"))?;
                    range.insert(key.into(), quantity(n, units.as_ref()));
                }
            }
            o["valueRange"] = Value::Object(range);
        }
        _ => {
            o["dataAbsentReason"] = json!({ "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                "code": "unsupported",
            }], "text": format!("OBX-2 {kind} is stored in the message, not mapped") });
        }
    }
    Ok(())
}

/// SN: comparator^number^separator^number → Quantity (with a comparator),
/// Range (`-`) or Ratio (`:` or `/`).
fn structured_numeric(obx: &Seg, o: &mut Value, units: Option<&Value>) -> Result<(), ()> {
    let comparator = obx.get(5, 1);
    let first = decimal(&obx.get(5, 2)).ok_or(())?;
    let separator = obx.get(5, 3);
    let second = obx.get(5, 4);
    match separator.as_str() {
        "" => {
            let mut q = quantity(first, units);
            match comparator.as_str() {
                "" | "=" => {}
                "<" | ">" | "<=" | ">=" => q["comparator"] = comparator.into(),
                _ => return Err(()),
            }
            o["valueQuantity"] = q;
        }
        "-" if comparator.is_empty() => {
            let high = decimal(&second).ok_or(())?;
            o["valueRange"] =
                json!({ "low": quantity(first, units), "high": quantity(high, units) });
        }
        ":" | "/" if comparator.is_empty() => {
            let denominator = decimal(&second).ok_or(())?;
            o["valueRatio"] = json!({
                "numerator": quantity(first, units),
                "denominator": { "value": denominator },
            });
        }
        _ => return Err(()),
    }
    Ok(())
}

/// A v2 TM (`HH[MM[SS]]`) as a FHIR time.
fn time_of_day(text: &str) -> Option<String> {
    let digits = text.split(['+', '-', '.']).next()?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![2, 4, 6].contains(&digits.len()) {
        return None;
    }
    let part = |i: usize| {
        digits
            .get(i..i + 2)
            .map_or(Some(0), |p| p.parse::<u32>().ok())
    };
    let (h, m, s) = (part(0)?, part(2)?, part(4)?);
    (h < 24 && m < 60 && s < 60).then(|| format!("{h:02}:{m:02}:{s:02}"))
}
