//! The transfusion service's messages (HL7 v2.5+ chapter 4): our own maps,
//! since the v2-to-FHIR guide has none.
//!
//! - OMB^O27 (blood product order): each ORC with its BPO → ServiceRequest,
//!   named by the placer order number (ORC-2, else the filler's, ORC-3).
//! - BPS^O29 (dispense status): each BPX → the unit's
//!   BiologicallyDerivedProduct, named by its ISBT 128 donation number and
//!   product code. R4's `status` has only `available | unavailable`, so the
//!   dispense status of HL7 table 0510 goes in the extension
//!   [`STATUS`], and each change of it is a new version: the unit's history
//!   is its transitions.
//! - BTS^O31 (transfusion or disposition): each BTX → the same unit, its
//!   status from table 0513 in the same extension, and, when it was
//!   transfused (TX, TR), a Procedure with the adverse reaction (BTX-18) as a
//!   complication.

use super::person::patient;
use super::v2::{ISBT128, Seg, id};
use super::{Context, Merge, Plan, order_identifiers, put, reference};
use crate::hl7::ack::{Condition, Problem};
use serde_json::{Value, json};

/// The extension with a unit's latest status (table 0510 or 0513) and its time.
pub const STATUS: &str = "https://hemolink.example/fhir/StructureDefinition/blood-product-status";
/// The extension with a unit's ABO/Rh blood group.
pub const BLOOD_GROUP: &str = "https://hemolink.example/fhir/StructureDefinition/blood-group";

/// What the segments before a BPO, BPX or BTX say it belongs to.
#[derive(Default)]
struct Belongs {
    subject: Option<Value>,
    order: Option<Value>,
}

pub fn order(segments: &[Seg], ctx: Context, plan: &mut Plan) -> Result<(), Problem> {
    let mut subject = None;
    let mut orc: Option<&Seg> = None;
    let mut orders = 0;
    for (i, seg) in segments.iter().enumerate() {
        match seg.id() {
            "PID" => subject = patient(seg, ctx, plan)?,
            "ORC" => orc = Some(seg),
            "BPO" => {
                let orc = orc
                    .ok_or_else(|| sequence("ORC", "a BPO needs the ORC of its order before it"))?;
                let subject = subject.clone().ok_or_else(|| {
                    sequence("PID", "a blood product order needs its patient (PID)")
                })?;
                let mut r = request(orc, &subject)?;
                r["code"] = seg
                    .code(2, 0)
                    .ok_or_else(|| seg.missing(2, "blood product universal service id"))?;
                put(&mut r, "orderDetail", seg.codes(3));
                if let Some(n) = seg.number(4, 0)? {
                    r["quantityQuantity"] = json!({ "value": n, "unit": "unit" });
                }
                if let Some(t) = seg.time(7, 1)? {
                    r["occurrenceDateTime"] = t.date_time(ctx.offset).into();
                }
                if let Some(t) = orc.time(9, 1)? {
                    r["authoredOn"] = t.date_time(ctx.offset).into();
                }
                if let Some(who) = orc.person(12, 0) {
                    r["requester"] = who;
                }
                put(&mut r, "reasonCode", seg.codes(13));
                let notes = super::notes(&segments[i + 1..]);
                put(&mut r, "note", notes);
                plan.add(r, Merge::Replace);
                orders += 1;
            }
            _ => {}
        }
    }
    if orders == 0 {
        return Err(sequence("BPO", "the message has no BPO segment"));
    }
    Ok(())
}

/// The ServiceRequest an ORC names, with its identifiers and status.
fn request(orc: &Seg, subject: &Value) -> Result<Value, Problem> {
    let placer = orc.ei(2, 0);
    let filler = orc.ei(3, 0);
    let key = placer
        .as_ref()
        .or(filler.as_ref())
        .ok_or_else(|| orc.missing(2, "placer order number"))?
        .key();
    let status = match (orc.get(1, 0).as_str(), orc.get(5, 0).as_str()) {
        (_, "CM") => "completed",
        (_, "CA" | "DC") | ("CA" | "DC" | "OC" | "OD" | "CR" | "DR", _) => "revoked",
        ("HD" | "OH", _) | (_, "HD") => "on-hold",
        (_, "IP" | "SC" | "A") | ("NW" | "XO" | "SC" | "RP" | "SN" | "OK" | "RL" | "", _) => {
            "active"
        }
        (other, _) => {
            return Err(orc.problem(
                Condition::TableValueNotFound,
                1,
                format!("ORC-1 '{other}' is not an order control code of HL7 table 0119"),
            ));
        }
    };
    let mut r = json!({
        "resourceType": "ServiceRequest",
        "id": id(&["ServiceRequest", &key]),
        "status": status,
        "intent": "order",
        "category": [{ "text": "Blood product order" }],
        "subject": subject,
    });
    r["identifier"] = order_identifiers(&placer, &filler);
    Ok(r)
}

