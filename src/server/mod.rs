//! The server process: opens the store, binds the listener (plain or TLS),
//! serves the FHIR API over HTTP/1.1, and on SIGINT or SIGTERM stops accepting,
//! lets in-flight requests finish and closes the store cleanly.

mod tls;

use crate::auth::{Gate, Policy};
use crate::config::Config;
use crate::fhir::rest::{self, AppState};
use crate::store::Store;
use crate::store::sqlite::SqliteStore;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;

/// How long a client may take to send a request's headers, or a TLS handshake.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the server until a shutdown signal.
pub async fn serve(mut config: Config, base_url_given: bool) -> Result<(), String> {
    if !config.listen.ip().is_loopback() && !config.insecure {
        return Err(format!(
            "refusing to serve {} without authorization: anyone who can reach it could read and change every \
             resource. Listen on a loopback address, or pass --insecure (HEMOLINK_INSECURE=true) to do it anyway.",
            config.listen
        ));
    }
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };
    let started = std::time::Instant::now();
    let backend = SqliteStore::open(&config.data_dir).map_err(|e| format!("store: {e}"))?;
    let store = Store::new(Arc::new(backend));
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    config.rebase(bound, !base_url_given);
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "hemolink {} listening on {scheme}://{bound}",
        env!("CARGO_PKG_VERSION")
    );
    println!("FHIR R4 base {}", config.base_url);
    println!("data in {}", config.data_dir.display());
    if !config.listen.ip().is_loopback() {
        tracing::warn!("serving {bound} with no authorization (--insecure)");
    }
    let shutdown_timeout = Duration::from_secs(config.shutdown_timeout);
    let state = Arc::new(AppState {
        store: store.clone(),
        config,
        gate: Gate::new(Policy::AllowAll),
        ready: AtomicBool::new(true),
    });
    let app = rest::router(state.clone());
    tracing::info!("ready in {} ms", started.elapsed().as_millis());
    let graceful = GracefulShutdown::new();
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut signal => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT);
        match &tls {
            None => {
                let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!("connection from {peer}: {e}");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => return tracing::debug!("TLS handshake with {peer}: {e}"),
                        Err(_) => return tracing::debug!("TLS handshake with {peer} timed out"),
                    };
                    let conn = watcher.watch(http.serve_connection(TokioIo::new(stream), service));
                    if let Err(e) = conn.await {
                        tracing::debug!("connection from {peer}: {e}");
                    }
                });
            }
        }
    }
    println!("shutting down: no new connections, finishing requests in flight");
    state.ready.store(false, Ordering::Relaxed);
    drop(listener);
    if tokio::time::timeout(shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after {shutdown_timeout:?}; closing anyway");
    }
    store.close().await;
    println!("store closed; hemolink stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!("cannot watch SIGTERM: {e}");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
