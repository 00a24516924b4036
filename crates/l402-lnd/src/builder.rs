//! [`LndBackendBuilder`]: where the node is, how to trust it, and the macaroon.

use core::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use l402_core::node_credential::CredentialRole;
use l402_core::node_credential::lnd::{InspectError, LndMacaroon};
use l402_node_rest::endpoint::{UrlError, base_url, client_builder, warn_if_plaintext};
use l402_node_rest::trust::{
    CertificateError, ReadFileError, first_certificate, read_file, root_store, webpki_roots,
};
use zeroize::Zeroizing;

use crate::backend::{Inner, LndBackend};
use crate::macaroon::MacaroonSecret;
use crate::tls;

/// Default bound on opening a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on a whole unary call (invoices, node info, payment lookups).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time a payment may take beyond
/// [`PayParams::timeout`](l402_core::backend::PayParams::timeout) before the backend stops
/// waiting and answers [`PayError::OutcomeUnknown`](l402_core::PayError::OutcomeUnknown):
/// LND's `timeout_seconds` bounds the search for a route, not HTLCs already in flight.
pub const DEFAULT_PAY_TIMEOUT_MARGIN: Duration = Duration::from_secs(15);

/// Why [`LndBackendBuilder::build`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The base URL does not parse, is not a base URL, or is neither `https` nor `http`.
    #[error("invalid lnd url")]
    InvalidUrl(#[from] UrlError),
    /// No macaroon was given.
    #[error("no macaroon given")]
    MissingMacaroon,
    /// The macaroon is empty or not hex.
    #[error("invalid macaroon: {0}")]
    InvalidMacaroon(&'static str),
    /// A macaroon or certificate file could not be read.
    #[error(transparent)]
    ReadFile(#[from] ReadFileError),
    /// A certificate is not PEM or DER, or not acceptable as a trust anchor.
    #[error("invalid certificate")]
    InvalidCertificate(#[from] CertificateError),
    /// TLS settings were given for an `http://` URL.
    #[error("tls settings need an https url")]
    TlsWithoutHttps,
    /// A timeout of zero.
    #[error("timeouts must be greater than zero")]
    ZeroTimeout,
    /// rustls refused the configuration.
    #[error("tls configuration failed")]
    Tls(#[source] rustls::Error),
    /// The HTTP client could not be built.
    #[error("http client could not be built")]
    HttpClient(#[source] reqwest::Error),
    /// With [`LndBackendBuilder::refuse_excess_permissions`]: the macaroon allows more
    /// than the role needs.
    #[error("the macaroon allows more than a {role} backend needs: {extra}")]
    ExcessPermissions {
        /// The role the backend was built for.
        role: CredentialRole,
        /// The extra permissions, `entity:action`, space-separated.
        extra: String,
    },
    /// With [`LndBackendBuilder::refuse_excess_permissions`]: the macaroon's permissions
    /// cannot be read (not a V2 macaroon with an LND identifier).
    #[error("cannot tell what the macaroon allows")]
    UnknownPermissions(#[source] InspectError),
}

enum MacaroonSource {
    Hex(Zeroizing<String>),
    Bytes(Zeroizing<Vec<u8>>),
    File(PathBuf),
}

#[derive(Debug)]
enum TlsSource {
    /// Pin this certificate (PEM or DER bytes).
    Pinned(Vec<u8>),
    PinnedFile(PathBuf),
    /// Verify against these CA certificates (PEM or DER bytes).
    Ca(Vec<u8>),
    CaFile(PathBuf),
    WebpkiRoots,
}

/// Builds an [`LndBackend`]; from [`LndBackend::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// use l402_lnd::LndBackend;
///
/// let lnd = LndBackend::builder("https://localhost:8080")
///     .macaroon_file("/home/lnd/server.macaroon")
///     .tls_cert_file("/home/lnd/.lnd/tls.cert")
///     .request_timeout(Duration::from_secs(10))
///     .build()?;
/// # Ok::<(), l402_lnd::BuildError>(())
/// ```
#[must_use]
pub struct LndBackendBuilder {
    url: String,
    macaroon: Option<MacaroonSource>,
    tls: Option<TlsSource>,
    connect_timeout: Duration,
    request_timeout: Duration,
    pay_timeout_margin: Duration,
    role: CredentialRole,
    refuse_excess: bool,
    baking: bool,
}

impl LndBackendBuilder {
    pub(crate) fn new(url: String) -> Self {
        LndBackendBuilder {
            url,
            macaroon: None,
            tls: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            pay_timeout_margin: DEFAULT_PAY_TIMEOUT_MARGIN,
            role: CredentialRole::Both,
            refuse_excess: false,
            baking: false,
        }
    }

    /// What the backend is for (default: both), so that [`build`](Self::build) can
    /// compare the macaroon's permissions with what the role needs: an invoice backend
    /// `invoices:read invoices:write`, a payment backend `offchain:read offchain:write`
    /// (both may have `info:read`). Anything more is logged as a warning naming the
    /// extra permissions, or refused with
    /// [`refuse_excess_permissions`](Self::refuse_excess_permissions).
    pub fn role(mut self, role: CredentialRole) -> Self {
        self.role = role;
        self
    }

    /// Makes [`build`](Self::build) fail with [`BuildError::ExcessPermissions`] when the
    /// macaroon allows more than the [`role`](Self::role) needs, and with
    /// [`BuildError::UnknownPermissions`] when its permissions cannot be read.
    pub fn refuse_excess_permissions(mut self) -> Self {
        self.refuse_excess = true;
        self
    }

    /// The backend is for [`LndBackend::bake_macaroon`]: its macaroon has
    /// `macaroon:generate`, so it can mint any permission and is as powerful as
    /// `admin.macaroon` whatever else it holds. [`build`](Self::build) then does not
    /// compare it with a [`role`](Self::role) (no warning, no refusal). Keep such a
    /// backend for baking, not for serving or paying.
    pub fn for_baking(mut self) -> Self {
        self.baking = true;
        self
    }

    /// The macaroon, hex-encoded (as `xxd -p -c 1000 server.macaroon` prints it).
    pub fn macaroon_hex(mut self, hex: impl Into<String>) -> Self {
        self.macaroon = Some(MacaroonSource::Hex(Zeroizing::new(hex.into())));
        self
    }

    /// The macaroon's bytes (a `.macaroon` file's contents).
    pub fn macaroon_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.macaroon = Some(MacaroonSource::Bytes(Zeroizing::new(bytes.into())));
        self
    }

    /// A `.macaroon` file, read by [`build`](Self::build).
    pub fn macaroon_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.macaroon = Some(MacaroonSource::File(path.into()));
        self
    }

    /// Pins LND's `tls.cert` (PEM or DER bytes): the server must present exactly this
    /// certificate. Host names are not checked (the certificate is the identity).
    pub fn tls_cert(mut self, cert: impl Into<Vec<u8>>) -> Self {
        self.tls = Some(TlsSource::Pinned(cert.into()));
        self
    }

    /// Pins LND's `tls.cert` from a file (PEM or DER), read by [`build`](Self::build).
    pub fn tls_cert_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls = Some(TlsSource::PinnedFile(path.into()));
        self
    }

    /// Verifies the server with ordinary CA rules against these CA certificates (PEM,
    /// possibly several, or one DER), instead of the public roots: for LND behind a
    /// reverse proxy with a private CA. Not for LND's own `tls.cert`, which rustls refuses
    /// as a server certificate: pin that one with [`tls_cert`](Self::tls_cert).
    pub fn ca_cert(mut self, ca: impl Into<Vec<u8>>) -> Self {
        self.tls = Some(TlsSource::Ca(ca.into()));
        self
    }

    /// [`ca_cert`](Self::ca_cert) from a file, read by [`build`](Self::build).
    pub fn ca_cert_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls = Some(TlsSource::CaFile(path.into()));
        self
    }

    /// Verifies the server against the public web PKI roots (Mozilla's, from
    /// `webpki-roots`): for LND behind a proxy with a public certificate. The default for
    /// an `https` URL when no other TLS setting is given.
    pub fn webpki_roots(mut self) -> Self {
        self.tls = Some(TlsSource::WebpkiRoots);
        self
    }

    /// Bound on opening a connection (TCP and TLS); default [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Bound on each unary call, connection included; default [`DEFAULT_REQUEST_TIMEOUT`].
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long a payment may run beyond its
    /// [`PayParams::timeout`](l402_core::backend::PayParams::timeout); default
    /// [`DEFAULT_PAY_TIMEOUT_MARGIN`].
    pub fn pay_timeout_margin(mut self, margin: Duration) -> Self {
        self.pay_timeout_margin = margin;
        self
    }

    /// Reads the files, checks every setting and builds the HTTP client.
    ///
    /// # Errors
    /// [`BuildError`]: a bad URL or scheme, a missing, empty or non-hex macaroon, an
    /// unreadable file, a certificate that is neither PEM nor DER, TLS settings with an
    /// `http` URL, a zero timeout, or a TLS or HTTP client failure.
    pub fn build(self) -> Result<LndBackend, BuildError> {
        let (base, https) = base_url(&self.url)?;
        if self.connect_timeout.is_zero()
            || self.request_timeout.is_zero()
            || self.pay_timeout_margin.is_zero()
        {
            return Err(BuildError::ZeroTimeout);
        }

        let macaroon = match self.macaroon.ok_or(BuildError::MissingMacaroon)? {
            MacaroonSource::Bytes(bytes) => bytes,
            MacaroonSource::Hex(hex) => Zeroizing::new(
                l402_core::encoding::hex_decode(hex.trim())
                    .map_err(|_| BuildError::InvalidMacaroon("not hex"))?,
            ),
            MacaroonSource::File(path) => Zeroizing::new(read_file(path)?),
        };
        if macaroon.is_empty() {
            return Err(BuildError::InvalidMacaroon("empty"));
        }
        if !self.baking {
            check_permissions(&macaroon, self.role, self.refuse_excess)?;
        }
        let macaroon = MacaroonSecret::from_bytes(&macaroon);

        let mut client = client_builder(
            concat!("l402-lnd/", env!("CARGO_PKG_VERSION")),
            self.connect_timeout,
        );
        if https {
            let tls_config = match self.tls.unwrap_or(TlsSource::WebpkiRoots) {
                TlsSource::Pinned(bytes) => tls::pinned_config(first_certificate(&bytes)?),
                TlsSource::PinnedFile(path) => {
                    tls::pinned_config(first_certificate(&read_file(path)?)?)
                }
                TlsSource::Ca(bytes) => tls::roots_config(root_store(&bytes)?),
                TlsSource::CaFile(path) => tls::roots_config(root_store(&read_file(path)?)?),
                TlsSource::WebpkiRoots => tls::roots_config(webpki_roots()),
            }
            .map_err(BuildError::Tls)?;
            client = client.use_preconfigured_tls(tls_config).https_only(true);
        } else {
            if self.tls.is_some() {
                return Err(BuildError::TlsWithoutHttps);
            }
            warn_if_plaintext(&base, "lnd", "macaroon");
        }
        let http = client.build().map_err(BuildError::HttpClient)?;
        Ok(LndBackend::from_inner(Arc::new(Inner {
            http,
            base,
            macaroon,
            request_timeout: self.request_timeout,
            pay_timeout_margin: self.pay_timeout_margin,
        })))
    }
}

/// Compares what the macaroon allows with the role: a warning (naming the extra
/// permissions, never the macaroon), or an error when refusing.
fn check_permissions(
    macaroon: &[u8],
    role: CredentialRole,
    refuse: bool,
) -> Result<(), BuildError> {
    match LndMacaroon::from_bytes(macaroon) {
        Ok(m) => {
            let excess = m.id().excess(role);
            if excess.is_empty() {
                return Ok(());
            }
            if refuse {
                return Err(BuildError::ExcessPermissions {
                    role,
                    extra: excess.to_string(),
                });
            }
            tracing::warn!(
                role = %role,
                extra = %excess,
                can_spend = excess.can_spend,
                "the lnd macaroon allows more than a {role} backend needs; bake one with only \
                 the permissions it needs (see `l402 node inspect`)"
            );
            Ok(())
        }
        Err(e) if refuse => Err(BuildError::UnknownPermissions(e)),
        Err(e) => {
            tracing::warn!(
                error = %l402_core::ErrorChain(&e),
                "cannot tell what the lnd macaroon allows"
            );
            Ok(())
        }
    }
}

impl fmt::Debug for LndBackendBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LndBackendBuilder")
            .field("url", &self.url)
            .field("macaroon", &self.macaroon.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("pay_timeout_margin", &self.pay_timeout_margin)
            .field("role", &self.role)
            .field("refuse_excess", &self.refuse_excess)
            .field("baking", &self.baking)
            .finish()
    }
}
