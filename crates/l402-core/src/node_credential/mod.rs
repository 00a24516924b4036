//! Node credentials as data: what an LND macaroon or a Core Lightning rune allows.
//!
//! A backend holds a node credential; handing it the least powerful one that does its job
//! is the most useful safety step in an L402 deployment. This module reads both kinds
//! offline (no node, no secret key needed) so that tools and backends can say what a
//! credential can do before using it:
//!
//! * [`lnd`]: the identifier of an LND macaroon, the protobuf `MacaroonId` that names its
//!   permissions (`entity:action`), and LND's own first-party caveats (`time-before`,
//!   `ipaddr`) to attenuate one offline.
//! * [`rune`]: a Core Lightning rune, its restrictions, and offline attenuation (appending
//!   a restriction continues the rune's SHA-256 chain, as `ccan/rune` does).
//! * [`CredentialRole`] and [`Excess`]: what a backend needs for its role and what a
//!   credential allows beyond it.
//!
//! Inspecting a credential does not check its signature: only the node can. A forged
//! credential can claim anything, but the node refuses it; what matters here is that a
//! genuine credential that claims too much is noticed.

pub mod lnd;
pub mod rune;

use core::fmt;

/// What a backend uses its node credential for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CredentialRole {
    /// Creates and looks up invoices (an L402 server).
    Invoice,
    /// Pays invoices (an L402 client).
    Payment,
    /// Both (the default of a backend that implements both traits).
    #[default]
    Both,
}

impl CredentialRole {
    /// Whether the role creates invoices.
    #[must_use]
    pub fn invoices(self) -> bool {
        matches!(self, CredentialRole::Invoice | CredentialRole::Both)
    }

    /// Whether the role pays.
    #[must_use]
    pub fn pays(self) -> bool {
        matches!(self, CredentialRole::Payment | CredentialRole::Both)
    }
}

impl fmt::Display for CredentialRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CredentialRole::Invoice => "invoice",
            CredentialRole::Payment => "payment",
            CredentialRole::Both => "invoice and payment",
        })
    }
}

/// What a credential allows beyond a role: a list of permissions (LND `entity:action`, or
/// CLN method names, or `unrestricted`), and whether any of them can move money.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Excess {
    /// The extra permissions, in a stable order.
    pub permissions: Vec<String>,
    /// Whether one of the extras can spend the node's funds or mint a credential that can.
    pub can_spend: bool,
}

impl Excess {
    /// Whether the credential stays within the role.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.permissions.is_empty()
    }
}

impl fmt::Display for Excess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.permissions.join(" "))
    }
}
