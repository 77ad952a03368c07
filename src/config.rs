//! Configuration. Every option has one name in three forms: a flag (`--data-dir`),
//! an environment variable (`HEMOLINK_DATA_DIR`) and a key of the TOML file given
//! with `--config` (`data_dir`). A flag wins over the environment, the environment
//! over the file, the file over the default.

use clap::Args;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The options as given (flag or environment), or as read from the file.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Address and port to serve FHIR on [default: 127.0.0.1:8080]. A non-loopback
    /// address needs --auth smart or --insecure.
    #[arg(long, global = true, env = "HEMOLINK_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Directory of the embedded store [default: ./hemolink-data].
    #[arg(long, global = true, env = "HEMOLINK_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Public base URL used for every absolute URL (Location, fullUrl, paging links)
    /// [default: derived from --listen, never from the Host header].
    #[arg(long, global = true, env = "HEMOLINK_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, global = true, env = "HEMOLINK_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, global = true, env = "HEMOLINK_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Allow a non-loopback listen address without authorization.
    #[arg(long, global = true, env = "HEMOLINK_INSECURE", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub insecure: Option<bool>,
    /// Authorization: `off`, `smart` (the built-in SMART on FHIR
    /// authorization server; every FHIR interaction then needs an access
    /// token) or `external` (access tokens of another identity provider,
    /// checked against its keys: see the --auth-* options) [default: off].
    #[arg(long, global = true, env = "HEMOLINK_AUTH", value_name = "MODE")]
    pub auth: Option<String>,
    /// With --auth external: the identity provider's issuer (the tokens' `iss`).
    #[arg(long, global = true, env = "HEMOLINK_AUTH_ISSUER", value_name = "URL")]
    pub auth_issuer: Option<String>,
    /// With --auth external: the audience tokens must name [default: the base URL].
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_AUTH_AUDIENCE",
        value_name = "AUD"
    )]
    pub auth_audience: Option<String>,
    /// With --auth external: where the identity provider publishes its keys (https, or http on loopback).
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_AUTH_JWKS_URL",
        value_name = "URL"
    )]
    pub auth_jwks_url: Option<String>,
    /// With --auth external: the signature algorithms accepted, comma-separated [default: RS256].
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_AUTH_ALGORITHMS",
        value_name = "ALGS"
    )]
    pub auth_algorithms: Option<String>,
    /// With --auth external: the claim that carries the SMART scopes, `scope` or `scp` [default: scope].
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_AUTH_SCOPE_CLAIM",
        value_name = "CLAIM"
    )]
    pub auth_scope_claim: Option<String>,
    /// With --auth external: the claim that carries the patient in context [default: patient].
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_AUTH_PATIENT_CLAIM",
        value_name = "CLAIM"
    )]
    pub auth_patient_claim: Option<String>,
    /// With --auth external: the claim that carries the user's FHIR resource [default: fhirUser].
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_AUTH_FHIR_USER_CLAIM",
        value_name = "CLAIM"
    )]
    pub auth_fhir_user_claim: Option<String>,
    /// AuditEvents for every request: `on` or `off` [default: on with
    /// authorization, off without].
    #[arg(long, global = true, env = "HEMOLINK_AUDIT", value_name = "on|off")]
    pub audit: Option<String>,
    /// The longest an AuditEvent waits before it is written, in milliseconds
    /// (10 to 60000) [default: 1000].
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_AUDIT_FLUSH_MS",
        value_name = "MS"
    )]
    pub audit_flush_ms: Option<u64>,
    /// Clients of the authorization server declared in the file
    /// (`[[auth_client]]` tables; file only).
    #[arg(skip)]
    #[serde(default)]
    pub auth_client: Vec<crate::auth::declared::DeclaredClient>,
    /// Users of the authorization server declared in the file
    /// (`[[auth_user]]` tables; file only).
    #[arg(skip)]
    #[serde(default)]
    pub auth_user: Vec<crate::auth::declared::DeclaredUser>,
    /// Largest request body accepted, e.g. 32MiB [default: 32MiB].
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_MAX_BODY_SIZE",
        value_name = "SIZE"
    )]
    pub max_body_size: Option<String>,
    /// Largest Bundle posted to the base (batch or transaction), e.g. `512MiB`
    /// [default: 512MiB].
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_MAX_BUNDLE_SIZE",
        value_name = "SIZE"
    )]
    pub max_bundle_size: Option<String>,
    /// Page size of history and search when the client gives no _count [default: 50].
    #[arg(long, global = true, env = "HEMOLINK_DEFAULT_COUNT", value_name = "N")]
    pub default_count: Option<usize>,
    /// Largest page size a client may ask for with _count [default: 1000].
    #[arg(long, global = true, env = "HEMOLINK_MAX_COUNT", value_name = "N")]
    pub max_count: Option<usize>,
    /// Most resources `_include`/`_revinclude` add to one search page; the rest
    /// follow in the pages the `next` link leads to [default: 1000].
    #[arg(long, global = true, env = "HEMOLINK_MAX_INCLUDED", value_name = "N")]
    pub max_included: Option<usize>,
    /// How a search treats parameters it cannot honour when the client sends no
    /// `Prefer: handling=`: lenient (ignore them and say so in the Bundle) or
    /// strict (400) [default: lenient].
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_SEARCH_HANDLING",
        value_name = "MODE"
    )]
    pub search_handling: Option<String>,
    /// Let a conditional delete remove every resource it matches (otherwise
    /// several matches are refused with 412) [default: false].
    #[arg(long, global = true, env = "HEMOLINK_MULTIPLE_DELETE", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub multiple_delete: Option<bool>,
    /// Seconds to let in-flight requests finish on SIGINT/SIGTERM [default: 30].
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_SHUTDOWN_TIMEOUT",
        value_name = "SECONDS"
    )]
    pub shutdown_timeout: Option<u64>,
    /// Log level: error, warn, info, debug or trace [default: info].
    #[arg(long, global = true, env = "HEMOLINK_LOG_LEVEL", value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Receive HL7 v2 over MLLP on this address and port (2575 is the usual
    /// one) [default: off]. A non-loopback address needs TLS or --insecure.
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_MLLP_LISTEN",
        value_name = "ADDR:PORT"
    )]
    pub mllp_listen: Option<String>,
    /// PEM certificate chain: serve MLLP over TLS (with --mllp-tls-key).
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_MLLP_TLS_CERT",
        value_name = "FILE"
    )]
    pub mllp_tls_cert: Option<PathBuf>,
    /// PEM private key of --mllp-tls-cert.
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_MLLP_TLS_KEY",
        value_name = "FILE"
    )]
    pub mllp_tls_key: Option<PathBuf>,
    /// PEM CA certificates: MLLP clients must present a certificate they signed
    /// (mutual TLS).
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_MLLP_CLIENT_CA",
        value_name = "FILE"
    )]
    pub mllp_client_ca: Option<PathBuf>,
    /// Send MLLP Release 2 commit acknowledgements (a 0x06 block once a message
    /// is durable, 0x15 when it cannot be stored) [default: false].
    #[arg(long, global = true, env = "HEMOLINK_MLLP_RELEASE2", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub mllp_release2: Option<bool>,
    /// Character set of messages whose MSH-18 is empty [default: UNICODE UTF-8].
    #[arg(long, global = true, env = "HEMOLINK_MLLP_CHARSET", value_name = "SET")]
    pub mllp_charset: Option<String>,
    /// Largest MLLP frame accepted, e.g. 16MiB [default: 16MiB].
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_MLLP_MAX_FRAME",
        value_name = "SIZE"
    )]
    pub mllp_max_frame: Option<String>,
    /// Seconds a sender may pause in the middle of a frame before the
    /// connection is closed and the partial frame dropped [default: 60].
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_MLLP_IDLE_TIMEOUT",
        value_name = "SECONDS"
    )]
    pub mllp_idle_timeout: Option<u64>,
    /// What to answer a message type with no mapping: accept (stored, AA/CA) or
    /// reject (stored, AR/CR code 200) [default: accept].
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_MLLP_UNMAPPED",
        value_name = "MODE"
    )]
    pub mllp_unmapped: Option<String>,
    /// The offset from UTC of HL7 times that carry none, as +HH:MM or -HH:MM;
    /// FHIR needs an offset on every time of day [default: +00:00].
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_MLLP_UTC_OFFSET",
        value_name = "OFFSET",
        allow_hyphen_values = true
    )]
    pub mllp_utc_offset: Option<String>,
    /// Where enhanced-mode application acknowledgements are delivered:
    /// mllp://HOST:PORT or mllps://HOST:PORT [default: none, not sent].
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_MLLP_APP_ACK_TO",
        value_name = "URL"
    )]
    pub mllp_app_ack_to: Option<String>,
    /// PEM CA certificates trusted for mllps:// destinations.
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_MLLP_OUTBOUND_CA",
        value_name = "FILE"
    )]
    pub mllp_outbound_ca: Option<PathBuf>,
    /// Seconds to wait for a destination's acknowledgement [default: 30].
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_MLLP_ACK_TIMEOUT",
        value_name = "SECONDS"
    )]
    pub mllp_ack_timeout: Option<u64>,
    /// Delivery attempts before an outbound message is set aside as errored
    /// [default: 10].
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_MLLP_MAX_ATTEMPTS",
        value_name = "N"
    )]
    pub mllp_max_attempts: Option<u32>,
    /// Days the message store keeps a message (and its duplicate key); at
    /// least 30 [default: 90].
    #[arg(
        long,
        global = true,
        env = "HEMOLINK_HL7_RETENTION_DAYS",
        value_name = "DAYS"
    )]
    pub hl7_retention_days: Option<u32>,
}

