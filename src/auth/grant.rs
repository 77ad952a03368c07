//! What an access token grants, and the judgement of one interaction against
//! it. This is the first cut of enforcement (issue 6, E2 goes further): a
//! `system/` or `user/` scope allows its permissions on its resource type
//! (or on every type with `*`). Until the patient compartment and query
//! constraints are enforced, a `patient/` scope and a scope with a query
//! constraint allow nothing: they fail closed.

use super::scope::{Context, Permissions, Scope};
use super::{Access, Interaction};

/// The grant of the access token of the request being served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub client_id: String,
    pub scopes: Vec<Scope>,
}

tokio::task_local! {
    /// The grant of the request this task serves (set by the token check).
    pub static GRANT: Grant;
}

impl Grant {
    /// Whether the grant allows `access`.
    pub fn allows(&self, access: &Access<'_>) -> bool {
        let needs: fn(&Permissions) -> bool = match access.interaction {
            Interaction::Capabilities => return true,
            Interaction::Read | Interaction::Vread | Interaction::HistoryInstance => |p| p.read,
            Interaction::SearchType
            | Interaction::SearchSystem
            | Interaction::HistoryType
            | Interaction::HistorySystem => |p| p.search,
            Interaction::Create => |p| p.create,
            Interaction::Update => |p| p.update,
            Interaction::Delete => |p| p.delete,
        };
        self.scopes.iter().any(|scope| match scope {
            Scope::Clinical {
                context: Context::System | Context::User,
                resource_type,
                permissions,
                query,
            } => {
                query.is_empty()
                    && needs(permissions)
                    && match (resource_type, access.resource_type) {
                        (None, _) => true,
                        (Some(granted), Some(wanted)) => granted == wanted,
                        (Some(_), None) => false,
                    }
            }
            _ => false,
        })
    }

    /// Whether the grant reads and searches every type, which a search that
    /// reaches beyond its own type (`_include`, `_revinclude`, `_has`, chains)
    /// needs until those are checked type by type.
    pub fn reads_everything(&self) -> bool {
        [Interaction::Read, Interaction::SearchSystem]
            .into_iter()
            .all(|interaction| {
                self.allows(&Access {
                    interaction,
                    resource_type: None,
                    id: None,
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(scopes: &str) -> Grant {
        Grant {
            client_id: "c".into(),
            scopes: Scope::parse_list(scopes).unwrap(),
        }
    }

    fn access(interaction: Interaction, t: Option<&str>) -> Access<'_> {
        Access {
            interaction,
            resource_type: t,
            id: None,
        }
    }

    #[test]
    fn type_and_permission_must_both_be_granted() {
        let g = grant("system/Observation.rs system/Patient.c");
        assert!(g.allows(&access(Interaction::Read, Some("Observation"))));
        assert!(g.allows(&access(Interaction::SearchType, Some("Observation"))));
        assert!(g.allows(&access(Interaction::HistoryInstance, Some("Observation"))));
        assert!(!g.allows(&access(Interaction::Update, Some("Observation"))));
        assert!(!g.allows(&access(Interaction::Read, Some("Patient"))));
        assert!(g.allows(&access(Interaction::Create, Some("Patient"))));
        assert!(!g.allows(&access(Interaction::SearchSystem, None)));
        assert!(g.allows(&access(Interaction::Capabilities, None)));
        assert!(!g.reads_everything());
    }

    #[test]
    fn wildcards_and_v1_scopes() {
        let g = grant("user/*.read");
        assert!(g.allows(&access(Interaction::Read, Some("Condition"))));
        assert!(g.allows(&access(Interaction::SearchSystem, None)));
        assert!(!g.allows(&access(Interaction::Delete, Some("Condition"))));
        assert!(g.reads_everything());
    }

    #[test]
    fn patient_scopes_and_query_constraints_fail_closed_for_now() {
        let g = grant("patient/*.cruds system/Observation.rs?category=laboratory openid");
        for i in [
            Interaction::Read,
            Interaction::SearchType,
            Interaction::Create,
        ] {
            assert!(!g.allows(&access(i, Some("Observation"))), "{i:?}");
        }
    }
}
