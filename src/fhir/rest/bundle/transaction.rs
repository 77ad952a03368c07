//! `transaction`: every write of the Bundle is one unit of work in the store,
//! committed whole and durably or not at all.
//!
//! Preparing it reads the store: the matches of `ifNoneExist`, conditional
//! updates and deletes, and conditional references (`Patient?identifier=…`)
//! are looked up, server ids are given to new resources, and every
//! `urn:uuid:`/`urn:oid:` (or other) `fullUrl` is replaced, in every
//! reference and narrative link of every entry, by the `Type/id` it stands for.
//! A condition may name another entry's fullUrl; entries are resolved in the
//! order those names allow, and a cycle of them is refused. What was looked up
//! goes into the unit as [`Write::Assert`]s, placed before the writes, so the
//! commit fails if it no longer holds; the transaction is then prepared again
//! (at most [`ATTEMPTS`] times). GET and HEAD entries run after the commit,
//! through the router.

use super::references::{
    conditional_references, for_each_reference, is_placeholder, rewrite_narrative,
};
use super::{
    Entry, Fhir, Resource, Verb, dispatch, entry_error, processing_order, response_bundle,
};
use crate::auth::{Access, Interaction};
use crate::fhir::error::FhirError;
use crate::fhir::instant::format_instant;
use crate::fhir::rest::Shared;
use crate::fhir::rest::instance::{check_readable, is_valid_id, resource_type, store_error};
use crate::fhir::rest::patch::{PatchBody, patched};
use crate::fhir::rest::request::{Return, parse_etag, query_pairs};
use crate::fhir::rest::response::resource_value;
use crate::fhir::rest::search::condition;
use crate::search::query::Search;
use crate::store::{Outcome, StoreError, Version, Write};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

/// How many times a transaction is prepared when what it looked up changes
/// before its commit.
const ATTEMPTS: usize = 3;

/// What the response entry of a Bundle entry comes from.
enum Slot {
    /// The outcome of this write of the unit.
    Written(usize),
    /// `ifNoneExist` found this resource; nothing was written.
    Found(Version),
    /// A conditional delete: the outcomes of these writes.
    Deleted(Vec<usize>),
    /// GET or HEAD: answered after the commit.
    Read,
}

/// A transaction ready to commit: what each write of the unit is made from,
/// and how the response is made from the outcomes.
struct Prepared<'e> {
    steps: Vec<Step>,
    /// The Bundle entry each write comes from.
    owners: Vec<usize>,
    /// Per Bundle entry.
    slots: Vec<Slot>,
    making: Making<'e>,
}

/// One write of the unit, before its resource is made.
enum Step {
    Assert(Box<Write>),
    Delete {
        resource_type: String,
        id: String,
        if_match: Option<u64>,
    },
    /// The resource of an entry, written under `id`.
    Resource {
        entry: usize,
        id: String,
        if_match: Option<u64>,
    },
}

/// What the resources of the unit are made with, one at a time, as the unit
/// is written: each entry's resource (parsed again from the body of a large
/// Bundle) gets its id, and its references are resolved.
struct Making<'e> {
    entries: &'e [Entry],
    names: Names<'e>,
    /// Conditional reference → `Type/id` of its one match.
    conditional: HashMap<String, String>,
    /// The results of the PATCH entries.
    patched: HashMap<usize, Value>,
}

/// Runs a transaction and returns its `transaction-response` Bundle. The
/// writes of a `large` Bundle are streamed to the store, each made just
/// before it is written; the others are made first and written together.
pub async fn run(
    state: &Shared,
    fhir: &Fhir,
    mut entries: Vec<Entry>,
    large: bool,
) -> Result<Value, FhirError> {
    check_full_urls(&entries)?;
    let mut attempt = 1;
    loop {
        let Prepared {
            steps,
            owners,
            slots,
            mut making,
        } = prepare(state, &entries).await?;
        let writes = steps.into_iter().map(|step| making.write(step));
        let written = if large {
            let keep_texts = fhir.prefer == Return::Representation;
            state.store.transact_streamed(writes, keep_texts).await?
        } else {
            let writes = writes.collect::<Result<Vec<_>, _>>()?;
            state.store.transact(writes).await
        };
        drop(making);
        match written {
            Ok(outcomes) => {
                // The body a large Bundle's resources were read from is not
                // needed to answer: free it before the response is made.
                for e in &mut entries {
                    if matches!(e.resource, Some(Resource::Text(_))) {
                        e.resource = None;
                    }
                }
                return respond(state, fhir, &entries, slots, outcomes).await;
            }
            Err(e) if attempt < ATTEMPTS && retryable(&e, &owners, &entries) => {
                attempt += 1;
            }
            Err(e) => return Err(write_error(e, &owners, &entries)),
        }
    }
}

