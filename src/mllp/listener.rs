//! The MLLP listener: accepts connections (plain or TLS, with client
//! certificates when a client CA is configured), reads frames with
//! [`super::frame::Codec`] and hands each to the engine, one at a time per
//! connection, so a connection's messages are answered and processed in the
//! order they came. Each connection runs on its own task, so a slow or
//! broken sender holds up no other.
//!
//! A sender that stops in the middle of a frame for longer than the idle
//! timeout loses that frame and its connection; a connection that is idle
//! between frames stays open. On stop, a connection finishes the message in
//! hand and closes.

use super::frame::{Codec, Frame, Outbound};
use crate::engine::Engine;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::codec::Framed;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts connections until `stop` turns true, then waits for the
/// connections to finish the message in hand.
pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    engine: Arc<Engine>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("MLLP accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let engine = engine.clone();
        let stop = stop.clone();
        match &tls {
            None => {
                connections.spawn(connection(stream, peer, engine, stop));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                connections.spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => connection(s, peer, engine, stop).await,
                        Ok(Err(e)) => tracing::info!("MLLP TLS handshake with {peer}: {e}"),
                        Err(_) => tracing::info!("MLLP TLS handshake with {peer} timed out"),
                    }
                });
            }
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Serves one connection until it closes, fails, idles mid-frame or the
/// listener stops.
async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    peer: SocketAddr,
    engine: Arc<Engine>,
    mut stop: watch::Receiver<bool>,
) {
    let peer = peer.to_string();
    let mut framed = Framed::new(stream, Codec::new(engine.settings.max_frame));
    let idle = Duration::from_secs(engine.settings.idle_timeout);
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout(idle, framed.next()) => next,
            _ = stop.changed() => break,
        };
        let frame = match next {
            Err(_) if framed.codec().in_frame() => {
                tracing::warn!(
                    "MLLP sender {peer} stopped mid-frame for {idle:?}; partial frame dropped, connection closed"
                );
                break;
            }
            Err(_) => continue,
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                tracing::info!("MLLP connection from {peer}: {e}");
                break;
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let answer = match frame {
            Frame::Commit(_) => continue,
            Frame::Message(bytes) => engine.receive(&bytes, &peer).await,
            Frame::Oversized { head, length } => engine.oversized(&head, length, &peer).await,
        };
        if engine.settings.release2 && framed.send(Outbound::Commit(answer.durable)).await.is_err()
        {
            break;
        }
        if let Some(reply) = answer.reply
            && framed
                .send(Outbound::Message(Bytes::from(reply)))
                .await
                .is_err()
        {
            break;
        }
        if answer.close {
            break;
        }
    }
}

/// Binds the listener after checking that a non-loopback address has TLS
/// or `--insecure`.
pub async fn bind(
    settings: &crate::config::Mllp,
    insecure: bool,
) -> Result<(TcpListener, Option<tokio_rustls::TlsAcceptor>), String> {
    let tls = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::acceptor(
            cert,
            key,
            settings.client_ca.as_deref(),
            &[],
        )?),
        _ => None,
    };
    if tls.is_none() && !settings.listen.ip().is_loopback() && !insecure {
        return Err(format!(
            "refusing to receive MLLP on {} without TLS: anyone on the network could read and send \
             messages. Give --mllp-tls-cert and --mllp-tls-key, listen on a loopback address, or pass \
             --insecure to do it anyway.",
            settings.listen
        ));
    }
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("cannot listen for MLLP on {}: {e}", settings.listen))?;
    Ok((listener, tls))
}
