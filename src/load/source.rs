//! What `hemolink load` reads, turned into Bundles to post: the files of the
//! paths given (folders walked recursively, in name order), each `.json` file
//! a Bundle or a single resource, each `.ndjson` file one resource per line.
//!
//! - a `transaction` or `batch` Bundle is posted as it is;
//! - a `collection` Bundle becomes a transaction (entries with an id are
//!   PUT to it, the others POSTed; fullUrls are kept, so references between
//!   entries resolve);
//! - a single resource, and every [`CHUNK`] lines of NDJSON, become a
//!   transaction in the same way.

use serde_json::{Value, json};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// NDJSON resources per transaction.
pub const CHUNK: usize = 1000;

/// One Bundle to post, with where it came from.
pub struct Unit {
    /// `file` or `file:line`, for messages.
    pub origin: String,
    pub bundle: Value,
    /// Resources it carries.
    pub resources: u64,
    /// Bytes of input it stands for (for progress).
    pub bytes: u64,
}

/// The files under `paths`, in a stable order.
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        collect(p, &mut out)?;
    }
    Ok(out)
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_dir() {
        let mut children: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(|d| d.ok().map(|d| d.path()))
            .collect();
        children.sort();
        for c in children {
            let name = c.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if c.is_dir() || name.ends_with(".json") || name.ends_with(".ndjson") {
                collect(&c, out)?;
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Reads `file` and hands each of its units to `emit` (which returns false to
/// stop); an unreadable or malformed file is an error.
pub fn read(file: &Path, emit: &mut dyn FnMut(Unit) -> bool) -> Result<(), String> {
    let name = file.display().to_string();
    if name.ends_with(".ndjson") {
        return read_ndjson(file, &name, emit);
    }
    let bytes = std::fs::read(file).map_err(|e| format!("{name}: {e}"))?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{name}: not JSON: {e}"))?;
    let unit = as_unit(value, &name)?;
    emit(Unit {
        bytes: bytes.len() as u64,
        ..unit
    });
    Ok(())
}

fn read_ndjson(file: &Path, name: &str, emit: &mut dyn FnMut(Unit) -> bool) -> Result<(), String> {
    let reader =
        std::io::BufReader::new(std::fs::File::open(file).map_err(|e| format!("{name}: {e}"))?);
    let mut entries = Vec::new();
    let mut bytes = 0;
    let mut first_line = 1;
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| format!("{name}:{}: {e}", n + 1))?;
        bytes += line.len() as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let resource: Value =
            serde_json::from_str(&line).map_err(|e| format!("{name}:{}: not JSON: {e}", n + 1))?;
        entries.push(entry(None, resource));
        if entries.len() == CHUNK {
            let unit = transaction(
                std::mem::take(&mut entries),
                format!("{name}:{first_line}"),
                bytes,
            );
            if !emit(unit) {
                return Ok(());
            }
            bytes = 0;
            first_line = n + 2;
        }
    }
    if !entries.is_empty() {
        emit(transaction(entries, format!("{name}:{first_line}"), bytes));
    }
    Ok(())
}

/// A file's content as a unit.
fn as_unit(mut value: Value, name: &str) -> Result<Unit, String> {
    let resource_type = value
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    if resource_type.is_empty() {
        return Err(format!("{name}: not a FHIR resource (no resourceType)"));
    }
    if resource_type != "Bundle" {
        return Ok(transaction(vec![entry(None, value)], name.to_string(), 0));
    }
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match kind.as_str() {
        "transaction" | "batch" => {
            let resources = value.get("entry").and_then(Value::as_array).map_or(0, |e| {
                e.iter().filter(|e| e.get("resource").is_some()).count()
            });
            Ok(Unit {
                origin: name.to_string(),
                bundle: value,
                resources: resources as u64,
                bytes: 0,
            })
        }
        "collection" => {
            let entries = match value.get_mut("entry").map(Value::take) {
                Some(Value::Array(list)) => list
                    .into_iter()
                    .filter_map(|mut e| {
                        let r = e.get_mut("resource")?.take();
                        let full_url = e.get("fullUrl").and_then(Value::as_str).map(str::to_string);
                        Some(entry(full_url, r))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Ok(transaction(entries, name.to_string(), 0))
        }
        other => Err(format!(
            "{name}: a Bundle of type '{other}' cannot be loaded (transaction, batch or collection)"
        )),
    }
}

/// A transaction entry writing `resource`: PUT when it has an id, else POST.
fn entry(full_url: Option<String>, resource: Value) -> Value {
    let t = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let request = match resource.get("id").and_then(Value::as_str) {
        Some(id) => json!({"method": "PUT", "url": format!("{t}/{id}")}),
        None => json!({"method": "POST", "url": t}),
    };
    let mut e = json!({"resource": resource, "request": request});
    if let Some(u) = full_url {
        e["fullUrl"] = json!(u);
    }
    e
}

fn transaction(entries: Vec<Value>, origin: String, bytes: u64) -> Unit {
    Unit {
        origin,
        resources: entries.len() as u64,
        bundle: json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}),
        bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_and_single_resources_become_transactions() {
        let c = json!({"resourceType": "Bundle", "type": "collection", "entry": [
            {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient"}},
            {"resource": {"resourceType": "Observation", "id": "o1"}}
        ]});
        let u = as_unit(c, "c.json").unwrap();
        assert_eq!(u.bundle["type"], "transaction");
        assert_eq!(u.resources, 2);
        assert_eq!(u.bundle["entry"][0]["request"]["method"], "POST");
        assert_eq!(u.bundle["entry"][0]["fullUrl"], "urn:uuid:1");
        assert_eq!(u.bundle["entry"][1]["request"]["url"], "Observation/o1");
        let single = as_unit(json!({"resourceType": "Patient", "id": "p"}), "p.json").unwrap();
        assert_eq!(single.bundle["entry"][0]["request"]["method"], "PUT");
        assert!(as_unit(json!({"resourceType": "Bundle", "type": "searchset"}), "s").is_err());
        assert!(as_unit(json!({"a": 1}), "x").is_err());
    }

    #[test]
    fn ndjson_is_read_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.ndjson");
        let lines: Vec<String> = (0..CHUNK + 5)
            .map(|i| json!({"resourceType": "Patient", "id": format!("p{i}")}).to_string())
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n\n").unwrap();
        let mut units = Vec::new();
        read(&path, &mut |u| {
            units.push(u);
            true
        })
        .unwrap();
        assert_eq!(units.len(), 2);
        assert_eq!(units[0].resources, CHUNK as u64);
        assert_eq!(units[1].resources, 5);
        assert!(units[1].origin.ends_with(&format!(":{}", CHUNK + 1)));
        std::fs::write(&path, "{\"resourceType\":\"Patient\"}\nnot json\n").unwrap();
        let err = read(&path, &mut |_| true).unwrap_err();
        assert!(err.contains(":2: not JSON"), "{err}");
    }
}
