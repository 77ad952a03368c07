//! SIU: scheduling messages → Appointment, after the v2-to-FHIR map
//! SIU_S12 (SCH, AIS, AIL, AIP, PID). The event sets the status: S12
//! (booked), S13 (rescheduled) and S14 (modified) are `booked`, S15
//! `cancelled`, S17 (deleted) `entered-in-error`, S26 `noshow`. The
//! appointment is named by its filler id (SCH-2), else its placer id (SCH-1),
//! so every event of one appointment updates one resource.

use super::person::{location, patient};
use super::v2::{Seg, id};
use super::{Context, Merge, Plan, notes, order_identifiers, put};
use crate::hl7::ack::Problem;
use serde_json::{Value, json};

pub fn map(segments: &[Seg], event: &str, ctx: Context, plan: &mut Plan) -> Result<(), Problem> {
    let (at, sch) = segments
        .iter()
        .enumerate()
        .find(|(_, s)| s.id() == "SCH")
        .ok_or_else(|| {
            Problem::at(
                crate::hl7::ack::Condition::SegmentSequence,
                "SCH",
                1,
                0,
                "the message has no SCH segment",
            )
        })?;
    let placer = sch.ei(1, 0);
    let filler = sch.ei(2, 0);
    let key = filler
        .as_ref()
        .or(placer.as_ref())
        .ok_or_else(|| sch.missing(2, "filler appointment id"))?
        .key();
    let status = match event {
        "S15" => "cancelled",
        "S17" => "entered-in-error",
        "S26" => "noshow",
        _ => "booked",
    };
    let mut a = json!({
        "resourceType": "Appointment",
        "id": id(&["Appointment", &key]),
        "status": status,
    });
    a["identifier"] = order_identifiers(&placer, &filler);
    if status == "cancelled"
        && let Some(reason) = sch.code(6, 0)
    {
        a["cancelationReason"] = reason;
    }
    put(&mut a, "reasonCode", sch.codes(7));
    if let Some(kind) = sch.code(8, 0) {
        a["appointmentType"] = kind;
    }
    let ais = segments.iter().find(|s| s.id() == "AIS");
    if let Some(service) = ais.and_then(|s| s.code(3, 0)) {
        a["serviceType"] = json!([service]);
    }
    let minutes = duration(sch, 9, 10)?.or(match ais {
        Some(s) => duration(s, 7, 8)?,
        None => None,
    });
    let tq1 = segments.iter().find(|s| s.id() == "TQ1");
    let start = match sch.time(11, 4)? {
        Some(t) => Some(t),
        None => match (tq1, ais) {
            (Some(q), _) if q.time(7, 1)?.is_some() => q.time(7, 1)?,
            (_, Some(s)) => s.time(4, 1)?,
            _ => None,
        },
    };
    let end = match sch.time(11, 5)? {
        Some(t) => Some(t),
        None => match tq1 {
            Some(q) => q.time(8, 1)?,
            None => None,
        },
    };
    if let Some(s) = start.and_then(|s| s.instant(ctx.offset)) {
        a["start"] = s.into();
    }
    if let Some(e) = end.and_then(|e| e.instant(ctx.offset)) {
        a["end"] = e.into();
    }
    if let Some(m) = minutes {
        a["minutesDuration"] = m.into();
    }
    let timed = a.get("start").is_some() && a.get("end").is_some();
    if !timed && !matches!(status, "cancelled" | "entered-in-error") {
        if a.get("start").is_none() {
            return Err(sch.missing(11, "appointment start"));
        }
        // FHIR wants both or neither: the end follows from the duration.
        let Some(m) = minutes else {
            return Err(sch.missing(9, "appointment duration, or an end in SCH-11"));
        };
        let start_text = a["start"].as_str().unwrap_or_default().to_string();
        match crate::fhir::instant::parse_range(&start_text) {
            Some((from, _)) => {
                a["end"] = end_instant(&start_text, from + m as i64 * 60_000_000).into()
            }
            None => return Err(sch.bad(11, "the appointment start cannot be read")),
        }
    }
    let mut participants = Vec::new();
    if let Some(pid) = segments.iter().find(|s| s.id() == "PID")
        && let Some(who) = patient(pid, ctx, plan)?
    {
        participants.push(json!({ "actor": who, "status": "accepted" }));
    }
    for s in &segments[at..] {
        match s.id() {
            "AIL" => {
                if let Some(place) = location(s, 3, plan) {
                    participants.push(json!({ "actor": place, "status": "accepted" }));
                }
            }
            "AIP" => {
                for r in s.each(3) {
                    if let Some(who) = r.person() {
                        let mut p = json!({ "actor": who, "status": "accepted" });
                        if let Some(role) = s.code(4, 0) {
                            p["type"] = json!([role]);
                        }
                        participants.push(p);
                    }
                }
            }
            "AIG" => {
                if let Some(resource) = s.code(3, 0) {
                    let text = resource["text"].as_str().unwrap_or("resource").to_string();
                    participants
                        .push(json!({ "actor": { "display": text }, "status": "accepted" }));
                }
            }
            _ => {}
        }
    }
    if participants.is_empty() {
        return Err(Problem::at(
            crate::hl7::ack::Condition::SegmentSequence,
            "PID",
            1,
            0,
            "an appointment needs a participant: a PID, AIL, AIP or AIG segment",
        ));
    }
    a["participant"] = Value::Array(participants);
    let after_sch = &segments[at + 1..];
    let comments: Vec<String> = notes(after_sch)
        .into_iter()
        .filter_map(|n| n["text"].as_str().map(str::to_string))
        .collect();
    put(&mut a, "comment", comments.join("\n"));
    plan.add(a, Merge::Replace);
    Ok(())
}

/// A duration in minutes from a number field and its units field (minutes
/// unless the units say hours or seconds).
fn duration(seg: &Seg, n: usize, units: usize) -> Result<Option<u64>, Problem> {
    let Some(value) = seg.number(n, 0)? else {
        return Ok(None);
    };
    let Some(v) = value.as_f64().filter(|v| *v > 0.0 && *v < 1e7) else {
        return Err(seg.bad(n, format!("{}-{n} must be a positive duration", seg.id())));
    };
    let factor = match seg.get(units, 1).to_ascii_lowercase().as_str() {
        "h" | "hr" | "hour" | "hours" => 60.0,
        "s" | "sec" => 1.0 / 60.0,
        _ => 1.0,
    };
    Ok(Some(((v * factor).round() as u64).max(1)))
}

/// The instant `micros` written in the offset of `like` (an instant).
fn end_instant(like: &str, micros: i64) -> String {
    let offset_minutes = match like.len().checked_sub(6).map(|i| &like[i..]) {
        Some(o) if o.starts_with(['+', '-']) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let h: i64 = o[1..3].parse().unwrap_or(0);
            let m: i64 = o[4..6].parse().unwrap_or(0);
            sign * (h * 60 + m)
        }
        _ => 0,
    };
    let local = micros + offset_minutes * 60_000_000;
    let text = crate::fhir::instant::format_instant(local);
    let base = &text[..19];
    if offset_minutes == 0 {
        format!("{base}Z")
    } else {
        format!("{base}{}", &like[like.len() - 6..])
    }
}