/// Whether a failed commit may succeed when prepared again: what it looked up
/// changed, or the resource a PATCH entry (without its own `ifMatch`) was
/// computed from got a new version.
fn retryable(e: &StoreError, owners: &[usize], entries: &[Entry]) -> bool {
    match e {
        StoreError::Changed(_) => true,
        StoreError::Write { index, error } => match error.as_ref() {
            StoreError::Changed(_) => true,
            StoreError::VersionConflict { .. } => owners
                .get(*index)
                .and_then(|&i| entries.get(i))
                .is_some_and(|e| e.verb == Verb::Patch && e.if_match.is_none()),
            _ => false,
        },
        _ => false,
    }
}

/// bdl-7: a fullUrl appears once, unless the entries are versions of one
/// resource (`meta.versionId` differs).
fn check_full_urls(entries: &[Entry]) -> Result<(), FhirError> {
    let mut seen: HashMap<(&str, Option<&str>), usize> = HashMap::new();
    for e in entries {
        let Some(url) = e.full_url.as_deref() else {
            continue;
        };
        let version = e.facts.version_id.as_deref();
        if let Some(first) = seen.insert((url, version), e.index) {
            return Err(entry_error(
                StatusCode::BAD_REQUEST,
                "invalid",
                e.at("fullUrl"),
                format!(
                    "entries {first} and {} have the same fullUrl '{url}' (bdl-7)",
                    e.index
                ),
            ));
        }
    }
    Ok(())
}

/// An error with `at` as the expression of every issue that has none.
fn located(mut e: FhirError, at: &str) -> FhirError {
    for issue in &mut e.issues {
        if issue.expression.is_none() {
            issue.expression = Some(at.to_string());
        }
    }
    e
}

/// The error of a failed commit, named by the entry whose write failed.
fn write_error(e: StoreError, owners: &[usize], entries: &[Entry]) -> FhirError {
    match e {
        StoreError::Write { index, error } => {
            let entry = owners.get(index).and_then(|&i| entries.get(i));
            let at = entry.map_or_else(|| "Bundle.entry".to_string(), |e| e.at("request"));
            let mut err = located(store_error(*error), &at);
            if let Some(e) = entry {
                for issue in &mut err.issues {
                    issue.diagnostics = format!("entry {}: {}", e.index, issue.diagnostics);
                }
            }
            err
        }
        e => store_error(e),
    }
}

/// What a condition looks like once the fullUrls it names are replaced.
enum Query {
    Ready(Vec<(String, String)>),
    /// It names the fullUrl of an entry whose identity is not known yet.
    Waiting,
}

/// Resolution state: what each fullUrl stands for.
#[derive(Default)]
struct Names<'a> {
    /// fullUrl → `Type/id`, once known.
    known: HashMap<String, String>,
    /// The fullUrls of the Bundle's entries.
    all: HashSet<&'a str>,
}

impl Names<'_> {
    /// `query` with each value that is a known fullUrl replaced (other values,
    /// `urn:oid:` token systems among them, are left as they are).
    fn substitute(&self, query: &str) -> Query {
        let mut pairs = query_pairs(query);
        for (_, value) in &mut pairs {
            if let Some(target) = self.known.get(value.as_str()) {
                *value = target.clone();
            } else if self.all.contains(value.as_str()) {
                return Query::Waiting;
            }
        }
        Query::Ready(pairs)
    }
}