impl Options {
    /// These options, with any left unset taken from `other`.
    pub fn or(self, other: Options) -> Options {
        Options {
            listen: self.listen.or(other.listen),
            data_dir: self.data_dir.or(other.data_dir),
            base_url: self.base_url.or(other.base_url),
            tls_cert: self.tls_cert.or(other.tls_cert),
            tls_key: self.tls_key.or(other.tls_key),
            insecure: self.insecure.or(other.insecure),
            auth: self.auth.or(other.auth),
            audit: self.audit.or(other.audit),
            auth_client: if self.auth_client.is_empty() {
                other.auth_client
            } else {
                self.auth_client
            },
            auth_user: if self.auth_user.is_empty() {
                other.auth_user
            } else {
                self.auth_user
            },
            audit_flush_ms: self.audit_flush_ms.or(other.audit_flush_ms),
            auth_issuer: self.auth_issuer.or(other.auth_issuer),
            auth_audience: self.auth_audience.or(other.auth_audience),
            auth_jwks_url: self.auth_jwks_url.or(other.auth_jwks_url),
            auth_algorithms: self.auth_algorithms.or(other.auth_algorithms),
            auth_scope_claim: self.auth_scope_claim.or(other.auth_scope_claim),
            auth_patient_claim: self.auth_patient_claim.or(other.auth_patient_claim),
            auth_fhir_user_claim: self.auth_fhir_user_claim.or(other.auth_fhir_user_claim),
            max_body_size: self.max_body_size.or(other.max_body_size),
            max_bundle_size: self.max_bundle_size.or(other.max_bundle_size),
            default_count: self.default_count.or(other.default_count),
            max_count: self.max_count.or(other.max_count),
            max_included: self.max_included.or(other.max_included),
            search_handling: self.search_handling.or(other.search_handling),
            multiple_delete: self.multiple_delete.or(other.multiple_delete),
            shutdown_timeout: self.shutdown_timeout.or(other.shutdown_timeout),
            log_level: self.log_level.or(other.log_level),
            mllp_listen: self.mllp_listen.or(other.mllp_listen),
            mllp_tls_cert: self.mllp_tls_cert.or(other.mllp_tls_cert),
            mllp_tls_key: self.mllp_tls_key.or(other.mllp_tls_key),
            mllp_client_ca: self.mllp_client_ca.or(other.mllp_client_ca),
            mllp_release2: self.mllp_release2.or(other.mllp_release2),
            mllp_charset: self.mllp_charset.or(other.mllp_charset),
            mllp_max_frame: self.mllp_max_frame.or(other.mllp_max_frame),
            mllp_idle_timeout: self.mllp_idle_timeout.or(other.mllp_idle_timeout),
            mllp_unmapped: self.mllp_unmapped.or(other.mllp_unmapped),
            mllp_utc_offset: self.mllp_utc_offset.or(other.mllp_utc_offset),
            mllp_app_ack_to: self.mllp_app_ack_to.or(other.mllp_app_ack_to),
            mllp_outbound_ca: self.mllp_outbound_ca.or(other.mllp_outbound_ca),
            mllp_ack_timeout: self.mllp_ack_timeout.or(other.mllp_ack_timeout),
            mllp_max_attempts: self.mllp_max_attempts.or(other.mllp_max_attempts),
            hl7_retention_days: self.hl7_retention_days.or(other.hl7_retention_days),
        }
    }

