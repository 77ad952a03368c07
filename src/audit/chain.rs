//! The hash chain of the server's AuditEvents. Each event carries three
//! extensions: its sequence number, the hash of the event before it, and
//! its own hash, the SHA-256 of the previous hash and the event's canonical
//! JSON (every object's members sorted, no whitespace, without `meta`, `id`
//! and the hash extension itself). Changing, removing or reordering an event
//! breaks the chain at that event or the next: [`verify`] walks the events
//! in the order they were written and reports the first broken link.

use serde_json::{Value, json};

/// The extension holding an event's sequence number (a decimal string).
pub const SEQUENCE: &str = "https://hemolink.dev/fhir/StructureDefinition/audit-sequence";
/// The extension holding the hash of the event before (hex; 64 zeros for the first).
pub const PREVIOUS: &str = "https://hemolink.dev/fhir/StructureDefinition/audit-previous-hash";
/// The extension holding the event's own hash (hex).
pub const HASH: &str = "https://hemolink.dev/fhir/StructureDefinition/audit-hash";

/// The hash before the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where the chain ends: the last sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail {
    pub sequence: u64,
    pub hash: String,
}

impl Default for Tail {
    fn default() -> Tail {
        Tail {
            sequence: 0,
            hash: GENESIS.to_string(),
        }
    }
}

impl Tail {
    /// Links `event` to the chain: sets its sequence, previous-hash and hash
    /// extensions, and moves the tail to it.
    pub fn link(&mut self, event: &mut Value) {
        self.sequence += 1;
        let extensions = [
            json!({"url": SEQUENCE, "valueString": self.sequence.to_string()}),
            json!({"url": PREVIOUS, "valueString": self.hash}),
        ];
        if let Some(fields) = event.as_object_mut() {
            let list = fields
                .entry("extension")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Some(list) = list.as_array_mut() {
                list.retain(|e| {
                    ![SEQUENCE, PREVIOUS, HASH].contains(&e["url"].as_str().unwrap_or(""))
                });
                list.extend(extensions);
            }
        }
        let hash = hash_of(&self.hash, event);
        if let Some(list) = event["extension"].as_array_mut() {
            list.push(json!({"url": HASH, "valueString": hash}));
        }
        self.hash = hash;
    }
}

/// The value of the chain extension `url` of an event.
pub fn extension<'a>(event: &'a Value, url: &str) -> Option<&'a str> {
    event["extension"]
        .as_array()?
        .iter()
        .find(|e| e["url"] == url)?
        .get("valueString")?
        .as_str()
}

/// SHA-256 of `previous` and the canonical form of `event`, as hex.
pub fn hash_of(previous: &str, event: &Value) -> String {
    let mut text = String::with_capacity(1024);
    text.push_str(previous);
    text.push('\n');
    canonical(&without_own(event), &mut text);
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The event without what the store adds (`id`, `meta`) and without its own
/// hash extension: what the hash covers.
fn without_own(event: &Value) -> Value {
    let mut copy = event.clone();
    if let Some(fields) = copy.as_object_mut() {
        fields.shift_remove("id");
        fields.shift_remove("meta");
        if let Some(list) = fields.get_mut("extension").and_then(Value::as_array_mut) {
            list.retain(|e| e["url"] != HASH);
        }
    }
    copy
}

/// JSON with every object's members sorted by name, no whitespace.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(fields) => {
            let mut names: Vec<&String> = fields.keys().collect();
            names.sort();
            out.push('{');
            for (i, name) in names.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(name.clone()).to_string());
                out.push(':');
                canonical(&fields[name], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Whether an event was written by the server into the chain.
pub fn is_chained(event: &Value) -> bool {
    extension(event, HASH).is_some()
}

/// What a walk of the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every link holds; the tail.
    Intact(Tail),
    /// The first broken link: the event (`AuditEvent/id`), the sequence
    /// number expected there, and what is wrong.
    Broken {
        at: String,
        sequence: u64,
        why: String,
    },
}

/// Checks the chain over `events` (chained AuditEvents in the order they
/// were written); the walk stops at the first broken link.
pub fn verify<'a>(events: impl IntoIterator<Item = &'a Value>) -> Verdict {
    let mut walk = Walk::default();
    for event in events {
        if let Err(broken) = walk.step(event) {
            return broken;
        }
    }
    Verdict::Intact(walk.tail)
}

/// A walk along the chain, one event at a time (the events need not all be
/// in memory).
#[derive(Debug, Default)]
pub struct Walk {
    pub tail: Tail,
}

impl Walk {
    /// Checks the next event's link; the verdict when it is broken.
    pub fn step(&mut self, event: &Value) -> Result<(), Verdict> {
        let at = format!("AuditEvent/{}", event["id"].as_str().unwrap_or("?"));
        let expected = self.tail.sequence + 1;
        let broken = |why: String| Verdict::Broken {
            at: at.clone(),
            sequence: expected,
            why,
        };
        let sequence = extension(event, SEQUENCE).and_then(|s| s.parse::<u64>().ok());
        if sequence != Some(expected) {
            return Err(broken(match sequence {
                Some(s) => format!(
                    "its sequence number is {s}: events {expected} to {} are missing or out of order",
                    s.saturating_sub(1)
                ),
                None => "it has no readable sequence number".into(),
            }));
        }
        if extension(event, PREVIOUS) != Some(self.tail.hash.as_str()) {
            return Err(broken(
                "it does not name the hash of the event before it".into(),
            ));
        }
        let hash = hash_of(&self.tail.hash, event);
        if extension(event, HASH) != Some(hash.as_str()) {
            return Err(broken(
                "its content does not match its hash: it was changed".into(),
            ));
        }
        self.tail = Tail {
            sequence: expected,
            hash,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests;
