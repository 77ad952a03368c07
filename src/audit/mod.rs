//! Auditing (issue 6, E3): the server writes an AuditEvent for every FHIR
//! request and every answer of the authorization server ([`event`], made by
//! the [`layer`] around the router), links each to the one before by a hash
//! ([`chain`]), and stores them as FHIR resources, searchable like any other.
//! With auditing on, clients cannot create, change or delete AuditEvents.
//!
//! Events are made ready on the requests' threads (index entries, text),
//! linked to the chain one at a time, queued, and written by one task
//! ([`Audit`]) in units of work of their own (at most 512 events), at most
//! `flush` after the first of them was queued: they share
//! the store's group commits with the other writes of that moment, instead
//! of costing a commit (and an fsync) per request. An event is durable within
//! that bound (default 1 s); a request is answered without waiting for its
//! event. On shutdown every queued event is written before the store closes.

pub mod chain;
pub mod event;
pub mod layer;
pub mod verify;

use crate::search::extract::extract;
use crate::search::parse::{Limits, parse};
use crate::search::query::Search;
use crate::search::registry::registry;
use crate::store::{Indexed, Store};
use chain::Tail;
use serde_json::Value;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Most events queued before requests wait for the writer: about 3 KiB
/// each, ready to be written.
const QUEUE: usize = 16_384;
/// Most events one unit of work writes: small enough that a unit does not
/// hold up the other writes of its group commit for long.
const MAX_BATCH: usize = 512;

/// The audit trail being written.
pub struct Audit {
    store: Store,
    /// The end of the chain, and the queue: an event is linked and queued
    /// under this lock, so the queue holds the events in chain order.
    tail: tokio::sync::Mutex<(Tail, Option<mpsc::Sender<Indexed>>)>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Audit {
    /// Starts writing the audit trail of `store`, continuing its chain.
    /// `flush` bounds how long an event waits before it is written.
    pub async fn start(store: Store, base: &str, flush: Duration) -> Result<Audit, String> {
        let tail = tail(&store, base).await?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = tokio::spawn(write_events(store.clone(), rx, flush));
        Ok(Audit {
            store,
            tail: tokio::sync::Mutex::new((tail, Some(tx))),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Queues an event (waits only while the queue is full). Its index
    /// entries are extracted here, on the request's thread; only linking it
    /// to the chain is done one event at a time.
    pub async fn record(&self, mut event: Value) {
        let entries = extract(registry(), "AuditEvent", &event, self.store.base());
        let mut guard = self.tail.lock().await;
        let (tail, queue) = &mut *guard;
        let Some(tx) = queue.clone() else {
            tracing::error!("an audit event came after the audit trail was closed");
            return;
        };
        tail.link(&mut event);
        let ready = self
            .store
            .prepared_create(crate::store::new_id(), event, entries);
        if tx.send(ready).await.is_err() {
            tracing::error!("the audit writer stopped");
        }
    }

    /// Writes every queued event and stops.
    pub async fn close(&self) {
        drop(self.tail.lock().await.1.take());
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(w) = writer {
            let _ = w.await;
        }
    }
}

/// A search of every AuditEvent in the order they were written (newest
/// first when asked), `count` a page.
fn trail_search(base: &str, newest_first: bool, count: usize) -> Result<Search, String> {
    let sort = if newest_first {
        "-_lastUpdated"
    } else {
        "_lastUpdated"
    };
    let pairs = vec![
        ("_sort".to_string(), sort.to_string()),
        ("_count".to_string(), count.to_string()),
    ];
    let limits = Limits {
        default_count: count,
        max_count: count,
        max_included: 0,
    };
    parse(
        registry(),
        &["AuditEvent".to_string()],
        &pairs,
        base,
        true,
        limits,
    )
    .map(|parsed| parsed.search)
    .map_err(|p| format!("audit: the search of the trail: {p:?}"))
}

/// The end of the stored chain: the newest chained AuditEvent's sequence
/// and hash (the chain's start when there is none).
async fn tail(store: &Store, base: &str) -> Result<Tail, String> {
    let mut search = trail_search(base, true, 100)?;
    loop {
        let page = store
            .search(&search)
            .await
            .map_err(|e| format!("audit: reading the chain's end: {e}"))?;
        for v in &page.matches {
            let Some(body) = v.body.as_deref() else {
                continue;
            };
            let event: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
            if chain::is_chained(&event) {
                let sequence = chain::extension(&event, chain::SEQUENCE)
                    .and_then(|s| s.parse().ok())
                    .ok_or("audit: the newest chained event has no sequence number")?;
                let hash = chain::extension(&event, chain::HASH).unwrap_or_default();
                return Ok(Tail {
                    sequence,
                    hash: hash.to_string(),
                });
            }
        }
        match page.next {
            Some(next) => search.page = Some(next),
            None => return Ok(Tail::default()),
        }
    }
}

/// The writer: takes the first event waiting, gathers what else arrives
/// within half of `flush` (the other half is for the commit), and writes
/// them as one unit of work.
async fn write_events(store: Store, mut rx: mpsc::Receiver<Indexed>, flush: Duration) {
    let gather = flush / 2;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + gather;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(e)) => batch.push(e),
                Ok(None) | Err(_) => break,
            }
        }
        // Until it is written, nothing else is: the chain has no gap, and a
        // store that cannot write makes requests wait once the queue is full
        // rather than go unaudited.
        let mut attempt: u64 = 0;
        while let Err(e) = store.transact_prepared(batch.clone()).await {
            attempt += 1;
            tracing::error!(
                "audit: writing {} events failed (attempt {attempt}): {e}",
                batch.len()
            );
            tokio::time::sleep(Duration::from_millis((200 * attempt).min(5000))).await;
        }
    }
}

#[cfg(test)]
mod tests;
