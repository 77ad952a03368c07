//! The segments every message type shares: PID → Patient, PV1 → Encounter,
//! and a person location (PL) → Location, after the v2-to-FHIR segment maps
//! PID[Patient] and PV1[Encounter].

use super::v2::{self, Seg, id};
use super::{Context, Merge, Plan, put};
use crate::hl7::ack::Problem;
use serde_json::{Value, json};

/// The donor or patient of a PID segment, named by the first identifier of
/// PID-3; `None` when PID-3 has no identifier (a device's message).
pub fn patient(pid: &Seg, ctx: Context, plan: &mut Plan) -> Result<Option<Value>, Problem> {
    let ids: Vec<_> = pid.each(3).iter().filter_map(v2::Rep::cx).collect();
    let Some(first) = ids.first() else {
        return Ok(None);
    };
    let mut p = json!({
        "resourceType": "Patient",
        "id": id(&["Patient", &first.key()]),
    });
    put(
        &mut p,
        "identifier",
        ids.iter().map(|i| i.identifier()).collect::<Vec<_>>(),
    );
    put(
        &mut p,
        "name",
        pid.each(5)
            .iter()
            .filter_map(v2::Rep::name)
            .collect::<Vec<_>>(),
    );
    let mut telecom: Vec<Value> = pid.each(13).iter().filter_map(v2::Rep::telecom).collect();
    telecom.extend(pid.each(14).iter().filter_map(|r| {
        r.telecom().map(|mut t| {
            t["use"] = "work".into();
            t
        })
    }));
    put(&mut p, "telecom", telecom);
    let gender = match pid.get(8, 1).as_str() {
        "" => "",
        "M" => "male",
        "F" => "female",
        "O" | "A" => "other",
        "U" | "N" => "unknown",
        other => {
            return Err(pid.problem(
                crate::hl7::ack::Condition::TableValueNotFound,
                8,
                format!("PID-8 '{other}' is not a sex of HL7 table 0001"),
            ));
        }
    };
    put(&mut p, "gender", gender);
    if let Some(born) = pid.time(7, 1)? {
        put(&mut p, "birthDate", born.date());
        if born.has_time() {
            p["_birthDate"] = json!({ "extension": [{
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                "valueDateTime": born.date_time(ctx.offset),
            }]});
        }
    }
    if let Some(died) = pid.time(29, 1)? {
        put(&mut p, "deceasedDateTime", died.date_time(ctx.offset));
    } else if pid.get(30, 0) == "Y" {
        p["deceasedBoolean"] = true.into();
    }
    put(
        &mut p,
        "address",
        pid.each(11)
            .iter()
            .filter_map(v2::Rep::address)
            .collect::<Vec<_>>(),
    );
    if let Some(status) = pid.code(16, 0) {
        put(&mut p, "maritalStatus", status);
    }
    match (pid.get(24, 0).as_str(), pid.number(25, 0)?) {
        (_, Some(order)) if order.as_u64().is_some() => p["multipleBirthInteger"] = order,
        ("Y", _) => p["multipleBirthBoolean"] = true.into(),
        ("N", _) => p["multipleBirthBoolean"] = false.into(),
        _ => {}
    }
    put(
        &mut p,
        "communication",
        pid.code(15, 0)
            .map(|language| vec![json!({ "language": language })])
            .unwrap_or_default(),
    );
    Ok(Some(plan.add(p, Merge::Combine)))
}

/// The Location of a person location (PL) at field `n`: point of care,
/// room, bed, facility, …; `None` when empty.
pub fn location(seg: &Seg, n: usize, plan: &mut Plan) -> Option<Value> {
    let part = |c| seg.get(n, c);
    let facility = seg.at(n, 0, 4, 1);
    let names: Vec<String> = [part(1), part(2), part(3)]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    if names.is_empty() {
        return None;
    }
    let name = names.join(" ");
    let mut l = json!({
        "resourceType": "Location",
        "id": id(&["Location", &facility, &part(1), &part(2), &part(3)]),
        "status": "active",
        "mode": "instance",
    });
    put(&mut l, "name", name);
    put(&mut l, "description", part(9));
    if !facility.is_empty() {
        l["managingOrganization"] = json!({ "display": facility });
    }
    let physical = match (part(3).is_empty(), part(2).is_empty()) {
        (false, _) => "bd",
        (true, false) => "ro",
        _ => "area",
    };
    l["physicalType"] = json!({ "coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
        "code": physical,
    }]});
    Some(plan.add(l, Merge::Combine))
}

/// The visit of a PV1 segment, named by PV1-19 (the visit number); `None`
/// without a visit number, or when PV1-2 says the class does not apply (N).
pub fn encounter(
    pv1: &Seg,
    subject: Option<&Value>,
    ctx: Context,
    plan: &mut Plan,
) -> Result<Option<Value>, Problem> {
    let class_code = pv1.get(2, 1);
    let Some(visit) = pv1.cx(19, 0) else {
        return Ok(None);
    };
    if class_code == "N" {
        return Ok(None);
    }
    let class = match class_code.as_str() {
        "I" | "B" => ("IMP", "inpatient encounter"),
        "O" | "R" => ("AMB", "ambulatory"),
        "E" => ("EMER", "emergency"),
        "P" => ("PRENC", "pre-admission"),
        "" => return Err(pv1.missing(2, "patient class")),
        other => {
            return Err(pv1.problem(
                crate::hl7::ack::Condition::TableValueNotFound,
                2,
                format!("PV1-2 '{other}' is not a patient class of HL7 table 0004"),
            ));
        }
    };
    let start = pv1.time(44, 1)?;
    let end = pv1.time(45, 1)?;
    let status = if end.is_some() {
        "finished"
    } else {
        "in-progress"
    };
    let mut e = json!({
        "resourceType": "Encounter",
        "id": id(&["Encounter", &visit.key()]),
        "identifier": [visit.identifier()],
        "status": status,
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": class.0,
            "display": class.1,
        },
    });
    if let Some(subject) = subject {
        e["subject"] = subject.clone();
    }
    if let Some(service) = pv1.code(10, 0) {
        e["serviceType"] = service;
    }
    let mut participants = Vec::new();
    for (field, code, display) in [
        (7, "ATND", "attender"),
        (8, "REF", "referrer"),
        (9, "CON", "consultant"),
        (17, "ADM", "admitter"),
    ] {
        for r in pv1.each(field) {
            if let Some(who) = r.person() {
                participants.push(json!({
                    "type": [{ "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                        "code": code,
                        "display": display,
                    }]}],
                    "individual": who,
                }));
            }
        }
    }
    put(&mut e, "participant", participants);
    let mut period = json!({});
    if let Some(s) = start {
        period["start"] = s.date_time(ctx.offset).into();
    }
    if let Some(t) = end {
        period["end"] = t.date_time(ctx.offset).into();
    }
    put(&mut e, "period", period);
    let mut hospitalization = json!({});
    if let Some(source) = pv1.code(14, 0) {
        hospitalization["admitSource"] = source;
    }
    if let Some(disposition) = pv1.code(36, 0) {
        hospitalization["dischargeDisposition"] = disposition;
    }
    put(&mut e, "hospitalization", hospitalization);
    let mut locations = Vec::new();
    for (field, status) in [(3, "active"), (6, "completed"), (11, "reserved")] {
        if let Some(place) = location(pv1, field, plan) {
            locations.push(json!({ "location": place, "status": status }));
        }
    }
    put(&mut e, "location", locations);
    Ok(Some(plan.add(e, Merge::Combine)))
}
