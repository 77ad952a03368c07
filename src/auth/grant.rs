//! What an access token grants, and the judgement of a request against it.
//! A clinical scope allows its permissions on its resource type (or on every
//! type with `*`); a `patient/` scope only within the compartment of the
//! token's patient (and, for a type outside every patient's compartment, only
//! on the types that describe no patient: [`compartment::shared`]); a query
//! constraint only on the resources that match it. Scopes add up: a resource
//! passes if any scope lets it through ([`Grant::filter`]).

use super::scope::{Context, Permissions, Scope};
use super::{Access, Interaction};
use crate::search::compartment;
use crate::search::filter::Filter;
use crate::search::parse::{Limits, parse};
use crate::search::query::Cond;
use crate::search::registry::registry;

/// The grant of the access token of the request being served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub client_id: String,
    pub scopes: Vec<Scope>,
    /// The patient in context (the token's `patient`), which `patient/`
    /// scopes are confined to; without one they allow nothing.
    pub patient: Option<String>,
    /// The user the token was issued to (none for a backend client).
    pub user: Option<String>,
}

tokio::task_local! {
    /// The grant of the request this task serves (set by the token check).
    pub static GRANT: Grant;
}

/// One of the permissions of a clinical scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Create,
    Read,
    Update,
    Delete,
    Search,
}

impl Permission {
    /// What an interaction needs (none for the CapabilityStatement).
    pub fn of(interaction: Interaction) -> Option<Permission> {
        Some(match interaction {
            Interaction::Capabilities => return None,
            Interaction::Read | Interaction::Vread | Interaction::HistoryInstance => {
                Permission::Read
            }
            Interaction::SearchType
            | Interaction::SearchSystem
            | Interaction::HistoryType
            | Interaction::HistorySystem => Permission::Search,
            Interaction::Create => Permission::Create,
            Interaction::Update => Permission::Update,
            Interaction::Delete => Permission::Delete,
        })
    }

    fn granted_by(self, p: &Permissions) -> bool {
        match self {
            Permission::Create => p.create,
            Permission::Read => p.read,
            Permission::Update => p.update,
            Permission::Delete => p.delete,
            Permission::Search => p.search,
        }
    }
}

impl Grant {
    /// Whether some scope could allow `access`: the right permission on the
    /// type (any type, for an access without one, and then only through a
    /// `*` scope). Which resources it reaches is [`Grant::filter`]'s answer.
    pub fn allows(&self, access: &Access<'_>) -> bool {
        let Some(permission) = Permission::of(access.interaction) else {
            return true;
        };
        self.scopes.iter().any(|scope| match scope {
            Scope::Clinical {
                context,
                resource_type,
                permissions,
                ..
            } => {
                permission.granted_by(permissions)
                    && (*context != Context::Patient || self.patient.is_some())
                    && match (resource_type, access.resource_type) {
                        (None, _) => true,
                        (Some(granted), Some(wanted)) => granted == wanted,
                        (Some(_), None) => false,
                    }
            }
            Scope::Other(_) => false,
        })
    }

    /// Whether the grant lets `permission` reach every resource of every type
    /// (a `user/` or `system/` `*` scope with it and no query constraint).
    pub fn reaches_everything(&self, permission: Permission) -> bool {
        self.scopes.iter().any(|scope| {
            matches!(scope, Scope::Clinical {
                context: Context::User | Context::System,
                resource_type: None,
                permissions,
                query,
                ..
            } if permission.granted_by(permissions) && query.is_empty())
        })
    }

    /// The resources of `resource_type` the grant lets through for
    /// `permission`. `base` is the server's base URL (query constraints may
    /// name local references by it).
    pub fn filter(&self, permission: Permission, resource_type: &str, base: &str) -> Filter {
        let mut alternatives = Vec::new();
        for scope in &self.scopes {
            let Scope::Clinical {
                context,
                resource_type: granted,
                permissions,
                query,
                ..
            } = scope
            else {
                continue;
            };
            if !permission.granted_by(permissions)
                || granted.as_deref().is_some_and(|g| g != resource_type)
            {
                continue;
            }
            let mut conds = Vec::new();
            if *context == Context::Patient {
                // An AuditEvent names every party of a request (the patient
                // who asked and the record asked for): never a patient's.
                if resource_type == "AuditEvent" {
                    continue;
                }
                let Some(patient) = &self.patient else {
                    continue;
                };
                match compartment::condition(registry(), "Patient", patient, resource_type) {
                    Some(c) => conds.push(c),
                    None if compartment::shared(resource_type) => {}
                    None => continue,
                }
            }
            if !query.is_empty() {
                let Some(constraint) = constraint(resource_type, query, base) else {
                    continue;
                };
                conds.extend(constraint);
            }
            if conds.is_empty() {
                return Filter::All;
            }
            alternatives.push(Cond::All(conds));
        }
        Filter::Any(alternatives)
    }
}

/// A scope's query constraint on `resource_type` as conditions that must all
/// hold; `None` when it is not a search of that type made of filtering
/// parameters only (the scope then allows nothing on the type).
fn constraint(resource_type: &str, query: &[(String, String)], base: &str) -> Option<Vec<Cond>> {
    let limits = Limits {
        default_count: 1,
        max_count: 1,
        max_included: 0,
    };
    let parsed = parse(
        registry(),
        &[resource_type.to_string()],
        query,
        base,
        true,
        limits,
    )
    .ok()?;
    let search = parsed.search;
    if !search.includes.is_empty() || !search.sort.is_empty() || search.branches.len() != 1 {
        return None;
    }
    let branch = search.branches.into_iter().next()?;
    if branch.clauses.is_empty() {
        return None;
    }
    Some(branch.clauses.into_iter().map(|c| Cond::Any(c.0)).collect())
}

#[cfg(test)]
mod tests;
