//! MLLP, the Minimal Lower Layer Protocol that carries HL7 v2 messages over
//! TCP: [`frame`] is its framing (Release 1 blocks and Release 2 commit
//! acknowledgements) as a codec for `tokio_util`'s framed streams,
//! [`listener`] accepts senders and [`client`] connects to destinations.

pub mod client;
pub mod frame;
pub mod listener;
