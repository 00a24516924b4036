//! [`ClnBackendBuilder`]: where the node is, how to trust it, and the rune.

use core::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use l402_core::node_credential::CredentialRole;
use l402_core::node_credential::rune::{Rune, RuneError};
use l402_node_rest::endpoint::{UrlError, base_url, client_builder, warn_if_plaintext};
use l402_node_rest::trust::{CertificateError, ReadFileError, read_file, root_store, webpki_roots};
use rustls::pki_types::ServerName;
use zeroize::Zeroizing;

use crate::backend::{ClnBackend, Inner};
use crate::rune::RuneSecret;
use crate::tls::{self, TlsError};

/// Default bound on opening a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on a whole call other than `xpay` (invoices, node info, lookups).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time an `xpay` call may take beyond
/// [`PayParams::timeout`](l402_core::backend::PayParams::timeout) (sent as `retry_for`)
/// before the backend stops waiting and answers
/// [`PayError::OutcomeUnknown`](l402_core::PayError::OutcomeUnknown): `retry_for` bounds
/// xpay's search for routes, not parts already in flight.
pub const DEFAULT_PAY_TIMEOUT_MARGIN: Duration = Duration::from_secs(15);

/// Why [`ClnBackendBuilder::build`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The base URL does not parse, is not a base URL, or is neither `https` nor `http`.
    #[error("invalid clnrest url")]
    InvalidUrl(#[from] UrlError),
    /// No rune was given.
    #[error("no rune given")]
    MissingRune,
    /// The rune is empty or not URL-safe base64.
    #[error("invalid rune: {0}")]
    InvalidRune(&'static str),
    /// A rune or certificate file could not be read.
    #[error(transparent)]
    ReadFile(#[from] ReadFileError),
    /// A certificate is not PEM or DER, or not acceptable as a trust anchor.
    #[error("invalid certificate")]
    InvalidCertificate(#[from] CertificateError),
    /// The TLS server name is neither a DNS name nor an IP address.
    #[error("invalid tls server name {0:?}")]
    InvalidServerName(String),
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
    /// With [`ClnBackendBuilder::refuse_excess_permissions`]: the rune allows more than
    /// the role needs.
    #[error("the rune allows more than a {role} backend needs: {extra}")]
    ExcessPermissions {
        /// The role the backend was built for.
        role: CredentialRole,
        /// What it allows beyond: `unrestricted`, or `method=<m>` for each spending
        /// method, space-separated.
        extra: String,
    },
    /// With [`ClnBackendBuilder::refuse_excess_permissions`]: the rune's restrictions
    /// cannot be read.
    #[error("cannot tell what the rune allows")]
    UnknownPermissions(#[source] RuneError),
}

enum RuneSource {
    Text(Zeroizing<String>),
    File(PathBuf),
}

#[derive(Debug)]
enum TlsSource {
    /// Verify against these CA certificates (PEM or DER bytes).
    Ca(Vec<u8>),
    CaFile(PathBuf),
    WebpkiRoots,
}

/// Builds a [`ClnBackend`]; from [`ClnBackend::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// use l402_cln::ClnBackend;
///
/// let cln = ClnBackend::builder("https://127.0.0.1:3010")
///     .rune_file("/run/secrets/cln-server.rune")
///     .ca_cert_file("/home/cln/.lightning/bitcoin/ca.pem")
///     .tls_server_name("cln")
///     .request_timeout(Duration::from_secs(10))
///     .build()?;
/// # Ok::<(), l402_cln::BuildError>(())
/// ```
#[must_use]
pub struct ClnBackendBuilder {
    url: String,
    rune: Option<RuneSource>,
    tls: Option<TlsSource>,
    server_name: Option<String>,
    connect_timeout: Duration,
    request_timeout: Duration,
    pay_timeout_margin: Duration,
    role: CredentialRole,
    refuse_excess: bool,
    baking: bool,
}

impl ClnBackendBuilder {
    pub(crate) fn new(url: String) -> Self {
        ClnBackendBuilder {
            url,
            rune: None,
            tls: None,
            server_name: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            pay_timeout_margin: DEFAULT_PAY_TIMEOUT_MARGIN,
            role: CredentialRole::Both,
            refuse_excess: false,
            baking: false,
        }
    }

    /// What the backend is for (default: both), so that [`build`](Self::build) can
    /// compare the rune with what the role needs. A rune "can spend" when it has no
    /// method restriction, or when its restrictions let one of the
    /// [`SPENDING_METHODS`](l402_core::node_credential::rune::SPENDING_METHODS) through
    /// (`pay`, `xpay`, `withdraw`, `createrune`...; conditions on parameters are assumed
    /// satisfiable). A payment backend needs `xpay`; an invoice backend no spending
    /// method. Anything more is logged as a warning, or refused with
    /// [`refuse_excess_permissions`](Self::refuse_excess_permissions).
    pub fn role(mut self, role: CredentialRole) -> Self {
        self.role = role;
        self
    }

    /// Makes [`build`](Self::build) fail with [`BuildError::ExcessPermissions`] when the
    /// rune allows more than the [`role`](Self::role) needs, and with
    /// [`BuildError::UnknownPermissions`] when its restrictions cannot be read.
    pub fn refuse_excess_permissions(mut self) -> Self {
        self.refuse_excess = true;
        self
    }

    /// The backend is for [`ClnBackend::create_rune`](crate::ClnBackend::create_rune): its
    /// rune may call `createrune`, so it can mint a rune for any method and is as
    /// powerful as an unrestricted rune. [`build`](Self::build) then does not compare it
    /// with a [`role`](Self::role) (no warning, no refusal). Keep such a backend for
    /// making runes, not for serving or paying.
    pub fn for_baking(mut self) -> Self {
        self.baking = true;
        self
    }

    /// The rune, as `lightning-cli createrune` printed it (its `rune` field).
    pub fn rune(mut self, rune: impl Into<String>) -> Self {
        self.rune = Some(RuneSource::Text(Zeroizing::new(rune.into())));
        self
    }

    /// A file holding the rune (surrounding whitespace is ignored), read by
    /// [`build`](Self::build).
    pub fn rune_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.rune = Some(RuneSource::File(path.into()));
        self
    }

    /// Trusts these CA certificates (PEM, possibly several, or one DER): CLN's `ca.pem`
    /// from `<lightning-dir>/<network>/`. The server's own `server.pem` is a leaf, not a
    /// root: give `ca.pem`.
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
    /// `webpki-roots`): for CLN behind a proxy with a public certificate. The default for
    /// an `https` URL when no CA is given.
    pub fn webpki_roots(mut self) -> Self {
        self.tls = Some(TlsSource::WebpkiRoots);
        self
    }

    /// The name the server certificate must carry, instead of the URL's host. CLN's
    /// generated certificate names only `cln` and `localhost`: when connecting by IP
    /// address (`https://10.0.0.5:3010`), set `"cln"` or `"localhost"` here. The chain,
    /// validity and key usage are still checked in full.
    pub fn tls_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Bound on opening a connection (TCP and TLS); default [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Bound on each call other than `xpay`, connection included; default
    /// [`DEFAULT_REQUEST_TIMEOUT`].
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long an `xpay` call may run beyond its
    /// [`PayParams::timeout`](l402_core::backend::PayParams::timeout); default
    /// [`DEFAULT_PAY_TIMEOUT_MARGIN`].
    pub fn pay_timeout_margin(mut self, margin: Duration) -> Self {
        self.pay_timeout_margin = margin;
        self
    }

    /// Reads the files, checks every setting and builds the HTTP client.
    ///
    /// # Errors
    /// [`BuildError`]: a bad URL or scheme, a missing, empty or malformed rune, an
    /// unreadable file, a certificate that is neither PEM nor DER, a bad server name, TLS
    /// settings with an `http` URL, a zero timeout, or a TLS or HTTP client failure.
    pub fn build(self) -> Result<ClnBackend, BuildError> {
        let (base, https) = base_url(&self.url)?;
        if self.connect_timeout.is_zero()
            || self.request_timeout.is_zero()
            || self.pay_timeout_margin.is_zero()
        {
            return Err(BuildError::ZeroTimeout);
        }

        let rune_text = match self.rune.ok_or(BuildError::MissingRune)? {
            RuneSource::Text(text) => text,
            RuneSource::File(path) => Zeroizing::new(
                String::from_utf8(read_file(path)?)
                    .map_err(|_| BuildError::InvalidRune("not utf-8"))?,
            ),
        };
        let rune = RuneSecret::new(&rune_text).map_err(BuildError::InvalidRune)?;
        if !self.baking {
            check_permissions(&rune_text, self.role, self.refuse_excess)?;
        }

        let server_name = self
            .server_name
            .map(|name| {
                ServerName::try_from(name.clone()).map_err(|_| BuildError::InvalidServerName(name))
            })
            .transpose()?;

        let mut client = client_builder(
            concat!("l402-cln/", env!("CARGO_PKG_VERSION")),
            self.connect_timeout,
        );
        if https {
            let roots = match self.tls.unwrap_or(TlsSource::WebpkiRoots) {
                TlsSource::Ca(bytes) => root_store(&bytes)?,
                TlsSource::CaFile(path) => root_store(&read_file(path)?)?,
                TlsSource::WebpkiRoots => webpki_roots(),
            };
            let tls_config = tls::roots_config(roots, server_name).map_err(|e| match e {
                TlsError::Rustls(e) => BuildError::Tls(e),
                TlsError::Verifier(e) => BuildError::InvalidCertificate(CertificateError(e)),
            })?;
            client = client.use_preconfigured_tls(tls_config).https_only(true);
        } else {
            if self.tls.is_some() || server_name.is_some() {
                return Err(BuildError::TlsWithoutHttps);
            }
            warn_if_plaintext(&base, "clnrest", "rune");
        }
        let http = client.build().map_err(BuildError::HttpClient)?;
        Ok(ClnBackend::from_inner(Arc::new(Inner {
            http,
            base,
            rune,
            request_timeout: self.request_timeout,
            pay_timeout_margin: self.pay_timeout_margin,
        })))
    }
}

/// Compares what the rune allows with the role: a warning (naming the extras, never the
/// rune), or an error when refusing.
fn check_permissions(rune: &str, role: CredentialRole, refuse: bool) -> Result<(), BuildError> {
    match Rune::parse(rune) {
        Ok(r) => {
            let excess = r.excess(role);
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
                "the cln rune allows more than a {role} backend needs; create one restricted \
                 to the methods it needs (see `l402 node inspect`)"
            );
            Ok(())
        }
        Err(e) if refuse => Err(BuildError::UnknownPermissions(e)),
        Err(e) => {
            tracing::warn!(
                error = %l402_core::ErrorChain(&e),
                "cannot tell what the cln rune allows"
            );
            Ok(())
        }
    }
}

impl fmt::Debug for ClnBackendBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClnBackendBuilder")
            .field("url", &self.url)
            .field("rune", &self.rune.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .field("server_name", &self.server_name)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("pay_timeout_margin", &self.pay_timeout_margin)
            .field("role", &self.role)
            .field("refuse_excess", &self.refuse_excess)
            .field("baking", &self.baking)
            .finish()
    }
}
