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
pub mod cors;
pub mod declared;
pub mod exercise;
pub mod external;
pub mod fetch;
pub mod grant;
pub mod keys;
pub mod launch;
pub mod refresh;
pub mod registry;
pub mod scope;
pub mod server;

use crate::fhir::error::FhirError;
use crate::search::filter::{Filter, restrict};
use crate::search::query::Search;
use crate::search::registry::registry;
pub use grant::Permission;

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

/// The gate: checks each access against the policy, and says what of a type
/// a request may see.
#[derive(Debug, Clone)]
pub struct Gate {
    policy: Policy,
    /// Whether AuditEvents are the server's alone (auditing is on).
    audit_protected: bool,
    /// The server's base URL (query constraints may name references by it).
    base: String,
}

impl Gate {
    /// A gate with the given policy.
    pub fn new(policy: Policy, base: &str) -> Gate {
        Gate {
            policy,
            audit_protected: false,
            base: base.to_string(),
        }
    }

    /// Refuses every client write to AuditEvents: with auditing on, the
    /// server alone writes them.
    pub fn protect_audit(&mut self) {
        self.audit_protected = true;
    }

    /// Allows or refuses one access by type and permission. A request that
    /// passes may still reach only some resources: see [`Gate::filter`].
    pub fn check(&self, access: Access<'_>) -> Result<(), FhirError> {
        if self.audit_protected
            && access.resource_type == Some("AuditEvent")
            && matches!(
                access.interaction,
                Interaction::Create | Interaction::Update | Interaction::Delete
            )
        {
            return Err(forbidden(
                "AuditEvents are written by the server alone while auditing is on".into(),
            ));
        }
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
                Err(forbidden(format!(
                    "the access token's scopes do not allow {:?} on {}",
                    access.interaction,
                    access.resource_type.unwrap_or("every type")
                )))
            }
        }
    }

    /// The resources of `resource_type` this request may reach with
    /// `permission`.
    pub fn filter(&self, permission: Permission, resource_type: &str) -> Filter {
        match self.policy {
            Policy::AllowAll => Filter::All,
            Policy::Smart => grant::GRANT
                .try_with(|g| g.filter(permission, resource_type, &self.base))
                .unwrap_or_else(|_| Filter::nothing()),
        }
    }

    /// Whether `permission` reaches every resource of `resource_type` (of
    /// every type, for `None`): nothing is left out of what the store finds.
    pub fn reaches_all(&self, permission: Permission, resource_type: Option<&str>) -> bool {
        match (self.policy, resource_type) {
            (Policy::AllowAll, _) => true,
            (Policy::Smart, Some(t)) => matches!(self.filter(permission, t), Filter::All),
            (Policy::Smart, None) => grant::GRANT
                .try_with(|g| g.reaches_everything(permission))
                .unwrap_or(false),
        }
    }

    /// Narrows a search to what this request may reach with `permissions`
    /// (all of them), on its own types and on every type its chains and
    /// `_has` reach.
    pub fn restrict(&self, search: &mut Search, permissions: &[Permission]) {
        if self.policy == Policy::AllowAll {
            return;
        }
        let filter_of = |t: &str| {
            permissions
                .iter()
                .fold(Filter::All, |f, p| f.and(self.filter(*p, t)))
        };
        restrict(search, &filter_of);
    }

    /// Refuses a resource this request may not reach with `permission`
    /// (403, naming only the type: the resource's content stays unsaid).
    pub fn admit(
        &self,
        permission: Permission,
        resource_type: &str,
        resource: &serde_json::Value,
    ) -> Result<(), FhirError> {
        if self.admits(permission, resource_type, resource) {
            Ok(())
        } else {
            Err(forbidden(format!(
                "the access token's scopes do not reach this {resource_type} (it is outside the patient's compartment or the scope's query)"
            )))
        }
    }

    /// Whether this request may reach `resource` with `permission`.
    pub fn admits(
        &self,
        permission: Permission,
        resource_type: &str,
        resource: &serde_json::Value,
    ) -> bool {
        self.filter(permission, resource_type).admits_resource(
            registry(),
            resource_type,
            resource,
            &self.base,
        )
    }
}

fn forbidden(text: String) -> FhirError {
    FhirError::new(axum::http::StatusCode::FORBIDDEN, "forbidden", text)
}
