//! TLS: CLN's `ca.pem` as the trust root, with an optional fixed server name.
//!
//! cln-grpc and clnrest make a proper CA (`ca.pem`) and a leaf server certificate signed
//! by it, so ordinary webpki verification works. The leaf names only `cln` and
//! `localhost` (plus, when clnrest made it, its bind address), so a client that reaches
//! the node by another address verifies the certificate against a configured name
//! instead of the URL's host: [`FixedNameVerifier`].

use std::sync::Arc;

use l402_node_rest::trust::provider;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Full webpki verification (chain, validity, usage, name), against a fixed name rather
/// than the one the connection was made to.
#[derive(Debug)]
pub(crate) struct FixedNameVerifier {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for FixedNameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Why a TLS configuration could not be made.
#[derive(Debug)]
pub(crate) enum TlsError {
    Rustls(rustls::Error),
    Verifier(String),
}

/// A client config that verifies the server against `roots`, by the URL's host or, if
/// given, by `server_name`.
pub(crate) fn roots_config(
    roots: RootCertStore,
    server_name: Option<ServerName<'static>>,
) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Rustls)?;
    let mut config = match server_name {
        None => builder.with_root_certificates(roots).with_no_client_auth(),
        Some(name) => {
            let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Verifier(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(FixedNameVerifier { inner, name }))
                .with_no_client_auth()
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