/// The reference to the ServiceRequest an ORC names (not written here).
fn order_reference(orc: &Seg) -> Option<Value> {
    let key = orc.ei(2, 0).or_else(|| orc.ei(3, 0))?.key();
    Some(json!({ "reference": format!("ServiceRequest/{}", id(&["ServiceRequest", &key])) }))
}

pub fn dispense(segments: &[Seg], ctx: Context, plan: &mut Plan) -> Result<(), Problem> {
    units(segments, "BPX", ctx, plan, |seg, at, plan| {
        let (code, coding) = status(
            seg,
            2,
            "dispense status",
            "http://terminology.hl7.org/CodeSystem/v2-0510",
        )?;
        let available = match code.as_str() {
            "DS" | "PT" | "WA" => "unavailable",
            "CR" | "RA" | "RD" | "RE" | "RI" | "RL" | "RQ" | "RS" => "available",
            other => {
                return Err(seg.problem(
                    Condition::TableValueNotFound,
                    2,
                    format!("BPX-2 '{other}' is not a dispense status of HL7 table 0510"),
                ));
            }
        };
        let fields = UnitFields {
            din: 5,
            product: 6,
            group: 11,
            quantity: 14,
            status_time: 4,
        };
        let mut u = unit(seg, &fields, coding, available, at, ctx)?;
        if let Some(expiry) = seg.time(13, 1)? {
            u["storage"] = json!([{ "duration": { "end": expiry.date_time(ctx.offset) } }]);
        }
        plan.add(u, Merge::Combine);
        Ok(())
    })
}

pub fn transfusion(segments: &[Seg], ctx: Context, plan: &mut Plan) -> Result<(), Problem> {
    units(segments, "BTX", ctx, plan, |seg, at, plan| {
        let (code, coding) = status(
            seg,
            11,
            "transfusion/disposition status",
            "http://terminology.hl7.org/CodeSystem/v2-0513",
        )?;
        let (available, transfused) = match code.as_str() {
            "TX" | "TR" => ("unavailable", true),
            "WA" => ("unavailable", false),
            "RA" | "RL" => ("available", false),
            other => {
                return Err(seg.problem(
                    Condition::TableValueNotFound,
                    11,
                    format!("BTX-11 '{other}' is not a status of HL7 table 0513"),
                ));
            }
        };
        let fields = UnitFields {
            din: 2,
            product: 3,
            group: 4,
            quantity: 8,
            status_time: 13,
        };
        let u = unit(seg, &fields, coding, available, at, ctx)?;
        let product = reference(&u);
        let key = u["id"].as_str().unwrap_or_default().to_string();
        plan.add(u, Merge::Combine);
        if transfused {
            procedure(seg, &key, product, at, ctx, plan)?;
        }
        Ok(())
    })
}

/// Walks a BPS or a BTS: each PID and ORC says what the unit segments
/// (`id`: BPX or BTX) after it belong to, and each unit segment goes to
/// `each`. The message must have one.
fn units(
    segments: &[Seg],
    id: &str,
    ctx: Context,
    plan: &mut Plan,
    mut each: impl FnMut(&Seg, &Belongs, &mut Plan) -> Result<(), Problem>,
) -> Result<(), Problem> {
    let mut at = Belongs::default();
    let mut found = 0;
    for seg in segments {
        match seg.id() {
            "PID" => at.subject = patient(seg, ctx, plan)?,
            "ORC" => at.order = order_reference(seg),
            s if s == id => {
                each(seg, &at, plan)?;
                found += 1;
            }
            _ => {}
        }
    }
    if found == 0 {
        return Err(sequence(id, &format!("the message has no {id} segment")));
    }
    Ok(())
}

/// A unit's status at `field`: its code, and its coding in `table`'s system.
fn status(seg: &Seg, field: usize, what: &str, table: &str) -> Result<(String, Value), Problem> {
    let concept = seg.code(field, 0).ok_or_else(|| seg.missing(field, what))?;
    let mut coding = concept["coding"][0].clone();
    let code = coding["code"].as_str().unwrap_or_default().to_string();
    coding["system"] = table.into();
    Ok((code, coding))
}

