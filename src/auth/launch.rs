//! The EHR launch (app-launch.html#launch-app-ehr-launch). The EHR (or an
//! administrator) creates a launch context, the patient and encounter open
//! and any other resources the app should see first, through `POST
//! /admin/launch` or `hemolink auth add-launch`, and gets back an opaque
//! `launch` value; it opens the app with `iss` and that value, and the app
//! asks for scope `launch` with `launch=<value>`. The context is kept in the
//! registry for [`LAUNCH_LIFETIME`] and can be used once: the authorization
//! request that names it takes it. What it holds reaches the app beside the
//! access token (`patient`, `encounter`, `fhirContext`,
//! `need_patient_banner`, `intent`), and its patient is the token's patient.

use super::registry::Registry;
use crate::fhir::error::FhirError;
use crate::fhir::instant::now_micros;
use crate::fhir::rest::{Shared, is_valid_id};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};

/// How long a launch context waits for its app, in seconds.
pub const LAUNCH_LIFETIME: i64 = 600;

/// Most `fhirContext` items one launch carries.
const MAX_FHIR_CONTEXT: usize = 32;

/// What an EHR launch opens.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchContext {
    /// The patient's id.
    pub patient: Option<String>,
    /// The encounter's id.
    pub encounter: Option<String>,
    /// Other resources in context (`reference`, `canonical` or `identifier`,
    /// with `type` and `role`), as SMART 2.2's `fhirContext` has them.
    pub fhir_context: Vec<Value>,
    pub need_patient_banner: bool,
    pub intent: Option<String>,
}

impl LaunchContext {
    /// Reads and checks a context from its JSON form (`patient`,
    /// `encounter`, `fhirContext`, `need_patient_banner`, `intent`); the
    /// error names the member at fault.
    pub fn from_json(v: &Value) -> Result<LaunchContext, (String, String)> {
        let fields = v.as_object().ok_or_else(|| {
            (
                "$".to_string(),
                "a launch context is a JSON object".to_string(),
            )
        })?;
        for key in fields.keys() {
            if ![
                "patient",
                "encounter",
                "fhirContext",
                "need_patient_banner",
                "intent",
            ]
            .contains(&key.as_str())
            {
                return Err((
                    key.clone(),
                    format!("'{key}' is not part of a launch context"),
                ));
            }
        }
        let id = |name: &str| -> Result<Option<String>, (String, String)> {
            match v.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if is_valid_id(s) => Ok(Some(s.clone())),
                Some(_) => Err((name.to_string(), format!("{name} must be a resource id"))),
            }
        };
        let patient = id("patient")?;
        let encounter = id("encounter")?;
        let fhir_context = match v.get("fhirContext") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) if items.len() <= MAX_FHIR_CONTEXT => {
                for (i, item) in items.iter().enumerate() {
                    check_context_item(item).map_err(|e| (format!("fhirContext[{i}]"), e))?;
                }
                items.clone()
            }
            Some(_) => {
                return Err((
                    "fhirContext".into(),
                    format!("fhirContext must be an array of at most {MAX_FHIR_CONTEXT} objects"),
                ));
            }
        };
        let need_patient_banner = match v.get("need_patient_banner") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err((
                    "need_patient_banner".into(),
                    "need_patient_banner must be true or false".into(),
                ));
            }
        };
        let intent = match v.get("intent") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 256 => Some(s.clone()),
            Some(_) => {
                return Err((
                    "intent".into(),
                    "intent must be a string of 1 to 256 characters".into(),
                ));
            }
        };
        Ok(LaunchContext {
            patient,
            encounter,
            fhir_context,
            need_patient_banner,
            intent,
        })
    }

    /// The context as JSON (the form [`LaunchContext::from_json`] reads).
    pub fn to_json(&self) -> Value {
        let mut v = json!({"need_patient_banner": self.need_patient_banner});
        if let Some(p) = &self.patient {
            v["patient"] = json!(p);
        }
        if let Some(e) = &self.encounter {
            v["encounter"] = json!(e);
        }
        if !self.fhir_context.is_empty() {
            v["fhirContext"] = json!(self.fhir_context);
        }
        if let Some(i) = &self.intent {
            v["intent"] = json!(i);
        }
        v
    }

    /// What the token response carries besides `patient`.
    pub fn token_fields(&self) -> Value {
        let mut v = self.to_json();
        if let Some(fields) = v.as_object_mut() {
            fields.shift_remove("patient");
        }
        v
    }
}

