//! Compartments (R4 compartmentdefinition.html): which resources belong to
//! `Patient/[id]`, from the vendored Patient CompartmentDefinition. A resource
//! is in the compartment when one of the listed reference parameters points to
//! the patient; the patient itself is in its own compartment.

use super::query::{Cond, RefTarget, Test};
use super::registry::Registry;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The compartment types this server knows.
pub const TYPES: &[&str] = &["Patient"];

static PATIENT: OnceLock<HashMap<String, Vec<String>>> = OnceLock::new();

/// Resource type → the parameters that put it in a Patient compartment.
fn patient() -> &'static HashMap<String, Vec<String>> {
    PATIENT.get_or_init(|| {
        let text = include_str!("../../definitions/compartmentdefinition-patient.json");
        let def: Value = serde_json::from_str(text).unwrap_or_default();
        let mut out = HashMap::new();
        for r in def["resource"].as_array().into_iter().flatten() {
            let (Some(code), Some(params)) = (r["code"].as_str(), r["param"].as_array()) else {
                continue;
            };
            let params = params
                .iter()
                .filter_map(Value::as_str)
                .filter(|p| !p.starts_with('{'))
                .map(str::to_string)
                .collect();
            out.insert(code.to_string(), params);
        }
        out
    })
}

/// The types that can be in a compartment of `compartment` type.
pub fn members(compartment: &str) -> Vec<String> {
    match compartment {
        "Patient" => {
            let mut v: Vec<String> = patient().keys().cloned().collect();
            v.sort();
            v
        }
        _ => Vec::new(),
    }
}

/// The condition "a `resource_type` in the compartment `compartment`/`id`",
/// or `None` when that type is never in such a compartment.
pub fn condition(
    registry: &Registry,
    compartment: &str,
    id: &str,
    resource_type: &str,
) -> Option<Cond> {
    let params = match compartment {
        "Patient" => patient().get(resource_type)?,
        _ => return None,
    };
    let mut any: Vec<Cond> = params
        .iter()
        .filter_map(|code| registry.get(resource_type, code))
        .map(|param| Cond::Index {
            param: param.clone(),
            test: Test::Reference(RefTarget::Local {
                resource_type: Some(compartment.to_string()),
                id: id.to_string(),
            }),
        })
        .collect();
    if resource_type == compartment {
        any.push(Cond::Id(id.to_string()));
    }
    Some(Cond::Any(any))
}

/// Types outside every patient's compartment whose resources describe no
/// patient: the people and places that give care, medicines and substances,
/// and definitions (terminology, profiles, questionnaires, protocols). A
/// `patient/` scope reaches every resource of these types; any other type
/// outside the compartment (such as Binary, Bundle or BiologicallyDerivedProduct,
/// whose resources may hold a patient's data without naming the patient in a
/// compartment parameter) it does not reach at all.
pub fn shared(resource_type: &str) -> bool {
    SHARED.binary_search(&resource_type).is_ok()
}

/// Sorted, for [`shared`].
const SHARED: &[&str] = &[
    "ActivityDefinition",
    "CapabilityStatement",
    "CodeSystem",
    "CompartmentDefinition",
    "ConceptMap",
    "DeviceDefinition",
    "Endpoint",
    "EventDefinition",
    "GraphDefinition",
    "HealthcareService",
    "ImplementationGuide",
    "Library",
    "Location",
    "Measure",
    "Medication",
    "MedicationKnowledge",
    "MessageDefinition",
    "NamingSystem",
    "ObservationDefinition",
    "OperationDefinition",
    "Organization",
    "OrganizationAffiliation",
    "PlanDefinition",
    "Practitioner",
    "PractitionerRole",
    "Questionnaire",
    "SearchParameter",
    "SpecimenDefinition",
    "StructureDefinition",
    "StructureMap",
    "Substance",
    "TerminologyCapabilities",
    "ValueSet",
];