/// Where a unit's data is in a BPX or a BTX.
struct UnitFields {
    din: usize,
    product: usize,
    group: usize,
    quantity: usize,
    status_time: usize,
}

/// The BiologicallyDerivedProduct of a unit: donation number, product code,
/// blood group, quantity, its order, and its status.
fn unit(
    seg: &Seg,
    f: &UnitFields,
    coding: Value,
    available: &str,
    at: &Belongs,
    ctx: Context,
) -> Result<Value, Problem> {
    let din = seg
        .ei(f.din, 0)
        .ok_or_else(|| seg.missing(f.din, "donation identification number"))?;
    let product = seg.code(f.product, 0);
    let product_code = product
        .as_ref()
        .and_then(|p| p["coding"][0]["code"].as_str())
        .unwrap_or_default()
        .to_string();
    let mut u = json!({
        "resourceType": "BiologicallyDerivedProduct",
        "id": id(&["BiologicallyDerivedProduct", &din.value, &product_code]),
        "identifier": [{
            "system": ISBT128,
            "value": din.value,
            "type": { "text": "ISBT 128 donation identification number" },
        }],
        "status": available,
    });
    if let Some(p) = product {
        u["productCode"] = p;
    }
    if let Some(order) = &at.order {
        u["request"] = json!([order]);
    }
    if let Some(n) = seg.number(f.quantity, 0)? {
        match n.as_u64() {
            Some(q) if q <= i32::MAX as u64 => u["quantity"] = q.into(),
            _ => return Err(seg.bad(f.quantity, "the quantity must be a whole number of units")),
        }
    }
    let mut parts = vec![json!({ "url": "code", "valueCoding": coding })];
    if let Some(t) = seg.time(f.status_time, 1)? {
        parts.push(json!({ "url": "time", "valueDateTime": t.date_time(ctx.offset) }));
    }
    let status = json!({ "url": STATUS, "extension": parts });
    let mut extensions = vec![status];
    if let Some(group) = seg.code(f.group, 0) {
        extensions.push(json!({ "url": BLOOD_GROUP, "valueCodeableConcept": group }));
    }
    u["extension"] = Value::Array(extensions);
    Ok(u)
}

/// The transfusion of a unit (SNOMED CT 116859006).
fn procedure(
    btx: &Seg,
    unit_id: &str,
    product: Value,
    at: &Belongs,
    ctx: Context,
    plan: &mut Plan,
) -> Result<(), Problem> {
    let subject = at
        .subject
        .clone()
        .ok_or_else(|| sequence("PID", "a transfusion needs its patient (PID)"))?;
    let start = btx.time(16, 1)?;
    let end = btx.time(17, 1)?;
    let interrupted = btx.code(19, 0);
    let status = match (&interrupted, &end, btx.get(12, 0).as_str()) {
        (Some(_), _, _) => "stopped",
        (None, Some(_), _) | (None, None, "F" | "C") => "completed",
        _ => "in-progress",
    };
    let mut p = json!({
        "resourceType": "Procedure",
        "id": id(&["Procedure", "transfusion", unit_id]),
        "status": status,
        "code": { "coding": [{
            "system": "http://snomed.info/sct",
            "code": "116859006",
            "display": "Transfusion of blood product",
        }]},
        "subject": subject,
        "usedReference": [product],
    });
    if let Some(order) = &at.order {
        p["basedOn"] = json!([order]);
    }
    if let Some(reason) = interrupted {
        p["statusReason"] = reason;
    }
    match (start, end) {
        (None, None) => {
            if let Some(t) = btx.time(13, 1)? {
                p["performedDateTime"] = t.date_time(ctx.offset).into();
            }
        }
        (s, e) => {
            let mut period = json!({});
            if let Some(s) = s {
                period["start"] = s.date_time(ctx.offset).into();
            }
            if let Some(e) = e {
                period["end"] = e.date_time(ctx.offset).into();
            }
            p["performedPeriod"] = period;
        }
    }
    let performers: Vec<Value> = [14, 15]
        .into_iter()
        .filter_map(|n| btx.person(n, 0))
        .map(|who| json!({ "actor": who }))
        .collect();
    put(&mut p, "performer", performers);
    put(&mut p, "complication", btx.codes(18));
    plan.add(p, Merge::Replace);
    Ok(())
}

fn sequence(segment: &str, text: &str) -> Problem {
    Problem::at(Condition::SegmentSequence, segment, 1, 0, text)
}
