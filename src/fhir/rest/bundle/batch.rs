//! `batch`: every entry is its own interaction, answered on its own. Entries
//! go through the server's router in the spec's processing order (all DELETEs,
//! then POSTs, PUTs and PATCHes, then GETs), the entries of one step
//! [`IN_FLIGHT`] at a time, so that the store's group commit gathers their
//! writes. A failed entry gets its status and OperationOutcome; the others
//! are not affected.

use super::{Entry, Fhir, dispatch, failed_entry, processing_order, response_bundle};
use crate::fhir::error::FhirError;
use crate::fhir::outcome::Issue;
use crate::fhir::rest::Shared;
use axum::http::StatusCode;
use futures_util::stream::{self, StreamExt};
use serde_json::Value;
use std::collections::HashMap;

/// Entries of one step sent at once.
const IN_FLIGHT: usize = 32;

/// Runs a batch and returns its `batch-response` Bundle; the entries of
/// `invalid` failed validation and are answered with its issues.
pub async fn run(
    state: &Shared,
    fhir: &Fhir,
    entries: Vec<Entry>,
    mut invalid: HashMap<usize, Vec<Issue>>,
) -> Value {
    let app = crate::fhir::rest::router(state.clone());
    let mut answers: Vec<Value> = vec![Value::Null; entries.len()];
    let order = processing_order(&entries);
    let steps = order.chunk_by(|&a, &b| entries[a].verb.step() == entries[b].verb.step());
    for step in steps {
        let done: Vec<(usize, Value)> = stream::iter(step.iter().copied())
            .map(|i| {
                let app = &app;
                let entry = &entries[i];
                let issues = invalid.remove(&i);
                async move {
                    let answer = match issues {
                        Some(issues) => {
                            failed_entry(FhirError::with_issues(StatusCode::BAD_REQUEST, issues))
                        }
                        None => dispatch(app, fhir, entry).await,
                    };
                    (i, answer)
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        for (i, answer) in done {
            answers[i] = answer;
        }
    }
    response_bundle("batch-response", answers)
}
