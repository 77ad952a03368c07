//! Build script: turns the vendored FHIR R4 StructureDefinitions (`definitions/`)
//! into a compact line-oriented model that the binary embeds (`OUT_DIR/model.txt`),
//! so that start-up parses a few hundred kilobytes instead of 37 MB of JSON.
//!
//! Format, one record a line, fields separated by tabs:
//! - `T name kind abstract base` — a type (`p` primitive, `c` complex, `r` resource).
//! - `E depth name min max types content-ref flags summary` — an element of the type above,
//!   in snapshot order; `depth` 1 is a child of the type's root; `types` is a comma
//!   list of type codes (`-` for none); `flags` holds `a` (XML attribute) and/or `x`
//!   (XHTML), or `-`; `summary` is `s` for an element of the summary, else `-`.
//! - `P name json regex` — the value of the primitive type above: `b`oolean,
//!   `n`umber or `s`tring in JSON, and the regular expression the spec gives.
//!
//! It also writes `OUT_DIR/search-params.jsonl`: every SearchParameter of the R4
//! definitions and of `profiles/search-parameters/`, one compact JSON object a
//! line with only what search needs (url, code, type, base, expression, target,
//! component), so the registry loads in a millisecond.

use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

const FHIR_TYPE_EXT: &str = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type";
const REGEX_EXT: &str = "http://hl7.org/fhir/StructureDefinition/regex";

fn main() {
    let defs = Path::new("definitions");
    let mut out = String::new();
    for file in ["profiles-types.json", "profiles-resources.json"] {
        let path = defs.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let bundle: Value = serde_json::from_slice(&text).expect("definitions are JSON");
        for entry in bundle["entry"].as_array().expect("a Bundle") {
            let sd = &entry["resource"];
            if sd["resourceType"] != "StructureDefinition" || sd["derivation"] == "constraint" {
                continue;
            }
            write_type(sd, &mut out);
        }
    }
    let out_dir = std::env::var("OUT_DIR").expect("OUT_DIR");
    std::fs::write(Path::new(&out_dir).join("model.txt"), out).expect("write model");
    std::fs::write(
        Path::new(&out_dir).join("search-params.jsonl"),
        search_params(defs),
    )
    .expect("write search parameters");
}

/// The SearchParameters the registry loads: R4's, then the project's own.
fn search_params(defs: &Path) -> String {
    let mut resources = Vec::new();
    let path = defs.join("search-parameters.json");
    println!("cargo:rerun-if-changed={}", path.display());
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let bundle: Value = serde_json::from_slice(&text).expect("search parameters are JSON");
    for entry in bundle["entry"].as_array().expect("a Bundle") {
        resources.push(entry["resource"].clone());
    }
    let own = Path::new("profiles/search-parameters");
    println!("cargo:rerun-if-changed={}", own.display());
    let mut files: Vec<_> = std::fs::read_dir(own)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
    {
        println!("cargo:rerun-if-changed={}", file.display());
        let text = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let sp: Value = serde_json::from_slice(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", file.display()));
        assert_eq!(sp["resourceType"], "SearchParameter", "{}", file.display());
        resources.push(sp);
    }
    let mut out = String::new();
    for sp in resources {
        let mut line = serde_json::Map::new();
        for key in [
            "url",
            "code",
            "type",
            "base",
            "expression",
            "target",
            "component",
        ] {
            if let Some(v) = sp.get(key) {
                line.insert(key.to_string(), v.clone());
            }
        }
        writeln!(out, "{}", Value::Object(line)).unwrap();
    }
    out
}

fn write_type(sd: &Value, out: &mut String) {
    let kind = match sd["kind"].as_str() {
        Some("primitive-type") => "p",
        Some("complex-type") => "c",
        Some("resource") => "r",
        _ => return,
    };
    let name = sd["name"].as_str().expect("name");
    let base = sd["baseDefinition"]
        .as_str()
        .and_then(|b| b.rsplit('/').next())
        .unwrap_or("-");
    let abstract_ = if sd["abstract"] == true { 1 } else { 0 };
    writeln!(out, "T\t{name}\t{kind}\t{abstract_}\t{base}").unwrap();
    let elements = sd["snapshot"]["element"].as_array().expect("snapshot");
    for el in &elements[1..] {
        let path = el["path"].as_str().expect("path");
        if kind == "p" && path.ends_with(".value") {
            let t = &el["type"][0];
            let fhir_type = ext(t, FHIR_TYPE_EXT).unwrap_or("");
            let json = match (name, fhir_type) {
                ("boolean", _) => "b",
                ("integer" | "decimal" | "positiveInt" | "unsignedInt", _) => "n",
                _ => "s",
            };
            let regex = ext(t, REGEX_EXT).unwrap_or("");
            writeln!(out, "P\t{name}\t{json}\t{regex}").unwrap();
            continue;
        }
        let depth = path.matches('.').count();
        let elem_name = path.rsplit('.').next().expect("element name");
        let min = el["min"].as_u64().unwrap_or(0);
        let max = el["max"].as_str().unwrap_or("*");
        let types: Vec<String> = el["type"]
            .as_array()
            .map(|ts| ts.iter().map(type_code).collect())
            .unwrap_or_default();
        let types = if types.is_empty() {
            "-".to_string()
        } else {
            types.join(",")
        };
        let content_ref = el["contentReference"]
            .as_str()
            .map(|r| r.trim_start_matches('#'))
            .unwrap_or("-");
        let mut flags = String::new();
        for rep in el["representation"].as_array().into_iter().flatten() {
            match rep.as_str() {
                Some("xmlAttr") => flags.push('a'),
                Some("xhtml") => flags.push('x'),
                _ => {}
            }
        }
        if types == "xhtml" {
            flags.push('x');
        }
        if flags.is_empty() {
            flags.push('-');
        }
        let summary = if el["isSummary"] == true { "s" } else { "-" };
        writeln!(
            out,
            "E\t{depth}\t{elem_name}\t{min}\t{max}\t{types}\t{content_ref}\t{flags}\t{summary}"
        )
        .unwrap();
    }
}

/// The FHIR type code of an element type: `System.String` and friends carry the
/// FHIR type in an extension (`Resource.id` → `id`, `Extension.url` → `uri`).
fn type_code(t: &Value) -> String {
    let code = t["code"].as_str().expect("type code");
    match code.strip_prefix("http://hl7.org/fhirpath/System.") {
        Some(system) => ext(t, FHIR_TYPE_EXT)
            .map(str::to_string)
            .unwrap_or_else(|| system.to_lowercase()),
        None => code.to_string(),
    }
}

fn ext<'a>(t: &'a Value, url: &str) -> Option<&'a str> {
    t["extension"]
        .as_array()?
        .iter()
        .find(|e| e["url"] == url)
        .and_then(|e| e["valueUrl"].as_str().or(e["valueString"].as_str()))
}
