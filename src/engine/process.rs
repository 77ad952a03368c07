//! Processing in enhanced mode, after the accept acknowledgement: the
//! listener's processor takes the messages kept as `received` from the store,
//! in the order they were received, maps each, records its outcome and queues
//! the application acknowledgement (as MSH-16 asks) for the listener's
//! `app_ack_to`, all in one unit of work. Messages still `received` when the
//! server stopped are processed when it starts again, before the listener
//! accepts anything.
//! Processing maps the message to FHIR (see [`super::mapping`]).

use super::Engine;
use super::mapping::{Mapping, Source};
use super::receive::wanted;
use crate::fhir::instant::now_micros;
use crate::hl7::ack::{self, Kind};
use crate::hl7::header::Header;
use crate::hl7::message::Message;
use crate::store::Write;
use crate::store::messages::{MessageQuery, MessageWrite, Status, StoredMessage};
use futures_util::future::join_all;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::sync::watch;

/// A message kept as received, to be processed.
pub struct Job {
    pub id: i64,
    pub header: Header,
    pub message: Message,
    /// The message's bytes as received, and when (microseconds).
    pub raw: Vec<u8>,
    pub received: i64,
    /// Whether to queue the application acknowledgement (not when an
    /// operator reprocesses a message: its sender had its answer).
    pub acknowledge: bool,
}

/// How many processed messages may be on their way to the store at once:
/// enough for their units to share commits, few enough that the store's one
/// writer is never full of mapping's large units while receipt's small ones
/// wait behind them.
const WRITING: usize = 2;

/// Processes the listener's received messages, oldest first, whenever
/// receipt says there are new ones, until the listener stops. One processor
/// per listener takes them from the store in the order they were received,
/// so each connection's messages are processed in order; receipt never waits
/// for it, so a burst is accepted at the speed of durable receipt and mapped
/// behind it.
pub async fn run(engine: Arc<Engine>, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = engine.recover().await {
            tracing::error!("received messages could not be read: {e}");
        }
        tokio::select! {
            _ = engine.received.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

impl Engine {
    /// Maps a received message and records its outcome, in one unit with
    /// the resources it maps to and its application acknowledgement (AA, or
    /// AE with the mapping's error) queued for `app_ack_to`. When the unit
    /// cannot be stored, the message stays `received` and is processed again
    /// at the next start.
    pub async fn process(&self, job: Job) -> Result<(), String> {
        let Job {
            id,
            header,
            message,
            raw,
            received,
            acknowledge,
        } = job;
        let source = Source {
            header: &header,
            message: &message,
            raw: &raw,
            received,
        };
        let destination = self.settings.app_ack_to.as_ref().map(|d| d.to_string());
        let mut queued = false;
        let (mapping, result) = self
            .transact_mapped(&source, |mapping| {
                let (code, problem, status, resources) = mapping.outcome();
                let mut writes = vec![Write::Message(MessageWrite::Finish {
                    id,
                    status,
                    resources,
                    error: problem.as_ref().map(|p| p.text.clone()),
                })];
                queued = false;
                if acknowledge && wanted(header.field(16), code.accepts()) {
                    match &destination {
                        Some(destination) => {
                            let control_id = ack::control_id();
                            let text = ack::reply(
                                &header,
                                Kind::Deferred,
                                code,
                                problem.as_ref(),
                                &control_id,
                                now_micros(),
                            );
                            writes.push(Write::Message(MessageWrite::Enqueue {
                                destination: destination.clone(),
                                control_id,
                                payload: header.charset.unwrap_or(self.default).encode(&text),
                                source: Some(id),
                            }));
                            queued = true;
                        }
                        None => tracing::debug!(
                            "message {id} asks for an application acknowledgement; no mllp_app_ack_to is configured"
                        ),
                    }
                }
                writes
            })
            .await;
        if let Mapping::Failed(p) = &mapping {
            tracing::warn!("message {id} ({}) not mapped: {}", header.field(9), p.text);
        }
        match result {
            Ok(_) => {
                if let (true, Some(destination)) = (queued, destination) {
                    self.outbound.wake(&destination);
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!("message {id} could not be processed: {e}");
                Err(e.to_string())
            }
        }
    }

    /// Processes a kept message again (an operator's request): it is read
    /// from its raw bytes and its outcome recorded; no acknowledgement is
    /// sent. A duplicate, or a message that cannot be read, is refused.
    pub async fn reprocess(&self, id: i64) -> Result<(), Reprocess> {
        let stored = self
            .store
            .message(id)
            .await
            .map_err(|e| Reprocess::Failed(e.to_string()))?
            .ok_or(Reprocess::NotFound)?;
        if stored.message.status == Status::Duplicate {
            return Err(Reprocess::Refused(format!(
                "message {id} is a duplicate of message {}; reprocess that one",
                stored.duplicate_of.unwrap_or_default()
            )));
        }
        let raw = &stored.message.raw;
        let header = Header::read(raw, self.default)
            .map_err(|e| Reprocess::Refused(format!("message {id} cannot be read: {e}")))?;
        let message = Message::parse(raw, self.default)
            .map_err(|e| Reprocess::Refused(format!("message {id} cannot be read: {e}")))?;
        self.process(Job {
            id,
            header,
            message,
            raw: raw.clone(),
            received: stored.message.received,
            acknowledge: false,
        })
        .await
        .map_err(Reprocess::Failed)
    }

    /// Processes the messages of this listener still `received`: each
    /// connection's in the order they came.
    pub async fn recover(&self) -> Result<usize, String> {
        let mut after = None;
        let mut done = 0;
        loop {
            let page = self
                .store
                .messages(&MessageQuery {
                    status: Some(Status::Received),
                    after,
                    limit: 500,
                    ..Default::default()
                })
                .await
                .map_err(|e| format!("message store: {e}"))?;
            let Some(last) = page.last() else {
                return Ok(done);
            };
            after = Some(last.id);
            // One sequence per connection, in order of receipt; the
            // connections' sequences run side by side, so their units share
            // commits.
            let mut by_peer: Vec<(String, Vec<StoredMessage>)> = Vec::new();
            for stored in page {
                if stored.message.listener != self.listener {
                    continue;
                }
                match by_peer.iter_mut().find(|(p, _)| *p == stored.message.peer) {
                    Some((_, list)) => list.push(stored),
                    None => by_peer.push((stored.message.peer.clone(), vec![stored])),
                }
            }
            let writing = Semaphore::new(WRITING);
            let writing = &writing;
            let counts = join_all(by_peer.into_iter().map(|(_, list)| async move {
                let mut n = 0;
                for stored in list {
                    let Ok(_turn) = writing.acquire().await else {
                        break;
                    };
                    if self.process_stored(stored).await {
                        n += 1;
                    }
                }
                n
            }))
            .await;
            done += counts.into_iter().sum::<usize>();
        }
    }

    /// Processes one kept message; whether it was processed.
    async fn process_stored(&self, stored: StoredMessage) -> bool {
        let raw = &stored.message.raw;
        let (Ok(header), Ok(message)) = (
            Header::read(raw, self.default),
            Message::parse(raw, self.default),
        ) else {
            tracing::warn!("message {} can no longer be read", stored.id);
            return false;
        };
        self.process(Job {
            id: stored.id,
            header,
            message,
            raw: raw.clone(),
            received: stored.message.received,
            acknowledge: true,
        })
        .await
        .is_ok()
    }
}

/// Why a message could not be reprocessed.
#[derive(Debug, PartialEq, Eq)]
pub enum Reprocess {
    NotFound,
    Refused(String),
    Failed(String),
}
