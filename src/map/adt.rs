//! ADT: A01 (admit), A04 (register: a donor's visit), A08 (update), A28 and
//! A31 (add and update person information: the donor record) map PID to
//! Patient and PV1 to Encounter; A40 (merge) links the surviving Patient of
//! each PID to the one its MRG-1 names, which becomes inactive.

use super::person::{encounter, patient};
use super::v2::{Seg, id};
use super::{Context, Merge, Plan, put};
use crate::hl7::ack::Problem;
use serde_json::json;

pub fn map(segments: &[Seg], event: &str, ctx: Context, plan: &mut Plan) -> Result<(), Problem> {
    if event == "A40" {
        return merge(segments, ctx, plan);
    }
    let pid = required(segments, "PID")?;
    let subject =
        patient(pid, ctx, plan)?.ok_or_else(|| pid.missing(3, "patient identifier list"))?;
    if let Some(pv1) = segments.iter().find(|s| s.id() == "PV1") {
        encounter(pv1, Some(&subject), ctx, plan)?;
    }
    Ok(())
}

/// A40: each PID with the MRG that follows it.
fn merge(segments: &[Seg], ctx: Context, plan: &mut Plan) -> Result<(), Problem> {
    let mut found = false;
    for (i, pid) in segments.iter().enumerate().filter(|(_, s)| s.id() == "PID") {
        let survivor =
            patient(pid, ctx, plan)?.ok_or_else(|| pid.missing(3, "patient identifier list"))?;
        let mrg = segments[i + 1..]
            .iter()
            .take_while(|s| s.id() != "PID")
            .find(|s| s.id() == "MRG")
            .ok_or_else(|| {
                pid.problem(
                    crate::hl7::ack::Condition::SegmentSequence,
                    0,
                    "an A40 needs an MRG segment after each PID",
                )
            })?;
        let prior = mrg
            .cx(1, 0)
            .ok_or_else(|| mrg.missing(1, "prior patient identifier list"))?;
        let old = json!({
            "resourceType": "Patient",
            "id": id(&["Patient", &prior.key()]),
        });
        let old_ref = super::reference(&old);
        if old_ref == survivor {
            return Err(mrg.bad(1, "MRG-1 names the surviving patient itself"));
        }
        let mut old = old;
        put(&mut old, "identifier", vec![prior.identifier()]);
        old["active"] = false.into();
        old["link"] = json!([{ "other": survivor, "type": "replaced-by" }]);
        plan.add(old, Merge::Combine);
        if let Some(planned) = plan
            .resources
            .iter_mut()
            .find(|p| super::reference(&p.resource) == survivor)
        {
            let link = json!({ "other": old_ref, "type": "replaces" });
            match planned.resource["link"].as_array_mut() {
                Some(links) => links.push(link),
                None => planned.resource["link"] = json!([link]),
            }
        }
        found = true;
    }
    if found {
        Ok(())
    } else {
        Err(Problem::at(
            crate::hl7::ack::Condition::SegmentSequence,
            "PID",
            1,
            0,
            "the message has no PID segment",
        ))
    }
}

/// The first segment `id`, which the message must have.
pub fn required<'a>(segments: &'a [Seg<'a>], id: &str) -> Result<&'a Seg<'a>, Problem> {
    segments.iter().find(|s| s.id() == id).ok_or_else(|| {
        Problem::at(
            crate::hl7::ack::Condition::SegmentSequence,
            id,
            1,
            0,
            format!("the message has no {id} segment"),
        )
    })
}
