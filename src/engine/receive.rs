//! Receiving one frame: read its header, decide the answer, keep the
//! message durably, and only then say what the sender may hear.
//!
//! In original mode (MSH-15 and MSH-16 empty) the message is kept with its
//! outcome and reply in one unit of work, and the reply is the application
//! acknowledgement. In enhanced mode the message is kept as received and the
//! reply is the accept acknowledgement (sent as MSH-15 asks); the listener's
//! processor maps it afterwards, from the store (see [`super::process`]). A key seen
//! before gets the first message's reply again, or an error with code 205
//! when the content differs; either way the copy is kept as a duplicate.

use super::Engine;
use super::mapping::{Mapping, Source};
use crate::fhir::instant::now_micros;
use crate::hl7::ack::{self, Code, Condition, Kind, Problem};
use crate::hl7::batch::{self, Batch};
use crate::hl7::header::Header;
use crate::hl7::message::Message;
use crate::store::messages::{MessageWrite, NewMessage, Status};
use crate::store::{StoreError, Write};

/// What the connection does after a frame.
#[derive(Debug, Default)]
pub struct Answer {
    /// The reply frame's content, if one is due.
    pub reply: Option<Vec<u8>>,
    /// Whether the frame is durably kept (the Release 2 commit block's ACK).
    pub durable: bool,
    /// Close the connection (the bytes were not HL7).
    pub close: bool,
}

/// Whether the sender asked for a reply in this case (MSH-15 for the accept
/// acknowledgement, MSH-16 for the application's: AL, NE, ER, SU; empty is AL).
pub fn wanted(condition: &str, accepted: bool) -> bool {
    match condition {
        "NE" => false,
        "ER" => !accepted,
        "SU" => accepted,
        _ => true,
    }
}

/// The decision about a message before anything is stored.
struct Verdict {
    code: Code,
    problem: Option<Problem>,
    message: Option<Message>,
}

impl Engine {
    /// Handles one frame's content and says what to answer.
    pub async fn receive(&self, raw: &[u8], peer: &str) -> Answer {
        if batch::is_batch(raw) {
            return self.receive_batch(raw, peer).await;
        }
        self.receive_one(raw, peer).await
    }

