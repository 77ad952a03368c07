//! The record of where mapped resources came from: the raw message as a
//! Binary (`x-application/hl7-v2+er7`, its bytes as received) and a
//! Provenance whose targets are the current versions of every resource the
//! message maps to (written by it, or found already as it states them) and whose
//! source entity is that Binary. Both are named by the message's key (MSH-3,
//! MSH-4, MSH-10), which the message store keeps unique, so mapping a message
//! again names the same two resources.

use super::v2::Time;
use crate::fhir::instant::format_instant;
use crate::hl7::header::Header;
use base64::Engine as _;
use serde_json::{Value, json};

/// The media type of an HL7 v2 message in ER7 (pipe) encoding.
pub const ER7: &str = "x-application/hl7-v2+er7";

/// The Binary that keeps a message's bytes.
pub fn binary(header: &Header, raw: &[u8]) -> Value {
    let (app, facility, control) = header.key();
    json!({
        "resourceType": "Binary",
        "id": super::v2::id(&["Binary", &app, &facility, &control]),
        "contentType": ER7,
        "data": base64::engine::general_purpose::STANDARD.encode(raw),
    })
}

/// The id of a message's Provenance.
pub fn id(header: &Header) -> String {
    let (app, facility, control) = header.key();
    super::v2::id(&["Provenance", &app, &facility, &control])
}

/// The Provenance of what a message wrote: `targets` are version-specific
/// references (`Patient/x/_history/2`), `received` when the message came in
/// (microseconds), `offset` the minutes from UTC of times without one.
pub fn provenance(
    header: &Header,
    binary: &Value,
    targets: Vec<Value>,
    received: i64,
    offset: i32,
) -> Value {
    let (app, facility, control) = header.key();
    let sender = [app.as_str(), facility.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" at ");
    let mut p = json!({
        "resourceType": "Provenance",
        "id": id(header),
        "target": targets,
        "recorded": format_instant(received),
        "activity": { "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
            "code": "UPDATE",
            "display": "revise",
        }], "text": format!("HL7 v2 {} mapped to FHIR", header.field(9)) },
        "agent": [{
            "type": { "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                "code": "author",
            }]},
            "who": { "display": if sender.is_empty() { "unknown sender".to_string() } else { sender } },
        }],
        "entity": [{
            "role": "source",
            "what": {
                "reference": format!("Binary/{}", binary["id"].as_str().unwrap_or_default()),
                "display": format!("HL7 v2 message {control}"),
            },
        }],
    });
    let sent = header.component(7, 1);
    if let Ok(t) = Time::parse(sent) {
        p["occurredDateTime"] = t.date_time(offset).into();
    }
    p
}
