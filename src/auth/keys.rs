//! The authorization server's signing keys, kept in the registry (`auth.db`,
//! readable by its owner only). The first is made on first use; `hemolink
//! auth rotate-key` adds a new one, which signs from then on, and retires the
//! others: a retired key stays in the published JWKS until every token it can
//! have signed has expired ([`TOKEN_LIFETIME_MAX`] after its retirement), then
//! drops out of it.
//!
//! Access tokens are signed with ECDSA P-384 keys (`ES384`), made by `ring`.
//! OpenID Connect ID tokens are signed with RSA keys (`RS256`, which SMART's
//! `sso-openid-connect` requires), made by the `rsa` crate (2048 bits) on the
//! first ID token, since ring cannot make RSA keys; `rsa` only makes them,
//! ring signs with them. Tokens are signed and checked with `jsonwebtoken`.
//! Each algorithm has its own current key; `rotate-key` rotates both.

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

/// What a key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// Access tokens.
    Es384,
    /// ID tokens.
    Rs256,
}

impl Alg {
    fn as_str(self) -> &'static str {
        match self {
            Alg::Es384 => "ES384",
            Alg::Rs256 => "RS256",
        }
    }
}

/// A key that signs.
pub struct SigningKey {
    pub kid: String,
    pub alg: Alg,
    /// The private key: PKCS#8 for ES384, PKCS#1 for RS256.
    der: Vec<u8>,
}

impl SigningKey {
    /// `claims` as a compact JWS (with this key's algorithm and `kid`).
    pub fn sign(&self, claims: &Value) -> Result<String, String> {
        let (alg, key) = match self.alg {
            Alg::Es384 => (Algorithm::ES384, EncodingKey::from_ec_der(&self.der)),
            Alg::Rs256 => (Algorithm::RS256, EncodingKey::from_rsa_der(&self.der)),
        };
        let mut header = Header::new(alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &key).map_err(|e| format!("signing failed: {e}"))
    }
}

/// A key as `hemolink auth list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub kid: String,
    /// Microseconds since the Unix epoch.
    pub created: i64,
    pub retired: Option<i64>,
    pub alg: String,
}

impl Registry {
    /// The key that signs access tokens now, made when there is none.
    pub fn signing_key(&self) -> Result<SigningKey, String> {
        self.current_key(Alg::Es384)
    }

    /// The key that signs ID tokens now, made when there is none.
    pub fn id_token_key(&self) -> Result<SigningKey, String> {
        self.current_key(Alg::Rs256)
    }

    fn current_key(&self, alg: Alg) -> Result<SigningKey, String> {
        let current = self
            .conn
            .query_row(
                "SELECT kid, pkcs8 FROM signing_key WHERE retired IS NULL AND alg = ?1
                 ORDER BY created DESC LIMIT 1",
                params![alg.as_str()],
                |r| {
                    Ok(SigningKey {
                        kid: r.get(0)?,
                        alg,
                        der: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(|e| e.to_string())?;
        match current {
            Some(key) => Ok(key),
            None => self.rotate(alg),
        }
    }

    /// Makes a new access-token key (and a new ID-token key, when there is
    /// one already) and retires the ones they replace; gives the new
    /// access-token key and how many retired keys are still published.
    pub fn rotate_key(&self) -> Result<(SigningKey, usize), String> {
        let key = self.rotate(Alg::Es384)?;
        let has_rsa: bool = self
            .conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM signing_key WHERE alg = 'RS256' AND retired IS NULL)",
                [],
                |r| r.get(0),
            )
            .map_err(|e| e.to_string())?;
        if has_rsa {
            self.rotate(Alg::Rs256)?;
        }
        let published = self.published(crate::fhir::instant::now_micros())?.len();
        Ok((key, published - 1 - usize::from(has_rsa)))
    }

    /// Makes a new key for `alg` and retires the current one.
    fn rotate(&self, alg: Alg) -> Result<SigningKey, String> {
        let kid = super::registry::new_secret()[..16].to_string();
        let (der, jwk) = match alg {
            Alg::Es384 => new_ec_key(&kid)?,
            Alg::Rs256 => new_rsa_key(&kid)?,
        };
        let now = crate::fhir::instant::now_micros();
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| e.to_string())?;
        tx.execute(
            "UPDATE signing_key SET retired = ?1 WHERE retired IS NULL AND alg = ?2",
            params![now, alg.as_str()],
        )
        .map_err(|e| e.to_string())?;
        tx.execute(
            "INSERT INTO signing_key (kid, pkcs8, public_jwk, created, alg)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![kid, der, jwk.to_string(), now, alg.as_str()],
        )
        .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        Ok(SigningKey { kid, alg, der })
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
            .prepare("SELECT kid, created, retired, alg FROM signing_key ORDER BY created DESC")
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(KeyInfo {
                    kid: r.get(0)?,
                    created: r.get(1)?,
                    retired: r.get(2)?,
                    alg: r.get(3)?,
                })
            })
            .map_err(|e| e.to_string())?;
        rows.map(|r| r.map_err(|e| e.to_string())).collect()
    }
}

/// A new P-384 key: its PKCS#8 and its public JWK.
fn new_ec_key(kid: &str) -> Result<(Vec<u8>, Value), String> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
        .map_err(|_| "the operating system's random source failed".to_string())?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|e| format!("the new key does not load: {e}"))?;
    let jwk = public_jwk(kid, pair.public_key().as_ref());
    Ok((pkcs8.as_ref().to_vec(), jwk))
}

/// A new 2048-bit RSA key: its PKCS#1 DER and its public JWK.
fn new_rsa_key(kid: &str) -> Result<(Vec<u8>, Value), String> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
        .map_err(|e| format!("making an RSA key failed: {e}"))?;
    let der = key
        .to_pkcs1_der()
        .map_err(|e| format!("encoding the RSA key failed: {e}"))?;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwk = json!({
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "alg": "RS256",
        "n": b64.encode(key.n().to_bytes_be()),
        "e": b64.encode(key.e().to_bytes_be()),
    });
    Ok((der.as_bytes().to_vec(), jwk))
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
            alg: Alg::Es384,
            der: foreign.der.clone(),
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

    #[test]
    fn id_token_keys_are_rsa_made_on_first_use_and_rotated_with_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::open(dir.path()).unwrap();
        let es = r.signing_key().unwrap();
        let (_, published) = r.rotate_key().unwrap();
        assert_eq!(published, 1, "no RSA key yet: only the old ES384 key");
        let rs = r.id_token_key().unwrap();
        assert_eq!(rs.alg, Alg::Rs256);
        assert_eq!(r.id_token_key().unwrap().kid, rs.kid, "made once");
        let token = rs.sign(&claims()).unwrap();
        let jwks = r.jwks().unwrap();
        let set: JwkSet = serde_json::from_value(jwks.clone()).unwrap();
        let jwk = set.find(&rs.kid).unwrap();
        assert_eq!(jwks["keys"][0]["kty"], "RSA");
        assert!(jwks["keys"][0].get("d").is_none(), "no private part");
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&["https://hemolink.example/fhir"]);
        assert!(
            jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &v).is_ok()
        );
        // Rotation now makes a new key of each kind.
        let (new_es, _) = r.rotate_key().unwrap();
        assert_ne!(new_es.kid, es.kid);
        assert_ne!(r.id_token_key().unwrap().kid, rs.kid);
        let algs: Vec<String> = r.keys().unwrap().into_iter().map(|k| k.alg).collect();
        assert_eq!(algs.iter().filter(|a| *a == "RS256").count(), 2);
    }
}
