//! Writing what a message maps to, in the same unit of work as the
//! message's own record: each mapped resource is compared with the stored
//! one and written only when it changes (created when new, updated with
//! `If-Match` on the version it was compared with), then the raw message as
//! a Binary and the Provenance of the versions written. A replay therefore
//! writes nothing but its own record.
//!
//! The comparison is made before the unit is written, so another message
//! may change a resource in between; the version check then fails the unit
//! and the mapping is made again on the new state, a few times at most.

use super::Engine;
use crate::fhir::validate::validate_resource;
use crate::hl7::ack::{Code, Condition, Problem};
use crate::hl7::header::Header;
use crate::hl7::message::Message;
use crate::map::{self, Context, Merge, Planned, provenance};
use crate::store::messages::Status;
use crate::store::{Outcome, StoreError, Version, Write};
use futures_util::future::join_all;
use serde_json::{Map, Value, json};

/// What mapping a message came to.
#[derive(Debug)]
pub enum Mapping {
    /// Its type has no map: stored only.
    Unmapped,
    /// It maps to these resources (`Type/id`, the Binary and Provenance last).
    Mapped(Vec<String>),
    /// A value it needs is missing or wrong.
    Failed(Problem),
}

impl Mapping {
    /// The acknowledgement code, the error, the status and the resources of
    /// the message's record.
    pub fn outcome(&self) -> (Code, Option<Problem>, Status, Vec<String>) {
        match self {
            Mapping::Failed(p) => (Code::AE, Some(p.clone()), Status::Error, Vec::new()),
            Mapping::Mapped(names) => (Code::AA, None, Status::Processed, names.clone()),
            Mapping::Unmapped => (Code::AA, None, Status::Processed, Vec::new()),
        }
    }
}

/// A message to map: its parsed form, its bytes and when it came in.
pub struct Source<'a> {
    pub header: &'a Header,
    pub message: &'a Message,
    pub raw: &'a [u8],
    /// Microseconds since the Unix epoch.
    pub received: i64,
}

/// How many times a unit is mapped again after another writer changed a
/// resource it compared.
const ATTEMPTS: usize = 8;

impl Engine {
    /// Writes a message's record (the writes `record` makes from the
    /// mapping's result, first in the unit) with the resources it maps to, in
    /// one unit of work, mapping again when a compared resource changed.
    pub async fn transact_mapped(
        &self,
        source: &Source<'_>,
        mut record: impl FnMut(&Mapping) -> Vec<Write>,
    ) -> (Mapping, Result<Vec<Outcome>, StoreError>) {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (mapping, resources) = match self.mapping(source).await {
                Ok(done) => done,
                Err(e) => return (Mapping::Unmapped, Err(e)),
            };
            let mut writes = record(&mapping);
            writes.extend(resources);
            match self.store.transact(writes).await {
                Err(e) if attempt < ATTEMPTS && changed(&e) => {
                    tracing::debug!(
                        "message {} mapped again: a resource changed",
                        source.header.control_id()
                    );
                }
                result => return (mapping, result),
            }
        }
    }

    /// The mapping of a message and the writes of the resources it changes.
    async fn mapping(&self, source: &Source<'_>) -> Result<(Mapping, Vec<Write>), StoreError> {
        let ctx = Context {
            offset: self.settings.utc_offset,
        };
        let plan = match map::map(source.message, source.header, ctx) {
            Ok(Some(plan)) => plan,
            Ok(None) => return Ok((Mapping::Unmapped, Vec::new())),
            Err(problem) => return Ok((Mapping::Failed(problem), Vec::new())),
        };
        let mut planned: Vec<Planned> = Vec::with_capacity(plan.resources.len());
        for p in plan.resources {
            match planned
                .iter_mut()
                .find(|q| same_resource(&q.resource, &p.resource))
            {
                Some(q) => q.resource = combine(&q.resource, p.resource),
                None => planned.push(p),
            }
        }
        let binary = provenance::binary(source.header, source.raw);
        // Every stored version the message is compared with, read at once
        // rather than one round trip after the other.
        let mut keys: Vec<(String, String)> = planned.iter().map(|p| key(&p.resource)).collect();
        keys.push(key(&binary));
        keys.push(("Provenance".into(), provenance::id(source.header)));
        let reads = join_all(keys.iter().map(|(t, id)| self.store.read(t, id))).await;
        let mut stored = reads
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter();
        let mut writes = Vec::with_capacity(planned.len() + 2);
        let mut names = Vec::with_capacity(planned.len() + 2);
        let mut targets = Vec::with_capacity(planned.len());
        for p in planned {
            let (name, version) = match settle(p, stored.next().flatten(), &mut writes) {
                Ok(settled) => settled,
                Err(problem) => return Ok((Mapping::Failed(problem), Vec::new())),
            };
            targets.push(json!({ "reference": format!("{name}/_history/{version}") }));
            names.push(name);
        }
        let record =
            provenance::provenance(source.header, &binary, targets, source.received, ctx.offset);
        for resource in [binary, record] {
            let p = Planned {
                resource,
                merge: Merge::Replace,
            };
            match settle(p, stored.next().flatten(), &mut writes) {
                Ok((name, _)) => names.push(name),
                Err(problem) => return Ok((Mapping::Failed(problem), Vec::new())),
            }
        }
        Ok((Mapping::Mapped(names), writes))
    }
}

