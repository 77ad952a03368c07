//! The registry of the authorization server: its client applications and its
//! users, kept in `auth.db` in the data directory (a SQLite file of its own,
//! so that `hemolink auth …` can change it while a server runs on the same
//! directory; its owner alone may read it). Client secrets and passwords are
//! stored as argon2id hashes only; a client secret is made here and shown
//! once. The signing keys live here too (see [`super::keys`]).

use super::scope::Scope;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use rusqlite::{Connection, OptionalExtension, params};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The file in the data directory.
pub const FILE: &str = "auth.db";

/// The longest password or secret accepted (hashing a 10 MB one would be a
/// way to burn the server's CPU).
pub const MAX_SECRET: usize = 1024;

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientKind {
    /// No secret (a browser or native app; PKCE only).
    Public,
    /// A shared secret (`client_secret_basic` or `client_secret_post`).
    ConfidentialSymmetric,
    /// A signed assertion (`private_key_jwt`) checked against its keys.
    ConfidentialAsymmetric,
}

impl ClientKind {
    /// The name used on the command line and in the registry.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Public => "public",
            ClientKind::ConfidentialSymmetric => "confidential-symmetric",
            ClientKind::ConfidentialAsymmetric => "confidential-asymmetric",
        }
    }

    pub fn parse(s: &str) -> Option<ClientKind> {
        [
            ClientKind::Public,
            ClientKind::ConfidentialSymmetric,
            ClientKind::ConfidentialAsymmetric,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    Admin,
    Practitioner,
    Patient,
}

impl Role {
    /// The name used on the command line and in the registry.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Practitioner => "practitioner",
            Role::Patient => "patient",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Admin, Role::Practitioner, Role::Patient]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A registered client application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    /// The scopes it may be granted, in their v2 form.
    pub scopes: Vec<String>,
    /// Where its public keys are (asymmetric clients), or the keys themselves.
    pub jwks_url: Option<String>,
    pub jwks: Option<String>,
}

/// A registered user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub username: String,
    pub role: Role,
    /// `Patient/123`, `Practitioner/abc`, … (the `fhirUser` claim).
    pub fhir_user: Option<String>,
}

/// The registry file, open.
pub struct Registry {
    pub(super) conn: Connection,
}

