//! The outbound sender: delivers the outbox's entries to their destinations
//! over MLLP. Each destination has one worker that sends its entries one at
//! a time, oldest first, and waits for the acknowledgement whose MSA-2 is
//! the entry's control id. Any other acknowledgement (a late one, for an
//! attempt already given up) is dropped, never credited to the entry in
//! hand; and after a timeout the connection is closed, so a late answer
//! cannot arrive on the next attempt's connection either.
//!
//! AA or CA marks the entry sent. AE or CE (the peer refuses the content,
//! so sending it again would not help) sets it aside as errored at once;
//! AR, CR, a timeout or a network error retry with exponential backoff (1 s
//! doubling to 5 min) until the configured number of attempts, then set it
//! aside as errored. An errored entry is sent again when an operator resends
//! it. Every state change is a durable write, so a restart resumes where
//! delivery stopped: delivery is at least once.

use crate::config::{self, Destination};
use crate::fhir::instant::now_micros;
use crate::hl7::charset::Charset;
use crate::hl7::message::Message;
use crate::mllp::client::{self, Connection};
use crate::mllp::frame::{Frame, Outbound as Out};
use crate::store::messages::{DeliveryStatus, MessageWrite, OutboxEntry, OutboxQuery};
use crate::store::{Store, Write};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// Largest acknowledgement frame read back.
const MAX_ACK: usize = 1 << 20;

/// The sender: one worker per destination, started when something is queued.
pub struct Outbound {
    store: Store,
    settings: config::Outbound,
    tls: Option<tokio_rustls::TlsConnector>,
    workers: Mutex<HashMap<String, Arc<Notify>>>,
    stop: watch::Receiver<bool>,
}

impl Outbound {
    pub fn new(
        store: Store,
        settings: config::Outbound,
        stop: watch::Receiver<bool>,
    ) -> Result<Arc<Outbound>, String> {
        let tls = settings
            .ca
            .as_deref()
            .map(|ca| crate::tls::connector(ca, None))
            .transpose()?;
        Ok(Arc::new(Outbound {
            store,
            settings,
            tls,
            workers: Mutex::new(HashMap::new()),
            stop,
        }))
    }

    /// Tells the worker of `destination` (started if need be) to look at the
    /// outbox again.
    pub fn wake(self: &Arc<Self>, destination: &str) {
        let Ok(mut workers) = self.workers.lock() else {
            return;
        };
        if let Some(notify) = workers.get(destination) {
            notify.notify_one();
            return;
        }
        let target = match Destination::parse(destination) {
            Ok(d) => d,
            Err(e) => return tracing::error!("outbox: {e}"),
        };
        let notify = Arc::new(Notify::new());
        workers.insert(destination.to_string(), notify.clone());
        tokio::spawn(worker(
            self.clone(),
            target,
            destination.to_string(),
            notify,
        ));
    }

    /// Starts the workers of every destination with entries pending.
    pub async fn resume(self: &Arc<Self>) -> Result<(), String> {
        let mut after = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let page = self
                .store
                .outbox(&OutboxQuery {
                    status: Some(DeliveryStatus::Pending),
                    after,
                    limit: 500,
                    ..Default::default()
                })
                .await
                .map_err(|e| format!("outbox: {e}"))?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = Some(last.id);
            for e in page {
                if seen.insert(e.destination.clone()) {
                    self.wake(&e.destination);
                }
            }
        }
    }

    /// Makes an errored entry pending again, with its attempts reset.
    pub async fn resend(self: &Arc<Self>, id: i64) -> Result<OutboxEntry, String> {
        let entry = self
            .store
            .outbox_entry(id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("there is no outbox entry {id}"))?;
        self.record(&entry, DeliveryStatus::Pending, 0, now_micros(), None, None)
            .await?;
        self.wake(&entry.destination);
        Ok(entry)
    }

    async fn record(
        &self,
        entry: &OutboxEntry,
        status: DeliveryStatus,
        attempts: u32,
        next_attempt: i64,
        error: Option<String>,
        ack: Option<Vec<u8>>,
    ) -> Result<(), String> {
        self.store
            .write(Write::Message(MessageWrite::Delivery {
                id: entry.id,
                status,
                attempts,
                next_attempt,
                error,
                ack,
            }))
            .await
            .map(|_| ())
            .map_err(|e| format!("outbox entry {}: {e}", entry.id))
    }
}

/// The delay before attempt `attempts + 1`.
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.saturating_sub(1).min(9)).min(Duration::from_secs(300))
}

/// What an attempt came to.
enum Attempt {
    Delivered(Vec<u8>),
    Refused(Vec<u8>, String),
    Retry(String),
}

