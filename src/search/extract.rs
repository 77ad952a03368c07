//! Extraction: evaluates every search parameter of a resource's type against
//! the resource and turns what each expression selects into index entries, by
//! the parameter's kind and the FHIR type of each selected node (a `token`
//! parameter over a CodeableConcept gives one entry per coding plus one for its
//! text; a `date` over a Period gives the period's range; and so on).

use super::entry::{Entry, QuantityKind, TokenKind, Value as Indexed};
use super::registry::{Kind, Param, Registry, STORE_COMPUTED};
use super::value::decimal::Decimal;
use super::value::token::{Reference, parse_reference};
use super::value::{date, normalize, phonetic, ucum};
use crate::fhirpath::{Environment, Item, SystemValue};
use serde_json::Value;

/// Every index entry of `resource` (whose `resourceType` is `resource_type`).
/// `base` is the server's base URL, so absolute references to it count as local.
pub fn extract(
    registry: &Registry,
    resource_type: &str,
    resource: &Value,
    base: &str,
) -> Vec<Entry> {
    extract_some(registry, resource_type, resource, base, |_| true)
}

/// The index entries of the parameters `wanted` picks (what a check of a few
/// parameters needs, without evaluating the others).
pub fn extract_some(
    registry: &Registry,
    resource_type: &str,
    resource: &Value,
    base: &str,
    wanted: impl Fn(&Param) -> bool,
) -> Vec<Entry> {
    let env = Environment::default();
    let mut out = Vec::new();
    for param in registry.of_type(resource_type).filter(|p| wanted(p)) {
        let Some(expression) = &param.expression else {
            continue;
        };
        if STORE_COMPUTED.contains(&param.code.as_str()) || param.kind == Kind::Special {
            continue;
        }
        let items = match expression.evaluate(resource, &env) {
            Ok(items) => items,
            Err(e) => {
                tracing::debug!("{resource_type}.{}: {e}", param.code);
                continue;
            }
        };
        if param.kind == Kind::Composite {
            composite(param, &items, resource, &env, base, &mut out);
            continue;
        }
        let mut sink = Sink {
            slot: param.slot,
            group: 0,
            base,
            phonetic: param.code == "phonetic",
            codes_only: false,
            out: &mut out,
        };
        for item in &items {
            sink.item(param.kind, item);
        }
    }
    out.dedup();
    out
}

/// A composite: each selected element is one group, and each component is
/// evaluated relative to it. A group is indexed only when every component has
/// a value (a search matches components of one group, so a partial group could
/// never match), and only by codes: a composite's components take no
/// modifiers, so `:text` and `:of-type` rows would never be read.
fn composite(
    param: &Param,
    items: &[Item<'_>],
    resource: &Value,
    env: &Environment,
    base: &str,
    out: &mut Vec<Entry>,
) {
    for (group, item) in items.iter().enumerate() {
        let start = out.len();
        for (i, component) in param.components.iter().enumerate() {
            let before = out.len();
            if let Ok(values) = component.expression.evaluate_item(item, resource, env) {
                let mut sink = Sink {
                    slot: param.slot + 1 + i,
                    group: group as u32 + 1,
                    base,
                    phonetic: false,
                    codes_only: true,
                    out,
                };
                for v in &values {
                    sink.item(component.kind, v);
                }
            }
            if out.len() == before {
                out.truncate(start);
                break;
            }
        }
    }
}

/// Where the entries of one parameter go.
struct Sink<'o> {
    slot: usize,
    group: u32,
    base: &'o str,
    phonetic: bool,
    /// Tokens by code only (no `:text` or `:of-type` rows).
    codes_only: bool,
    out: &'o mut Vec<Entry>,
}