/// The matches of a condition on `t` (at most `limit`, 2 to tell one from
/// several), with the search to assert them by.
async fn find(
    state: &Shared,
    t: &str,
    pairs: &[(String, String)],
    limit: usize,
    at: &str,
) -> Result<(Search, Vec<String>), FhirError> {
    let page = limit.min(state.config.max_count).max(2);
    let mut search = condition(state, t, pairs, page).map_err(|e| located(e, at))?;
    let mut ids = Vec::new();
    loop {
        let page = state.store.search(&search).await.map_err(store_error)?;
        ids.extend(page.matches.into_iter().map(|v| v.id));
        match page.next {
            Some(next) if ids.len() < limit => search.page = Some(next),
            _ => break,
        }
    }
    search.page = None;
    search.count = if limit > 2 {
        state.config.max_count.max(3)
    } else {
        2
    };
    Ok((search, ids))
}

/// A 412 for a condition that matched `n` resources where one was needed.
/// (`at` is the FHIRPath of the condition.)
fn not_one(at: String, what: &str, n: usize) -> FhirError {
    entry_error(
        StatusCode::PRECONDITION_FAILED,
        if n == 0 {
            "not-found"
        } else {
            "multiple-matches"
        },
        at,
        format!("{what} matched {n} resources; it must match exactly one"),
    )
}

/// The type and id (or query) of a write's URL.
struct Target<'e> {
    resource_type: &'e str,
    id: Option<&'e str>,
    query: Option<&'e str>,
}

fn target<'e>(entry: &'e Entry) -> Result<Target<'e>, FhirError> {
    let (path, query) = entry.path_and_query();
    let bad = |text: String| {
        entry_error(
            StatusCode::BAD_REQUEST,
            "invalid",
            entry.at("request.url"),
            text,
        )
    };
    let mut parts = path.split('/');
    let t = parts.next().unwrap_or("");
    let t = resource_type(t).map_err(|e| located(e, &entry.at("request.url")))?;
    let id = parts.next();
    if parts.next().is_some() {
        return Err(bad(format!(
            "'{}' is not [type], [type]/[id] or [type]?[query]",
            entry.url
        )));
    }
    if let Some(id) = id
        && !is_valid_id(id)
    {
        return Err(bad(format!("'{id}' is not a valid resource id")));
    }
    let ok = match entry.verb {
        Verb::Post => id.is_none() && query.is_none(),
        Verb::Put | Verb::Delete | Verb::Patch => id.is_some() != query.is_some(),
        Verb::Get | Verb::Head => true,
    };
    if !ok {
        return Err(bad(format!(
            "'{}' does not suit a {:?} entry",
            entry.url, entry.verb
        )));
    }
    Ok(Target {
        resource_type: t,
        id,
        query,
    })
}