/// A resource's type and id.
fn key(resource: &Value) -> (String, String) {
    let text = |k: &str| resource[k].as_str().unwrap_or_default().to_string();
    (text("resourceType"), text("id"))
}

/// Compares a planned resource with its stored version and adds its write
/// when it changes. Gives its `Type/id` and the version it will have (or an
/// invalid resource's problem).
fn settle(
    p: Planned,
    stored: Option<Version>,
    writes: &mut Vec<Write>,
) -> Result<(String, u64), Problem> {
    let (t, id) = key(&p.resource);
    let name = format!("{t}/{id}");
    let current = stored
        .as_ref()
        .and_then(|v| v.body.as_deref())
        .and_then(|body| serde_json::from_str::<Value>(body).ok())
        .map(|mut v| {
            if let Some(fields) = v.as_object_mut() {
                fields.remove("meta");
            }
            v
        });
    let resource = match (&current, p.merge) {
        (Some(c), Merge::Combine) => combine(c, p.resource),
        _ => p.resource,
    };
    if let Some(issue) = validate_resource(&resource).first() {
        let problem = Problem::message(
            Condition::InternalError,
            format!(
                "the mapped {t} is not valid FHIR: {} at {}",
                issue.diagnostics,
                issue.expression.as_deref().unwrap_or(&t)
            ),
        );
        tracing::warn!("{name}: {problem:?}");
        return Err(problem);
    }
    let version = match (&stored, &current) {
        (Some(v), Some(c)) if *c == resource => return Ok((name, v.version)),
        (Some(v), _) => {
            writes.push(Write::Update {
                resource,
                if_match: Some(v.version),
            });
            v.version + 1
        }
        (None, _) => {
            writes.push(Write::Create {
                id,
                resource,
                if_none_exist: None,
            });
            1
        }
    };
    Ok((name, version))
}

/// Whether a unit failed because a resource it compared changed meanwhile.
fn changed(e: &StoreError) -> bool {
    match e {
        StoreError::VersionConflict { .. } | StoreError::Conflict(_) => true,
        StoreError::Write { error, .. } => changed(error),
        _ => false,
    }
}

fn same_resource(a: &Value, b: &Value) -> bool {
    a["resourceType"] == b["resourceType"] && a["id"] == b["id"]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combining_keeps_what_the_message_does_not_say() {
        let current = json!({
            "resourceType": "BiologicallyDerivedProduct", "id": "u",
            "status": "available",
            "storage": [{ "duration": { "end": "2026-12-20" } }],
            "extension": [{ "url": "a", "valueString": "1" }, { "url": "b", "valueString": "2" }],
        });
        let new = json!({
            "resourceType": "BiologicallyDerivedProduct", "id": "u",
            "status": "unavailable",
            "extension": [{ "url": "b", "valueString": "3" }, { "url": "c", "valueString": "4" }],
        });
        let out = combine(&current, new);
        assert_eq!(out["status"], "unavailable");
        assert_eq!(out["storage"][0]["duration"]["end"], "2026-12-20");
        let urls: Vec<_> = out["extension"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["valueString"].clone())
            .collect();
        assert_eq!(urls, vec![json!("1"), json!("3"), json!("4")]);
    }
}