    async fn receive_batch(&self, raw: &[u8], peer: &str) -> Answer {
        let now = now_micros();
        let batch = match Batch::split(raw, self.default) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("batch from {peer} refused: {e}");
                let kept = self
                    .keep(self.unreadable(raw, peer, &format!("batch: {e}")))
                    .await;
                let text = batch::refusal(raw, self.default, &e.to_string(), now);
                return Answer {
                    reply: Some(self.default.encode(&text)),
                    durable: kept,
                    close: false,
                };
            }
        };
        let mut replies = Vec::with_capacity(batch.messages.len());
        let mut durable = true;
        for message in &batch.messages {
            let answer = self.receive_one(message, peer).await;
            durable &= answer.durable;
            if let Some(reply) = answer.reply {
                let charset = Header::read(message, self.default)
                    .ok()
                    .and_then(|h| h.charset)
                    .unwrap_or(self.default);
                let text = charset
                    .decode(&reply)
                    .unwrap_or_else(|_| String::from_utf8_lossy(&reply).into_owned());
                replies.push(text);
            }
        }
        let charset = batch
            .batch
            .as_ref()
            .or(batch.file.as_ref())
            .and_then(|h| h.charset)
            .unwrap_or(self.default);
        Answer {
            reply: Some(charset.encode(&batch.response(&replies, now))),
            durable,
            close: false,
        }
    }

    async fn receive_one(&self, raw: &[u8], peer: &str) -> Answer {
        let header = match Header::read(raw, self.default) {
            Ok(h) if h.id() == "MSH" => h,
            Ok(_) | Err(_) => {
                let why = match Header::read(raw, self.default) {
                    Err(e) => e.to_string(),
                    Ok(_) => "a batch header inside a message".to_string(),
                };
                tracing::warn!("frame from {peer} is not an HL7 v2 message ({why}); closing");
                let durable = self.keep(self.unreadable(raw, peer, &why)).await;
                return Answer {
                    reply: None,
                    durable,
                    close: true,
                };
            }
        };
        let verdict = self.judge(raw, &header);
        let enhanced = header.enhanced();
        if !enhanced
            && verdict.code == Code::AA
            && let Some(message) = &verdict.message
        {
            return self.receive_mapped(raw, peer, &header, message).await;
        }
        let code = match (enhanced, verdict.code) {
            (true, Code::AA) => Code::CA,
            (true, Code::AE) => Code::CE,
            (true, Code::AR) => Code::CR,
            (_, code) => code,
        };
        let kind = if enhanced {
            Kind::Accept
        } else {
            Kind::Application
        };
        let reply_due = !enhanced || wanted(header.field(15), code.accepts());
        let reply = reply_due.then(|| self.reply(&header, kind, code, verdict.problem.as_ref()));
        let status = if code.accepts() {
            Status::Received
        } else {
            Status::Error
        };
        if let Some(p) = &verdict.problem {
            tracing::warn!(
                "{} {} from {peer}: {} {}",
                header.field(9),
                header.control_id(),
                code.as_str(),
                p.text
            );
        }
        let record = self.record(raw, peer, &header, status, reply.clone(), &verdict.problem);
        let writes = vec![Write::Message(MessageWrite::Receive(Box::new(
            record.clone(),
        )))];
        match self.store.transact(writes).await {
            Ok(_) => {
                if status == Status::Received {
                    self.received.notify_one();
                }
                Answer {
                    reply,
                    durable: true,
                    close: false,
                }
            }
            Err(StoreError::Duplicate { of, ack, same }) => {
                self.duplicate(record, &header, of, ack, same).await
            }
            Err(e) => self.unstored(&header, peer, &e),
        }
    }

    /// Original mode, an accepted message: its record, its reply (AA, or AE
    /// when its mapping fails) and the resources it maps to commit in one
    /// unit, and only then is the reply sent.
    async fn receive_mapped(
        &self,
        raw: &[u8],
        peer: &str,
        header: &Header,
        message: &Message,
    ) -> Answer {
        let source = Source {
            header,
            message,
            raw,
            received: now_micros(),
        };
        let mut made = None;
        let (mapping, result) = self
            .transact_mapped(&source, |mapping| {
                let (code, problem, status, resources) = mapping.outcome();
                let reply = self.reply(header, Kind::Application, code, problem.as_ref());
                let mut record = self.record(raw, peer, header, status, Some(reply), &problem);
                record.received = source.received;
                record.resources = resources;
                made = Some(record.clone());
                vec![Write::Message(MessageWrite::Receive(Box::new(record)))]
            })
            .await;
        if let Mapping::Failed(p) = &mapping {
            tracing::warn!(
                "{} {} from {peer}: AE {}",
                header.field(9),
                header.control_id(),
                p.text
            );
        }
        match (result, made) {
            (Ok(_), Some(record)) => Answer {
                reply: record.ack,
                durable: true,
                close: false,
            },
            (Err(StoreError::Duplicate { of, ack, same }), Some(record)) => {
                self.duplicate(record, header, of, ack, same).await
            }
            (Err(e), _) => self.unstored(header, peer, &e),
            (Ok(_), None) => self.unstored(
                header,
                peer,
                &StoreError::Backend("the message's record was not made".into()),
            ),
        }
    }

    /// The answer when a message could not be stored: AR or CR, to be sent
    /// again later.
    fn unstored(&self, header: &Header, peer: &str, e: &StoreError) -> Answer {
        tracing::error!(
            "message {} from {peer} could not be stored: {e}",
            header.control_id()
        );
        let (kind, code) = if header.enhanced() {
            (Kind::Accept, Code::CR)
        } else {
            (Kind::Application, Code::AR)
        };
        let problem = Problem::message(
            Condition::InternalError,
            "the message could not be stored; send it again later",
        );
        Answer {
            reply: Some(self.reply(header, kind, code, Some(&problem))),
            durable: false,
            close: false,
        }
    }

    /// A key seen before: the first reply again when the content is the
    /// same, an error with code 205 when it is not. The copy is kept.
    async fn duplicate(
        &self,
        mut record: NewMessage,
        header: &Header,
        of: i64,
        ack: Option<Vec<u8>>,
        same: bool,
    ) -> Answer {
        let reply = if same {
            ack
        } else {
            let enhanced = header.enhanced();
            let (kind, code) = if enhanced {
                (Kind::Accept, Code::CE)
            } else {
                (Kind::Application, Code::AE)
            };
            let problem = Problem::at(
                Condition::DuplicateKey,
                "MSH",
                1,
                10,
                format!(
                    "message control id '{}' from this sender was received before with other content",
                    header.control_id()
                ),
            );
            (!enhanced || wanted(header.field(15), false))
                .then(|| self.reply(header, kind, code, Some(&problem)))
        };
        tracing::info!(
            "message {} is a duplicate of message {of}{}",
            header.control_id(),
            if same { "" } else { " with other content" }
        );
        record.status = Status::Duplicate;
        record.ack = reply.clone();
        record.resources.clear();
        record.error = (!same).then(|| "same key, other content".to_string());
        let durable = self
            .store
            .write(Write::Message(MessageWrite::Duplicate {
                message: Box::new(record),
                of,
            }))
            .await
            .inspect_err(|e| tracing::error!("a duplicate could not be kept: {e}"))
            .is_ok();
        Answer {
            reply,
            durable,
            close: false,
        }
    }

    /// Decides the answer from the header and the message.
    fn judge(&self, raw: &[u8], header: &Header) -> Verdict {
        let refuse = |code, problem| Verdict {
            code,
            problem: Some(problem),
            message: None,
        };
        if header.charset.is_none() {
            return refuse(
                Code::AE,
                Problem::at(
                    Condition::DataType,
                    "MSH",
                    1,
                    18,
                    format!("character set '{}' is not supported", header.field(18)),
                ),
            );
        }
        let (code, event, _) = header.message_type();
        if code.is_empty() {
            return refuse(Code::AE, missing(9, "MSH-9 (message type) is empty"));
        }
        if header.control_id().is_empty() {
            return refuse(
                Code::AE,
                missing(10, "MSH-10 (message control id) is empty"),
            );
        }
        if header.version_number().is_none() {
            return refuse(
                Code::AR,
                Problem::at(
                    Condition::UnsupportedVersion,
                    "MSH",
                    1,
                    12,
                    format!("version '{}' is not one of 2.1 to 2.9", header.version()),
                ),
            );
        }
        match header.component(11, 1) {
            "P" | "T" | "D" => {}
            "" => return refuse(Code::AE, missing(11, "MSH-11 (processing id) is empty")),
            other => {
                return refuse(
                    Code::AR,
                    Problem::at(
                        Condition::UnsupportedProcessingId,
                        "MSH",
                        1,
                        11,
                        format!("processing id '{other}' is not P, T or D"),
                    ),
                );
            }
        }
        let message = match Message::parse(raw, self.default) {
            Ok(m) => m,
            Err(e) => return refuse(Code::AE, Problem::parse(raw, &e)),
        };
        if self.settings.reject_unmapped && !crate::map::supports(code, event) {
            return refuse(
                Code::AR,
                Problem::at(
                    Condition::UnsupportedMessageType,
                    "MSH",
                    1,
                    9,
                    format!("{code}^{event} is not mapped by this interface"),
                ),
            );
        }
        Verdict {
            code: Code::AA,
            problem: None,
            message: Some(message),
        }
    }

    /// A reply to `header`, encoded in the message's character set.
    pub fn reply(
        &self,
        header: &Header,
        kind: Kind,
        code: Code,
        problem: Option<&Problem>,
    ) -> Vec<u8> {
        let text = ack::reply(
            header,
            kind,
            code,
            problem,
            &ack::control_id(),
            now_micros(),
        );
        header.charset.unwrap_or(self.default).encode(&text)
    }

    fn record(
        &self,
        raw: &[u8],
        peer: &str,
        header: &Header,
        status: Status,
        ack: Option<Vec<u8>>,
        problem: &Option<Problem>,
    ) -> NewMessage {
        NewMessage {
            received: now_micros(),
            listener: self.listener.clone(),
            peer: peer.to_string(),
            key: header.key(),
            message_type: header.field(9).to_string(),
            version: header.version().to_string(),
            raw: raw.to_vec(),
            status,
            ack,
            resources: Vec::new(),
            error: problem.as_ref().map(|p| {
                let location = if p.segment_id.is_empty() {
                    String::new()
                } else {
                    format!("{}[{}]-{}: ", p.segment_id, p.sequence, p.field)
                };
                format!(
                    "{} {}: {location}{}",
                    p.condition.code(),
                    p.condition.text(),
                    p.text
                )
            }),
        }
    }

    /// The record of bytes that are not a message.
    fn unreadable(&self, raw: &[u8], peer: &str, why: &str) -> NewMessage {
        NewMessage {
            received: now_micros(),
            listener: self.listener.clone(),
            peer: peer.to_string(),
            key: Default::default(),
            message_type: String::new(),
            version: String::new(),
            raw: raw.to_vec(),
            status: Status::Error,
            ack: None,
            resources: Vec::new(),
            error: Some(why.to_string()),
        }
    }

    /// Keeps a record with no key; whether it was stored.
    async fn keep(&self, record: NewMessage) -> bool {
        self.store
            .write(Write::Message(MessageWrite::Receive(Box::new(record))))
            .await
            .inspect_err(|e| tracing::error!("a refused frame could not be kept: {e}"))
            .is_ok()
    }

    /// Answers a frame over the size limit from its first bytes: kept (its
    /// head only) as an error, and refused.
    pub async fn oversized(&self, head: &[u8], length: usize, peer: &str) -> Answer {
        let why = format!(
            "the frame is {length} bytes, over the limit of {}",
            self.settings.max_frame
        );
        tracing::warn!("frame from {peer} refused: {why}");
        let mut record = self.unreadable(head, peer, &why);
        let header = Header::read(head, self.default)
            .ok()
            .filter(|h| h.id() == "MSH");
        let reply = header.as_ref().map(|h| {
            let (kind, code) = if h.enhanced() {
                (Kind::Accept, Code::CR)
            } else {
                (Kind::Application, Code::AR)
            };
            let problem = Problem::message(Condition::InternalError, why.clone());
            self.reply(h, kind, code, Some(&problem))
        });
        if let Some(h) = &header {
            record.message_type = h.field(9).to_string();
            record.version = h.version().to_string();
            // Kept without its key: it was not received whole, so a resend
            // that fits must not be taken for a duplicate.
        }
        record.ack = reply.clone();
        let durable = self.keep(record).await;
        Answer {
            close: reply.is_none(),
            reply,
            durable,
        }
    }
}

fn missing(field: usize, text: &str) -> Problem {
    Problem::at(Condition::RequiredFieldMissing, "MSH", 1, field, text)
}