    /// Reads the TOML file of `--config`.
    pub fn from_file(path: &std::path::Path) -> Result<Options, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The effective configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Without a trailing slash.
    pub base_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    pub insecure: bool,
    /// Whether the SMART on FHIR authorization server guards the API.
    pub auth: AuthMode,
    /// Clients and users declared in the configuration file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub auth_client: Vec<crate::auth::declared::DeclaredClient>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub auth_user: Vec<crate::auth::declared::DeclaredUser>,
    /// Whether every request gets an AuditEvent.
    pub audit: bool,
    /// The longest an AuditEvent waits before it is written, in milliseconds.
    pub audit_flush_ms: u64,
    /// The identity provider of `--auth external`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<External>,
    pub max_body_size: usize,
    pub max_bundle_size: usize,
    pub default_count: usize,
    pub max_count: usize,
    pub max_included: usize,
    /// True when searches are strict unless the client asks for lenient.
    pub strict_search: bool,
    /// True when a conditional delete may remove several resources.
    pub multiple_delete: bool,
    pub shutdown_timeout: u64,
    pub log_level: String,
    /// The MLLP listener, when one is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mllp: Option<Mllp>,
    /// Outbound MLLP delivery.
    pub outbound: Outbound,
    pub hl7_retention_days: u32,
}