/// Reads the store and turns the entries into one unit of work.
async fn prepare<'e>(state: &Shared, entries: &'e [Entry]) -> Result<Prepared<'e>, FhirError> {
    let mut names = Names {
        known: HashMap::new(),
        all: entries
            .iter()
            .filter_map(|e| e.full_url.as_deref())
            .collect(),
    };
    let mut asserts: Vec<(Write, usize)> = Vec::new();
    // Per entry: the resource to write, its identity, and how it is written.
    let mut ids: Vec<Option<(String, String)>> = vec![None; entries.len()];
    let mut found: Vec<Option<Version>> = vec![None; entries.len()];
    let mut deletes: Vec<Vec<String>> = vec![Vec::new(); entries.len()];
    let mut pending: Vec<usize> = Vec::new();
    for e in entries {
        let t = match e.verb {
            Verb::Get | Verb::Head => continue,
            _ => target(e)?,
        };
        let interaction = match e.verb {
            Verb::Post => Interaction::Create,
            Verb::Put | Verb::Patch => Interaction::Update,
            _ => Interaction::Delete,
        };
        state
            .gate
            .check(Access {
                interaction,
                resource_type: Some(t.resource_type),
                id: t.id,
            })
            .map_err(|err| located(err, &e.at("request")))?;
        if e.verb == Verb::Patch {
            state
                .gate
                .check(Access {
                    interaction: Interaction::Read,
                    resource_type: Some(t.resource_type),
                    id: t.id,
                })
                .map_err(|err| located(err, &e.at("request")))?;
        }
        if e.resource.is_some() && e.verb != Verb::Patch {
            if e.facts.subsetted {
                return Err(entry_error(
                    StatusCode::BAD_REQUEST,
                    "processing",
                    e.at("resource.meta.tag"),
                    "the resource is tagged SUBSETTED; storing it would lose the elements left out"
                        .into(),
                ));
            }
            let body_type = e.facts.resource_type.as_deref().unwrap_or("");
            if body_type != t.resource_type {
                return Err(entry_error(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    e.at("resource.resourceType"),
                    format!(
                        "the resource is a {body_type}, the request URL names {}",
                        t.resource_type
                    ),
                ));
            }
            if e.verb == Verb::Put
                && let Some(id) = t.id
                && e.facts.id.as_deref() != Some(id)
            {
                return Err(entry_error(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    e.at("resource.id"),
                    format!(
                        "an update of {}/{id} needs the id '{id}' in the resource",
                        t.resource_type
                    ),
                ));
            }
        }
        match (e.verb, t.id) {
            (Verb::Post, _) if e.if_none_exist.is_none() => {
                ids[e.index] = Some((t.resource_type.to_string(), crate::store::new_id()));
            }
            (Verb::Put | Verb::Patch, Some(id)) => {
                ids[e.index] = Some((t.resource_type.to_string(), id.to_string()));
            }
            (Verb::Delete, Some(id)) => deletes[e.index] = vec![id.to_string()],
            _ => pending.push(e.index),
        }
        if let (Some(url), Some((t, id))) = (&e.full_url, &ids[e.index]) {
            names.known.insert(url.clone(), format!("{t}/{id}"));
        }
    }
    // Conditions, in an order that lets each use the fullUrls it names.
    while !pending.is_empty() {
        let mut waiting = Vec::new();
        for &i in &pending {
            let e = &entries[i];
            let t = target(e)?;
            let (query, member) = match e.verb {
                Verb::Post => {
                    let q = e.if_none_exist.as_deref().unwrap_or("");
                    (
                        q.split_once('?').map_or(q, |(_, q)| q),
                        "request.ifNoneExist",
                    )
                }
                _ => (t.query.unwrap_or(""), "request.url"),
            };
            let pairs = match names.substitute(query) {
                Query::Ready(p) => p,
                Query::Waiting => {
                    waiting.push(i);
                    continue;
                }
            };
            let at = e.at(member);
            let limit = if e.verb == Verb::Delete {
                usize::MAX
            } else {
                2
            };
            let (search, matched) = find(state, t.resource_type, &pairs, limit, &at).await?;
            asserts.push((
                Write::Assert {
                    condition: search,
                    expect: matched.clone(),
                },
                i,
            ));
            match (e.verb, matched.as_slice()) {
                (Verb::Delete, _) => {
                    if matched.len() > 1 && !state.config.multiple_delete {
                        return Err(not_one(
                            e.at(member),
                            "the conditional delete",
                            matched.len(),
                        ));
                    }
                    deletes[i] = matched;
                }
                (_, [_, _, ..]) | (Verb::Patch, []) => {
                    return Err(not_one(e.at(member), "the condition", matched.len()));
                }
                (Verb::Post, [one]) => {
                    let v = state
                        .store
                        .read(t.resource_type, one)
                        .await
                        .map_err(store_error)?
                        .ok_or_else(|| FhirError::internal("transaction", "a match vanished"))?;
                    ids[i] = Some((t.resource_type.to_string(), one.clone()));
                    found[i] = Some(v);
                }
                (Verb::Post, []) => {
                    ids[i] = Some((t.resource_type.to_string(), crate::store::new_id()));
                }
                (_, [one]) => {
                    if let Some(body_id) = e.facts.id.as_deref()
                        && body_id != one
                    {
                        return Err(entry_error(
                            StatusCode::BAD_REQUEST,
                            "invalid",
                            e.at("resource.id"),
                            format!(
                                "the resource's id '{body_id}' is not the id of the match ('{one}')"
                            ),
                        ));
                    }
                    ids[i] = Some((t.resource_type.to_string(), one.clone()));
                }
                (_, []) => {
                    let id = e.facts.id.clone().unwrap_or_else(crate::store::new_id);
                    ids[i] = Some((t.resource_type.to_string(), id));
                }
            }
            if let (Some(url), Some((t, id))) = (&e.full_url, &ids[i]) {
                names.known.insert(url.clone(), format!("{t}/{id}"));
            }
        }
        if waiting.len() == pending.len() {
            let list: Vec<String> = waiting.iter().map(usize::to_string).collect();
            let e = &entries[waiting[0]];
            return Err(entry_error(
                StatusCode::BAD_REQUEST,
                "invalid",
                e.at("request"),
                format!(
                    "the conditions of entries {} name each other's fullUrls in a cycle",
                    list.join(", ")
                ),
            ));
        }
        pending = waiting;
    }
    check_overlap(entries, &ids, &found, &deletes)?;
    let mut making = Making {
        entries,
        names,
        conditional: HashMap::new(),
        patched: HashMap::new(),
    };
    let mut bases: Vec<Option<u64>> = vec![None; entries.len()];
    for e in entries {
        let (Some(_), Some((t, id)), None) = (&e.resource, &ids[e.index], &found[e.index]) else {
            continue;
        };
        if e.verb == Verb::Patch {
            let document = e.resource()?.unwrap_or_default();
            let (mut patched, base) = patch_entry(state, e, t, id, &document).await?;
            bases[e.index] = Some(base);
            let wanted = conditional_references(&mut patched);
            making.patched.insert(e.index, patched);
            making.look_up(state, e, &wanted, &mut asserts).await?;
        } else {
            making
                .look_up(state, e, &e.facts.conditional, &mut asserts)
                .await?;
        }
    }
    let (steps, owners, slots) = layout(entries, bases, ids, found, deletes, asserts)?;
    Ok(Prepared {
        steps,
        owners,
        slots,
        making,
    })
}

