//! Clients and users declared in the configuration file (`[[auth_client]]`
//! and `[[auth_user]]` tables), for a deployment kept as code. On each start
//! with `--auth smart` they are written to the registry, replacing a client
//! or user of the same id (a declared one is never removed by its absence:
//! `hemolink auth remove-…` does that). No secret is ever in the file in
//! clear: a confidential symmetric client and a user carry the argon2 hash of
//! their secret or password, made by `hemolink auth hash-secret`.

use super::registry::{Client, ClientKind, Registry, Role, User, check_client, check_user};
use super::scope::Scope;
use argon2::PasswordHash;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A client as the configuration file declares it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredClient {
    pub id: String,
    pub name: String,
    /// `public`, `confidential-symmetric` or `confidential-asymmetric`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Space-separated SMART scopes.
    pub scopes: String,
    #[serde(default)]
    pub jwks_url: Option<String>,
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// The argon2 hash of a symmetric client's secret (never shown).
    #[serde(default, skip_serializing)]
    pub secret_hash: Option<String>,
}

/// A user as the configuration file declares it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredUser {
    pub username: String,
    /// `admin`, `practitioner` or `patient`.
    pub role: String,
    #[serde(default)]
    pub fhir_user: Option<String>,
    /// The argon2 hash of the password (never shown).
    #[serde(skip_serializing, default)]
    pub password_hash: String,
}

/// A stored secret's hash, checked to be an argon2 PHC string.
fn checked_hash<'a>(hash: &'a str, what: &str) -> Result<&'a str, String> {
    match PasswordHash::new(hash) {
        Ok(h) if h.algorithm.as_str().starts_with("argon2") => Ok(hash),
        _ => Err(format!(
            "{what}: not an argon2 hash (make one with `hemolink auth hash-secret`)"
        )),
    }
}

/// Writes the declared clients and users to the registry of `dir`; gives
/// how many of each.
pub fn apply(
    dir: &Path,
    clients: &[DeclaredClient],
    users: &[DeclaredUser],
) -> Result<(usize, usize), String> {
    if clients.is_empty() && users.is_empty() {
        return Ok((0, 0));
    }
    let registry = Registry::open(dir)?;
    for c in clients {
        let at = format!("auth_client '{}'", c.id);
        let kind = ClientKind::parse(&c.kind).ok_or_else(|| {
            format!(
                "{at}: type '{}' is not public, confidential-symmetric or confidential-asymmetric",
                c.kind
            )
        })?;
        let jwks = c
            .jwks_file
            .as_ref()
            .map(|f| std::fs::read_to_string(f).map_err(|e| format!("{at}: {}: {e}", f.display())))
            .transpose()?;
        let client = Client {
            id: c.id.clone(),
            name: c.name.clone(),
            kind,
            redirect_uris: c.redirect_uris.clone(),
            scopes: Scope::parse_list(&c.scopes)
                .map_err(|e| format!("{at}: {e}"))?
                .iter()
                .map(ToString::to_string)
                .collect(),
            jwks_url: c.jwks_url.clone(),
            jwks,
        };
        check_client(&client).map_err(|e| format!("{at}: {e}"))?;
        let hash = match (kind, &c.secret_hash) {
            (ClientKind::ConfidentialSymmetric, Some(h)) => Some(checked_hash(h, &at)?),
            (ClientKind::ConfidentialSymmetric, None) => {
                return Err(format!(
                    "{at}: a confidential symmetric client needs secret_hash"
                ));
            }
            (_, Some(_)) => return Err(format!("{at}: only a symmetric client has a secret_hash")),
            (_, None) => None,
        };
        registry.write_client(&client, hash, true)?;
    }
    for u in users {
        let at = format!("auth_user '{}'", u.username);
        let role = Role::parse(&u.role).ok_or_else(|| {
            format!(
                "{at}: role '{}' is not admin, practitioner or patient",
                u.role
            )
        })?;
        let user = User {
            username: u.username.clone(),
            role,
            fhir_user: u.fhir_user.clone(),
        };
        check_user(&user).map_err(|e| format!("{at}: {e}"))?;
        registry.write_user(&user, checked_hash(&u.password_hash, &at)?, true)?;
    }
    Ok((clients.len(), users.len()))
}
