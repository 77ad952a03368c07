//! The search-parameter registry: every SearchParameter the server knows (the
//! R4 definitions and the project's own in `profiles/search-parameters/`, both
//! compacted by the build script), looked up by resource type and code.
//!
//! A parameter defined on `Resource` or `DomainResource` applies to every type
//! below it. A parameter shared by several types (`clinical-patient` has 30
//! bases and one expression joining 30 paths with `|`) is split per type: each
//! type keeps only the union branches that start with its own name (or with
//! `Resource`), so a write evaluates only what concerns it.

use crate::fhir::model::model;
use crate::fhirpath::Expression;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

/// The kind of a search parameter (`SearchParameter.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Number,
    Date,
    String,
    Token,
    Reference,
    Composite,
    Quantity,
    Uri,
    Special,
}

impl Kind {
    /// The code used in SearchParameter and CapabilityStatement.
    pub fn code(self) -> &'static str {
        match self {
            Kind::Number => "number",
            Kind::Date => "date",
            Kind::String => "string",
            Kind::Token => "token",
            Kind::Reference => "reference",
            Kind::Composite => "composite",
            Kind::Quantity => "quantity",
            Kind::Uri => "uri",
            Kind::Special => "special",
        }
    }
}

/// A SearchParameter as the build script compacted it.
#[derive(Debug, Deserialize)]
struct Definition {
    url: String,
    code: String,
    #[serde(rename = "type")]
    kind: Kind,
    base: Vec<String>,
    expression: Option<String>,
    #[serde(default)]
    target: Vec<String>,
    #[serde(default)]
    component: Vec<ComponentDefinition>,
}

#[derive(Debug, Deserialize)]
struct ComponentDefinition {
    definition: String,
    expression: String,
}

/// One component of a composite parameter: its own kind and the expression,
/// evaluated relative to each element the composite's expression selects.
#[derive(Debug)]
pub struct Component {
    pub kind: Kind,
    pub expression: Expression,
}

/// A search parameter as it applies to one resource type.
#[derive(Debug)]
pub struct Param {
    /// The resource type this entry is for.
    pub resource_type: String,
    pub code: String,
    pub url: String,
    pub kind: Kind,
    /// The expression restricted to this type; `None` for the parameters that
    /// have none (`_text`, `_content`, `_query`) or are computed by the store.
    pub expression: Option<Expression>,
    /// The text of [`Param::expression`].
    pub expression_text: Option<String>,
    /// Resource types a reference parameter may point to.
    pub target: Vec<String>,
    /// The components of a composite parameter.
    pub components: Vec<Component>,
    /// Where this parameter's index entries are kept: its position in
    /// [`Registry::slots`]; a composite's component `i` is at `slot + 1 + i`.
    pub slot: usize,
}

/// The parameters of the server.
#[derive(Debug)]
pub struct Registry {
    params: Vec<Arc<Param>>,
    by_type: HashMap<String, BTreeMap<String, Arc<Param>>>,
    slots: Vec<(String, String)>,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

/// The compacted definitions the build embeds.
const DEFINITIONS: &str = include_str!(concat!(env!("OUT_DIR"), "/search-params.jsonl"));

/// The version of the extraction rules: bumped whenever what a value is
/// indexed as changes, so that stores built before reindex on open.
const EXTRACTION_VERSION: u32 = 2;

/// The registry built from the embedded definitions, once.
pub fn registry() -> &'static Registry {
    REGISTRY.get_or_init(|| {
        Registry::from_lines(DEFINITIONS)
            .unwrap_or_else(|e| panic!("the embedded search parameters are broken: {e}"))
    })
}

/// What the index depends on: the definitions and the extraction rules, as a
/// short hash (FNV-1a, 64 bits).
pub fn fingerprint() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in DEFINITIONS.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}-{EXTRACTION_VERSION}")
}

/// The parameters that apply to every type and that the store computes itself
/// rather than through their expression.
pub const STORE_COMPUTED: &[&str] = &["_id", "_lastUpdated"];

