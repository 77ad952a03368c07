//! Authorization: the gate every FHIR interaction passes through before it
//! touches the store, and the SMART on FHIR authorization server as far as it
//! is built: the registry of clients, users and signing keys with its command
//! line ([`admin`], [`registry`], [`keys`]), SMART scopes ([`scope`]), what a
//! token grants ([`grant`]) and the HTTP endpoints with the token check
//! ([`server`]). Without `--auth smart` the gate's [`Policy`] is
//! [`Policy::AllowAll`], which is why a non-loopback listen address then
//! needs `--insecure`.

pub mod admin;
pub mod authorize;
pub mod grant;
pub mod keys;
pub mod refresh;
pub mod registry;
pub mod scope;
pub mod server;

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
    /// SMART on FHIR: the request's access token ([`grant::GRANT`], set by the
    /// token check) must allow the interaction; with no grant, nothing is.
    Smart,
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
            Policy::Smart => {
                if access.interaction == Interaction::Capabilities
                    || grant::GRANT
                        .try_with(|g| g.allows(&access))
                        .unwrap_or(false)
                {
                    return Ok(());
                }
                Err(FhirError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "forbidden",
                    format!(
                        "the access token's scopes do not allow {:?} on {}",
                        access.interaction,
                        access.resource_type.unwrap_or("every type")
                    ),
                ))
            }
        }
    }

    /// Refuses a search that reaches beyond its own types (`_include`,
    /// `_revinclude`, `_has`, chained parameters) unless the grant reads and
    /// searches every type: those reaches are not yet checked type by type.
    pub fn check_reach(&self, params: &[(String, String)]) -> Result<(), FhirError> {
        if self.policy == Policy::AllowAll {
            return Ok(());
        }
        let reaches = params.iter().any(|(name, _)| {
            name.starts_with("_include")
                || name.starts_with("_revinclude")
                || name.starts_with("_has:")
                || name.contains('.')
        });
        if !reaches
            || grant::GRANT
                .try_with(grant::Grant::reads_everything)
                .unwrap_or(false)
        {
            return Ok(());
        }
        Err(FhirError::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            "_include, _revinclude, _has and chained parameters need a scope that reads and searches every type (such as system/*.rs)",
        ))
    }
}
