//! Header codecs, both directions.
//!
//! * [`Challenge`]: the `WWW-Authenticate` challenge a server sends with 402. Emitted in
//!   Aperture's exact two-field form (`LSAT` first, then `L402`); parsed liberally.
//! * [`Credential`]: what a client sends back, `Authorization: L402 <macaroon>:<preimage>`,
//!   or the `Macaroon` / `Grpc-Metadata-Macaroon` hex forms.
//!
//! Every parser caps its input size before doing any work.

mod challenge;
mod credential;
pub(crate) mod params;

pub use challenge::{Challenge, MAX_CHALLENGE_VALUE_LEN, ParseChallengeError};
pub use credential::{
    Credential, MAX_AUTHORIZATION_VALUE_LEN, MAX_CREDENTIAL_VALUES, ParseCredentialError,
};

use core::fmt;

/// The authentication scheme name: `L402`, or its legacy name `LSAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// `L402`, the current name.
    L402,
    /// `LSAT`, the legacy name old clients (and lnget) read.
    Lsat,
}

impl Scheme {
    /// The scheme as written in headers.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::L402 => "L402",
            Scheme::Lsat => "LSAT",
        }
    }

    /// Recognises a scheme name, case-insensitively.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("L402") {
            Some(Scheme::L402)
        } else if name.eq_ignore_ascii_case("LSAT") {
            Some(Scheme::Lsat)
        } else {
            None
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