/// How requests are authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// No authorization: loopback addresses only, unless `--insecure`.
    Off,
    /// The built-in SMART on FHIR authorization server.
    Smart,
    /// Access tokens of another identity provider.
    External,
}

/// How the tokens of an external identity provider are read.
#[derive(Debug, Clone, Serialize)]
pub struct External {
    pub issuer: String,
    /// The audience tokens must name; `None` for the base URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    pub jwks_url: String,
    /// `RS256`, `ES384`, … (never `none` or an HMAC).
    pub algorithms: Vec<String>,
    /// `scope` (a space-separated string) or `scp` (an array, or a string).
    pub scope_claim: String,
    pub patient_claim: String,
    pub fhir_user_claim: String,
}

/// The signature algorithms an external identity provider may use.
pub const EXTERNAL_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
];

/// The external identity provider's settings, with `--auth external`.
fn external(o: &Options) -> Result<Option<External>, String> {
    let given = [
        ("auth_issuer", &o.auth_issuer),
        ("auth_audience", &o.auth_audience),
        ("auth_jwks_url", &o.auth_jwks_url),
        ("auth_algorithms", &o.auth_algorithms),
        ("auth_scope_claim", &o.auth_scope_claim),
        ("auth_patient_claim", &o.auth_patient_claim),
        ("auth_fhir_user_claim", &o.auth_fhir_user_claim),
    ];
    if o.auth.as_deref() != Some("external") {
        return match given.iter().find(|(_, v)| v.is_some()) {
            Some((name, _)) => Err(format!("{name} is for --auth external")),
            None => Ok(None),
        };
    }
    let issuer = o
        .auth_issuer
        .clone()
        .ok_or("--auth external needs auth_issuer, the identity provider's issuer")?;
    let jwks_url = o
        .auth_jwks_url
        .clone()
        .ok_or("--auth external needs auth_jwks_url, where the identity provider's keys are")?;
    crate::auth::fetch::check_url(&jwks_url).map_err(|e| format!("auth_jwks_url: {e}"))?;
    let algorithms: Vec<String> = o
        .auth_algorithms
        .as_deref()
        .unwrap_or("RS256")
        .split(',')
        .map(|a| a.trim().to_string())
        .collect();
    for a in &algorithms {
        if !EXTERNAL_ALGORITHMS.contains(&a.as_str()) {
            return Err(format!(
                "auth_algorithms: '{a}' is not one of {}",
                EXTERNAL_ALGORITHMS.join(", ")
            ));
        }
    }
    let scope_claim = o.auth_scope_claim.clone().unwrap_or_else(|| "scope".into());
    if scope_claim != "scope" && scope_claim != "scp" {
        return Err(format!(
            "auth_scope_claim: '{scope_claim}' is not scope or scp"
        ));
    }
    Ok(Some(External {
        issuer,
        audience: o.auth_audience.clone(),
        jwks_url,
        algorithms,
        scope_claim,
        patient_claim: o
            .auth_patient_claim
            .clone()
            .unwrap_or_else(|| "patient".into()),
        fhir_user_claim: o
            .auth_fhir_user_claim
            .clone()
            .unwrap_or_else(|| "fhirUser".into()),
    }))
}