/// A PATCH entry: the patched resource and the version it was computed from.
async fn patch_entry(
    state: &Shared,
    e: &Entry,
    t: &str,
    id: &str,
    document: &Value,
) -> Result<(Value, u64), FhirError> {
    let body = PatchBody::from_entry(document)
        .map_err(|text| entry_error(StatusCode::BAD_REQUEST, "invalid", e.at("resource"), text))?;
    let current = state
        .store
        .read(t, id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            located(
                FhirError::not_found(format!("{t}/{id} is not known")),
                &e.at("request.url"),
            )
        })?;
    check_readable(state, &current)
        .await
        .map_err(|err| located(err, &e.at("request.url")))?;
    if let Some(tag) = e.if_match.as_deref() {
        let expected = parse_etag(tag).map_err(|err| located(err, &e.at("request.ifMatch")))?;
        if expected != current.version {
            return Err(located(
                store_error(StoreError::VersionConflict {
                    expected,
                    current: Some(current.version),
                }),
                &e.at("request.ifMatch"),
            ));
        }
    }
    let patched = patched(&current, &body).map_err(|mut err| {
        for issue in &mut err.issues {
            let at = issue.expression.take().unwrap_or_default();
            issue.expression = Some(match at.strip_prefix("Parameters.") {
                Some(rest) => e.at(&format!("resource.{rest}")),
                None if at.starts_with('[') => {
                    issue.diagnostics = format!("operation {at}: {}", issue.diagnostics);
                    e.at("resource.data")
                }
                // An element of the patched resource.
                None if !at.is_empty() => at,
                None => e.at("resource"),
            });
            issue.diagnostics = format!("entry {}: {}", e.index, issue.diagnostics);
        }
        err
    })?;
    Ok((patched, current.version))
}

/// Two writes of one transaction may not touch the same resource.
/// (A resource `ifNoneExist` found is not written.)
fn check_overlap(
    entries: &[Entry],
    ids: &[Option<(String, String)>],
    found: &[Option<Version>],
    deletes: &[Vec<String>],
) -> Result<(), FhirError> {
    let mut touched: HashMap<(&str, &str), usize> = HashMap::new();
    for e in entries {
        let mut mine: Vec<(&str, &str)> = Vec::new();
        if let (Some((t, id)), None) = (&ids[e.index], &found[e.index]) {
            mine.push((t, id));
        }
        if !deletes[e.index].is_empty() {
            let t = target(e)?.resource_type;
            mine.extend(deletes[e.index].iter().map(|id| (t, id.as_str())));
        }
        for key in mine {
            if let Some(first) = touched.insert(key, e.index) {
                return Err(entry_error(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    e.at("request"),
                    format!(
                        "entries {first} and {} both write {}/{}",
                        e.index, key.0, key.1
                    ),
                ));
            }
        }
    }
    Ok(())
}

