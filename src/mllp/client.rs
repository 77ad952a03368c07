//! An MLLP client connection, plain or TLS: what the outbound sender uses
//! to reach a destination.

use super::frame::Codec;
use crate::config::Destination;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

/// A byte stream of either kind.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A framed connection to a destination.
pub type Connection = Framed<Box<dyn Stream>, Codec>;

/// Connects to `destination` within `timeout`, over TLS for `mllps://`
/// (which needs `tls`, the connector trusting the destination's CA).
pub async fn connect(
    destination: &Destination,
    tls: Option<&tokio_rustls::TlsConnector>,
    timeout: Duration,
    max_frame: usize,
) -> Result<Connection, String> {
    let address = (destination.host.as_str(), destination.port);
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(address))
        .await
        .map_err(|_| format!("connecting to {destination} timed out"))?
        .map_err(|e| format!("cannot connect to {destination}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Stream> = if destination.tls {
        let connector =
            tls.ok_or_else(|| format!("{destination} needs TLS: no outbound CA is configured"))?;
        let name = rustls_pki_types::ServerName::try_from(destination.host.clone())
            .map_err(|e| format!("{destination}: {e}"))?;
        let stream = tokio::time::timeout(timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| format!("TLS handshake with {destination} timed out"))?
            .map_err(|e| format!("TLS handshake with {destination}: {e}"))?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    Ok(Framed::new(stream, Codec::new(max_frame)))
}
