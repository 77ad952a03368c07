//! Narrative XHTML (`Narrative.div`). Both directions go through one serializer
//! that reads a `div` subtree from a namespace-aware reader and writes it back as
//! a self-contained string: the root always declares the XHTML namespace, XHTML
//! elements are written without prefix, other namespaces and attribute prefixes
//! are declared where needed, text and attribute values are re-escaped, comments
//! and processing instructions are dropped. The JSON form of a div is that
//! string; the XML form embeds the same string.

use super::escape::{
    attr_value, decode_ref, escape_attr, escape_text, is_blank, is_ncname, push_text,
};
use super::{MAX_DEPTH, XHTML_NS};
use crate::fhir::outcome::Issue;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// Namespace bindings written on one element of the output.
struct Scope {
    /// The default namespace in force (`""` when none).
    default: String,
    /// Prefix declarations made on this element.
    prefixes: Vec<(String, String)>,
    /// The name written for the element.
    name: String,
}

fn structure(msg: impl Into<String>) -> Issue {
    Issue::error("structure", msg)
}

/// Parses a div string (JSON form) and returns its normalized serialization.
pub(crate) fn normalize(div: &str) -> Result<String, Issue> {
    let mut reader = NsReader::from_str(div);
    let (start, empty) = loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => break (e, false),
            Ok(Event::Empty(e)) => break (e, true),
            Ok(Event::Text(t)) if is_blank(&t) => {}
            Ok(Event::Comment(_) | Event::PI(_) | Event::Decl(_)) => {}
            Ok(Event::DocType(_)) => return Err(Issue::error("security", "DTDs are not allowed")),
            Ok(Event::Eof) => return Err(structure("the narrative holds no div element")),
            Ok(_) => return Err(structure("text before the div element")),
            Err(e) => return Err(structure(format!("narrative is not well-formed XML: {e}"))),
        }
    };
    let out = capture(&mut reader, &start, empty, 0)?;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => return Ok(out),
            Ok(Event::Text(t)) if is_blank(&t) => {}
            Ok(Event::Comment(_) | Event::PI(_)) => {}
            Ok(_) => return Err(structure("content after the div element")),
            Err(e) => return Err(structure(format!("narrative is not well-formed XML: {e}"))),
        }
    }
}

