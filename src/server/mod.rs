//! The server process: opens the store, binds the listener (plain or TLS),
//! serves the FHIR API over HTTP/1.1, and on SIGINT or SIGTERM stops accepting,
//! lets in-flight requests finish and closes the store cleanly.

pub mod admin;
mod hl7;
mod protocol_errors;

use crate::auth::external::ExternalAuth;
use crate::auth::server::AuthServer;
use crate::auth::{Gate, Policy};
use crate::config::{AuthMode, Config};
use crate::fhir::rest::{self, AppState};
use crate::store::Store;
use crate::store::sqlite::SqliteStore;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// How long a client may take to send a request's headers, or a TLS handshake.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// A server that is accepting connections.
pub struct Running {
    /// The address the listener is bound to.
    pub addr: SocketAddr,
    /// The address the MLLP listener is bound to, when there is one.
    pub mllp_addr: Option<SocketAddr>,
    /// The effective configuration (its base URL follows an OS-chosen port).
    pub config: Config,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, closes the store.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Opens the store, binds the listener and starts serving in the background.
pub async fn start(mut config: Config, base_url_given: bool) -> Result<Running, String> {
    if !config.listen.ip().is_loopback()
        && !config.insecure
        && config.auth != AuthMode::Off
        && config.tls_cert.is_none()
    {
        return Err(format!(
            "refusing to serve {} with authorization but without TLS: passwords, client secrets and \
             tokens would cross the network in clear. Give --tls-cert and --tls-key, or pass --insecure.",
            config.listen
        ));
    }
    if !config.listen.ip().is_loopback() && !config.insecure && config.auth == AuthMode::Off {
        return Err(format!(
            "refusing to serve {} without authorization: anyone who can reach it could read and change every \
             resource. Listen on a loopback address, turn authorization on (--auth smart), or pass --insecure \
             (HEMOLINK_INSECURE=true) to do it anyway.",
            config.listen
        ));
    }
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key, None, &[b"http/1.1"])?),
        _ => None,
    };
    let backend = SqliteStore::open(&config.data_dir).map_err(|e| format!("store: {e}"))?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    config.rebase(addr, !base_url_given);
    let state = state(backend, &config).await?;
    if !config.listen.ip().is_loopback() && config.auth == AuthMode::Off {
        tracing::warn!("serving {addr} with no authorization (--insecure)");
    }
    let hl7 = match &config.mllp {
        Some(settings) => {
            let (running, engine) = hl7::start(&state.store, &config, settings).await?;
            let _ = state.engine.set(engine);
            Some(running)
        }
        None => None,
    };
    let mllp_addr = hl7.as_ref().map(|h| h.addr);
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(accept_loop(listener, tls, state, hl7, stopped));
    Ok(Running {
        mllp_addr,
        addr,
        config,
        stop,
        task,
    })
}

/// The state the FHIR API runs on, over an opened store (whose search index
/// is rebuilt first when the registry changed since it was built).
pub async fn state(backend: SqliteStore, config: &Config) -> Result<Arc<AppState>, String> {
    let store = Store::new(Arc::new(backend), &config.base_url);
    if let Some(n) = store
        .reindex(true)
        .await
        .map_err(|e| format!("store: reindex: {e}"))?
    {
        tracing::info!("search index (re)built for {n} resources");
    }
    let (auth, policy) = match config.auth {
        AuthMode::Off | AuthMode::External => (None, Policy::AllowAll),
        AuthMode::Smart => {
            let (clients, users) = crate::auth::declared::apply(
                &config.data_dir,
                &config.auth_client,
                &config.auth_user,
            )?;
            if clients + users > 0 {
                tracing::info!(
                    "{clients} clients and {users} users declared in the configuration file"
                );
            }
            (
                Some(Arc::new(AuthServer::open(
                    &config.data_dir,
                    &config.base_url,
                )?)),
                Policy::Smart,
            )
        }
    };
    let external = config
        .external
        .as_ref()
        .map(|e| Arc::new(ExternalAuth::new(e, &config.base_url)));
    let policy = if external.is_some() {
        Policy::Smart
    } else {
        policy
    };
    let audit = if config.audit {
        Some(Arc::new(
            crate::audit::Audit::start(
                store.clone(),
                &config.base_url,
                Duration::from_millis(config.audit_flush_ms),
            )
            .await?,
        ))
    } else {
        None
    };
    let mut gate = Gate::new(policy, &config.base_url);
    if config.audit {
        gate.protect_audit();
    }
    Ok(Arc::new(AppState {
        auth,
        external,
        audit,
        store,
        config: config.clone(),
        gate,
        ready: AtomicBool::new(true),
        capability: std::sync::OnceLock::new(),
        engine: std::sync::OnceLock::new(),
    }))
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn serve(config: Config, base_url_given: bool) -> Result<(), String> {
    let started = std::time::Instant::now();
    let running = start(config, base_url_given).await?;
    let scheme = if running.config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    println!(
        "hemolink {} listening on {scheme}://{}",
        env!("CARGO_PKG_VERSION"),
        running.addr
    );
    println!("FHIR R4 base {}", running.config.base_url);
    if let Some(mllp) = running.mllp_addr {
        let tls = running
            .config
            .mllp
            .as_ref()
            .is_some_and(|m| m.tls_cert.is_some());
        println!(
            "MLLP listening on {}://{mllp}",
            if tls { "mllps" } else { "mllp" }
        );
    }
    println!("data in {}", running.config.data_dir.display());
    tracing::info!("ready in {} ms", started.elapsed().as_millis());
    shutdown_signal().await;
    println!("shutting down: no new connections, finishing requests in flight");
    running.stop().await;
    println!("store closed; hemolink stopped");
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: Arc<AppState>,
    hl7: Option<hl7::Running>,
    mut stopped: oneshot::Receiver<()>,
) {
    let app = rest::router(state.clone());
    let graceful = GracefulShutdown::new();
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
            _ = &mut stopped => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(admin::with_peer(app.clone(), peer));
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT);
        match &tls {
            None => {
                let conn =
                    graceful.watch(http.serve_connection(
                        TokioIo::new(protocol_errors::Guard::new(stream)),
                        service,
                    ));
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
                    let conn = watcher.watch(http.serve_connection(
                        TokioIo::new(protocol_errors::Guard::new(stream)),
                        service,
                    ));
                    if let Err(e) = conn.await {
                        tracing::debug!("connection from {peer}: {e}");
                    }
                });
            }
        }
    }
    state.ready.store(false, Ordering::Relaxed);
    drop(listener);
    let timeout = Duration::from_secs(state.config.shutdown_timeout);
    if tokio::time::timeout(timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after {timeout:?}; closing anyway");
    }
    if let Some(hl7) = hl7 {
        hl7.stop(timeout).await;
    }
    if let Some(audit) = &state.audit {
        audit.close().await;
    }
    state.store.close().await;
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