impl Sink<'_> {
    fn push(&mut self, value: Indexed) {
        self.out.push(Entry {
            slot: self.slot,
            group: self.group,
            value,
        });
    }

    fn item(&mut self, kind: Kind, item: &Item<'_>) {
        match item {
            Item::Value(v) => self.system_value(kind, v),
            _ => {
                let (Some(value), type_name) = (item.json(), item.type_name()) else {
                    return;
                };
                self.node(kind, value, type_name.unwrap_or(""));
            }
        }
    }

    fn system_value(&mut self, kind: Kind, v: &SystemValue) {
        match (kind, v) {
            (Kind::Token, SystemValue::Boolean(b)) => self.token("", &b.to_string()),
            (Kind::Token | Kind::String | Kind::Uri, SystemValue::String(s)) => {
                self.primitive(kind, s)
            }
            (Kind::Number, SystemValue::Integer(i)) => self.number(&i.to_string()),
            (Kind::Number, SystemValue::Decimal(d)) => self.number(&d.to_string()),
            (Kind::Date, SystemValue::Date(t) | SystemValue::DateTime(t)) => {
                self.date(&t.to_string())
            }
            _ => {}
        }
    }

    fn node(&mut self, kind: Kind, value: &Value, type_name: &str) {
        match value {
            Value::String(s) => self.primitive(kind, s),
            Value::Bool(b) if kind == Kind::Token => self.token("", &b.to_string()),
            Value::Number(n) if kind == Kind::Number => self.number(&n.to_string()),
            Value::Number(n) if kind == Kind::Token || kind == Kind::String => {
                self.primitive(kind, &n.to_string())
            }
            Value::Object(_) => self.complex(kind, value, type_name),
            _ => {}
        }
    }

    fn primitive(&mut self, kind: Kind, s: &str) {
        match kind {
            Kind::String => self.string(s),
            Kind::Token => self.token("", s),
            Kind::Uri => self.push(Indexed::Uri(s.to_string())),
            Kind::Date => self.date(s),
            Kind::Number => self.number(s),
            Kind::Reference => self.reference_text(s),
            Kind::Quantity | Kind::Composite | Kind::Special => {}
        }
    }

    fn complex(&mut self, kind: Kind, v: &Value, type_name: &str) {
        match (kind, type_name) {
            (Kind::String, "HumanName") => {
                for key in ["family", "given", "prefix", "suffix", "text"] {
                    self.strings(&v[key]);
                }
            }
            (Kind::String, "Address") => {
                for key in [
                    "line",
                    "city",
                    "district",
                    "state",
                    "postalCode",
                    "country",
                    "text",
                ] {
                    self.strings(&v[key]);
                }
            }
            (Kind::Token, "Coding") => self.coding(v),
            (Kind::Token, "CodeableConcept") => {
                for c in v["coding"].as_array().into_iter().flatten() {
                    self.coding(c);
                }
                if let Some(t) = v["text"].as_str() {
                    self.token_text(t);
                }
            }
            (Kind::Token, "Identifier") => self.identifier(v),
            (Kind::Token, "ContactPoint") => {
                if let Some(value) = v["value"].as_str() {
                    self.token(v["system"].as_str().unwrap_or(""), value);
                }
            }
            (Kind::Reference, _) => {
                if let Some(r) = v["reference"].as_str() {
                    self.reference_text(r);
                }
                if v["identifier"].is_object() {
                    self.identifier(&v["identifier"]);
                }
            }
            (Kind::Date, "Period") => {
                if let Some(r) = date::period(v["start"].as_str(), v["end"].as_str()) {
                    self.push(Indexed::Date { lo: r.lo, hi: r.hi });
                }
            }
            (Kind::Date, "Timing") => {
                for e in v["event"].as_array().into_iter().flatten() {
                    if let Some(s) = e.as_str() {
                        self.date(s);
                    }
                }
                let bounds = &v["repeat"]["boundsPeriod"];
                if bounds.is_object() {
                    self.complex(kind, bounds, "Period");
                }
            }
            (Kind::Quantity, "Range") => {
                let (low, high) = (&v["low"], &v["high"]);
                let lo = number_of(&low["value"]).and_then(|t| point(&t));
                let hi = number_of(&high["value"]).and_then(|t| point(&t));
                if lo.is_none() && hi.is_none() {
                    return;
                }
                let unit = if low.is_object() { low } else { high };
                let lo = lo.unwrap_or(f64::NEG_INFINITY);
                let hi = hi.unwrap_or(f64::INFINITY);
                self.push(Indexed::Quantity {
                    kind: QuantityKind::Stated,
                    value: lo,
                    lo,
                    hi,
                    system: unit["system"].as_str().unwrap_or("").to_string(),
                    code: unit_code(unit),
                });
            }
            (Kind::Quantity, "Money") => {
                if let Some(value) = number_of(&v["value"]).and_then(|t| point(&t)) {
                    self.push(Indexed::Quantity {
                        kind: QuantityKind::Stated,
                        value,
                        lo: value,
                        hi: value,
                        system: "urn:iso:std:iso:4217".to_string(),
                        code: v["currency"].as_str().unwrap_or("").to_string(),
                    });
                }
            }
            (Kind::Quantity, _) if v.get("value").is_some() => self.quantity(v),
            _ => {}
        }
    }

    fn strings(&mut self, v: &Value) {
        match v {
            Value::String(s) => self.string(s),
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .for_each(|s| self.string(s)),
            _ => {}
        }
    }

    fn string(&mut self, s: &str) {
        if self.phonetic {
            for code in phonetic::phonetic_codes(s) {
                self.push(Indexed::String {
                    norm: code.clone(),
                    exact: code,
                });
            }
            return;
        }
        self.push(Indexed::String {
            norm: normalize::normalize(s),
            exact: s.to_string(),
        });
    }

    fn token(&mut self, system: &str, code: &str) {
        self.push(Indexed::Token {
            kind: TokenKind::Code,
            system: system.to_string(),
            code: code.to_string(),
        });
    }

    fn token_text(&mut self, text: &str) {
        if self.codes_only {
            return;
        }
        self.push(Indexed::Token {
            kind: TokenKind::Text,
            system: String::new(),
            code: normalize::normalize(text),
        });
    }

    fn coding(&mut self, c: &Value) {
        if let Some(code) = c["code"].as_str() {
            self.token(c["system"].as_str().unwrap_or(""), code);
        }
        if let Some(d) = c["display"].as_str() {
            self.token_text(d);
        }
    }

    fn identifier(&mut self, v: &Value) {
        let Some(value) = v["value"].as_str() else {
            return;
        };
        self.token(v["system"].as_str().unwrap_or(""), value);
        if self.codes_only {
            return;
        }
        for c in v["type"]["coding"].as_array().into_iter().flatten() {
            if let Some(code) = c["code"].as_str() {
                self.push(Indexed::Token {
                    kind: TokenKind::OfType,
                    system: format!("{}|{code}", c["system"].as_str().unwrap_or("")),
                    code: value.to_string(),
                });
            }
        }
        if let Some(t) = v["type"]["text"].as_str() {
            self.token_text(t);
        }
    }

    fn reference_text(&mut self, r: &str) {
        match parse_reference(r, self.base) {
            Some(Reference::Local {
                resource_type: Some(t),
                id,
                ..
            }) => self.push(Indexed::Local {
                target_type: t,
                target_id: id,
            }),
            Some(Reference::Absolute { url, .. }) => self.push(Indexed::Url(url)),
            _ => {}
        }
    }

    fn date(&mut self, s: &str) {
        if let Some(r) = date::range(s) {
            self.push(Indexed::Date { lo: r.lo, hi: r.hi });
        }
    }

    /// A number is stored as the point it is (R4 compares the search value's
    /// precision range with the stored value).
    fn number(&mut self, text: &str) {
        if let Some(value) = point(text) {
            self.push(Indexed::Number {
                value,
                lo: value,
                hi: value,
            });
        }
    }

    fn quantity(&mut self, v: &Value) {
        let Some(text) = number_of(&v["value"]) else {
            return;
        };
        let Some(decimal) = Decimal::parse(&text) else {
            return;
        };
        let value = decimal.to_f64();
        let system = v["system"].as_str().unwrap_or("").to_string();
        let code = unit_code(v);
        if system == ucum::UCUM_SYSTEM
            && let Some((canonical, unit)) = ucum::canonical(&decimal, &code)
        {
            let c = canonical.to_f64();
            self.push(Indexed::Quantity {
                kind: QuantityKind::Canonical,
                value: c,
                lo: c,
                hi: c,
                system: ucum::UCUM_SYSTEM.to_string(),
                code: unit.to_string(),
            });
        }
        self.push(Indexed::Quantity {
            kind: QuantityKind::Stated,
            value,
            lo: value,
            hi: value,
            system,
            code,
        });
    }
}