/// Reads the subtree opened by `root` (already read; `empty` for `<div/>`) and
/// returns its serialization. `depth` is the nesting depth of `root`.
pub(crate) fn capture(
    reader: &mut NsReader<&[u8]>,
    root: &BytesStart,
    empty: bool,
    depth: usize,
) -> Result<String, Issue> {
    let mut out = String::new();
    let mut stack: Vec<Scope> = Vec::new();
    let (ns, local) = element_name(reader, root)?;
    if ns.as_deref() != Some(XHTML_NS) || local != "div" {
        return Err(structure(
            "the narrative must be a div element in the XHTML namespace",
        ));
    }
    open(reader, root, empty, &mut stack, &mut out)?;
    if empty {
        return Ok(out);
    }
    while !stack.is_empty() {
        let event = reader
            .read_event()
            .map_err(|e| structure(format!("narrative is not well-formed XML: {e}")))?;
        match event {
            Event::Start(e) => {
                if depth + stack.len() >= MAX_DEPTH {
                    return Err(Issue::error("too-long", "narrative nests too deep"));
                }
                open(reader, &e, false, &mut stack, &mut out)?;
            }
            Event::Empty(e) => open(reader, &e, true, &mut stack, &mut out)?,
            Event::End(_) => {
                if let Some(scope) = stack.pop() {
                    out.push_str("</");
                    out.push_str(&scope.name);
                    out.push('>');
                }
            }
            Event::Text(t) => {
                let mut text = String::new();
                push_text(&t, &mut text)?;
                escape_text(&text, &mut out)?;
            }
            Event::CData(c) => {
                let mut text = String::new();
                push_text(&c, &mut text)?;
                escape_text(&text, &mut out)?;
            }
            Event::GeneralRef(r) => {
                let name =
                    std::str::from_utf8(&r).map_err(|_| structure("reference is not UTF-8"))?;
                let mut buf = [0u8; 4];
                escape_text(decode_ref(name)?.encode_utf8(&mut buf), &mut out)?;
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::DocType(_) => return Err(Issue::error("security", "DTDs are not allowed")),
            Event::Decl(_) => return Err(structure("misplaced XML declaration")),
            Event::Eof => return Err(structure("unexpected end of the narrative")),
        }
    }
    Ok(out)
}

/// The namespace and local name of an element.
fn element_name(
    reader: &NsReader<&[u8]>,
    e: &BytesStart,
) -> Result<(Option<String>, String), Issue> {
    let (res, local) = reader.resolve_element(e.name());
    let local = std::str::from_utf8(local.as_ref())
        .map_err(|_| structure("element name is not UTF-8"))?
        .to_string();
    if !is_ncname(&local) {
        return Err(structure(format!("invalid element name '{local}'")));
    }
    Ok((namespace(res)?, local))
}

fn namespace(res: ResolveResult) -> Result<Option<String>, Issue> {
    match res {
        ResolveResult::Bound(ns) => std::str::from_utf8(ns.as_ref())
            .map(|s| Some(s.to_string()))
            .map_err(|_| structure("namespace is not UTF-8")),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(p) => Err(structure(format!(
            "undeclared namespace prefix '{}'",
            String::from_utf8_lossy(&p)
        ))),
    }
}

/// Whether `prefix` is bound to `ns` in the output scopes.
fn bound(stack: &[Scope], prefix: &str, ns: &str) -> bool {
    for scope in stack.iter().rev() {
        if let Some((_, n)) = scope.prefixes.iter().find(|(p, _)| p == prefix) {
            return n == ns;
        }
    }
    false
}

/// Writes the start tag of `e` and, unless `empty`, opens its scope.
fn open(
    reader: &NsReader<&[u8]>,
    e: &BytesStart,
    empty: bool,
    stack: &mut Vec<Scope>,
    out: &mut String,
) -> Result<(), Issue> {
    let (ns, local) = element_name(reader, e)?;
    let ns = ns.unwrap_or_default();
    out.push('<');
    out.push_str(&local);
    if stack.last().is_none_or(|s| s.default != ns) {
        out.push_str(" xmlns=\"");
        escape_attr(&ns, out)?;
        out.push('"');
    }
    let mut scope = Scope {
        default: ns,
        prefixes: Vec::new(),
        name: local,
    };
    for attr in e.attributes() {
        let attr = attr.map_err(|err| structure(format!("bad attribute: {err}")))?;
        let key = attr.key;
        if key.as_namespace_binding().is_some() {
            continue;
        }
        let (res, local) = reader.resolve_attribute(key);
        let local = std::str::from_utf8(local.as_ref())
            .map_err(|_| structure("attribute name is not UTF-8"))?;
        if !is_ncname(local) {
            return Err(structure(format!("invalid attribute name '{local}'")));
        }
        let prefix = key
            .prefix()
            .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned());
        let value = attr_value(&attr.value)?;
        out.push(' ');
        match (prefix, namespace(res)?) {
            (None, _) => {}
            (Some(p), _) if p == "xml" => out.push_str("xml:"),
            (Some(p), Some(attr_ns)) => {
                if !bound(stack, &p, &attr_ns) && !bound(std::slice::from_ref(&scope), &p, &attr_ns)
                {
                    if !is_ncname(&p) {
                        return Err(structure(format!("invalid prefix '{p}'")));
                    }
                    out.push_str("xmlns:");
                    out.push_str(&p);
                    out.push_str("=\"");
                    escape_attr(&attr_ns, out)?;
                    out.push_str("\" ");
                    scope.prefixes.push((p.clone(), attr_ns));
                }
                out.push_str(&p);
                out.push(':');
            }
            (Some(p), None) => return Err(structure(format!("undeclared namespace prefix '{p}'"))),
        }
        out.push_str(local);
        out.push_str("=\"");
        escape_attr(&value, out)?;
        out.push('"');
    }
    if empty {
        out.push_str("/>");
    } else {
        out.push('>');
        stack.push(scope);
    }
    Ok(())
}
