//! The gate every FHIR interaction passes through before it touches the store,
//! and the parts of the SMART on FHIR authorization server built so far: the
//! registry of clients, users and signing keys with its command line
//! ([`admin`], [`registry`], [`keys`]) and SMART scopes ([`scope`]). Authorization plugs into the
//! gate as a [`Policy`]; until it does, the server runs with
//! [`Policy::AllowAll`], which is why a non-loopback listen address needs
//! `--insecure`.

pub mod admin;
pub mod keys;
pub mod registry;
pub mod scope;

use crate::fhir::error::FhirError;

/// A FHIR interaction (R4 CapabilityStatement `interaction` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    Read,
    Vread,
    Update,
    Delete,
    Create,
    HistoryInstance,
    HistoryType,
    HistorySystem,
    SearchType,
    SearchSystem,
    Capabilities,
}

/// What a request wants to do, for the policy to judge.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    pub interaction: Interaction,
    pub resource_type: Option<&'a str>,
    pub id: Option<&'a str>,
}

/// How access is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Every interaction is allowed (no authorization configured).
    AllowAll,
}

/// The gate: checks each access against the policy.
#[derive(Debug, Clone)]
pub struct Gate {
    policy: Policy,
}

impl Gate {
    /// A gate with the given policy.
    pub fn new(policy: Policy) -> Gate {
        Gate { policy }
    }

    /// Allows or refuses one access.
    pub fn check(&self, access: Access<'_>) -> Result<(), FhirError> {
        match self.policy {
            Policy::AllowAll => {
                tracing::trace!(?access, "allowed");
                Ok(())
            }
        }
    }
}