impl Making<'_> {
    /// Finds the one match of each conditional reference of entry `e` not
    /// found yet (`wanted`: path and text), and asserts it.
    async fn look_up(
        &mut self,
        state: &Shared,
        e: &Entry,
        wanted: &[(String, String)],
        asserts: &mut Vec<(Write, usize)>,
    ) -> Result<(), FhirError> {
        for (path, text) in wanted {
            // A fullUrl of the Bundle is what it names, whatever it looks like.
            if self.conditional.contains_key(text) || self.names.known.contains_key(text) {
                continue;
            }
            let at = resource_path(e, path);
            let (t, query) = text.split_once('?').unwrap_or((text, ""));
            let pairs = match self.names.substitute(query) {
                Query::Ready(p) => p,
                Query::Waiting => {
                    return Err(entry_error(
                        StatusCode::BAD_REQUEST,
                        "invalid",
                        at,
                        format!(
                            "the conditional reference '{text}' names the fullUrl of an entry whose identity depends on a condition"
                        ),
                    ));
                }
            };
            let (search, matched) = find(state, t, &pairs, 2, &at).await?;
            if matched.len() != 1 {
                let what = format!("the conditional reference '{text}'");
                return Err(not_one(at, &what, matched.len()));
            }
            self.conditional
                .insert(text.clone(), format!("{t}/{}", matched[0]));
            asserts.push((
                Write::Assert {
                    condition: search,
                    expect: matched,
                },
                e.index,
            ));
        }
        Ok(())
    }

    /// The write of one step, its resource made now.
    fn write(&mut self, step: Step) -> Result<Write, FhirError> {
        let (entry, id, if_match) = match step {
            Step::Assert(w) => return Ok(*w),
            Step::Delete {
                resource_type,
                id,
                if_match,
            } => {
                return Ok(Write::Delete {
                    resource_type,
                    id,
                    if_match,
                });
            }
            Step::Resource {
                entry,
                id,
                if_match,
            } => (entry, id, if_match),
        };
        let e = &self.entries[entry];
        let mut resource = match self.patched.remove(&entry) {
            Some(r) => r,
            None => e
                .resource()?
                .ok_or_else(|| FhirError::internal("transaction", "an entry lost its resource"))?
                .into_owned(),
        };
        if let Some(fields) = resource.as_object_mut() {
            fields.insert("id".into(), Value::String(id.clone()));
        }
        self.resolve(e, &mut resource)?;
        Ok(match e.verb {
            Verb::Post => Write::Create {
                id,
                resource,
                if_none_exist: None,
            },
            _ => Write::Update { resource, if_match },
        })
    }

    /// Rewrites the references of one entry's resource: fullUrls of the
    /// Bundle to `Type/id`, conditional references to their one match.
    fn resolve(&self, e: &Entry, resource: &mut Value) -> Result<(), FhirError> {
        let mut unknown: Option<(String, String)> = None;
        for_each_reference(resource, &mut |path, text| {
            if let Some(target) = self
                .names
                .known
                .get(text.as_str())
                .or_else(|| self.conditional.get(text.as_str()))
            {
                text.clone_from(target);
            } else if is_placeholder(text) {
                unknown.get_or_insert((path.to_string(), text.clone()));
            }
        });
        if let Some((path, text)) = unknown {
            return Err(entry_error(
                StatusCode::BAD_REQUEST,
                "not-found",
                resource_path(e, &path),
                format!("'{text}' is the fullUrl of no entry of this Bundle"),
            ));
        }
        rewrite_narrative(resource, &|link| self.names.known.get(link).cloned());
        Ok(())
    }
}

/// The FHIRPath, within the Bundle, of `path` (from the resource type on) in
/// the resource of entry `e`.
fn resource_path(e: &Entry, path: &str) -> String {
    let rest = path.split_once('.').map_or("", |(_, r)| r);
    e.at(&format!("resource.{rest}"))
}

/// The steps of the unit: the assertions first (they check the state the
/// transaction was prepared on), then the writes in processing order; with
/// the entry each step comes from and what answers each entry.
type Layout = (Vec<Step>, Vec<usize>, Vec<Slot>);