impl Registry {
    /// Opens (creating if needed) the registry of the data directory `dir`.
    pub fn open(dir: &Path) -> Result<Registry, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join(FILE);
        // It holds private keys: its owner alone may read it, from the first
        // byte (SQLite gives its WAL and shared-memory files the same mode).
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .and_then(|_| {
                std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            })
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let conn = Connection::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 10000;
             CREATE TABLE IF NOT EXISTS client (
                 id            TEXT PRIMARY KEY,
                 name          TEXT NOT NULL,
                 kind          TEXT NOT NULL,
                 secret_hash   TEXT,
                 redirect_uris TEXT NOT NULL,  -- one per line
                 scopes        TEXT NOT NULL,  -- space-separated
                 jwks_url      TEXT,
                 jwks          TEXT,
                 created       INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS user (
                 username      TEXT PRIMARY KEY,
                 password_hash TEXT NOT NULL,
                 role          TEXT NOT NULL,
                 fhir_user     TEXT,
                 created       INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS assertion_jti (
                 client_id TEXT NOT NULL,
                 jti       TEXT NOT NULL,
                 exp       INTEGER NOT NULL,  -- seconds since the Unix epoch
                 PRIMARY KEY (client_id, jti)
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS refresh_token (
                 hash      TEXT PRIMARY KEY,   -- SHA-256 of the token, base64url
                 client_id TEXT NOT NULL,
                 username  TEXT NOT NULL,
                 scopes    TEXT NOT NULL,
                 fhir_user TEXT,
                 patient   TEXT,
                 expires   INTEGER NOT NULL,   -- seconds since the Unix epoch
                 revoked   INTEGER NOT NULL
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS revoked_jti (
                 jti TEXT PRIMARY KEY,
                 exp INTEGER NOT NULL
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS signing_key (
                 kid        TEXT PRIMARY KEY,
                 pkcs8      BLOB NOT NULL,     -- the private key
                 public_jwk TEXT NOT NULL,
                 created    INTEGER NOT NULL,
                 retired    INTEGER,           -- when a newer key took over
                 alg        TEXT NOT NULL DEFAULT 'ES384'  -- ES384 or RS256
             );
             CREATE TABLE IF NOT EXISTS launch_context (
                 id      TEXT PRIMARY KEY,  -- the opaque `launch` value
                 context TEXT NOT NULL,     -- JSON: patient, encounter, fhirContext, ...
                 expires INTEGER NOT NULL   -- seconds since the Unix epoch
             ) WITHOUT ROWID;",
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        // Columns added since the first registries were made: a key made
        // before ID tokens is ES384; a refresh token made before the EHR
        // launch has no launch context.
        for (table, column, declaration) in [
            ("signing_key", "alg", "TEXT NOT NULL DEFAULT 'ES384'"),
            ("refresh_token", "context", "TEXT"),
        ] {
            add_column(&conn, table, column, declaration)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(Registry { conn })
    }

    /// Registers a client after checking it; gives the secret of a
    /// confidential symmetric client, which is stored only as a hash.
    pub fn add_client(&self, client: &Client) -> Result<Option<String>, String> {
        check_client(client)?;
        let secret = (client.kind == ClientKind::ConfidentialSymmetric).then(new_secret);
        let hash = secret.as_deref().map(hash).transpose()?;
        if !self.write_client(client, hash.as_deref(), false)? {
            return Err(format!("a client '{}' exists already", client.id));
        }
        Ok(secret)
    }

    /// Writes a client with the hash of its secret, replacing one of the
    /// same id when `replace`; whether it was written.
    pub(super) fn write_client(
        &self,
        client: &Client,
        secret_hash: Option<&str>,
        replace: bool,
    ) -> Result<bool, String> {
        let verb = if replace { "REPLACE" } else { "IGNORE" };
        self.conn
            .execute(
                &format!(
                    "INSERT OR {verb} INTO client
                     (id, name, kind, secret_hash, redirect_uris, scopes, jwks_url, jwks, created)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                params![
                    client.id,
                    client.name,
                    client.kind.as_str(),
                    secret_hash,
                    client.redirect_uris.join("\n"),
                    client.scopes.join(" "),
                    client.jwks_url,
                    client.jwks,
                    crate::fhir::instant::now_micros(),
                ],
            )
            .map(|n| n > 0)
            .map_err(|e| e.to_string())
    }

    /// Registers a user with a password (stored as a hash).
    pub fn add_user(&self, user: &User, password: &str) -> Result<(), String> {
        check_user(user)?;
        if password.chars().count() < 8 || password.len() > MAX_SECRET {
            return Err(format!(
                "a password has 8 characters at least and {MAX_SECRET} bytes at most"
            ));
        }
        if !self.write_user(user, &hash(password)?, false)? {
            return Err(format!("a user '{}' exists already", user.username));
        }
        Ok(())
    }

    /// Writes a user with the hash of their password, replacing one of the
    /// same name when `replace`; whether it was written.
    pub(super) fn write_user(
        &self,
        user: &User,
        password_hash: &str,
        replace: bool,
    ) -> Result<bool, String> {
        let verb = if replace { "REPLACE" } else { "IGNORE" };
        self.conn
            .execute(
                &format!(
                    "INSERT OR {verb} INTO user (username, password_hash, role, fhir_user, created)
                     VALUES (?1, ?2, ?3, ?4, ?5)"
                ),
                params![
                    user.username,
                    password_hash,
                    user.role.as_str(),
                    user.fhir_user,
                    crate::fhir::instant::now_micros(),
                ],
            )
            .map(|n| n > 0)
            .map_err(|e| e.to_string())
    }

    /// Every client, by id.
    pub fn clients(&self) -> Result<Vec<Client>, String> {
        self.select(
            "SELECT id, name, kind, redirect_uris, scopes, jwks_url, jwks FROM client ORDER BY id",
            |r| {
                let (id, kind): (String, String) = (r.get(0)?, r.get(2)?);
                let Some(kind) = ClientKind::parse(&kind) else {
                    return Ok(Err(format!("client '{id}' has an unknown kind '{kind}'")));
                };
                Ok(Ok(Client {
                    id,
                    name: r.get(1)?,
                    kind,
                    redirect_uris: r.get::<_, String>(3)?.lines().map(str::to_string).collect(),
                    scopes: r
                        .get::<_, String>(4)?
                        .split_whitespace()
                        .map(str::to_string)
                        .collect(),
                    jwks_url: r.get(5)?,
                    jwks: r.get(6)?,
                }))
            },
        )
    }

    /// Every user, by username.
    pub fn users(&self) -> Result<Vec<User>, String> {
        self.select(
            "SELECT username, role, fhir_user FROM user ORDER BY username",
            |r| {
                let (username, role): (String, String) = (r.get(0)?, r.get(1)?);
                let Some(role) = Role::parse(&role) else {
                    return Ok(Err(format!(
                        "user '{username}' has an unknown role '{role}'"
                    )));
                };
                Ok(Ok(User {
                    username,
                    role,
                    fhir_user: r.get(2)?,
                }))
            },
        )
    }

    /// The user `username`, if registered.
    pub fn user(&self, username: &str) -> Result<Option<User>, String> {
        Ok(self.users()?.into_iter().find(|u| u.username == username))
    }

    /// The rows of a query, each made into a `T` (or refused) by `make`.
    fn select<T>(
        &self,
        sql: &str,
        make: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<Result<T, String>>,
    ) -> Result<Vec<T>, String> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| e.to_string())?;
        let rows = stmt.query_map([], make).map_err(|e| e.to_string())?;
        rows.map(|row| row.map_err(|e| e.to_string())?).collect()
    }

    /// The hash of client `id`'s secret (none for a client without one).
    pub fn secret_hash(&self, id: &str) -> Result<Option<String>, String> {
        self.stored_hash("SELECT secret_hash FROM client WHERE id = ?1", id)
    }

    /// The hash of user `username`'s password.
    pub fn password_hash(&self, username: &str) -> Result<Option<String>, String> {
        self.stored_hash(
            "SELECT password_hash FROM user WHERE username = ?1",
            username,
        )
    }

    fn stored_hash(&self, sql: &str, key: &str) -> Result<Option<String>, String> {
        self.conn
            .query_row(sql, params![key], |r| r.get::<_, Option<String>>(0))
            .optional()
            .map(Option::flatten)
            .map_err(|e| e.to_string())
    }

    /// Records the `jti` of a client assertion that expires at `exp` (seconds);
    /// false when the client used it before. Forgets the expired ones.
    pub fn first_use(&self, client_id: &str, jti: &str, exp: i64) -> Result<bool, String> {
        let now = crate::fhir::instant::now_micros() / 1_000_000;
        self.conn
            .execute(
                "DELETE FROM assertion_jti WHERE exp < ?1",
                params![now - 60],
            )
            .map_err(|e| e.to_string())?;
        self.conn
            .execute(
                "INSERT OR IGNORE INTO assertion_jti (client_id, jti, exp) VALUES (?1, ?2, ?3)",
                params![client_id, jti, exp],
            )
            .map(|n| n == 1)
            .map_err(|e| e.to_string())
    }

    /// Removes a client; whether there was one.
    pub fn remove_client(&self, id: &str) -> Result<bool, String> {
        self.conn
            .execute("DELETE FROM client WHERE id = ?1", params![id])
            .map(|n| n > 0)
            .map_err(|e| e.to_string())
    }

    /// Removes a user, and ends the refresh tokens they granted; whether there
    /// was one.
    pub fn remove_user(&self, username: &str) -> Result<bool, String> {
        self.conn
            .execute(
                "UPDATE refresh_token SET revoked = 1 WHERE username = ?1",
                params![username],
            )
            .map_err(|e| e.to_string())?;
        self.conn
            .execute("DELETE FROM user WHERE username = ?1", params![username])
            .map(|n| n > 0)
            .map_err(|e| e.to_string())
    }
}

/// Adds `column` to `table` unless it is there already.
fn add_column(
    conn: &Connection,
    table: &str,
    column: &str,
    declaration: &str,
) -> rusqlite::Result<()> {
    let present: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
        params![table, column],
        |r| r.get(0),
    )?;
    if !present {
        conn.execute(
            &format!("ALTER TABLE {table} ADD COLUMN {column} {declaration}"),
            [],
        )?;
    }
    Ok(())
}

/// Whether `secret` matches a stored hash (none matches nothing). Slow by
/// design (argon2id): call it without holding the registry.
pub fn verify(hash: Option<&str>, secret: &str) -> bool {
    if secret.len() > MAX_SECRET {
        return false;
    }
    // An unknown user or client costs the same argon2 run as a known one,
    // checked against a hash of a random secret: the time taken does not
    // tell which usernames exist.
    let (stored, known) = match hash {
        Some(h) => (h, true),
        None => (decoy(), false),
    };
    let matches = PasswordHash::new(stored).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok()
    });
    matches && known
}

/// The hash [`verify`] checks when there is none to check.
fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash(&new_secret()).unwrap_or_default())
}