async fn worker(out: Arc<Outbound>, target: Destination, name: String, notify: Arc<Notify>) {
    let mut stop = out.stop.clone();
    let mut conn: Option<Connection> = None;
    let timeout = Duration::from_secs(out.settings.ack_timeout);
    loop {
        if *stop.borrow() {
            return;
        }
        let next = out
            .store
            .outbox(&OutboxQuery {
                destination: Some(name.clone()),
                status: Some(DeliveryStatus::Pending),
                limit: 1,
                ..Default::default()
            })
            .await;
        let entry = match next {
            Ok(mut page) => page.pop(),
            Err(e) => {
                tracing::error!("outbox of {name}: {e}");
                None
            }
        };
        let wait = match &entry {
            None => None,
            Some(e) => {
                let due = e.next_attempt - now_micros();
                (due > 0).then(|| Duration::from_micros(due as u64))
            }
        };
        let Some(entry) = entry.filter(|_| wait.is_none()) else {
            let sleep = wait.unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                _ = notify.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = stop.changed() => return,
            }
            continue;
        };
        let result = attempt(&out, &target, &mut conn, &entry, timeout).await;
        let attempts = entry.attempts + 1;
        let written = match result {
            Attempt::Delivered(ack) => {
                tracing::debug!("outbox entry {} delivered to {name}", entry.id);
                out.record(&entry, DeliveryStatus::Sent, attempts, 0, None, Some(ack))
                    .await
            }
            Attempt::Refused(ack, why) => {
                tracing::warn!("outbox entry {} refused by {name}: {why}", entry.id);
                out.record(
                    &entry,
                    DeliveryStatus::Errored,
                    attempts,
                    0,
                    Some(why),
                    Some(ack),
                )
                .await
            }
            Attempt::Retry(why) => {
                conn = None;
                let status = if attempts >= out.settings.max_attempts {
                    tracing::warn!(
                        "outbox entry {} set aside after {attempts} attempts: {why}",
                        entry.id
                    );
                    DeliveryStatus::Errored
                } else {
                    tracing::info!("outbox entry {} to {name}: {why}; will retry", entry.id);
                    DeliveryStatus::Pending
                };
                let next = now_micros() + backoff(attempts).as_micros() as i64;
                out.record(&entry, status, attempts, next, Some(why), None)
                    .await
            }
        };
        if let Err(e) = written {
            tracing::error!("{e}");
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

/// Sends one entry and waits for its acknowledgement.
async fn attempt(
    out: &Outbound,
    target: &Destination,
    conn: &mut Option<Connection>,
    entry: &OutboxEntry,
    timeout: Duration,
) -> Attempt {
    if conn.is_none() {
        match client::connect(target, out.tls.as_ref(), timeout, MAX_ACK).await {
            Ok(c) => *conn = Some(c),
            Err(e) => return Attempt::Retry(e),
        }
    }
    let Some(c) = conn.as_mut() else {
        return Attempt::Retry("no connection".into());
    };
    let sent = tokio::time::timeout(
        timeout,
        c.send(Out::Message(Bytes::from(entry.payload.clone()))),
    )
    .await;
    match sent {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Attempt::Retry(format!("sending failed: {e}")),
        Err(_) => return Attempt::Retry("sending timed out".into()),
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let frame = match tokio::time::timeout_at(deadline, c.next()).await {
            Err(_) => {
                return Attempt::Retry(format!("no acknowledgement within {timeout:?}"));
            }
            Ok(None) => return Attempt::Retry("the peer closed the connection".into()),
            Ok(Some(Err(e))) => return Attempt::Retry(format!("reading failed: {e}")),
            Ok(Some(Ok(frame))) => frame,
        };
        let bytes = match frame {
            Frame::Message(b) => b,
            Frame::Commit(_) | Frame::Oversized { .. } => continue,
        };
        let Ok(ack) = Message::parse(&bytes, Charset::Utf8)
            .or_else(|_| Message::parse(&bytes, Charset::Latin1))
        else {
            tracing::warn!("outbox: an unreadable reply from {target} dropped");
            continue;
        };
        let answers = ack.value("MSA", 2, 0, 0);
        if answers != entry.control_id {
            tracing::warn!(
                "outbox: an acknowledgement of '{answers}' from {target} dropped while waiting for '{}'",
                entry.control_id
            );
            continue;
        }
        let code = ack.value("MSA", 1, 0, 0);
        let raw = bytes.to_vec();
        return match code.as_str() {
            "AA" | "CA" => Attempt::Delivered(raw),
            "AE" | "CE" => Attempt::Refused(raw, format!("{code}: {}", ack_text(&ack))),
            _ => Attempt::Retry(format!("{code}: {}", ack_text(&ack))),
        };
    }
}

/// The reason an acknowledgement gives (ERR-8, ERR-3's text, or MSA-3).
fn ack_text(ack: &Message) -> String {
    [
        ack.value("ERR", 8, 0, 0),
        ack.value("ERR", 3, 2, 0),
        ack.value("MSA", 3, 0, 0),
    ]
    .into_iter()
    .find(|t| !t.is_empty())
    .unwrap_or_else(|| "no reason given".into())
}
