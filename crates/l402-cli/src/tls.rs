//! The TLS listener's certificate: loaded from PEM files, swapped when the files change.
//!
//! The rustls `ServerConfig` is built once, with a certificate resolver that hands every
//! new handshake the current certificate. Reloading replaces what the resolver holds:
//! connections already established keep the session they negotiated, new handshakes get
//! the new certificate. A certificate or key that cannot be loaded (unreadable, not PEM,
//! key not matching the certificate) is refused with a logged error and the previous one
//! keeps serving.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Largest certificate chain or key file read.
const MAX_PEM_LEN: u64 = 1024 * 1024;

/// Why a certificate and key could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is larger than [`MAX_PEM_LEN`].
    #[error("{0} is too large for a pem file")]
    TooLarge(PathBuf),
    /// The certificate file holds no certificate.
    #[error("{0} holds no pem certificate")]
    NoCertificate(PathBuf),
    /// A certificate block is malformed.
    #[error("{path}: malformed pem certificate: {reason}")]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key file holds no usable private key.
    #[error("{path}: no usable pem private key: {reason}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key does not belong to the certificate.
    #[error("{key} does not match the certificate in {cert}: {reason}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The certificate and key files and what they held when last loaded.
#[derive(Clone, PartialEq, Eq)]
struct Fingerprint {
    cert: [u8; 32],
    key: [u8; 32],
}

/// The current certificate, handed to every new handshake.
pub(crate) struct CertStore {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
    loaded: std::sync::Mutex<Fingerprint>,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Reads `path`, at most [`MAX_PEM_LEN`] bytes; the bytes are wiped when dropped (a key
/// file is a secret).
fn read_capped(path: &Path) -> Result<Zeroizing<Vec<u8>>, TlsError> {
    use std::io::Read as _;
    let read = |source| TlsError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_PEM_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if bytes.len() as u64 > MAX_PEM_LEN {
        return Err(TlsError::TooLarge(path.to_owned()));
    }
    Ok(bytes)
}

/// Loads the chain in `cert_file` and the key in `key_file`, checking that they belong
/// together; also returns the files' hashes.
fn load(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<(CertifiedKey, Fingerprint), TlsError> {
    let cert_pem = read_capped(cert_file)?;
    let key_pem = read_capped(key_file)?;
    let fingerprint = Fingerprint {
        cert: Sha256::digest(&*cert_pem).into(),
        key: Sha256::digest(&*key_pem).into(),
    };
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate {
            path: cert_file.to_owned(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert_file.to_owned()));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::BadKey {
        path: key_file.to_owned(),
        reason: e.to_string(),
    })?;
    let signing_key =
        provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| TlsError::BadKey {
                path: key_file.to_owned(),
                reason: e.to_string(),
            })?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified.keys_match().map_err(|e| TlsError::Mismatch {
        cert: cert_file.to_owned(),
        key: key_file.to_owned(),
        reason: e.to_string(),
    })?;
    Ok((certified, fingerprint))
}

impl CertStore {
    /// Loads the certificate chain and key.
    ///
    /// # Errors
    /// Either file unreadable or malformed, or a key that is not the certificate's.
    pub(crate) fn load(cert_file: PathBuf, key_file: PathBuf) -> Result<Arc<Self>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (certified, fingerprint) = load(&cert_file, &key_file, &provider)?;
        Ok(Arc::new(CertStore {
            cert_file,
            key_file,
            provider,
            current: ArcSwap::from_pointee(certified),
            loaded: std::sync::Mutex::new(fingerprint),
        }))
    }

    /// The server configuration: TLS 1.2 and 1.3, ALPN `h2` then `http/1.1`, the
    /// certificate from this store.
    pub(crate) fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, rustls::Error> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    /// Re-reads the files; when what they hold changed, checks it and swaps it in.
    /// Returns whether a new certificate is now served.
    ///
    /// # Errors
    /// The new files cannot be loaded: the previous certificate stays.
    pub(crate) fn reload(&self) -> Result<bool, TlsError> {
        let (certified, fingerprint) = load(&self.cert_file, &self.key_file, &self.provider)?;
        let mut loaded = self
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *loaded == fingerprint {
            return Ok(false);
        }
        self.current.store(Arc::new(certified));
        *loaded = fingerprint;
        Ok(true)
    }

    /// Checks the files every `interval` for ever, swapping in a changed certificate and
    /// logging a bad one (once per distinct error, so a broken file does not flood the
    /// log).
    pub(crate) async fn watch(self: Arc<Self>, interval: Duration) {
        let mut last_error = None::<String>;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            self.reload_logged(&mut last_error);
        }
    }

    /// [`reload`](Self::reload), logging the outcome; `last_error` suppresses repeats.
    pub(crate) fn reload_logged(&self, last_error: &mut Option<String>) {
        match self.reload() {
            Ok(true) => {
                *last_error = None;
                tracing::info!(cert_file = %self.cert_file.display(), "tls certificate reloaded");
            }
            Ok(false) => *last_error = None,
            Err(e) => {
                let message = crate::exit::chain(&e);
                if last_error.as_deref() != Some(message.as_str()) {
                    tracing::error!(
                        error = %message,
                        "new tls certificate refused; the previous one keeps serving"
                    );
                    *last_error = Some(message);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("l402-tls-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn leaf(store: &CertStore) -> Vec<u8> {
        store.current.load().cert[0].to_vec()
    }

    #[test]
    fn reload_swaps_good_files_and_keeps_the_old_on_bad_ones() {
        let d = dir("reload");
        let (cert, key) = pair("a.test");
        let (cf, kf) = (d.0.join("c.pem"), d.0.join("k.pem"));
        std::fs::write(&cf, &cert).unwrap();
        std::fs::write(&kf, &key).unwrap();
        let store = CertStore::load(cf.clone(), kf.clone()).unwrap();
        store.server_config().unwrap();
        let first = leaf(&store);
        assert!(!store.reload().unwrap(), "unchanged files");

        // A key from another pair: refused, the old certificate stays.
        let (cert2, key2) = pair("b.test");
        std::fs::write(&cf, &cert2).unwrap();
        assert!(matches!(store.reload(), Err(TlsError::Mismatch { .. })));
        assert_eq!(leaf(&store), first);
        // Garbage, an empty file, a missing file: refused too.
        std::fs::write(&kf, "not a key").unwrap();
        assert!(matches!(store.reload(), Err(TlsError::BadKey { .. })));
        std::fs::write(&cf, "").unwrap();
        assert!(matches!(store.reload(), Err(TlsError::NoCertificate(_))));
        std::fs::remove_file(&cf).unwrap();
        assert!(matches!(store.reload(), Err(TlsError::Read { .. })));
        assert_eq!(leaf(&store), first);

        // The new pair complete: swapped in.
        std::fs::write(&cf, &cert2).unwrap();
        std::fs::write(&kf, &key2).unwrap();
        assert!(store.reload().unwrap());
        assert_ne!(leaf(&store), first);
    }

    #[test]
    fn oversized_files_are_refused() {
        let d = dir("big");
        let (cf, kf) = (d.0.join("c.pem"), d.0.join("k.pem"));
        std::fs::write(&cf, vec![b'a'; (MAX_PEM_LEN + 1) as usize]).unwrap();
        std::fs::write(&kf, "x").unwrap();
        assert!(matches!(
            CertStore::load(cf, kf),
            Err(TlsError::TooLarge(_))
        ));
    }
}