/// 32 random bytes, base64url: a client secret or a client id.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the operating system's random source");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The argon2id hash of a secret, in the PHC string format.
pub fn hash(secret: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|e| format!("no random salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

pub(super) fn check_client(c: &Client) -> Result<(), String> {
    if !name_ok(&c.id, 128) {
        return Err(format!(
            "client id '{}': 1 to 128 letters, digits and . _ - ~",
            c.id
        ));
    }
    if c.name.trim().is_empty() {
        return Err("a client needs a name (shown on the consent page)".into());
    }
    for uri in &c.redirect_uris {
        check_redirect(uri)?;
    }
    if c.kind != ClientKind::ConfidentialAsymmetric && c.redirect_uris.is_empty() {
        return Err(format!(
            "a {} client signs users in, so it needs a redirect URI",
            c.kind.as_str()
        ));
    }
    for scope in &c.scopes {
        Scope::parse(scope)?;
    }
    if c.scopes.is_empty() {
        return Err("a client needs the scopes it may be granted".into());
    }
    match (c.kind, &c.jwks_url, &c.jwks) {
        (ClientKind::ConfidentialAsymmetric, None, None) => {
            Err("an asymmetric client needs its keys: a JWKS URL or a JWKS file".into())
        }
        (ClientKind::ConfidentialAsymmetric, Some(_), Some(_)) => {
            Err("give a JWKS URL or a JWKS file, not both".into())
        }
        (ClientKind::ConfidentialAsymmetric, url, jwks) => {
            if let Some(url) = url {
                super::fetch::check_url(url)?;
            }
            if let Some(jwks) = jwks {
                check_jwks(jwks)?;
            }
            Ok(())
        }
        (_, None, None) => Ok(()),
        _ => Err("only an asymmetric client has keys".into()),
    }
}

pub(super) fn check_user(u: &User) -> Result<(), String> {
    if !name_ok(&u.username, 64) {
        return Err(format!(
            "username '{}': 1 to 64 letters, digits and . _ - ~",
            u.username
        ));
    }
    match (&u.fhir_user, u.role) {
        (None, Role::Patient) => Err("a patient user needs --fhir-user Patient/<id>".into()),
        (Some(r), Role::Patient) if !r.starts_with("Patient/") => {
            Err("a patient user's --fhir-user is a Patient".into())
        }
        (Some(r), _) => {
            let ok = r.split_once('/').is_some_and(|(t, id)| {
                [
                    "Patient",
                    "Practitioner",
                    "PractitionerRole",
                    "RelatedPerson",
                    "Person",
                ]
                .contains(&t)
                    && crate::fhir::rest::is_valid_id(id)
            });
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "--fhir-user '{r}': Patient, Practitioner, PractitionerRole, RelatedPerson or Person, then /id"
                ))
            }
        }
        (None, _) => Ok(()),
    }
}

