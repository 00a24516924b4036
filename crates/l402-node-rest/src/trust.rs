//! TLS trust material: certificates and root stores from PEM or DER, the crypto
//! provider, and client configurations that verify a server against roots or accept
//! exactly one pinned certificate ([`PinnedCertVerifier`]).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// A file (credential or certificate) could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}", path.display())]
pub struct ReadFileError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Reads a whole file.
///
/// # Errors
/// [`ReadFileError`] naming the file.
pub fn read_file(path: PathBuf) -> Result<Vec<u8>, ReadFileError> {
    std::fs::read(&path).map_err(|source| ReadFileError { path, source })
}

/// A certificate that could not be used; the text says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CertificateError(pub String);

fn is_pem(bytes: &[u8]) -> bool {
    bytes
        .windows(b"-----BEGIN".len())
        .any(|w| w == b"-----BEGIN")
}

/// Every certificate in PEM bytes, or the one DER certificate.
///
/// # Errors
/// [`CertificateError`] for bytes that are neither, or PEM without a certificate.
pub fn certificates(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, CertificateError> {
    if is_pem(bytes) {
        let certs = CertificateDer::pem_slice_iter(bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CertificateError(e.to_string()))?;
        if certs.is_empty() {
            return Err(CertificateError("no certificate in pem".to_owned()));
        }
        Ok(certs)
    } else if bytes.first() == Some(&0x30) {
        Ok(vec![CertificateDer::from(bytes.to_vec())])
    } else {
        Err(CertificateError("neither pem nor der".to_owned()))
    }
}

/// The first certificate in PEM bytes, or the one DER certificate.
///
/// # Errors
/// As [`certificates`].
pub fn first_certificate(bytes: &[u8]) -> Result<CertificateDer<'static>, CertificateError> {
    certificates(bytes)?
        .into_iter()
        .next()
        .ok_or_else(|| CertificateError("no certificate".to_owned()))
}

/// A root store holding every certificate in the bytes.
///
/// # Errors
/// As [`certificates`], or a certificate webpki cannot use as a trust anchor.
pub fn root_store(bytes: &[u8]) -> Result<RootCertStore, CertificateError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(bytes)? {
        roots
            .add(cert)
            .map_err(|e| CertificateError(e.to_string()))?;
    }
    Ok(roots)
}

/// The Mozilla roots shipped in `webpki-roots`.
#[must_use]
pub fn webpki_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// The crypto provider every backend uses: rustls with `ring`.
#[must_use]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts exactly one certificate, by its DER bytes, whatever its name and chain.
///
/// For a server whose certificate is its own root, such as LND's `tls.cert`: a
/// self-signed certificate with `CA:TRUE`, which webpki (and so rustls's default
/// verifier) refuses as a server certificate (`CaUsedAsEndEntity`, lnd issue #5450) even
/// when it is the trust anchor. The server's end-entity certificate must be
/// byte-for-byte the pinned one, and the handshake signature is still verified with that
/// certificate's key, so a server without the private key cannot pass.
#[derive(Debug)]
pub struct PinnedCertVerifier {
    pinned: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl PinnedCertVerifier {
    /// A verifier accepting only `pinned`, checking handshake signatures with
    /// `provider`'s algorithms.
    #[must_use]
    pub fn new(pinned: CertificateDer<'static>, provider: Arc<CryptoProvider>) -> Self {
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
        // reached by nor a chain matters.
        if end_entity.as_ref() == self.pinned.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            tracing::warn!("the server presented a tls certificate other than the pinned one");
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
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

/// A client configuration ([`provider`], safe default protocol versions, no client
/// certificate, no ALPN) that accepts only `pinned`: see [`PinnedCertVerifier`].
///
/// # Errors
/// The provider refuses the protocol versions (it does not with `ring`).
pub fn pinned_client_config(
    pinned: CertificateDer<'static>,
) -> Result<ClientConfig, rustls::Error> {
    let provider = provider();
    let verifier = Arc::new(PinnedCertVerifier::new(pinned, Arc::clone(&provider)));
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// A client configuration (as [`pinned_client_config`]) that verifies the server against
/// `roots`, its name included.
///
/// # Errors
/// As [`pinned_client_config`].
pub fn roots_client_config(roots: RootCertStore) -> Result<ClientConfig, rustls::Error> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_certificate() {
        assert_eq!(
            certificates(b"hello"),
            Err(CertificateError("neither pem nor der".to_owned()))
        );
        assert_eq!(
            certificates(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            Err(CertificateError("no certificate in pem".to_owned()))
        );
        // DER is taken as it is here; webpki judges it when it becomes a root.
        assert_eq!(certificates(&[0x30, 0x00]).map(|c| c.len()), Ok(1));
        assert!(root_store(&[0x30, 0x00]).is_err());
    }

    #[test]
    fn reports_the_file_it_could_not_read() {
        let e = read_file(PathBuf::from("/nonexistent/l402/tls.cert")).unwrap_err();
        assert_eq!(e.to_string(), "cannot read /nonexistent/l402/tls.cert");
        assert!(!webpki_roots().is_empty());
    }
}