/// The MLLP listener's settings.
#[derive(Debug, Clone, Serialize)]
pub struct Mllp {
    pub listen: SocketAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
    pub release2: bool,
    /// The default character set's name (table 0211).
    pub charset: String,
    pub max_frame: usize,
    pub idle_timeout: u64,
    /// True when a type with no mapping is rejected (AR/CR).
    pub reject_unmapped: bool,
    /// Minutes from UTC of HL7 times written without an offset.
    pub utc_offset: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_ack_to: Option<Destination>,
}

/// Outbound MLLP settings.
#[derive(Debug, Clone, Serialize)]
pub struct Outbound {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    pub ack_timeout: u64,
    pub max_attempts: u32,
}

/// `+HH:MM` or `-HH:MM` (`Z` for UTC) in minutes, within ±14 hours.
fn parse_offset(text: &str) -> Option<i32> {
    if text == "Z" {
        return Some(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m < 60).then_some(sign * (h * 60 + m))
}

/// Where outbound messages go: `mllp://host:port` or `mllps://host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Destination {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl Destination {
    /// Reads `mllp://host:port`, `mllps://host:port` or `host:port` (plain).
    pub fn parse(text: &str) -> Result<Destination, String> {
        let (tls, rest) = if let Some(r) = text.strip_prefix("mllps://") {
            (true, r)
        } else if let Some(r) = text.strip_prefix("mllp://") {
            (false, r)
        } else {
            (false, text)
        };
        let bad = || format!("'{text}' is not a destination such as mllp://host:2575");
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.trim_end_matches('/').parse().map_err(|_| bad())?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Destination {
            host: host.to_string(),
            port,
            tls,
        })
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "mllps" } else { "mllp" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

impl From<Destination> for String {
    fn from(d: Destination) -> String {
        d.to_string()
    }
}

impl Config {
    /// Fills in defaults and checks every value.
    pub fn resolve(o: Options) -> Result<Config, String> {
        let mllp = mllp(&o)?;
        let external = external(&o)?;
        if (!o.auth_client.is_empty() || !o.auth_user.is_empty())
            && o.auth.as_deref() != Some("smart")
        {
            return Err("auth_client and auth_user tables are for --auth smart".into());
        }
        let listen_text = o.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            format!("listen: '{listen_text}' is not an ADDR:PORT such as 127.0.0.1:8080")
        })?;
        if o.tls_cert.is_some() != o.tls_key.is_some() {
            return Err("tls_cert and tls_key go together: give both or neither".into());
        }
        let scheme = if o.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let base_url = match o.base_url {
            Some(url) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(format!("base_url: '{url}' is not an http(s) URL"));
                }
                url.trim_end_matches('/').to_string()
            }
            None => derived_base(scheme, listen),
        };
        let max_body_size = match o.max_body_size {
            Some(text) => parse_size(&text)?,
            None => 32 << 20,
        };
        let max_bundle_size = match o.max_bundle_size {
            Some(text) => parse_size(&text)?,
            None => 512 << 20,
        };
        let default_count = o.default_count.unwrap_or(50);
        let max_count = o.max_count.unwrap_or(1000);
        if default_count == 0 || default_count > max_count {
            return Err(format!(
                "default_count must be between 1 and max_count ({max_count})"
            ));
        }
        let max_included = o.max_included.unwrap_or(1000);
        if max_included == 0 {
            return Err("max_included must be at least 1".to_string());
        }
        let strict_search = match o.search_handling.as_deref() {
            None | Some("lenient") => false,
            Some("strict") => true,
            Some(other) => {
                return Err(format!(
                    "search_handling: '{other}' is not one of lenient, strict"
                ));
            }
        };
        let log_level = o.log_level.unwrap_or_else(|| "info".into());
        if log_level.parse::<tracing::Level>().is_err() {
            return Err(format!(
                "log_level: '{log_level}' is not one of error, warn, info, debug, trace"
            ));
        }
        let outbound = Outbound {
            ca: o.mllp_outbound_ca,
            ack_timeout: o.mllp_ack_timeout.unwrap_or(30).max(1),
            max_attempts: o.mllp_max_attempts.unwrap_or(10).max(1),
        };
        if mllp
            .as_ref()
            .and_then(|m| m.app_ack_to.as_ref())
            .is_some_and(|d| d.tls && outbound.ca.is_none())
        {
            return Err("mllp_app_ack_to is an mllps:// destination: give mllp_outbound_ca, the CA to trust".into());
        }
        let hl7_retention_days = o.hl7_retention_days.unwrap_or(90);
        if hl7_retention_days < 30 {
            return Err(
                "hl7_retention_days must be at least 30 (duplicate keys are kept that long)".into(),
            );
        }
        Ok(Config {
            mllp,
            outbound,
            hl7_retention_days,
            listen,
            data_dir: o.data_dir.unwrap_or_else(|| PathBuf::from("hemolink-data")),
            base_url,
            tls_cert: o.tls_cert,
            tls_key: o.tls_key,
            insecure: o.insecure.unwrap_or(false),
            auth: match o.auth.as_deref() {
                None | Some("off") => AuthMode::Off,
                Some("smart") => AuthMode::Smart,
                Some("external") => AuthMode::External,
                Some(other) => {
                    return Err(format!("auth: '{other}' is not off, smart or external"));
                }
            },
            external,
            auth_client: o.auth_client.clone(),
            auth_user: o.auth_user.clone(),
            audit: match o.audit.as_deref() {
                None => o.auth.as_deref().is_some_and(|a| a != "off"),
                Some("on") => true,
                Some("off") => false,
                Some(other) => return Err(format!("audit: '{other}' is not on or off")),
            },
            audit_flush_ms: match o.audit_flush_ms.unwrap_or(1000) {
                ms @ 10..=60_000 => ms,
                ms => return Err(format!("audit_flush_ms: {ms} is not between 10 and 60000")),
            },
            max_body_size,
            max_bundle_size,
            default_count,
            max_count,
            max_included,
            strict_search,
            multiple_delete: o.multiple_delete.unwrap_or(false),
            shutdown_timeout: o.shutdown_timeout.unwrap_or(30),
            log_level,
        })
    }

    /// Records the address actually bound (the OS picks the port for `:0`); a
    /// base URL that was derived from the listen address follows it.
    pub fn rebase(&mut self, bound: SocketAddr, was_derived: bool) {
        self.listen = bound;
        if was_derived {
            let scheme = if self.tls_cert.is_some() {
                "https"
            } else {
                "http"
            };
            self.base_url = derived_base(scheme, bound);
        }
    }

    /// The configuration as TOML, secrets masked (passwords in URLs).
    pub fn show(&self) -> String {
        let mut shown = self.clone();
        shown.base_url = mask_userinfo(&self.base_url);
        toml::to_string(&shown)
            .unwrap_or_else(|e| format!("# cannot show the configuration: {e}\n"))
    }
}