/// One `fhirContext` item: an object with a `reference` (relative, `Type/id`),
/// a `canonical` or an `identifier`, and optional `type` and `role` strings.
fn check_context_item(item: &Value) -> Result<(), String> {
    let fields = item.as_object().ok_or("an fhirContext item is an object")?;
    let mut named = 0;
    for (key, value) in fields {
        match (key.as_str(), value) {
            ("reference", Value::String(r)) => {
                let (t, id) = r.split_once('/').ok_or("reference must be Type/id")?;
                if crate::fhir::model::model().resource(t).is_none() || !is_valid_id(id) {
                    return Err(format!("reference '{r}' is not Type/id"));
                }
                named += 1;
            }
            ("canonical", Value::String(c)) if !c.is_empty() && c.len() <= 1024 => named += 1,
            ("identifier", Value::Object(_)) => named += 1,
            ("type" | "role", Value::String(s)) if !s.is_empty() && s.len() <= 1024 => {}
            _ => {
                return Err(format!(
                    "'{key}' is not a reference, canonical, identifier, type or role"
                ));
            }
        }
    }
    if named == 1 {
        Ok(())
    } else {
        Err("an fhirContext item names one reference, canonical or identifier".into())
    }
}

impl Registry {
    /// Keeps a launch context; gives its `launch` value.
    pub fn add_launch(&self, context: &LaunchContext) -> Result<String, String> {
        let id = super::registry::new_secret();
        let now = now_micros() / 1_000_000;
        self.conn
            .execute(
                "DELETE FROM launch_context WHERE expires < ?1",
                params![now],
            )
            .map_err(|e| e.to_string())?;
        self.conn
            .execute(
                "INSERT INTO launch_context (id, context, expires) VALUES (?1, ?2, ?3)",
                params![id, context.to_json().to_string(), now + LAUNCH_LIFETIME],
            )
            .map_err(|e| e.to_string())?;
        Ok(id)
    }

    /// Takes the launch context `id` if it is live: it cannot be used again.
    pub fn take_launch(&self, id: &str) -> Result<Option<LaunchContext>, String> {
        let now = now_micros() / 1_000_000;
        let text: Option<String> = self
            .conn
            .query_row(
                "DELETE FROM launch_context WHERE id = ?1 AND expires >= ?2 RETURNING context",
                params![id, now],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| e.to_string())?;
        let Some(text) = text else {
            return Ok(None);
        };
        let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        LaunchContext::from_json(&v)
            .map(Some)
            .map_err(|(at, e)| format!("a stored launch context: {at}: {e}"))
    }
}

/// `POST /admin/launch` with a launch context as JSON: 201 with the `launch`
/// value and how long it waits. Only an administrator may create one.
pub async fn create(State(state): State<Shared>, body: Bytes) -> Result<Response, FhirError> {
    let auth = super::server::server(&state)?;
    super::server::require_admin(auth)?;
    let v: Value = crate::fhir::json::parse(&body, 16).map_err(|e| {
        FhirError::bad_request("invalid", format!("the body is not a JSON object: {e}"))
    })?;
    let context = LaunchContext::from_json(&v).map_err(|(at, e)| {
        FhirError::with_issues(
            StatusCode::BAD_REQUEST,
            vec![crate::fhir::outcome::Issue::error("invalid", e).at(at)],
        )
    })?;
    let launch = auth
        .registry()
        .add_launch(&context)
        .map_err(|e| FhirError::internal("launch", e))?;
    tracing::info!("EHR launch context created");
    Ok(super::server::json_response(
        StatusCode::CREATED,
        &json!({"launch": launch, "expires_in": LAUNCH_LIFETIME}),
    ))
}

#[cfg(test)]
mod tests;
