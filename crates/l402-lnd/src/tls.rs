//! TLS: pinning LND's self-signed `tls.cert`, or ordinary CA verification.
//!
//! LND's `tls.cert` is a self-signed certificate with `CA:TRUE`; webpki (and so rustls's
//! default verifier) refuses a CA certificate as a server certificate
//! (`CaUsedAsEndEntity`, lnd issue #5450), even when it is the trust anchor. So for LND's
//! own certificate the backend *pins* it: the server's end-entity certificate must be
//! byte-for-byte the pinned one, and the handshake signature is still verified with that
//! certificate's key (so a server without the private key cannot pass).

use std::sync::Arc;

use l402_node_rest::trust::provider;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// Accepts exactly one certificate, by its DER bytes.
#[derive(Debug)]
pub(crate) struct PinnedCertVerifier {
    pinned: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl PinnedCertVerifier {
    pub(crate) fn new(pinned: CertificateDer<'static>, provider: Arc<CryptoProvider>) -> Self {
        PinnedCertVerifier { pinned, provider }
    }
}

impl ServerCertVerifier for PinnedCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The pinned certificate is the server's identity: neither the name it was
        // reached by nor a chain matters (LND's certificate is its own root).
        if end_entity.as_ref() == self.pinned.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            tracing::warn!("lnd presented a tls certificate other than the pinned one");
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client config that accepts only `pinned`.
pub(crate) fn pinned_config(
    pinned: CertificateDer<'static>,
) -> Result<ClientConfig, rustls::Error> {
    let provider = provider();
    let verifier = Arc::new(PinnedCertVerifier::new(pinned, Arc::clone(&provider)));
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A client config that verifies the server against `roots` (names included).
pub(crate) fn roots_config(roots: RootCertStore) -> Result<ClientConfig, rustls::Error> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