/// The MLLP listener's settings, when `mllp_listen` is given.
fn mllp(o: &Options) -> Result<Option<Mllp>, String> {
    let Some(text) = &o.mllp_listen else {
        return Ok(None);
    };
    let listen: SocketAddr = text
        .parse()
        .map_err(|_| format!("mllp_listen: '{text}' is not an ADDR:PORT such as 127.0.0.1:2575"))?;
    if o.mllp_tls_cert.is_some() != o.mllp_tls_key.is_some() {
        return Err("mllp_tls_cert and mllp_tls_key go together: give both or neither".into());
    }
    if o.mllp_client_ca.is_some() && o.mllp_tls_cert.is_none() {
        return Err("mllp_client_ca needs TLS: give mllp_tls_cert and mllp_tls_key".into());
    }
    let charset = o
        .mllp_charset
        .clone()
        .unwrap_or_else(|| "UNICODE UTF-8".into());
    if crate::hl7::charset::Charset::named(&charset).is_none() {
        return Err(format!(
            "mllp_charset: '{charset}' is not a character set of HL7 table 0211 this build reads"
        ));
    }
    let reject_unmapped = match o.mllp_unmapped.as_deref() {
        None | Some("accept") => false,
        Some("reject") => true,
        Some(other) => {
            return Err(format!(
                "mllp_unmapped: '{other}' is not one of accept, reject"
            ));
        }
    };
    let utc_offset = match o.mllp_utc_offset.as_deref() {
        None => 0,
        Some(text) => parse_offset(text).ok_or_else(|| {
            format!("mllp_utc_offset: '{text}' is not an offset such as +01:00 or -05:00")
        })?,
    };
    let max_frame = match &o.mllp_max_frame {
        Some(text) => parse_size(text)?,
        None => 16 << 20,
    };
    if max_frame < 1024 {
        return Err("mllp_max_frame must be at least 1KiB".into());
    }
    Ok(Some(Mllp {
        listen,
        tls_cert: o.mllp_tls_cert.clone(),
        tls_key: o.mllp_tls_key.clone(),
        client_ca: o.mllp_client_ca.clone(),
        release2: o.mllp_release2.unwrap_or(false),
        charset,
        max_frame,
        idle_timeout: o.mllp_idle_timeout.unwrap_or(60).max(1),
        reject_unmapped,
        utc_offset,
        app_ack_to: o
            .mllp_app_ack_to
            .as_deref()
            .map(Destination::parse)
            .transpose()?,
    }))
}

