//! The authorization server's signing keys, kept in the registry (`auth.db`,
//! readable by its owner only). The first is made on first use; `hemolink
//! auth rotate-key` adds a new one, which signs from then on, and retires the
//! others: a retired key stays in the published JWKS until every token it can
//! have signed has expired ([`TOKEN_LIFETIME_MAX`] after its retirement), then
//! drops out of it.
//!
//! Keys are ECDSA P-384 (`ES384`), made by `ring`; tokens are signed and
//! checked with `jsonwebtoken`.

use super::registry::Registry;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};

/// The longest a token signed by these keys may live, in seconds; what a
/// retired key is kept published for.
pub const TOKEN_LIFETIME_MAX: i64 = 3600;

/// A key that signs.
pub struct SigningKey {
    pub kid: String,
    pkcs8: Vec<u8>,
}

impl SigningKey {
    /// `claims` as a compact JWS (`ES384`, with this key's `kid`).
    pub fn sign(&self, claims: &Value) -> Result<String, String> {
        let mut header = Header::new(Algorithm::ES384);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&self.pkcs8))
            .map_err(|e| format!("signing failed: {e}"))
    }
}

/// A key as `hemolink auth list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub kid: String,
    /// Microseconds since the Unix epoch.
    pub created: i64,
    pub retired: Option<i64>,
}

impl Registry {
    /// The key that signs now, made when there is none.
    pub fn signing_key(&self) -> Result<SigningKey, String> {
        let current = self
            .conn
            .query_row(
                "SELECT kid, pkcs8 FROM signing_key WHERE retired IS NULL
                 ORDER BY created DESC LIMIT 1",
                [],
                |r| {
                    Ok(SigningKey {
                        kid: r.get(0)?,
                        pkcs8: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(|e| e.to_string())?;
        match current {
            Some(key) => Ok(key),
            None => self.rotate_key().map(|(key, _)| key),
        }
    }

    /// Makes a new signing key and retires the others; gives the new key and
    /// how many retired keys are still published.
    pub fn rotate_key(&self) -> Result<(SigningKey, usize), String> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
            .map_err(|_| "the operating system's random source failed".to_string())?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|e| format!("the new key does not load: {e}"))?;
        let kid = super::registry::new_secret()[..16].to_string();
        let jwk = public_jwk(&kid, pair.public_key().as_ref());
        let now = crate::fhir::instant::now_micros();
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| e.to_string())?;
        tx.execute(
            "UPDATE signing_key SET retired = ?1 WHERE retired IS NULL",
            params![now],
        )
        .map_err(|e| e.to_string())?;
        tx.execute(
            "INSERT INTO signing_key (kid, pkcs8, public_jwk, created) VALUES (?1, ?2, ?3, ?4)",
            params![kid, pkcs8.as_ref(), jwk.to_string(), now],
        )
        .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        let published = self.published(now)?.len() - 1;
        Ok((
            SigningKey {
                kid,
                pkcs8: pkcs8.as_ref().to_vec(),
            },
            published,
        ))
    }

    /// The JWKS to publish: the signing key and the retired keys whose tokens
    /// may still be valid.
    pub fn jwks(&self) -> Result<Value, String> {
        let keys = self.published(crate::fhir::instant::now_micros())?;
        Ok(json!({ "keys": keys }))
    }

    fn published(&self, now: i64) -> Result<Vec<Value>, String> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT public_jwk FROM signing_key WHERE retired IS NULL OR retired > ?1
                 ORDER BY created DESC",
            )
            .map_err(|e| e.to_string())?;
        let since = now - TOKEN_LIFETIME_MAX * 1_000_000;
        let rows = stmt
            .query_map(params![since], |r| r.get::<_, String>(0))
            .map_err(|e| e.to_string())?;
        rows.map(|row| {
            let text = row.map_err(|e| e.to_string())?;
            serde_json::from_str(&text).map_err(|e| format!("a stored public key: {e}"))
        })
        .collect()
    }

    /// Every key, newest first.
    pub fn keys(&self) -> Result<Vec<KeyInfo>, String> {
        let mut stmt = self
            .conn
            .prepare("SELECT kid, created, retired FROM signing_key ORDER BY created DESC")
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(KeyInfo {
                    kid: r.get(0)?,
                    created: r.get(1)?,
                    retired: r.get(2)?,
                })
            })
            .map_err(|e| e.to_string())?;
        rows.map(|r| r.map_err(|e| e.to_string())).collect()
    }
}

