//! TLS trust material: certificates and root stores from PEM or DER, and the crypto
//! provider.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

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
