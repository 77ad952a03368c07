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
use crate::map::{self, Context, Merge, Planned, combine, provenance};
use crate::store::messages::Status;
use crate::store::{Outcome, StoreError, Version, Write};
use futures_util::future::join_all;
use serde_json::{Value, json};

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
        let planned = plan.resources;
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
