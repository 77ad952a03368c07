//! HL7 v2 messages mapped to FHIR R4 resources: the transform between the
//! MLLP source and the store. Each message type has its module; what they
//! share is here and in [`v2`] (the data types).
//!
//! A map is a pure function of the message: it returns every resource the
//! message states, each complete as far as the message goes, with an id
//! derived from the business identifiers it carries (PID-3, PV1-19, SCH-2,
//! OBR-3, ORC-2, the ISBT 128 donation number, the device's EUI-64). Mapping
//! the same message again therefore names the same resources with the same
//! content, and the engine writes only what changed: a replay changes
//! nothing. Whether a resource replaces the stored one or is merged into it
//! ([`Merge`]) is the map's choice, per resource. The engine adds the raw
//! message as a Binary and a Provenance that points at both
//! ([`provenance`]).
//!
//! Where the HL7 v2-to-FHIR implementation guide has a map (ADT, SIU, ORU)
//! these follow it for the segments they take; the blood bank (OMB, BPS,
//! BTS) and IHE PCD-01 maps are our own. `docs/mappings/` lists, per message
//! type, what is mapped and what is only stored.

mod adt;
mod blood;
mod device;
mod oru;
mod person;
pub mod provenance;
mod siu;
pub mod v2;

use crate::hl7::ack::Problem;
use crate::hl7::header::Header;
use crate::hl7::message::Message;
use serde_json::{Map, Value, json};

/// What a map needs besides the message.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// The offset from UTC, in minutes, of times that carry none.
    pub offset: i32,
}

/// How a mapped resource meets the stored one with its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// The message states the whole resource: it replaces the stored one.
    Replace,
    /// The message states part of it (a person, a visit, a place, a unit, a
    /// device): its
    /// top-level elements replace the stored ones, the others are kept;
    /// `extension` and `link` are merged item by item (by `url`, by the
    /// reference).
    Combine,
}

/// One resource a message maps to.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub resource: Value,
    pub merge: Merge,
}

/// The resources a message maps to, in the order they are written.
#[derive(Debug, Default)]
pub struct Plan {
    pub resources: Vec<Planned>,
}

impl Plan {
    /// Plans a resource. One the message names again (a donor in several
    /// segments, a device under each of its measurements) is planned once:
    /// the later statement is combined over the earlier.
    fn add(&mut self, resource: Value, merge: Merge) -> Value {
        let named = reference(&resource);
        match self
            .resources
            .iter_mut()
            .find(|p| reference(&p.resource) == named)
        {
            Some(p) => p.resource = combine(&p.resource, resource),
            None => self.resources.push(Planned { resource, merge }),
        }
        named
    }
}

/// Whether a message type (MSH-9's code and event) has a map.
pub fn supports(code: &str, event: &str) -> bool {
    matches!(
        (code, event),
        ("ADT", "A01" | "A04" | "A08" | "A28" | "A31" | "A40")
            | ("SIU", "S12" | "S13" | "S14" | "S15" | "S17" | "S26")
            | ("ORU", "R01")
            | ("OMB", "O27")
            | ("BPS", "O29")
            | ("BTS", "O31")
    )
}

/// Maps a message: `None` when its type has no map, the error (with its
/// location, for the ERR segment) when a value it needs is missing or wrong.
pub fn map(message: &Message, header: &Header, ctx: Context) -> Result<Option<Plan>, Problem> {
    let (code, event, _) = header.message_type();
    if !supports(code, event) {
        return Ok(None);
    }
    let segments = v2::Seg::all(message);
    let mut plan = Plan::default();
    match code {
        "ADT" => adt::map(&segments, event, ctx, &mut plan)?,
        "SIU" => siu::map(&segments, event, ctx, &mut plan)?,
        "ORU" if device::is_pcd(&segments) => device::map(&segments, ctx, &mut plan)?,
        "ORU" => oru::map(&segments, ctx, &mut plan)?,
        "OMB" => blood::order(&segments, ctx, &mut plan)?,
        "BPS" => blood::dispense(&segments, ctx, &mut plan)?,
        _ => blood::transfusion(&segments, ctx, &mut plan)?,
    }
    Ok(Some(plan))
}

/// `new`'s top-level elements over `current`'s; `extension` items by `url`
/// and `link` items by the reference of `other`, so that what another
/// message put there stays.
pub fn combine(current: &Value, new: Value) -> Value {
    let mut out: Map<String, Value> = current.as_object().cloned().unwrap_or_default();
    let Value::Object(fields) = new else {
        return Value::Object(out);
    };
    for (k, v) in fields {
        let keyed = match k.as_str() {
            "extension" => Some("/url"),
            "link" => Some("/other/reference"),
            _ => None,
        };
        match (keyed, out.get_mut(&k), v) {
            (Some(pointer), Some(Value::Array(old)), Value::Array(items)) => {
                for item in items {
                    let key = item.pointer(pointer).cloned();
                    match old
                        .iter_mut()
                        .find(|o| key.is_some() && o.pointer(pointer).cloned() == key)
                    {
                        Some(slot) => *slot = item,
                        None => old.push(item),
                    }
                }
            }
            (_, _, v) => {
                out.insert(k, v);
            }
        }
    }
    Value::Object(out)
}

/// `{"reference": "Type/id"}` for a resource.
pub fn reference(resource: &Value) -> Value {
    json!({ "reference": format!(
        "{}/{}",
        resource["resourceType"].as_str().unwrap_or_default(),
        resource["id"].as_str().unwrap_or_default()
    )})
}

/// Sets `key` to `value` when the value is not empty.
fn put(target: &mut Value, key: &str, value: impl Into<Value>) {
    let value = value.into();
    let empty = match &value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if !empty && let Some(fields) = target.as_object_mut() {
        fields.insert(key.to_string(), value);
    }
}

/// The segments from `start` (exclusive) up to the next one whose id is in
/// `until`: a group's children.
fn group<'a>(segments: &'a [v2::Seg<'a>], start: usize, until: &[&str]) -> &'a [v2::Seg<'a>] {
    let rest = &segments[start + 1..];
    let end = rest
        .iter()
        .position(|s| until.contains(&s.id()))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The placer's and filler's identifiers (EI), typed PLAC and FILL.
fn order_identifiers(placer: &Option<v2::Id>, filler: &Option<v2::Id>) -> Value {
    let typed = |i: &v2::Id, code: &str| {
        let mut identifier = i.identifier();
        identifier["type"] = json!({ "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
            "code": code,
        }]});
        identifier
    };
    let mut identifiers = Vec::new();
    if let Some(p) = placer {
        identifiers.push(typed(p, "PLAC"));
    }
    if let Some(f) = filler {
        identifiers.push(typed(f, "FILL"));
    }
    Value::Array(identifiers)
}

/// The text of the NTE segments in `segments` (NTE-3, repetitions joined).
fn notes(segments: &[v2::Seg]) -> Vec<Value> {
    segments
        .iter()
        .take_while(|s| s.id() == "NTE")
        .filter_map(|nte| {
            let text: Vec<String> = nte
                .each(3)
                .iter()
                .map(|r| r.at(0, 0))
                .filter(|t| !t.is_empty())
                .collect();
            (!text.is_empty()).then(|| json!({ "text": text.join("\n") }))
        })
        .collect()
}

#[cfg(test)]
mod tests;