/// A JSON number's text (or a string holding one).
fn number_of(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A quantity's unit code: `code`, else `unit`.
fn unit_code(v: &Value) -> String {
    v["code"]
        .as_str()
        .or(v["unit"].as_str())
        .unwrap_or("")
        .to_string()
}

/// A decimal's value as stored (`None` when it is not a decimal).
fn point(text: &str) -> Option<f64> {
    Decimal::parse(text).map(|d| d.to_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::registry::registry;
    use serde_json::json;

    /// The entries of the composite `code` of an Observation, by component.
    fn composite_rows(observation: &Value, code: &str) -> Vec<(usize, Indexed)> {
        let r = registry();
        let slot = r.get("Observation", code).unwrap().slot;
        extract(r, "Observation", observation, "http://x/fhir")
            .into_iter()
            .filter(|e| e.slot > slot && e.slot <= slot + 2)
            .map(|e| (e.slot - slot - 1, e.value))
            .collect()
    }

    #[test]
    fn a_composite_is_indexed_only_when_every_component_has_a_value_and_only_by_code() {
        let observation = json!({
            "resourceType": "Observation",
            "status": "final",
            "code": {
                "coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}],
                "text": "Heart rate"
            },
            "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}
        });
        let quantity = composite_rows(&observation, "code-value-quantity");
        let code = Indexed::Token {
            kind: TokenKind::Code,
            system: "http://loinc.org".into(),
            code: "8867-4".into(),
        };
        assert!(quantity.contains(&(0, code)), "{quantity:?}");
        assert!(quantity.iter().any(|(i, _)| *i == 1), "{quantity:?}");
        assert!(
            quantity.iter().all(|(_, v)| !matches!(
                v,
                Indexed::Token {
                    kind: TokenKind::Text,
                    ..
                }
            )),
            "{quantity:?}"
        );
        for missing in ["code-value-string", "code-value-date", "code-value-concept"] {
            assert_eq!(composite_rows(&observation, missing), vec![], "{missing}");
        }
        let plain = extract(registry(), "Observation", &observation, "http://x/fhir");
        let code_slot = registry().get("Observation", "code").unwrap().slot;
        assert!(plain.iter().any(|e| e.slot == code_slot
            && matches!(
                e.value,
                Indexed::Token {
                    kind: TokenKind::Text,
                    ..
                }
            )));
    }
}