/// `http://127.0.0.1:8080`; an unspecified address (`0.0.0.0`) becomes `localhost`.
pub fn derived_base(scheme: &str, addr: SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        "localhost".to_string()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    format!("{scheme}://{host}:{}", addr.port())
}

fn mask_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:****{}", &rest[at..])
        }
        None => url.to_string(),
    }
}

/// `1048576`, `512KiB`, `32MiB`, `1GiB` (also `KB`/`MB`/`GB` as powers of 1000).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let n: usize = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size such as 32MiB"))?;
    let factor: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return Err(format!("'{text}' is not a size such as 32MiB")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("'{text}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::resolve(Options::default()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.base_url, "http://127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("hemolink-data"));
        assert_eq!(c.max_body_size, 32 << 20);
        assert_eq!(c.max_bundle_size, 512 << 20);
        assert!(!c.insecure);
    }

    #[test]
    fn flags_win_over_file() {
        let flags = Options {
            listen: Some("127.0.0.1:9000".into()),
            ..Options::default()
        };
        let file: Options =
            toml::from_str("listen = '0.0.0.0:1'\ndata_dir = '/srv/h'\ninsecure = true").unwrap();
        let c = Config::resolve(flags.or(file)).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.data_dir, PathBuf::from("/srv/h"));
        assert!(c.insecure);
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(toml::from_str::<Options>("lisen = 'x'").is_err());
        let bad = |o: Options| Config::resolve(o).unwrap_err();
        bad(Options {
            listen: Some("nowhere".into()),
            ..Default::default()
        });
        bad(Options {
            base_url: Some("ftp://x".into()),
            ..Default::default()
        });
        bad(Options {
            max_body_size: Some("12 parsecs".into()),
            ..Default::default()
        });
        bad(Options {
            tls_cert: Some("c.pem".into()),
            ..Default::default()
        });
        bad(Options {
            log_level: Some("loud".into()),
            ..Default::default()
        });
        bad(Options {
            max_included: Some(0),
            ..Default::default()
        });
        bad(Options {
            mllp_listen: Some("2575".into()),
            ..Default::default()
        });
        bad(Options {
            mllp_listen: Some("127.0.0.1:2575".into()),
            mllp_charset: Some("EBCDIC".into()),
            ..Default::default()
        });
        bad(Options {
            mllp_listen: Some("127.0.0.1:2575".into()),
            mllp_app_ack_to: Some("mllps://peer:2575".into()),
            ..Default::default()
        });
        bad(Options {
            hl7_retention_days: Some(7),
            ..Default::default()
        });
    }

    #[test]
    fn mllp_is_off_unless_configured_and_destinations_parse() {
        assert!(Config::resolve(Options::default()).unwrap().mllp.is_none());
        let c = Config::resolve(Options {
            mllp_listen: Some("127.0.0.1:2575".into()),
            mllp_app_ack_to: Some("mllp://lab.example:6661".into()),
            ..Default::default()
        })
        .unwrap();
        let m = c.mllp.unwrap();
        assert_eq!(m.charset, "UNICODE UTF-8");
        assert_eq!(m.max_frame, 16 << 20);
        assert_eq!(m.app_ack_to.unwrap().to_string(), "mllp://lab.example:6661");
        let d = Destination::parse("mllps://[::1]:2575").unwrap();
        assert!(d.tls);
        assert_eq!(d.to_string(), "mllps://[::1]:2575");
        assert!(Destination::parse("mllp://:1").is_err());
    }

    #[test]
    fn sizes_and_masking() {
        assert_eq!(parse_size("32MiB").unwrap(), 32 << 20);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(
            mask_userinfo("https://ann:secret@fhir.example/r4"),
            "https://ann:****@fhir.example/r4"
        );
        assert_eq!(
            mask_userinfo("https://fhir.example/r4"),
            "https://fhir.example/r4"
        );
    }
}
