//! Comparing a resource read back with the one written: object keys in any
//! order, numbers by their exact text, arrays in order, `meta.versionId` and
//! `meta.lastUpdated` ignored (and a `meta` they leave empty), and narrative
//! XHTML compared canonically (attributes as a set, namespace declarations
//! ignored, runs of white space as one space).

use quick_xml::events::Event;
use serde_json::Value;

/// The differences between `expected` and `actual`, as `path: what` lines (empty when equal).
pub fn differences(expected: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff(
        &strip_server_meta(expected),
        &strip_server_meta(actual),
        "",
        &mut out,
    );
    out
}

fn strip_server_meta(resource: &Value) -> Value {
    let mut r = resource.clone();
    if let Some(fields) = r.as_object_mut()
        && let Some(Value::Object(meta)) = fields.get_mut("meta")
    {
        meta.shift_remove("versionId");
        meta.shift_remove("lastUpdated");
        if meta.is_empty() {
            fields.shift_remove("meta");
        }
    }
    r
}

fn diff(e: &Value, a: &Value, path: &str, out: &mut Vec<String>) {
    if out.len() >= 10 {
        return;
    }
    match (e, a) {
        (Value::Object(eo), Value::Object(ao)) => {
            for (k, ev) in eo {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match ao.get(k) {
                    Some(av) if k == "div" => {
                        if let (Some(es), Some(as_)) = (ev.as_str(), av.as_str())
                            && canonical_xhtml(es) != canonical_xhtml(as_)
                        {
                            out.push(format!("{p}: narrative differs"));
                        }
                    }
                    Some(av) => diff(ev, av, &p, out),
                    None => out.push(format!("{p}: missing")),
                }
            }
            for k in ao.keys().filter(|k| !eo.contains_key(*k)) {
                out.push(format!(
                    "{}{k}: unexpected",
                    if path.is_empty() {
                        String::new()
                    } else {
                        format!("{path}.")
                    }
                ));
            }
        }
        (Value::Array(ea), Value::Array(aa)) => {
            if ea.len() != aa.len() {
                out.push(format!("{path}: {} items, expected {}", aa.len(), ea.len()));
                return;
            }
            for (i, (ev, av)) in ea.iter().zip(aa).enumerate() {
                diff(ev, av, &format!("{path}[{i}]"), out);
            }
        }
        (Value::Number(en), Value::Number(an)) => {
            if en.to_string() != an.to_string() {
                out.push(format!("{path}: {an}, expected {en}"));
            }
        }
        _ if e == a => {}
        _ => out.push(format!("{path}: {a}, expected {e}")),
    }
}

/// A canonical text of an XHTML fragment, or the text itself if it is not well-formed.
pub fn canonical_xhtml(text: &str) -> String {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut out = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let mut attrs: Vec<String> = e
                    .attributes()
                    .filter_map(Result::ok)
                    .filter(|a| {
                        let k = a.key.as_ref();
                        k != b"xmlns" && !k.starts_with(b"xmlns:")
                    })
                    .map(|a| {
                        let v = a
                            .unescape_value()
                            .map(|v| v.into_owned())
                            .unwrap_or_default();
                        format!(
                            "{}={}",
                            String::from_utf8_lossy(a.key.local_name().as_ref()),
                            collapse(&v)
                        )
                    })
                    .collect();
                attrs.sort();
                out.push_str(&format!("<{name} {}>", attrs.join(" ")));
            }
            Ok(Event::End(e)) => {
                out.push_str(&format!(
                    "</{}>",
                    String::from_utf8_lossy(e.local_name().as_ref())
                ));
            }
            Ok(Event::Text(t)) => {
                let text = t.decode().map(|s| s.into_owned()).unwrap_or_default();
                let unescaped = quick_xml::escape::unescape(&text)
                    .map(|s| s.into_owned())
                    .unwrap_or(text);
                out.push_str(&unescaped);
            }
            Ok(Event::GeneralRef(r)) => {
                let name = String::from_utf8_lossy(r.as_ref()).into_owned();
                let decoded =
                    quick_xml::escape::unescape(&format!("&{name};")).map(|s| s.into_owned());
                out.push_str(&decoded.unwrap_or(name));
            }
            Ok(Event::CData(c)) => out.push_str(&String::from_utf8_lossy(&c)),
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(_) => return collapse(text),
        }
    }
    collapse(&out)
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ignores_server_meta_and_key_order() {
        let a = json!({"resourceType": "Patient", "id": "1", "active": true});
        let b = json!({"active": true, "id": "1", "meta": {"versionId": "3", "lastUpdated": "x"}, "resourceType": "Patient"});
        assert!(differences(&a, &b).is_empty());
        let c = json!({"resourceType": "Patient", "id": "1", "active": false});
        assert_eq!(differences(&a, &c), ["active: false, expected true"]);
    }

    #[test]
    fn numbers_by_text_and_xhtml_canonically() {
        let a: Value = serde_json::from_str(r#"{"v": 1.50}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"v": 1.5}"#).unwrap();
        assert_eq!(differences(&a, &b).len(), 1);
        let x = r#"<div xmlns="http://www.w3.org/1999/xhtml"><p  class="a" id="b">A &amp;
             B</p></div>"#;
        let y =
            r#"<div xmlns="http://www.w3.org/1999/xhtml"><p id="b" class="a">A &amp; B</p></div>"#;
        assert_eq!(canonical_xhtml(x), canonical_xhtml(y));
    }
}
