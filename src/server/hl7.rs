//! Starting and stopping the HL7 v2 side of the server: the outbound sender,
//! the recovery of messages received but not processed before a stop, the
//! MLLP listener, and the daily purge of the message store.

use crate::config::{Config, Mllp};
use crate::engine::Engine;
use crate::engine::outbound::Outbound;
use crate::engine::process;
use crate::fhir::instant::now_micros;
use crate::mllp::listener;
use crate::store::messages::MessageWrite;
use crate::store::{Store, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the message store is purged of messages past retention.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// The running HL7 v2 side.
pub struct Running {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets connections finish the message in hand (for at
    /// most `timeout`) and stops the outbound workers.
    pub async fn stop(self, timeout: Duration) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            if tokio::time::timeout(timeout, task).await.is_err() {
                tracing::warn!("MLLP still busy after {timeout:?}; stopping anyway");
            }
        }
    }
}

/// Recovers unprocessed messages, then binds and serves the listener.
pub async fn start(
    store: &Store,
    config: &Config,
    settings: &Mllp,
) -> Result<(Running, Arc<Engine>), String> {
    let (stop, stopped) = watch::channel(false);
    let outbound = Outbound::new(store.clone(), config.outbound.clone(), stopped.clone())?;
    let name = format!("mllp://{}", settings.listen);
    let engine = Arc::new(Engine::new(
        store.clone(),
        name,
        settings.clone(),
        outbound.clone(),
    )?);
    let (tcp, tls) = listener::bind(settings, config.insecure).await?;
    let addr = tcp.local_addr().map_err(|e| e.to_string())?;
    let recovered = engine.recover().await?;
    if recovered > 0 {
        tracing::info!("processed {recovered} HL7 messages received before the last stop");
    }
    outbound.resume().await?;
    if tls.is_none() && !addr.ip().is_loopback() {
        tracing::warn!("receiving MLLP on {addr} without TLS (--insecure)");
    }
    let serving = tokio::spawn(listener::serve(tcp, tls, engine.clone(), stopped.clone()));
    // Processing (mapping) runs on a thread of its own: it takes at most one
    // core, and receipt keeps the others however long the backlog is.
    let processing =
        {
            let (engine, stop) = (engine.clone(), stopped.clone());
            tokio::task::spawn_blocking(move || match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(process::run(engine, stop)),
                Err(e) => tracing::error!("the HL7 processor could not start: {e}"),
            })
        };
    let purging = tokio::spawn(purge(store.clone(), config.hl7_retention_days, stopped));
    Ok((
        Running {
            addr,
            stop,
            tasks: vec![serving, processing, purging],
        },
        engine,
    ))
}

/// Forgets messages older than the retention, now and every hour.
async fn purge(store: Store, days: u32, mut stop: watch::Receiver<bool>) {
    loop {
        let before = now_micros() - i64::from(days) * 86_400 * 1_000_000;
        if let Err(e) = store
            .write(Write::Message(MessageWrite::Purge { before }))
            .await
        {
            tracing::warn!("message store purge failed: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(PURGE_EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}
