//! What the store keeps for the HL7 v2 interface: the message store (every
//! message received, its status, the reply it got, the resources it produced)
//! and the outbox (messages waiting to be delivered to a destination). They
//! are written through [`super::Write::Message`], so a message's receipt, the
//! resources mapped from it and its reply commit in one unit of work.

/// A message's state in the message store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Committed, not processed yet (enhanced mode between CA and mapping).
    Received,
    /// Processed: its resources are stored and its application ack made.
    Processed,
    /// Kept, but refused or not mapped; `error` says why.
    Error,
    /// A copy of a message whose key was stored already.
    Duplicate,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => "received",
            Status::Processed => "processed",
            Status::Error => "error",
            Status::Duplicate => "duplicate",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        match text {
            "received" => Some(Status::Received),
            "processed" => Some(Status::Processed),
            "error" => Some(Status::Error),
            "duplicate" => Some(Status::Duplicate),
            _ => None,
        }
    }
}

/// A message to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Microseconds since the Unix epoch.
    pub received: i64,
    /// The listener it came through (its address).
    pub listener: String,
    /// The sender's address.
    pub peer: String,
    /// MSH-3, MSH-4 and MSH-10 as written (empty when unreadable).
    pub key: (String, String, String),
    /// MSH-9 as written.
    pub message_type: String,
    /// MSH-12's version.
    pub version: String,
    /// The frame's bytes as received.
    pub raw: Vec<u8>,
    pub status: Status,
    /// The reply sent on the connection (bytes as sent), if any.
    pub ack: Option<Vec<u8>>,
    /// `Type/id` of each resource the message produced.
    pub resources: Vec<String>,
    pub error: Option<String>,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: i64,
    pub message: NewMessage,
    /// The message this one duplicates.
    pub duplicate_of: Option<i64>,
    /// When it last changed (microseconds).
    pub updated: i64,
}

/// A write to the message store or the outbox.
#[derive(Debug, Clone)]
pub enum MessageWrite {
    /// Keep a message received. When a message with its key (MSH-3, MSH-4,
    /// MSH-10) is kept already, the unit fails with
    /// [`super::StoreError::Duplicate`] and nothing of it is written. A
    /// message with an empty MSH-10 has no key and is always kept.
    Receive(Box<NewMessage>),
    /// Keep a copy of message `of` (status duplicate), whatever its key.
    Duplicate { message: Box<NewMessage>, of: i64 },
    /// The outcome of processing message `id`.
    Finish {
        id: i64,
        status: Status,
        resources: Vec<String>,
        error: Option<String>,
    },
    /// Queue `payload` (an MLLP message) for `destination`.
    Enqueue {
        destination: String,
        control_id: String,
        payload: Vec<u8>,
        /// The message it answers, if any.
        source: Option<i64>,
    },
    /// The outcome of a delivery attempt of outbox entry `id`.
    Delivery {
        id: i64,
        status: DeliveryStatus,
        attempts: u32,
        /// When to try again (microseconds), for a pending entry.
        next_attempt: i64,
        error: Option<String>,
        /// The peer's acknowledgement, once delivered.
        ack: Option<Vec<u8>>,
    },
    /// Forgets messages received, and outbox entries delivered, before
    /// `before` (microseconds).
    Purge { before: i64 },
}

/// An outbox entry's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for (another) attempt.
    Pending,
    /// Delivered: the peer acknowledged it.
    Sent,
    /// Given up after the last attempt, or refused by the peer; a resend
    /// makes it pending again.
    Errored,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Errored => "errored",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        match text {
            "pending" => Some(DeliveryStatus::Pending),
            "sent" => Some(DeliveryStatus::Sent),
            "errored" => Some(DeliveryStatus::Errored),
            _ => None,
        }
    }
}

/// An entry of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub destination: String,
    pub control_id: String,
    pub payload: Vec<u8>,
    pub source: Option<i64>,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt: i64,
    pub error: Option<String>,
    pub ack: Option<Vec<u8>>,
    pub created: i64,
    pub updated: i64,
}

/// Which messages to list, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageQuery {
    pub id: Option<i64>,
    pub status: Option<Status>,
    /// Received at or after (microseconds).
    pub since: Option<i64>,
    /// Only ids above this one (paging).
    pub after: Option<i64>,
    pub limit: usize,
}

/// Which outbox entries to list, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxQuery {
    pub id: Option<i64>,
    pub destination: Option<String>,
    pub status: Option<DeliveryStatus>,
    pub after: Option<i64>,
    pub limit: usize,
}
