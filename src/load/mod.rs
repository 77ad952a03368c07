//! `hemolink load PATH…`: bulk ingest. [`source`] turns files into Bundles; this
//! file posts them, `--clients` at a time, either to the FHIR API of this
//! process over the store of `--data-dir` (no server needed, and none may run
//! on that directory) or to a running server given `--url`. Either way each
//! Bundle goes through the same code as a `POST [base]`: a transaction commits
//! whole or not at all, with its references resolved. Progress (resources/s,
//! ETA) goes to stderr once a second, the summary to stdout; the exit status
//! is non-zero when anything failed.

pub mod source;

use crate::client::Client;
use crate::config::Config;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use source::Unit;
use std::io::{IsTerminal, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// Options of `hemolink load`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Files or folders: Bundles (transaction, batch, collection) and single
    /// resources as `.json`, resources one per line as `.ndjson`.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Post to the server at this base URL (http) instead of writing to the
    /// store of --data-dir.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Bundles in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub clients: u64,
    /// With --url: an access token sent as `Authorization: Bearer` (for a
    /// server with authorization on). Give it by the environment, so that it
    /// stays out of the process list.
    #[arg(
        long,
        env = "HEMOLINK_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
}

/// Where Bundles go.
#[derive(Clone)]
enum Sink {
    /// The FHIR API of this process.
    Local(Router),
    /// A server: its address, the path of its base, and the
    /// `Authorization` header to send.
    Remote(SocketAddr, String, Option<String>),
}

/// Counters shared by the workers.
#[derive(Default)]
struct Tally {
    resources: AtomicU64,
    bundles: AtomicU64,
    failed_bundles: AtomicU64,
    failed_entries: AtomicU64,
    bytes: AtomicU64,
}

/// Runs `hemolink load`.
pub fn run(args: &LoadArgs, config: &Config) -> Result<(), String> {
    let files = source::files(&args.paths)?;
    let total_bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let (sink, state) = match &args.url {
            Some(url) => (remote(url, args.token.as_deref()).await?, None),
            None => {
                let backend = crate::store::sqlite::SqliteStore::open(&config.data_dir)
                    .map_err(|e| format!("store: {e} (is a server running on it? use --url)"))?;
                let state = crate::server::state(backend, config).await?;
                (
                    Sink::Local(crate::fhir::rest::router(state.clone())),
                    Some(state),
                )
            }
        };
        let tally = Arc::new(Tally::default());
        let started = Instant::now();
        let (tx, rx) = tokio::sync::mpsc::channel::<Unit>(args.clients as usize * 2);
        let units = SharedReceiver(Arc::new(tokio::sync::Mutex::new(rx)));
        let reader = std::thread::spawn(move || -> Vec<String> {
            let mut errors = Vec::new();
            for f in files {
                if let Err(e) = source::read(&f, &mut |u| tx.blocking_send(u).is_ok()) {
                    errors.push(e);
                }
            }
            errors
        });
        let progress = tokio::spawn(progress(tally.clone(), total_bytes, started));
        let mut workers = Vec::new();
        for _ in 0..args.clients {
            let sink = sink.clone();
            let tally = tally.clone();
            let units = units.clone();
            workers.push(tokio::spawn(async move {
                let mut client = None;
                let mut errors = Vec::new();
                while let Ok(unit) = units.recv().await {
                    if let Err(e) = post(&sink, &mut client, &unit, &tally).await {
                        errors.push(format!("{}: {e}", unit.origin));
                    }
                    tally.bytes.fetch_add(unit.bytes, Ordering::Relaxed);
                }
                errors
            }));
        }
        let mut errors = reader
            .join()
            .unwrap_or_else(|_| vec!["the reader failed".into()]);
        for w in workers {
            errors.extend(w.await.unwrap_or_default());
        }
        progress.abort();
        let elapsed = started.elapsed();
        let stats = match state {
            Some(state) => {
                let stats = state.store.stats();
                state.store.close().await;
                Some(stats)
            }
            None => None,
        };
        summary(&tally, elapsed, &errors, stats);
        if errors.is_empty() && tally.failed_entries.load(Ordering::Relaxed) == 0 {
            Ok(())
        } else {
            Err(format!(
                "{} Bundles and {} entries failed",
                tally.failed_bundles.load(Ordering::Relaxed),
                tally.failed_entries.load(Ordering::Relaxed)
            ))
        }
    })
}

/// A receiver several workers take from.
struct SharedReceiver<T>(Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<T>>>);

impl<T> Clone for SharedReceiver<T> {
    fn clone(&self) -> Self {
        SharedReceiver(self.0.clone())
    }
}

impl<T> SharedReceiver<T> {
    async fn recv(&self) -> Result<T, ()> {
        self.0.lock().await.recv().await.ok_or(())
    }
}

/// The sink of `--url`.
async fn remote(url: &str, token: Option<&str>) -> Result<Sink, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--url {url}: only http:// URLs are supported"))?;
    let (host, path) = match rest.split_once('/') {
        Some((h, p)) => (h, format!("/{}", p.trim_end_matches('/'))),
        None => (rest, String::new()),
    };
    let host = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let addr = tokio::net::lookup_host(&host)
        .await
        .map_err(|e| format!("--url {url}: {e}"))?
        .next()
        .ok_or_else(|| format!("--url {url}: no address"))?;
    Ok(Sink::Remote(
        addr,
        path,
        token.map(|t| format!("Bearer {}", t.trim())),
    ))
}