fn layout(
    entries: &[Entry],
    bases: Vec<Option<u64>>,
    ids: Vec<Option<(String, String)>>,
    mut found: Vec<Option<Version>>,
    deletes: Vec<Vec<String>>,
    asserts: Vec<(Write, usize)>,
) -> Result<Layout, FhirError> {
    let mut steps = Vec::new();
    let mut owners = Vec::new();
    for (w, owner) in asserts {
        steps.push(Step::Assert(Box::new(w)));
        owners.push(owner);
    }
    let mut slots: Vec<Slot> = (0..entries.len()).map(|_| Slot::Read).collect();
    for i in processing_order(entries) {
        let e = &entries[i];
        let if_match = e
            .if_match
            .as_deref()
            .map(parse_etag)
            .transpose()
            .map_err(|err| located(err, &e.at("request.ifMatch")))?;
        match e.verb {
            Verb::Get | Verb::Head => {}
            Verb::Delete => {
                let t = target(e)?.resource_type.to_string();
                let mut mine = Vec::new();
                for id in &deletes[i] {
                    mine.push(steps.len());
                    owners.push(i);
                    steps.push(Step::Delete {
                        resource_type: t.clone(),
                        id: id.clone(),
                        if_match,
                    });
                }
                slots[i] = Slot::Deleted(mine);
            }
            Verb::Post | Verb::Put | Verb::Patch => {
                if let Some(v) = found[i].take() {
                    slots[i] = Slot::Found(v);
                    continue;
                }
                let Some((_, id)) = &ids[i] else {
                    return Err(FhirError::internal("transaction", "an entry lost its id"));
                };
                slots[i] = Slot::Written(steps.len());
                owners.push(i);
                steps.push(Step::Resource {
                    entry: i,
                    id: id.clone(),
                    // A patch was computed from one version: it writes only
                    // over that one.
                    if_match: match e.verb {
                        Verb::Post => None,
                        Verb::Patch => bases[i].or(if_match),
                        _ => if_match,
                    },
                });
            }
        }
    }
    Ok((steps, owners, slots))
}

/// The response Bundle: one entry per request entry, in the request's order.
async fn respond(
    state: &Shared,
    fhir: &Fhir,
    entries: &[Entry],
    slots: Vec<Slot>,
    mut outcomes: Vec<Outcome>,
) -> Result<Value, FhirError> {
    let app = crate::fhir::rest::router(state.clone());
    let mut answers = Vec::with_capacity(entries.len());
    for (e, slot) in entries.iter().zip(slots) {
        let answer = match slot {
            Slot::Written(k) => match std::mem::replace(&mut outcomes[k], Outcome::Checked) {
                Outcome::Created(v) => written(state, fhir, &v, "201 Created")?,
                Outcome::Updated(v) => written(state, fhir, &v, "200 OK")?,
                Outcome::Existing(v) => written(state, fhir, &v, "200 OK")?,
                other => {
                    return Err(FhirError::internal(
                        "transaction",
                        format!("unexpected outcome {other:?}"),
                    ));
                }
            },
            Slot::Found(v) => written(state, fhir, &v, "200 OK")?,
            Slot::Deleted(ks) => {
                let mut answer = json!({"response": {"status": "204 No Content"}});
                if let [k] = ks.as_slice()
                    && let Outcome::Deleted(Some(v)) = &outcomes[*k]
                {
                    answer["response"]["etag"] = json!(format!("W/\"{}\"", v.version));
                }
                answer
            }
            Slot::Read => dispatch(&app, fhir, e).await,
        };
        answers.push(answer);
    }
    Ok(response_bundle("transaction-response", answers))
}

/// The response entry of a written (or found) version.
fn written(state: &Shared, fhir: &Fhir, v: &Version, status: &str) -> Result<Value, FhirError> {
    let mut answer = json!({
        "fullUrl": format!("{}/{}/{}", state.config.base_url, v.resource_type, v.id),
        "response": {
            "status": status,
            "location": format!("{}/{}/_history/{}", v.resource_type, v.id, v.version),
            "etag": format!("W/\"{}\"", v.version),
            "lastModified": format_instant(v.last_updated),
        }
    });
    if fhir.prefer == Return::Representation
        && let Some(body) = v.body.as_deref()
    {
        answer["resource"] = resource_value(body, fhir)?;
    }
    Ok(answer)
}