/// The public JWK of a P-384 key from its uncompressed point (0x04 ‖ x ‖ y).
fn public_jwk(kid: &str, point: &[u8]) -> Value {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (x, y) = point.get(1..).unwrap_or_default().split_at(48);
    json!({
        "kty": "EC",
        "crv": "P-384",
        "kid": kid,
        "use": "sig",
        "alg": "ES384",
        "x": b64.encode(x),
        "y": b64.encode(y),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};

    fn verify(token: &str, jwks: &Value) -> Result<Value, jsonwebtoken::errors::Error> {
        let set: JwkSet = serde_json::from_value(jwks.clone()).unwrap();
        let kid = jsonwebtoken::decode_header(token)?.kid.unwrap();
        let jwk = set.find(&kid).expect("the kid is published");
        let mut v = Validation::new(Algorithm::ES384);
        v.set_audience(&["https://hemolink.example/fhir"]);
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk)?, &v).map(|d| d.claims)
    }

    fn claims() -> Value {
        let now = crate::fhir::instant::now_micros() / 1_000_000;
        json!({ "aud": "https://hemolink.example/fhir", "exp": now + 60, "sub": "x" })
    }

    #[test]
    fn the_first_key_is_made_once_and_its_tokens_check_against_the_jwks() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::open(dir.path()).unwrap();
        let key = r.signing_key().unwrap();
        assert_eq!(r.signing_key().unwrap().kid, key.kid, "made once");
        let token = key.sign(&claims()).unwrap();
        let jwks = r.jwks().unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
        assert!(jwks["keys"][0].get("d").is_none(), "no private part");
        assert_eq!(verify(&token, &jwks).unwrap()["sub"], "x");
        // Another registry on the same file signs with the same key.
        let again = Registry::open(dir.path()).unwrap();
        assert_eq!(again.signing_key().unwrap().kid, key.kid);
    }

    #[test]
    fn a_rotated_key_stays_published_for_the_tokens_it_signed_then_drops_out() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::open(dir.path()).unwrap();
        let old = r.signing_key().unwrap();
        let token = old.sign(&claims()).unwrap();
        let (new, still) = r.rotate_key().unwrap();
        assert_eq!(still, 1);
        assert_ne!(new.kid, old.kid);
        assert_eq!(r.signing_key().unwrap().kid, new.kid, "the new key signs");
        let jwks = r.jwks().unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        assert!(verify(&token, &jwks).is_ok(), "old tokens still check");
        // Once its tokens can no longer be valid, the old key is gone.
        r.conn
            .execute(
                "UPDATE signing_key SET retired = retired - ?1 WHERE kid = ?2",
                params![(TOKEN_LIFETIME_MAX + 1) * 1_000_000, old.kid],
            )
            .unwrap();
        let jwks = r.jwks().unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
        assert_eq!(jwks["keys"][0]["kid"], new.kid.as_str());
        assert!(verify(&new.sign(&claims()).unwrap(), &jwks).is_ok());
        assert_eq!(r.keys().unwrap().len(), 2, "kept, but not published");
    }

    #[test]
    fn a_token_from_another_key_or_altered_does_not_check() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::open(dir.path()).unwrap();
        let other_dir = tempfile::tempdir().unwrap();
        let other = Registry::open(other_dir.path()).unwrap();
        let foreign = other.signing_key().unwrap();
        let mine = r.signing_key().unwrap();
        let jwks = r.jwks().unwrap();
        let token = mine.sign(&claims()).unwrap();
        // Another key signing under our kid: the signature does not match.
        let forged = SigningKey {
            kid: mine.kid.clone(),
            pkcs8: foreign.pkcs8.clone(),
        }
        .sign(&claims())
        .unwrap();
        assert!(verify(&forged, &jwks).is_err());
        let mut parts: Vec<&str> = token.split('.').collect();
        let altered = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"aud":"https://hemolink.example/fhir","exp":9999999999,"sub":"admin"}"#);
        parts[1] = &altered;
        assert!(verify(&parts.join("."), &jwks).is_err());
    }
}
