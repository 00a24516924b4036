//! TLS: pinning LND's self-signed `tls.cert`, or ordinary CA verification.
//!
//! LND's `tls.cert` is a self-signed certificate with `CA:TRUE`, which webpki refuses as
//! a server certificate, so the backend *pins* it
//! ([`PinnedCertVerifier`](l402_node_rest::trust::PinnedCertVerifier)): the server's
//! certificate must be byte-for-byte the pinned one, and the handshake signature is
//! still verified with its key. Both configurations speak HTTP/1.1 only (LND's REST
//! gateway).

use l402_node_rest::trust::{pinned_client_config, roots_client_config};
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// A client config that accepts only `pinned`.
pub(crate) fn pinned_config(
    pinned: CertificateDer<'static>,
) -> Result<ClientConfig, rustls::Error> {
    let mut config = pinned_client_config(pinned)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A client config that verifies the server against `roots` (names included).
pub(crate) fn roots_config(roots: RootCertStore) -> Result<ClientConfig, rustls::Error> {
    let mut config = roots_client_config(roots)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
