//! Choosing and building the Lightning node backend from flags, the environment or the
//! proxy configuration.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use l402_cln::ClnBackend;
use l402_core::node_credential::CredentialRole;
use l402_core::{BoxInvoiceBackend, BoxPaymentBackend};
use l402_lnd::LndBackend;

use crate::exit::{CliError, chain};

/// Which node implementation to talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum BackendKind {
    /// LND over its REST API (macaroon, pinned tls.cert).
    Lnd,
    /// Core Lightning over clnrest (rune, ca.pem).
    Cln,
}

/// The paying node, for `l402 get`.
#[derive(Debug, Clone, Args)]
pub(crate) struct NodeArgs {
    /// The node implementation.
    #[arg(long, value_enum, default_value = "lnd", env = "L402_BACKEND")]
    pub(crate) backend: BackendKind,
    /// The node's REST URL (LND: `https://host:8080`; CLN clnrest: `https://host:3010`).
    #[arg(long, value_name = "URL", env = "L402_NODE_URL")]
    pub(crate) node_url: Option<String>,
    /// LND macaroon file; a pay-only one is enough (`offchain:write offchain:read`).
    #[arg(long, value_name = "FILE", env = "L402_MACAROON_FILE")]
    pub(crate) macaroon_file: Option<PathBuf>,
    /// CLN rune file; a rune limited to `xpay`, `listpays`, `listsendpays` is enough.
    #[arg(long, value_name = "FILE", env = "L402_RUNE_FILE")]
    pub(crate) rune_file: Option<PathBuf>,
    /// LND: its `tls.cert`, pinned. CLN: its `ca.pem`, trusted as CA. Without it the
    /// public web PKI roots are used.
    #[arg(long, value_name = "FILE", env = "L402_TLS_CERT_FILE")]
    pub(crate) tls_cert_file: Option<PathBuf>,
    /// CLN: the name to check the certificate against (`cln` or `localhost`) when the URL
    /// names the node by IP address.
    #[arg(long, value_name = "NAME", env = "L402_TLS_SERVER_NAME")]
    pub(crate) tls_server_name: Option<String>,
}

/// Where a node is and how to authenticate to it, from flags or a config file.
#[derive(Debug, Clone)]
pub(crate) struct NodeSettings {
    pub(crate) kind: BackendKind,
    pub(crate) url: Option<String>,
    pub(crate) macaroon_file: Option<PathBuf>,
    pub(crate) rune_file: Option<PathBuf>,
    pub(crate) tls_cert_file: Option<PathBuf>,
    pub(crate) tls_server_name: Option<String>,
    /// `[backend] allow_spending_credential`: let an invoice backend hold a credential
    /// that can spend.
    pub(crate) allow_spending_credential: bool,
}

impl From<&NodeArgs> for NodeSettings {
    fn from(a: &NodeArgs) -> Self {
        NodeSettings {
            kind: a.backend,
            url: a.node_url.clone(),
            macaroon_file: a.macaroon_file.clone(),
            rune_file: a.rune_file.clone(),
            tls_cert_file: a.tls_cert_file.clone(),
            tls_server_name: a.tls_server_name.clone(),
            allow_spending_credential: false,
        }
    }
}

/// A built backend of either kind.
enum Node {
    Lnd(LndBackend),
    Cln(ClnBackend),
}

impl NodeSettings {
    fn url(&self) -> Result<&str, CliError> {
        self.url.as_deref().ok_or_else(|| {
            CliError::config("no node url: give --node-url URL or set L402_NODE_URL")
        })
    }

    fn build(&self, role: CredentialRole) -> Result<Node, CliError> {
        let url = self.url()?;
        match self.kind {
            BackendKind::Lnd => {
                if self.rune_file.is_some() || self.tls_server_name.is_some() {
                    return Err(CliError::config(
                        "a rune and a tls server name are for --backend cln",
                    ));
                }
                let macaroon = self.macaroon_file.as_ref().ok_or_else(|| {
                    CliError::config(
                        "no lnd macaroon: give --macaroon-file FILE or set L402_MACAROON_FILE",
                    )
                })?;
                let mut builder = LndBackend::builder(url).macaroon_file(macaroon).role(role);
                if let Some(cert) = &self.tls_cert_file {
                    builder = builder.tls_cert_file(cert);
                }
                builder
                    .build()
                    .map(Node::Lnd)
                    .map_err(|e| CliError::config(format!("lnd backend: {}", chain(&e))))
            }
            BackendKind::Cln => {
                if self.macaroon_file.is_some() {
                    return Err(CliError::config("a macaroon is for --backend lnd"));
                }
                let rune = self.rune_file.as_ref().ok_or_else(|| {
                    CliError::config("no cln rune: give --rune-file FILE or set L402_RUNE_FILE")
                })?;
                let mut builder = ClnBackend::builder(url).rune_file(rune).role(role);
                if let Some(ca) = &self.tls_cert_file {
                    builder = builder.ca_cert_file(ca);
                }
                if let Some(name) = &self.tls_server_name {
                    builder = builder.tls_server_name(name.clone());
                }
                builder
                    .build()
                    .map(Node::Cln)
                    .map_err(|e| CliError::config(format!("cln backend: {}", chain(&e))))
            }
        }
    }

    /// A backend that pays invoices.
    pub(crate) fn payment_backend(&self) -> Result<BoxPaymentBackend, CliError> {
        Ok(match self.build(CredentialRole::Payment)? {
            Node::Lnd(n) => BoxPaymentBackend::new(n),
            Node::Cln(n) => BoxPaymentBackend::new(n),
        })
    }

    /// A backend that creates invoices.
    pub(crate) fn invoice_backend(&self) -> Result<BoxInvoiceBackend, CliError> {
        self.refuse_spending_credential()?;
        Ok(match self.build(CredentialRole::Invoice)? {
            Node::Lnd(n) => BoxInvoiceBackend::new(n),
            Node::Cln(n) => BoxInvoiceBackend::new(n),
        })
    }

    /// An invoice backend (the proxy) must not hold a credential that can spend: a
    /// stolen proxy credential would then empty the node. Refused (exit code 2) unless
    /// `allow_spending_credential`. A credential that cannot be read here cannot be read
    /// by the node either (LND and CLN parse the same formats), so it is left to the
    /// builder's warning and the node's refusal.
    fn refuse_spending_credential(&self) -> Result<(), CliError> {
        if self.allow_spending_credential {
            return Ok(());
        }
        let (file, kind) = match self.kind {
            BackendKind::Lnd => (&self.macaroon_file, crate::credential::Kind::Lnd),
            BackendKind::Cln => (&self.rune_file, crate::credential::Kind::Cln),
        };
        // A missing file is reported by the builder.
        let Some(file) = file else { return Ok(()) };
        let hint = "give the proxy an invoice-only credential (`l402 node inspect FILE` shows \
                    what one allows) or set allow_spending_credential = true in [backend]";
        match crate::credential::read(file, Some(kind)) {
            Ok(cred) if cred.can_spend() => {
                let extra = cred.excess(CredentialRole::Invoice);
                Err(CliError::config(format!(
                    "the backend credential {} can spend ({extra}); {hint}",
                    file.display()
                )))
            }
            Ok(_) | Err(_) => Ok(()),
        }
    }
}
