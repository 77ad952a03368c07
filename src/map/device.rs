//! IHE PCD-01 (Communicate PCD Data: an ORU^R01 whose MSH-21 names
//! `IHE_PCD_001`) → Device, DeviceMetric and Observation, after the HL7
//! Point-of-Care Device IG's v2 mapping. Our own map; the v2-to-FHIR guide
//! has none.
//!
//! OBX-4 is the containment path MDS.VMD.CHAN.METRIC. Rows with no value
//! describe the hierarchy (the MDS row gives the device's type); each row
//! with a value is one measurement: an Observation of a DeviceMetric (one
//! per device and MDC code, with the units of OBX-6) of the Device OBX-18
//! names by its EUI-64 (else the sender's, MSH-3). A message with no
//! patient (PID-3 empty, or no PID: a blood fridge's temperature) has the
//! Device as the Observation's subject, and PV1-3 as the Device's location.

use super::oru::observation;
use super::person::{location, patient};
use super::v2::{Seg, id};
use super::{Context, Merge, Plan, put};
use crate::hl7::ack::{Condition, Problem};
use serde_json::{Value, json};

/// The identifier system of IEEE EUI-64 device ids, as the PoCD IG writes it.
const EUI64: &str = "urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680";

/// Whether an ORU is a PCD-01 message (MSH-21, any repetition).
pub fn is_pcd(segments: &[Seg]) -> bool {
    segments
        .first()
        .is_some_and(|msh| msh.each(21).iter().any(|r| r.at(1, 0) == "IHE_PCD_001"))
}

pub fn map(segments: &[Seg], ctx: Context, plan: &mut Plan) -> Result<(), Problem> {
    let msh = &segments[0];
    let sender = (msh.get(3, 3) == "EUI-64").then(|| msh.get(3, 2));
    let mut subject = None;
    let mut place = None;
    let mut mds_type = None;
    let mut effective = None;
    let mut order = String::new();
    let mut measured = 0;
    for seg in segments {
        match seg.id() {
            "PID" => subject = patient(seg, ctx, plan)?,
            "PV1" => place = location(seg, 3, plan),
            "OBR" => {
                effective = seg.time(7, 1)?;
                order = seg
                    .ei(3, 0)
                    .or_else(|| seg.ei(2, 0))
                    .map(|i| i.key())
                    .unwrap_or_default();
            }
            "OBX" => {
                let path = seg.get(4, 0);
                if seg.get(5, 0).is_empty() {
                    if !path.contains('.') {
                        mds_type = seg.code(3, 0);
                    }
                    continue;
                }
                let eui = match seg.ei(18, 0) {
                    Some(d) => Some(if d.universal_type == "EUI-64" && !d.universal.is_empty() {
                        d.universal
                    } else {
                        d.value
                    }),
                    None => sender.clone(),
                };
                let eui = eui.filter(|e| !e.is_empty());
                let device = eui
                    .as_deref()
                    .map(|e| device(e, mds_type.as_ref(), place.as_ref(), plan));
                if subject.is_none() && device.is_none() {
                    return Err(
                        seg.missing(18, "equipment instance identifier (no patient either)")
                    );
                }
                let code = seg
                    .code(3, 0)
                    .ok_or_else(|| seg.missing(3, "observation identifier"))?;
                let metric = match (&device, &eui) {
                    (Some(d), Some(e)) => Some(metric(seg, e, d, &code, plan)),
                    _ => None,
                };
                let when = seg.get(14, 1);
                let mut o = json!({
                    "resourceType": "Observation",
                    "id": id(&["Observation", eui.as_deref().unwrap_or(&order), &path, &seg.get(3, 1), &when, &order]),
                });
                observation(seg, &mut o, ctx)?;
                if o.get("effectiveDateTime").is_none()
                    && let Some(t) = effective
                {
                    o["effectiveDateTime"] = t.date_time(ctx.offset).into();
                }
                match (&subject, &device) {
                    (Some(s), _) => o["subject"] = s.clone(),
                    (None, Some(d)) => o["subject"] = d.clone(),
                    (None, None) => {}
                }
                if let Some(m) = metric.or(device) {
                    o["device"] = m;
                }
                plan.add(o, Merge::Replace);
                measured += 1;
            }
            _ => {}
        }
    }
    if measured == 0 {
        return Err(Problem::at(
            Condition::SegmentSequence,
            "OBX",
            1,
            0,
            "a PCD-01 message needs at least one OBX with a value",
        ));
    }
    Ok(())
}

/// The Device of an EUI-64.
fn device(eui: &str, kind: Option<&Value>, place: Option<&Value>, plan: &mut Plan) -> Value {
    let mut d = json!({
        "resourceType": "Device",
        "id": id(&["Device", eui]),
        "identifier": [{ "system": EUI64, "value": eui }],
        "status": "active",
    });
    if let Some(kind) = kind {
        d["type"] = kind.clone();
    }
    if let Some(place) = place {
        d["location"] = place.clone();
    }
    plan.add(d, Merge::Combine)
}

/// The DeviceMetric of a device for one MDC code, with its units.
fn metric(obx: &Seg, eui: &str, device: &Value, code: &Value, plan: &mut Plan) -> Value {
    let mut m = json!({
        "resourceType": "DeviceMetric",
        "id": id(&["DeviceMetric", eui, &obx.get(3, 1)]),
        "type": code,
        "source": device,
        "category": "measurement",
        "operationalStatus": "on",
    });
    put(&mut m, "unit", obx.code(6, 0).unwrap_or(Value::Null));
    plan.add(m, Merge::Combine)
}
