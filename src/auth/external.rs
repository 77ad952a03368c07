//! `--auth external`: access tokens issued by another identity provider
//! (the hospital's, a cloud one), checked here against its published keys
//! ([`super::fetch::RemoteKeys`]): the signature with one of the configured
//! algorithms (never `none` or an HMAC, whose key would be public), the
//! issuer, the audience (the base URL unless configured), the expiry. Which
//! claims carry the SMART scopes (`scope`, a space-separated string, or
//! `scp`, an array or a string), the patient in context and the user's FHIR
//! resource is configured. The grant is then enforced exactly as with the
//! built-in server's tokens; scopes that are not SMART scopes (an identity
//! provider's own) grant nothing and are ignored.

use super::fetch::RemoteKeys;
use super::grant::Grant;
use super::scope::Scope;
use crate::config::External;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::str::FromStr;

/// The largest token read: a 1 MB token is refused before it is decoded.
const MAX_TOKEN: usize = 16 * 1024;

/// The external identity provider, as configured, with its keys.
pub struct ExternalAuth {
    settings: External,
    audience: String,
    algorithms: Vec<Algorithm>,
    keys: RemoteKeys,
}

impl ExternalAuth {
    /// The checker for `settings`; `base` is the audience when none is set.
    pub fn new(settings: &External, base: &str) -> ExternalAuth {
        ExternalAuth {
            audience: settings
                .audience
                .clone()
                .unwrap_or_else(|| base.to_string()),
            algorithms: settings
                .algorithms
                .iter()
                .filter_map(|a| Algorithm::from_str(a).ok())
                .collect(),
            keys: RemoteKeys::new(&settings.jwks_url),
            settings: settings.clone(),
        }
    }

    /// The grant of a valid token, or why it is not valid.
    pub async fn check(&self, token: &str) -> Result<Grant, String> {
        if token.len() > MAX_TOKEN {
            return Err("the access token is too large".into());
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| "not a JWS".to_string())?;
        if !self.algorithms.contains(&header.alg) {
            return Err(format!("{:?} is not an accepted algorithm", header.alg));
        }
        let kid = header.kid.ok_or("the token names no key (kid)")?;
        let jwk = self.keys.key(&kid).await?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("the key {kid}: {e}"))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[self.settings.issuer.as_str()]);
        validation.set_audience(&[self.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 30;
        let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|e| format!("the access token does not check: {e}"))?
            .claims;
        let texts: Vec<&str> = match &claims[self.settings.scope_claim.as_str()] {
            Value::String(s) => s.split_whitespace().collect(),
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let scopes = texts
            .into_iter()
            .filter_map(|t| Scope::parse(t).ok())
            .collect();
        let text = |name: &str| claims[name].as_str().map(str::to_string);
        Ok(Grant {
            client_id: text("client_id")
                .or_else(|| text("azp"))
                .unwrap_or_default(),
            scopes,
            patient: text(&self.settings.patient_claim)
                .filter(|p| crate::fhir::rest::is_valid_id(p)),
            user: None,
        })
    }
}
