//! TLS for every listener and for outbound MLLP: rustls configurations from
//! PEM files (parsed with `rustls-pki-types`), with the `ring` provider.
//! A listener may require client certificates signed by a given CA (mutual
//! TLS); an outbound MLLP connection trusts the CAs of a given file only; the
//! fetch of another server's keys (JWKS) trusts the operating system's CAs.

use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{what} {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what} {}: {e}", path.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "{what} {}: no certificate in the file",
            path.display()
        ));
    }
    Ok(chain)
}

fn roots(path: &Path, what: &str) -> Result<Arc<RootCertStore>, String> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(path, what)? {
        roots
            .add(cert)
            .map_err(|e| format!("{what} {}: {e}", path.display()))?;
    }
    Ok(Arc::new(roots))
}

/// A TLS acceptor for the certificate chain and key in two PEM files. With
/// `client_ca`, every client must present a certificate signed by one of its
/// CAs. `alpn` lists the protocols offered (none for MLLP).
pub fn acceptor(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
    alpn: &[&[u8]],
) -> Result<tokio_rustls::TlsAcceptor, String> {
    let chain = certificates(cert, "tls_cert")?;
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("tls_key {}: {e}", key.display()))?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match client_ca {
        Some(ca) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(roots(ca, "client_ca")?, provider())
                    .build()
                    .map_err(|e| format!("client_ca {}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("TLS certificate and key: {e}"))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// A TLS connector that trusts the CAs in `ca` (a PEM file), presenting the
/// client certificate `identity` (chain and key files) when given.
pub fn connector(
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<tokio_rustls::TlsConnector, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots(ca, "outbound_ca")?);
    let config = match identity {
        Some((cert, key)) => {
            let chain = certificates(cert, "outbound_cert")?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("outbound_key {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("outbound certificate and key: {e}"))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// A TLS connector that trusts the operating system's CA certificates (read
/// by `rustls-native-certs`: `/etc/ssl/certs` and `SSL_CERT_FILE` on Linux),
/// for HTTPS requests to other services.
pub fn system_connector() -> Result<tokio_rustls::TlsConnector, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(format!(
            "no CA certificate of the operating system could be read ({} errors)",
            found.errors.len()
        ));
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(Arc::new(roots))
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}
