//! The FHIR R4 type model: every primitive type, data type and resource with its
//! elements in StructureDefinition order, their cardinality, their types and their
//! XML representation. It is read once from the compact form that `build.rs`
//! derives from the vendored definitions, and drives validation, XML conversion
//! and `_summary`/`_elements`.

use std::collections::HashMap;
use std::sync::OnceLock;

const MODEL: &str = include_str!(concat!(env!("OUT_DIR"), "/model.txt"));

/// The kind of a FHIR type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Primitive,
    Complex,
    Resource,
}

/// How a primitive's value is written in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    Boolean,
    Number,
    String,
}

/// A primitive type's value: its JSON form and the regular expression of the spec.
#[derive(Debug)]
pub struct Primitive {
    pub json: JsonKind,
    pub regex: String,
}

/// One type of the model.
#[derive(Debug)]
pub struct TypeDef {
    pub name: String,
    pub kind: Kind,
    pub is_abstract: bool,
    pub base: Option<String>,
    /// The elements directly below the type's root, in definition order.
    pub elements: Vec<Element>,
    pub primitive: Option<Primitive>,
}

/// One element of a type, with the elements defined inline below it.
#[derive(Debug)]
pub struct Element {
    /// The name without `[x]`.
    pub name: String,
    /// A choice element (`value[x]`): its JSON names are `name` + a type code.
    pub choice: bool,
    pub min: u32,
    /// `u32::MAX` stands for `*`.
    pub max: u32,
    pub types: Vec<String>,
    /// Elements defined inline (BackboneElement), in definition order.
    pub children: Vec<Element>,
    /// Path of the element whose definition this one reuses (`Questionnaire.item`).
    pub content_ref: Option<String>,
    /// Written as an XML attribute (`id` of elements, `Extension.url`, primitives' `value`).
    pub xml_attr: bool,
    /// XHTML content (`Narrative.div`).
    pub xhtml: bool,
    /// Marked as part of the summary (`_summary=true`).
    pub summary: bool,
}

impl Element {
    /// Whether the element repeats (JSON array).
    pub fn is_array(&self) -> bool {
        self.max > 1
    }

    /// The type code a JSON property name selects on this element, if it names it.
    pub fn type_for_key(&self, key: &str) -> Option<&str> {
        if !self.choice {
            return (key == self.name).then(|| self.types.first().map_or("", String::as_str));
        }
        let suffix = key.strip_prefix(self.name.as_str())?;
        self.types
            .iter()
            .find(|t| capitalized_eq(t, suffix))
            .map(String::as_str)
    }

    /// The JSON property name of this element for a given type code.
    pub fn json_name(&self, type_code: &str) -> String {
        if !self.choice {
            return self.name.clone();
        }
        let mut name = self.name.clone();
        let mut chars = type_code.chars();
        if let Some(first) = chars.next() {
            name.extend(first.to_uppercase());
            name.push_str(chars.as_str());
        }
        name
    }
}

fn capitalized_eq(type_code: &str, suffix: &str) -> bool {
    let mut t = type_code.chars();
    let mut s = suffix.chars();
    match (t.next(), s.next()) {
        (Some(a), Some(b)) => a.to_ascii_uppercase() == b && t.as_str() == s.as_str(),
        _ => false,
    }
}

/// The whole model.
#[derive(Debug)]
pub struct Model {
    types: HashMap<String, TypeDef>,
    resource_types: Vec<String>,
}

/// The model, parsed on first use.
pub fn model() -> &'static Model {
    static MODEL_CELL: OnceLock<Model> = OnceLock::new();
    MODEL_CELL.get_or_init(|| Model::parse(MODEL))
}