/// Posts one unit and counts what it did.
async fn post(
    sink: &Sink,
    client: &mut Option<Client>,
    unit: &Unit,
    tally: &Tally,
) -> Result<(), String> {
    let body = unit.bundle.to_string();
    let mut headers = vec![
        ("content-type", "application/fhir+json"),
        ("accept", "application/fhir+json"),
        ("prefer", "return=minimal"),
    ];
    if let Sink::Remote(_, _, Some(authorization)) = sink {
        headers.push(("authorization", authorization.as_str()));
    }
    let (status, bytes) = match sink {
        Sink::Local(app) => {
            let mut request = Request::builder().method(Method::POST).uri("/");
            for (k, v) in &headers {
                request = request.header(*k, *v);
            }
            let request = request.body(Body::from(body)).map_err(|e| e.to_string())?;
            let response = match app.clone().oneshot(request).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .map_err(|e| e.to_string())?;
            (status, bytes)
        }
        Sink::Remote(addr, path, _) => {
            if client.is_none() {
                *client = Some(Client::connect(*addr).await?);
            }
            let c = client.as_mut().ok_or("no connection")?;
            let target = if path.is_empty() { "/" } else { path.as_str() };
            match c.send(Method::POST, target, &headers, body).await {
                Ok(r) => (r.status, r.body),
                Err(e) => {
                    *client = None;
                    return Err(e);
                }
            }
        }
    };
    tally.bundles.fetch_add(1, Ordering::Relaxed);
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status != StatusCode::OK {
        tally.failed_bundles.fetch_add(1, Ordering::Relaxed);
        return Err(format!("{status}: {}", describe(&answer)));
    }
    let mut failed = 0;
    let mut first = None;
    for e in answer["entry"].as_array().into_iter().flatten() {
        let code = e["response"]["status"].as_str().unwrap_or("");
        if !code.starts_with('2') {
            failed += 1;
            first.get_or_insert_with(|| format!("{code}: {}", describe(&e["response"]["outcome"])));
        }
    }
    tally
        .resources
        .fetch_add(unit.resources.saturating_sub(failed), Ordering::Relaxed);
    if failed > 0 {
        tally.failed_entries.fetch_add(failed, Ordering::Relaxed);
        return Err(format!(
            "{failed} entries failed, the first: {}",
            first.unwrap_or_default()
        ));
    }
    Ok(())
}

/// The diagnostics and location of an OperationOutcome's first issue.
fn describe(outcome: &Value) -> String {
    let issue = &outcome["issue"][0];
    let text = issue["diagnostics"].as_str().unwrap_or("no details");
    match issue["expression"][0].as_str() {
        Some(at) => format!("{text} (at {at})"),
        None => text.to_string(),
    }
}

/// Prints progress once a second until aborted.
async fn progress(tally: Arc<Tally>, total_bytes: u64, started: Instant) {
    let terminal = std::io::stderr().is_terminal();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let seconds = started.elapsed().as_secs_f64();
        let resources = tally.resources.load(Ordering::Relaxed);
        let bytes = tally.bytes.load(Ordering::Relaxed);
        let done = bytes as f64 / total_bytes.max(1) as f64;
        let eta = if done > 0.0 {
            format!("{:.0} s", seconds / done - seconds)
        } else {
            "?".to_string()
        };
        let line = format!(
            "loaded {resources} resources, {:.0}/s, {:.0} % of the input, ETA {eta}",
            resources as f64 / seconds,
            done * 100.0
        );
        let mut err = std::io::stderr();
        if terminal {
            let _ = write!(err, "\r{line}    ");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }
}

/// The summary on stdout; writing to the store directly adds the store's own
/// counters (commits and fsyncs), as the server's `/metrics` does.
fn summary(
    tally: &Tally,
    elapsed: Duration,
    errors: &[String],
    stats: Option<crate::store::Stats>,
) {
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    for e in errors.iter().take(20) {
        eprintln!("error: {e}");
    }
    if errors.len() > 20 {
        eprintln!("… and {} more", errors.len() - 20);
    }
    let seconds = elapsed.as_secs_f64();
    let resources = tally.resources.load(Ordering::Relaxed);
    println!(
        "loaded {resources} resources from {} Bundles in {seconds:.1} s ({:.0} resources/s); \
         {} Bundles and {} entries failed",
        tally.bundles.load(Ordering::Relaxed),
        resources as f64 / seconds.max(1e-9),
        tally.failed_bundles.load(Ordering::Relaxed),
        tally.failed_entries.load(Ordering::Relaxed),
    );
    if let Some(stats) = stats {
        println!(
            "store: {} commits ({:.0}/s), {} fsyncs ({:.4} per resource)",
            stats.commits,
            stats.commits as f64 / seconds.max(1e-9),
            stats.syncs,
            stats.syncs as f64 / resources.max(1) as f64
        );
    }
}
