//! Keys published by another party (a JWKS at a URL): a backend client's
//! keys registered with `--jwks-url`, and the keys of the external identity
//! provider in `--auth external`. Fetched over HTTPS (the operating
//! system's CAs), or plain HTTP to a loopback address only; at most 256 KiB,
//! within 5 seconds. [`RemoteKeys`] keeps what it fetched for five minutes,
//! or less when the answer's `Cache-Control` says so (`max-age`; not at all
//! for `no-store` or `no-cache`), drops keys past their time when fetching
//! new ones fails, and fetches again early for a key
//! id it does not know, but never more than once every ten seconds, so that
//! made-up key ids cannot make it hammer the other party.

use axum::body::Bytes;
use axum::http::{Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};

/// How long fetched keys are used before they are fetched again.
const FRESH: Duration = Duration::from_secs(300);
/// The shortest time between two fetches of one URL.
const MIN_INTERVAL: Duration = Duration::from_secs(10);
/// Most bytes a JWKS may have.
const MAX_BYTES: usize = 256 * 1024;
/// How long a fetch may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Whether a JWKS URL is acceptable: https, or http to a loopback address.
pub fn check_url(url: &str) -> Result<(), String> {
    let uri: Uri = url.parse().map_err(|_| format!("'{url}' is not a URL"))?;
    let host = uri.host().ok_or_else(|| format!("'{url}' has no host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if is_loopback(host) => Ok(()),
        _ => Err(format!(
            "'{url}': keys are fetched over https (or http from a loopback address)"
        )),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The keys at one URL, as last fetched.
pub struct RemoteKeys {
    url: String,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    keys: Vec<Jwk>,
    /// When keys were last fetched (or a fetch last began).
    fetched: Option<Instant>,
    /// How long the last answer may be used (`None` before the first).
    fresh: Option<Duration>,
}

impl RemoteKeys {
    pub fn new(url: &str) -> RemoteKeys {
        RemoteKeys {
            url: url.to_string(),
            cache: Mutex::new(Cache::default()),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The key `kid` as last fetched, without fetching.
    pub fn cached(&self, kid: &str) -> Option<Jwk> {
        let cache = self.cache();
        cache
            .keys
            .iter()
            .find(|k| k.common.key_id.as_deref() == Some(kid))
            .cloned()
    }

    /// The key `kid`: fetched again when what was fetched is stale, or lacks
    /// that key and the last fetch is more than ten seconds old.
    pub async fn key(&self, kid: &str) -> Result<Jwk, String> {
        let due = {
            let mut cache = self.cache();
            let known = cache
                .keys
                .iter()
                .any(|k| k.common.key_id.as_deref() == Some(kid));
            let fresh = cache.fresh.unwrap_or(FRESH);
            let stale = cache.fetched.is_none_or(|at| at.elapsed() >= fresh);
            let due = match cache.fetched {
                None => true,
                Some(at) if at.elapsed() >= fresh => true,
                Some(at) => !known && at.elapsed() >= MIN_INTERVAL,
            };
            if due {
                cache.fetched = Some(Instant::now());
            }
            due.then_some(stale)
        };
        if let Some(stale) = due {
            match fetch_jwks(&self.url).await {
                Ok((set, fresh)) => {
                    let mut cache = self.cache();
                    cache.keys = set.keys;
                    cache.fresh = Some(fresh);
                }
                Err(e) => {
                    tracing::warn!("fetching the keys at {}: {e}", self.url);
                    // Keys past their time are not used for want of new ones.
                    if stale {
                        self.cache().keys.clear();
                    }
                }
            }
        }
        self.cached(kid)
            .ok_or_else(|| format!("no key with this kid at {}", self.url))
    }
}

/// Fetches and reads the JWKS at `url`; gives it and how long it may be used.
pub async fn fetch_jwks(url: &str) -> Result<(JwkSet, Duration), String> {
    check_url(url)?;
    let (body, cache_control) = tokio::time::timeout(TIMEOUT, get(url))
        .await
        .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))??;
    let set = serde_json::from_slice(&body).map_err(|e| format!("not a JWKS: {e}"))?;
    Ok((set, freshness(cache_control.as_deref())))
}

/// How long an answer with this `Cache-Control` may be used: its `max-age`
/// (none at all for `no-store` or `no-cache`), at most five minutes.
fn freshness(cache_control: Option<&str>) -> Duration {
    let mut fresh = FRESH;
    for directive in cache_control.unwrap_or("").split(',').map(str::trim) {
        let directive = directive.to_ascii_lowercase();
        if directive == "no-store" || directive == "no-cache" {
            fresh = Duration::ZERO;
        } else if let Some(age) = directive
            .strip_prefix("max-age=")
            .and_then(|a| a.trim_matches('"').parse::<u64>().ok())
        {
            fresh = fresh.min(Duration::from_secs(age));
        }
    }
    fresh
}

/// `GET url`: the body of a 200 answer, and its `Cache-Control`.
async fn get(url: &str) -> Result<(Bytes, Option<String>), String> {
    let uri: Uri = url.parse().map_err(|_| format!("'{url}' is not a URL"))?;
    let host = uri.host().unwrap_or_default().to_string();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let tcp = tokio::net::TcpStream::connect((bare.as_str(), port))
        .await
        .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let authority = uri.authority().map_or(host.as_str(), |a| a.as_str());
    if https {
        let name = rustls_pki_types::ServerName::try_from(bare.clone())
            .map_err(|e| format!("{host}: {e}"))?;
        let tls = crate::tls::system_connector()?
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {host}: {e}"))?;
        exchange(tls, authority, path).await
    } else {
        exchange(tcp, authority, path).await
    }
}

async fn exchange<S>(
    stream: S,
    authority: &str,
    path: &str,
) -> Result<(Bytes, Option<String>), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = Request::get(path)
        .header(header::HOST, authority)
        .header(header::ACCEPT, "application/json")
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != StatusCode::OK {
        return Err(format!("answered {}", response.status()));
    }
    let cache_control = response
        .headers()
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = Limited::new(response.into_body(), MAX_BYTES)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| format!("reading the answer: {e}"))?;
    Ok((body, cache_control))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_shortens_how_long_keys_are_used() {
        assert_eq!(freshness(None), FRESH);
        assert_eq!(
            freshness(Some("public, max-age=60")),
            Duration::from_secs(60)
        );
        assert_eq!(freshness(Some("max-age=86400")), FRESH);
        assert_eq!(freshness(Some("no-store")), Duration::ZERO);
        assert_eq!(freshness(Some("No-Cache, max-age=600")), Duration::ZERO);
        assert_eq!(freshness(Some("max-age=0")), Duration::ZERO);
        assert_eq!(freshness(Some("max-age=nonsense")), FRESH);
    }

    #[test]
    fn only_https_or_loopback_http() {
        assert!(check_url("https://idp.example.org/jwks").is_ok());
        assert!(check_url("http://127.0.0.1:8081/jwks").is_ok());
        assert!(check_url("http://[::1]:8081/jwks").is_ok());
        assert!(check_url("http://localhost/jwks").is_ok());
        assert!(check_url("http://idp.example.org/jwks").is_err());
        assert!(check_url("ftp://idp.example.org/jwks").is_err());
        assert!(check_url("not a url").is_err());
    }
}
