//! Hemolink: a FHIR R4 server and HL7 v2 interface engine for blood establishments.
//!
//! The crate is organised by concern: [`fhir`] (the FHIR model, formats,
//! validation and the REST API), [`store`] (persistence behind one API),
//! [`server`] (listeners, TLS, shutdown), [`config`] (options from flags,
//! environment and file), [`auth`] (the gate every interaction passes through),
//! [`audit`] (the AuditEvent trail)
//! and [`cli`] (the command line), with the tools that drive a server over the
//! wire: [`client`], [`conformance`] and [`bench`]. [`hl7`] reads HL7 v2
//! messages and [`mllp`] frames them on the wire.

pub mod audit;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod client;
pub mod config;
pub mod conformance;
pub mod engine;
pub mod fhir;
pub mod fhirpath;
pub mod generate;
pub mod hl7;
pub mod load;
pub mod map;
pub mod mllp;
pub mod search;
pub mod server;
pub mod store;
#[cfg(test)]
mod testing;
pub mod tls;