impl Registry {
    /// Builds the registry from compacted definitions (one JSON object a line).
    pub fn from_lines(text: &str) -> Result<Registry, String> {
        let mut definitions = Vec::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let d: Definition =
                serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
            definitions.push(d);
        }
        let by_url: HashMap<&str, &Definition> =
            definitions.iter().map(|d| (d.url.as_str(), d)).collect();
        let m = model();
        let mut registry = Registry {
            params: Vec::new(),
            by_type: HashMap::new(),
            slots: Vec::new(),
        };
        for d in &definitions {
            let mut types: Vec<&str> = Vec::new();
            for base in &d.base {
                if base == "Resource" || base == "DomainResource" {
                    for t in m.resource_types() {
                        let domain = m
                            .resource(t)
                            .is_some_and(|td| td.base.as_deref() == Some("DomainResource"));
                        if base == "Resource" || domain {
                            types.push(t);
                        }
                    }
                } else {
                    types.push(base);
                }
            }
            for resource_type in types {
                let param = registry.build(d, resource_type, &by_url)?;
                let param = Arc::new(param);
                registry
                    .by_type
                    .entry(resource_type.to_string())
                    .or_default()
                    .insert(d.code.clone(), param.clone());
                registry.params.push(param);
            }
        }
        Ok(registry)
    }

    fn build(
        &mut self,
        d: &Definition,
        resource_type: &str,
        by_url: &HashMap<&str, &Definition>,
    ) -> Result<Param, String> {
        let expression_text = d
            .expression
            .as_deref()
            .map(|e| restrict(e, resource_type, d.base.len() > 1))
            .filter(|e| !e.is_empty());
        let expression = match &expression_text {
            Some(text) => Some(
                Expression::parse(text)
                    .map_err(|e| format!("{} ({resource_type}): {text}: {e}", d.url))?,
            ),
            None => None,
        };
        let mut components = Vec::new();
        for c in &d.component {
            let kind = by_url
                .get(c.definition.as_str())
                .map(|def| def.kind)
                .ok_or_else(|| format!("{}: unknown component {}", d.url, c.definition))?;
            let expression = Expression::parse(&c.expression)
                .map_err(|e| format!("{}: component {}: {e}", d.url, c.expression))?;
            components.push(Component { kind, expression });
        }
        let slot = self.slots.len();
        self.slots
            .push((resource_type.to_string(), d.code.to_string()));
        for i in 0..components.len() {
            self.slots
                .push((resource_type.to_string(), format!("{}#{i}", d.code)));
        }
        Ok(Param {
            resource_type: resource_type.to_string(),
            code: d.code.clone(),
            url: d.url.clone(),
            kind: d.kind,
            expression,
            expression_text,
            target: d.target.clone(),
            components,
            slot,
        })
    }

    /// The parameter `code` of `resource_type`.
    pub fn get(&self, resource_type: &str, code: &str) -> Option<&Arc<Param>> {
        self.by_type.get(resource_type)?.get(code)
    }

    /// Every parameter of `resource_type`, by code.
    pub fn of_type(&self, resource_type: &str) -> impl Iterator<Item = &Arc<Param>> {
        self.by_type
            .get(resource_type)
            .into_iter()
            .flat_map(|m| m.values())
    }

    /// Every (type, parameter) entry.
    pub fn all(&self) -> &[Arc<Param>] {
        &self.params
    }

    /// The index slots: `(resource type, code)` for every parameter and
    /// `(resource type, code#i)` for every composite component.
    pub fn slots(&self) -> &[(String, String)] {
        &self.slots
    }
}

/// Keeps the union branches of `expression` that apply to `resource_type`.
/// An expression with one base is kept whole.
fn restrict(expression: &str, resource_type: &str, shared: bool) -> String {
    if !shared {
        return expression.to_string();
    }
    let kept: Vec<&str> = split_union(expression)
        .into_iter()
        .filter(|branch| {
            let head = branch.trim().trim_start_matches('(');
            let first = head
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .next()
                .unwrap_or("");
            first == resource_type || first == "Resource" || first == "DomainResource"
        })
        .collect();
    kept.iter()
        .map(|b| b.trim())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Splits an expression on the `|` operators at its top level (outside
/// parentheses, brackets and string literals).
fn split_union(expression: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in expression.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '`' | '"' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            '|' if depth == 0 => {
                parts.push(&expression[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&expression[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_r4_parameter_is_registered_and_parses() {
        let r = registry();
        let with_expression = r
            .all()
            .iter()
            .filter(|p| !p.url.starts_with("https://hemolink"))
            .filter(|p| p.expression.is_some())
            .map(|p| p.url.as_str())
            .collect::<std::collections::HashSet<_>>();
        assert_eq!(with_expression.len(), 1375);
        assert!(r.get("Patient", "name").is_some());
        assert!(r.get("Patient", "_id").is_some());
        assert!(r.get("Observation", "_text").is_some());
        assert!(
            r.get("Binary", "_text").is_none(),
            "Binary is no DomainResource"
        );
        assert!(
            r.get("BiologicallyDerivedProduct", "product-code")
                .is_some()
        );
    }

    #[test]
    fn shared_expressions_are_split_per_type() {
        let r = registry();
        let p = r.get("Observation", "patient").unwrap();
        let text = p.expression_text.as_deref().unwrap();
        assert!(text.starts_with("Observation."), "{text}");
        assert!(!text.contains("AllergyIntolerance"), "{text}");
        let c = r.get("Observation", "code-value-quantity").unwrap();
        assert_eq!(c.components.len(), 2);
        assert_eq!(c.components[1].kind, Kind::Quantity);
        assert_eq!(r.slots()[c.slot + 2].1, "code-value-quantity#1");
    }

    #[test]
    fn union_split_respects_nesting_and_strings() {
        assert_eq!(
            split_union("a.where(b = 'x|y') | (c | d) | e"),
            vec!["a.where(b = 'x|y') ", " (c | d) ", " e"]
        );
    }
}
