//! The HL7 v2 interface engine: what happens to a message between the MLLP
//! listener (the source) and the store and outbound sender (the sinks).
//! [`receive`] decides a frame's answer and keeps the message durably before
//! the answer leaves; [`process`] finishes enhanced-mode messages after their
//! accept acknowledgement; [`outbound`] delivers queued messages (application
//! acknowledgements, and later the adapters' messages) to their destinations.

pub mod mapping;
pub mod outbound;
pub mod process;
pub mod receive;

use crate::config::Mllp;
use crate::hl7::charset::Charset;
use crate::store::Store;
use std::sync::Arc;

/// What a listener's connections share.
pub struct Engine {
    pub store: Store,
    /// The listener's name in the message store (`mllp://127.0.0.1:2575`).
    pub listener: String,
    pub settings: Mllp,
    /// The character set of messages whose MSH-18 is empty.
    pub default: Charset,
    pub outbound: Arc<outbound::Outbound>,
    /// Woken when an enhanced-mode message is kept as received.
    pub received: tokio::sync::Notify,
}

impl Engine {
    pub fn new(
        store: Store,
        listener: String,
        settings: Mllp,
        outbound: Arc<outbound::Outbound>,
    ) -> Result<Engine, String> {
        let default = Charset::named(&settings.charset)
            .ok_or_else(|| format!("mllp_charset '{}' is not supported", settings.charset))?;
        Ok(Engine {
            store,
            listener,
            settings,
            default,
            outbound,
            received: tokio::sync::Notify::new(),
        })
    }
}
