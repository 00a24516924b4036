//! Minting tokens: a fresh token id, a root key from the store, and the caveats.

use std::time::SystemTime;

use crate::macaroon::BuildError;
use crate::{
    Caveat, CaveatError, Identifier, Macaroon, PaymentHash, RootKey, RootKeyError, RootKeyStore,
    Service, TokenId,
};

/// Why a token could not be minted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MintError {
    /// No service: a token must name at least one.
    #[error("a token needs at least one service")]
    NoService,
    /// A caveat is invalid.
    #[error("invalid caveat")]
    Caveat(#[source] CaveatError),
    /// The macaroon would break a size limit.
    #[error("token too large")]
    Build(#[source] BuildError),
    /// The operating system's random number generator failed.
    #[error("no randomness for a token id")]
    Randomness(#[source] getrandom::Error),
    /// The root-key store failed.
    #[error("root key store failed")]
    Store(#[source] RootKeyError),
}

/// What to put in a new token.
///
/// Caveats are emitted in Aperture's order: `services`, then each service's
/// capabilities, then each service's `valid_until`, then extra caveats in the order added.
#[derive(Debug, Clone)]
#[must_use]
pub struct MintRequest {
    payment_hash: PaymentHash,
    services: Vec<Service>,
    capabilities: Vec<Caveat>,
    valid_until: Option<SystemTime>,
    pay_by: Option<SystemTime>,
    caveats: Vec<Caveat>,
    location: Option<String>,
}

impl MintRequest {
    /// A token paid for by the invoice with `payment_hash`.
    pub fn new(payment_hash: PaymentHash) -> Self {
        MintRequest {
            payment_hash,
            services: Vec::new(),
            capabilities: Vec::new(),
            valid_until: None,
            pay_by: None,
            caveats: Vec::new(),
            location: None,
        }
    }

    /// Adds a service the token is valid for.
    pub fn service(mut self, service: Service) -> Self {
        self.services.push(service);
        self
    }

    /// Restricts a service to these capabilities.
    ///
    /// # Errors
    /// [`MintError::Caveat`] for an invalid capability.
    pub fn capabilities<S: AsRef<str>>(
        mut self,
        service: &Service,
        capabilities: &[S],
    ) -> Result<Self, MintError> {
        self.capabilities
            .push(Caveat::capabilities(service, capabilities).map_err(MintError::Caveat)?);
        Ok(self)
    }

    /// Makes the token expire at `until` for every service.
    pub fn valid_until(mut self, until: SystemTime) -> Self {
        self.valid_until = Some(until);
        self
    }

    /// The token is sold for an invoice that can be paid until `deadline`: [`mint`] then
    /// creates its key with [`RootKeyStore::create_unpaid`], so that a store may forget
    /// it if the invoice is never paid. Not written into the token.
    pub fn pay_by(mut self, deadline: SystemTime) -> Self {
        self.pay_by = Some(deadline);
        self
    }

    /// Appends a caveat (user-defined or Aperture-style).
    pub fn caveat(mut self, caveat: Caveat) -> Self {
        self.caveats.push(caveat);
        self
    }

    /// Sets the macaroon location (Aperture uses `lsat`). Not signed.
    pub fn location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    fn all_caveats(&self) -> Result<Vec<Caveat>, MintError> {
        let mut out = vec![Caveat::services(&self.services).map_err(MintError::Caveat)?];
        out.extend(self.capabilities.iter().cloned());
        if let Some(until) = self.valid_until {
            out.extend(self.services.iter().map(|s| Caveat::valid_until(s, until)));
        }
        out.extend(self.caveats.iter().cloned());
        Ok(out)
    }

    /// Mints with a given token id and root key: the synchronous core of [`mint`].
    ///
    /// # Errors
    /// [`MintError`] for no service, a bad caveat or a size limit.
    pub fn mint_with_key(
        &self,
        token_id: TokenId,
        root_key: &RootKey,
    ) -> Result<Macaroon, MintError> {
        if self.services.is_empty() {
            return Err(MintError::NoService);
        }
        let identifier = Identifier::new(self.payment_hash, token_id);
        let mut mac = Macaroon::new(
            root_key,
            identifier.encode().to_vec(),
            self.location.clone(),
        )
        .map_err(MintError::Build)?;
        for c in self.all_caveats()? {
            mac.add_first_party_caveat(c.to_string())
                .map_err(MintError::Build)?;
        }
        Ok(mac)
    }
}

/// Mints a token: a fresh random token id, a root key created in `store` (told when the
/// token expires and, with [`MintRequest::pay_by`], until when its invoice can be paid),
/// and the request's caveats.
///
/// # Errors
/// [`MintError`]; nothing is written to the store unless the request is valid.
pub async fn mint<S: RootKeyStore + ?Sized>(
    store: &S,
    request: &MintRequest,
) -> Result<Macaroon, MintError> {
    if request.services.is_empty() {
        return Err(MintError::NoService);
    }
    request.all_caveats()?;
    let token_id = TokenId::random().map_err(MintError::Randomness)?;
    let key = match request.pay_by {
        Some(pay_by) => {
            store
                .create_unpaid(&token_id, request.valid_until, pay_by)
                .await
        }
        None => store.create(&token_id, request.valid_until).await,
    }
    .map_err(MintError::Store)?;
    request.mint_with_key(token_id, &key)
}