impl Model {
    fn parse(text: &str) -> Model {
        let mut types = HashMap::new();
        let mut current: Option<TypeDef> = None;
        // The chain of open elements, as indices from the type's root.
        let mut stack: Vec<usize> = Vec::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            match f[0] {
                "T" => {
                    if let Some(t) = current.take() {
                        types.insert(t.name.clone(), t);
                    }
                    stack.clear();
                    current = Some(TypeDef {
                        name: f[1].to_string(),
                        kind: match f[2] {
                            "p" => Kind::Primitive,
                            "c" => Kind::Complex,
                            _ => Kind::Resource,
                        },
                        is_abstract: f[3] == "1",
                        base: (f[4] != "-").then(|| f[4].to_string()),
                        elements: Vec::new(),
                        primitive: None,
                    });
                }
                "P" => {
                    let t = current.as_mut().expect("P after T");
                    t.primitive = Some(Primitive {
                        json: match f[2] {
                            "b" => JsonKind::Boolean,
                            "n" => JsonKind::Number,
                            _ => JsonKind::String,
                        },
                        regex: f.get(3).unwrap_or(&"").to_string(),
                    });
                }
                _ => {
                    let t = current.as_mut().expect("E after T");
                    let depth: usize = f[1].parse().expect("depth");
                    let raw = f[2];
                    let element = Element {
                        name: raw.trim_end_matches("[x]").to_string(),
                        choice: raw.ends_with("[x]"),
                        min: f[3].parse().expect("min"),
                        max: if f[4] == "*" {
                            u32::MAX
                        } else {
                            f[4].parse().expect("max")
                        },
                        types: if f[5] == "-" {
                            Vec::new()
                        } else {
                            f[5].split(',').map(str::to_string).collect()
                        },
                        children: Vec::new(),
                        content_ref: (f[6] != "-").then(|| f[6].to_string()),
                        xml_attr: f[7].contains('a'),
                        xhtml: f[7].contains('x'),
                        summary: f.get(8).is_some_and(|s| *s == "s"),
                    };
                    stack.truncate(depth - 1);
                    let mut list = &mut t.elements;
                    for &i in &stack {
                        list = &mut list[i].children;
                    }
                    list.push(element);
                    stack.push(list.len() - 1);
                }
            }
        }
        if let Some(t) = current.take() {
            types.insert(t.name.clone(), t);
        }
        let mut resource_types: Vec<String> = types
            .values()
            .filter(|t| t.kind == Kind::Resource && !t.is_abstract)
            .map(|t| t.name.clone())
            .collect();
        resource_types.sort();
        Model {
            types,
            resource_types,
        }
    }

    /// A type by name (`Patient`, `HumanName`, `dateTime`).
    pub fn type_def(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(name)
    }

    /// The concrete resource types, sorted by name.
    pub fn resource_types(&self) -> &[String] {
        &self.resource_types
    }

    /// A concrete resource type by name.
    pub fn resource(&self, name: &str) -> Option<&TypeDef> {
        self.types
            .get(name)
            .filter(|t| t.kind == Kind::Resource && !t.is_abstract)
    }

    /// The element at a dotted path from a type's root (`Questionnaire.item.item`).
    pub fn element_at(&self, path: &str) -> Option<&Element> {
        let mut parts = path.split('.');
        let mut list: &[Element] = &self.types.get(parts.next()?)?.elements;
        let mut found = None;
        for part in parts {
            let el = list.iter().find(|e| e.name == part)?;
            list = self.children(el, "").unwrap_or(&el.children);
            found = Some(el);
        }
        found
    }

    /// The elements below `element` when it holds a value of type `type_code`
    /// (used for choice and multi-type elements; ignored otherwise): inline
    /// children, the children of a content reference, or those of the type.
    pub fn children<'a>(&'a self, element: &'a Element, type_code: &str) -> Option<&'a [Element]> {
        if !element.children.is_empty() {
            return Some(&element.children);
        }
        if let Some(path) = &element.content_ref {
            return self.element_at(path).map(|e| e.children.as_slice());
        }
        let code = if type_code.is_empty() {
            element.types.first()?.as_str()
        } else {
            type_code
        };
        self.types.get(code).map(|t| t.elements.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_shapes() {
        let m = model();
        // 149 resource definitions less Resource and DomainResource.
        assert_eq!(m.resource_types().len(), 147);
        let patient = m.resource("Patient").unwrap();
        let names: Vec<&str> = patient.elements.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(&names[..4], ["id", "meta", "implicitRules", "language"]);
        let deceased = patient
            .elements
            .iter()
            .find(|e| e.name == "deceased")
            .unwrap();
        assert!(deceased.choice);
        assert_eq!(deceased.type_for_key("deceasedDateTime"), Some("dateTime"));
        assert_eq!(deceased.type_for_key("deceasedFoo"), None);
        assert_eq!(deceased.json_name("boolean"), "deceasedBoolean");
        let contact = patient
            .elements
            .iter()
            .find(|e| e.name == "contact")
            .unwrap();
        assert!(contact.is_array());
        assert!(contact.children.iter().any(|e| e.name == "relationship"));
        assert_eq!(
            m.type_def("date").unwrap().primitive.as_ref().unwrap().json,
            JsonKind::String
        );
        assert_eq!(
            m.type_def("decimal")
                .unwrap()
                .primitive
                .as_ref()
                .unwrap()
                .json,
            JsonKind::Number
        );
        assert!(m.resource("Resource").is_none());
    }

    #[test]
    fn content_references_resolve() {
        let m = model();
        let item = m.element_at("Questionnaire.item.item").unwrap();
        let children = m.children(item, "").unwrap();
        assert!(children.iter().any(|e| e.name == "linkId"));
        let url = m
            .type_def("Extension")
            .unwrap()
            .elements
            .iter()
            .find(|e| e.name == "url")
            .unwrap();
        assert!(url.xml_attr);
        assert_eq!(url.types, ["uri"]);
        let div = m.element_at("Narrative.div").unwrap();
        assert!(div.xhtml);
    }
}