fn name_ok(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-~".contains(&b))
}

/// A redirect URI: absolute, https (or http to a loopback address, as native
/// apps use), no fragment (RFC 6749 §3.1.2).
fn check_redirect(uri: &str) -> Result<(), String> {
    let loopback = ["http://127.0.0.1", "http://[::1]", "http://localhost"]
        .iter()
        .any(|p| {
            uri.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        });
    if !loopback {
        check_https(uri, "a redirect URI")?;
    }
    if uri.contains('#') {
        return Err(format!("redirect URI '{uri}' has a fragment"));
    }
    let authority = uri
        .split_once("://")
        .map_or("", |(_, rest)| rest.split(['/', '?']).next().unwrap_or(""));
    if authority.contains('@') {
        return Err(format!("redirect URI '{uri}' has user information"));
    }
    Ok(())
}

fn check_https(uri: &str, what: &str) -> Result<(), String> {
    let host = uri
        .strip_prefix("https://")
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""));
    match host {
        Some(h) if !h.is_empty() && !uri.contains(char::is_whitespace) => Ok(()),
        _ => Err(format!(
            "{what} '{uri}' must be an absolute https URL (http only to 127.0.0.1, [::1] or localhost)"
        )),
    }
}

/// A JWKS with at least one RSA or P-384 public key, and no private part.
fn check_jwks(text: &str) -> Result<(), String> {
    let jwks: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("the JWKS is not JSON: {e}"))?;
    let keys = jwks["keys"]
        .as_array()
        .filter(|k| !k.is_empty())
        .ok_or("the JWKS has no 'keys'")?;
    for key in keys {
        let has = |k: &str| key[k].as_str().is_some_and(|v| !v.is_empty());
        let usable = match key["kty"].as_str() {
            Some("RSA") => has("n") && has("e"),
            Some("EC") => key["crv"] == "P-384" && has("x") && has("y"),
            _ => false,
        };
        if !usable {
            return Err("each JWKS key is RSA (n, e) or EC P-384 (x, y)".into());
        }
        if has("d") {
            return Err("the JWKS holds a private key: register the public keys only".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
