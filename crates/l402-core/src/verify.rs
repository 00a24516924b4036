//! Pure, synchronous token verification.
//!
//! Order (cheap and stateless first):
//! 1. the credential was parsed, size-capped, by [`Credential`];
//! 2. the identifier decodes (version 0, 66 bytes);
//! 3. SHA-256(preimage) equals the payment hash, in constant time, before any store access;
//! 4. the caller looks up the root keys for the token id;
//! 5. the signature chain is recomputed and compared in constant time;
//! 6. caveats: attenuation rules, then the final checks against the request.
//!
//! Steps 2-3 are [`Verifier::check_payment`], 5-6 are [`PaidCredential::verify`]; the caller
//! does step 4 in between, with any store. [`Verifier::verify`] runs all of them with a
//! synchronous key lookup, and [`Verifier::verify_with_store`] with a [`RootKeyStore`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use crate::caveat::{
    CONDITION_PREIMAGE, CONDITION_SERVICES, Class, SUFFIX_CAPABILITIES, SUFFIX_VALID_UNTIL,
    capability_list, check_capabilities, check_services, classify, service_entries, split,
};
use crate::macaroon::ct_eq_32;
use crate::{
    CaveatError, CaveatSatisfier, Credential, Identifier, IdentifierError, PaymentHash, RootKey,
    RootKeyError, RootKeyStore, TokenId, from_unix_seconds, unix_seconds,
};

/// Why a credential failed verification. Each variant names the check that failed.
///
/// The text is for logs; it never contains a secret. Servers answer all of them with a
/// fresh challenge and should not echo the text to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The macaroon identifier is not a version-0 L402 identifier.
    #[error("invalid identifier")]
    Identifier(#[source] IdentifierError),
    /// SHA-256 of the presented preimage is not the token's payment hash.
    #[error("preimage does not match the payment hash")]
    PreimageMismatch,
    /// No root key for the token: never minted here, expired from the store, or revoked.
    #[error("unknown or revoked token {0}")]
    UnknownToken(TokenId),
    /// The signature chain does not match under any root key.
    #[error("invalid macaroon signature")]
    InvalidSignature,
    /// A caveat is malformed.
    #[error("malformed caveat {index}")]
    MalformedCaveat {
        /// Zero-based caveat index.
        index: usize,
        /// What is wrong.
        #[source]
        error: CaveatError,
    },
    /// A caveat condition no satisfier knows (rejected unless unknown caveats are ignored).
    #[error("unknown caveat condition {condition:?} at index {index}")]
    UnknownCaveat {
        /// Zero-based caveat index.
        index: usize,
        /// The condition.
        condition: String,
    },
    /// A caveat is wider than an earlier one with the same condition.
    #[error("caveat {index} ({condition}) widens an earlier caveat")]
    Widened {
        /// Zero-based caveat index.
        index: usize,
        /// The condition.
        condition: String,
    },
    /// A `preimage=` caveat holds a different preimage from the one presented.
    #[error("preimage caveat at index {0} does not match the presented preimage")]
    PreimageCaveatMismatch(usize),
    /// The token has no `services` caveat naming the service.
    #[error("token is not valid for service {0:?}")]
    WrongService(String),
    /// The token's tier for the service is below the required tier.
    #[error("tier {tier} of service {service:?} is below the required {required}")]
    TierTooLow {
        /// The service.
        service: String,
        /// The token's tier.
        tier: u8,
        /// The required tier.
        required: u8,
    },
    /// The token does not allow the required capability.
    #[error("capability {capability:?} not allowed for service {service:?}")]
    CapabilityNotAllowed {
        /// The service.
        service: String,
        /// The capability.
        capability: String,
    },
    /// The token expired.
    #[error("token for service {service:?} expired at {valid_until}")]
    Expired {
        /// The service.
        service: String,
        /// Unix seconds.
        valid_until: u64,
    },
    /// A user-defined caveat was not satisfied.
    #[error("caveat {condition:?} not satisfied: {reason}")]
    NotSatisfied {
        /// The condition.
        condition: String,
        /// The satisfier's reason.
        reason: String,
    },
}

/// [`Verifier::verify_with_store`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyWithStoreError {
    /// The credential is invalid.
    #[error(transparent)]
    Invalid(#[from] VerifyError),
    /// The root-key store could not answer; verification fails closed.
    #[error("root key lookup failed")]
    Store(#[source] RootKeyError),
}

/// What a request needs from a token: the service, optionally a capability and a minimum
/// tier, the current time, and attributes for user-defined satisfiers.
#[derive(Debug, Clone)]
pub struct VerifyContext<'a> {
    service: &'a str,
    capability: Option<&'a str>,
    min_tier: Option<u8>,
    now: u64,
    attributes: &'a [(&'a str, &'a str)],
}

impl<'a> VerifyContext<'a> {
    /// A request for `service` at time `now`.
    #[must_use]
    pub fn new(service: &'a str, now: SystemTime) -> Self {
        VerifyContext {
            service,
            capability: None,
            min_tier: None,
            now: unix_seconds(now),
            attributes: &[],
        }
    }

    /// Requires the token to allow `capability` for the service.
    #[must_use]
    pub fn capability(mut self, capability: &'a str) -> Self {
        self.capability = Some(capability);
        self
    }

    /// Requires the token's tier for the service to be at least `tier`.
    #[must_use]
    pub fn min_tier(mut self, tier: u8) -> Self {
        self.min_tier = Some(tier);
        self
    }

    /// Request attributes (client IP, path, …) for user-defined satisfiers.
    #[must_use]
    pub fn attributes(mut self, attributes: &'a [(&'a str, &'a str)]) -> Self {
        self.attributes = attributes;
        self
    }

    /// The service.
    #[must_use]
    pub fn service(&self) -> &str {
        self.service
    }

    /// The required capability.
    #[must_use]
    pub fn required_capability(&self) -> Option<&str> {
        self.capability
    }

    /// The current time in Unix seconds.
    #[must_use]
    pub fn now_unix(&self) -> u64 {
        self.now
    }

    /// An attribute by name.
    #[must_use]
    pub fn attribute(&self, name: &str) -> Option<&'a str> {
        self.attributes
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    }
}

/// What a verified token grants, for the request that presented it.
///
/// Built on every verified request, so it holds its text in one small buffer and hands out
/// borrowed views.
#[derive(Clone, PartialEq, Eq)]
pub struct Receipt {
    token_id: TokenId,
    payment_hash: PaymentHash,
    tier: u8,
    valid_until: Option<u64>,
    /// The request's service, then the deciding `services` value, then the deciding
    /// capabilities value (if any).
    text: Text,
    service_len: usize,
    services_len: usize,
    restricts_capabilities: bool,
}

impl Receipt {
    fn new(
        identifier: &Identifier,
        service: &str,
        services: &str,
        tier: u8,
        capabilities: Option<&str>,
        valid_until: Option<u64>,
    ) -> Self {
        let caps = capabilities.unwrap_or_default();
        Receipt {
            token_id: *identifier.token_id(),
            payment_hash: *identifier.payment_hash(),
            tier,
            valid_until,
            text: Text::new([service, services, caps]),
            service_len: service.len(),
            services_len: services.len(),
            restricts_capabilities: capabilities.is_some(),
        }
    }

    /// The token id.
    #[must_use]
    pub fn token_id(&self) -> &TokenId {
        &self.token_id
    }

    /// The payment hash of the invoice that paid for the token.
    #[must_use]
    pub fn payment_hash(&self) -> &PaymentHash {
        &self.payment_hash
    }

    /// The service this request was for.
    #[must_use]
    pub fn service(&self) -> &str {
        self.text
            .as_str()
            .get(..self.service_len)
            .unwrap_or_default()
    }

    /// The token's tier for that service.
    #[must_use]
    pub fn tier(&self) -> u8 {
        self.tier
    }

    /// The services the token is valid for (from its last `services` caveat), as
    /// `(name, tier)`.
    pub fn services(&self) -> impl Iterator<Item = (&str, u8)> + Clone + '_ {
        let services = self
            .text
            .as_str()
            .get(self.service_len..self.service_len + self.services_len)
            .unwrap_or_default();
        service_entries(services)
    }

    /// The capabilities allowed for the service; `None` when the token does not restrict
    /// them.
    #[must_use]
    pub fn capabilities(&self) -> Option<impl Iterator<Item = &str> + Clone + '_> {
        self.restricts_capabilities.then(|| {
            capability_list(
                self.text
                    .as_str()
                    .get(self.service_len + self.services_len..)
                    .unwrap_or_default(),
            )
        })
    }

    /// Whether the token allows `capability` for the service: it does when the token
    /// restricts no capabilities or lists this one.
    #[must_use]
    pub fn allows(&self, capability: &str) -> bool {
        self.capabilities()
            .is_none_or(|mut caps| caps.any(|c| c == capability))
    }

    /// When the token expires for the service, if it does.
    #[must_use]
    pub fn valid_until(&self) -> Option<SystemTime> {
        self.valid_until.map(from_unix_seconds)
    }
}

/// Bytes of receipt text kept inline; longer text goes to the heap.
const INLINE_TEXT: usize = 46;

/// A receipt's text: inline when short (a typical receipt's is under 30 bytes), so that
/// verification does not allocate for it.
#[derive(Clone, PartialEq, Eq)]
enum Text {
    Inline { len: u8, bytes: [u8; INLINE_TEXT] },
    Heap(Box<str>),
}

impl Text {
    fn new(parts: [&str; 3]) -> Self {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut bytes = [0u8; INLINE_TEXT];
        match u8::try_from(len) {
            Ok(short) if len <= INLINE_TEXT => {
                let mut at = 0;
                for part in parts {
                    if let Some(slot) = bytes.get_mut(at..at + part.len()) {
                        slot.copy_from_slice(part.as_bytes());
                    }
                    at += part.len();
                }
                Text::Inline { len: short, bytes }
            }
            _ => Text::Heap(parts.concat().into_boxed_str()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Built from whole strings, so always UTF-8.
            Text::Inline { len, bytes } => bytes
                .get(..usize::from(*len))
                .and_then(|b| core::str::from_utf8(b).ok())
                .unwrap_or_default(),
            Text::Heap(text) => text,
        }
    }
}

impl core::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        struct List<I>(I);
        impl<I: Iterator<Item = T> + Clone, T: core::fmt::Debug> core::fmt::Debug for List<I> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_list().entries(self.0.clone()).finish()
            }
        }
        f.debug_struct("Receipt")
            .field("token_id", &self.token_id)
            .field("payment_hash", &self.payment_hash)
            .field("services", &List(self.services()))
            .field("service", &self.service())
            .field("tier", &self.tier)
            .field("capabilities", &self.capabilities().map(List))
            .field("valid_until", &self.valid_until)
            .finish()
    }
}

/// Serializes as an object: `token_id`, `payment_hash`, `services` (objects with `name`
/// and `tier`), `service`, `tier`, `capabilities` (a list, or null when unrestricted) and
/// `valid_until` (unix seconds or null).
#[cfg(feature = "serde")]
impl serde::Serialize for Receipt {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeStruct};
        struct Services<'a>(&'a Receipt);
        impl serde::Serialize for Services<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.services().map(|(name, tier)| Entry { name, tier }))
            }
        }
        struct Entry<'a> {
            name: &'a str,
            tier: u8,
        }
        impl serde::Serialize for Entry<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("name", self.name)?;
                m.serialize_entry("tier", &self.tier)?;
                m.end()
            }
        }
        struct Capabilities<'a>(&'a Receipt);
        impl serde::Serialize for Capabilities<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self.0.capabilities() {
                    Some(caps) => s.collect_seq(caps),
                    None => s.serialize_none(),
                }
            }
        }
        let mut st = s.serialize_struct("Receipt", 7)?;
        st.serialize_field("token_id", &self.token_id)?;
        st.serialize_field("payment_hash", &self.payment_hash)?;
        st.serialize_field("services", &Services(self))?;
        st.serialize_field("service", self.service())?;
        st.serialize_field("tier", &self.tier)?;
        st.serialize_field("capabilities", &Capabilities(self))?;
        st.serialize_field("valid_until", &self.valid_until)?;
        st.end()
    }
}

/// What unknown caveat conditions do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnknownCaveats {
    /// Reject the token (default): a holder who appended `ip=…` expects it enforced.
    #[default]
    Reject,
    /// Skip them, as Aperture does.
    Ignore,
}

/// Why a [`VerifierBuilder`] could not build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifierConfigError {
    /// A satisfier for a condition the verifier handles itself.
    #[error("condition {0:?} is built in and cannot have a custom satisfier")]
    ReservedCondition(String),
    /// Two satisfiers for one condition.
    #[error("two satisfiers for condition {0:?}")]
    DuplicateSatisfier(String),
}

/// Builds a [`Verifier`].
#[derive(Default)]
#[must_use]
pub struct VerifierBuilder {
    unknown: UnknownCaveats,
    satisfiers: Vec<Arc<dyn CaveatSatisfier>>,
}

impl VerifierBuilder {
    /// How to treat unknown caveat conditions (default: reject).
    pub fn unknown_caveats(mut self, policy: UnknownCaveats) -> Self {
        self.unknown = policy;
        self
    }

    /// Adds a satisfier for a user-defined condition.
    pub fn satisfier(mut self, satisfier: impl CaveatSatisfier + 'static) -> Self {
        self.satisfiers.push(Arc::new(satisfier));
        self
    }

    /// Builds the verifier.
    ///
    /// # Errors
    /// [`VerifierConfigError`] for a satisfier on a built-in condition (`services`,
    /// `preimage`, `*_capabilities`, `*_valid_until`) or two for one condition.
    pub fn build(self) -> Result<Verifier, VerifierConfigError> {
        let mut map: HashMap<String, Arc<dyn CaveatSatisfier>> = HashMap::new();
        for s in self.satisfiers {
            let c = s.condition().to_owned();
            if c == CONDITION_SERVICES
                || c == CONDITION_PREIMAGE
                || c.ends_with(SUFFIX_CAPABILITIES)
                || c.ends_with(SUFFIX_VALID_UNTIL)
            {
                return Err(VerifierConfigError::ReservedCondition(c));
            }
            if map.insert(c.clone(), s).is_some() {
                return Err(VerifierConfigError::DuplicateSatisfier(c));
            }
        }
        Ok(Verifier {
            unknown: self.unknown,
            satisfiers: map,
        })
    }
}

/// Verifies credentials. Cheap to clone; holds no keys.
#[derive(Clone, Default)]
pub struct Verifier {
    unknown: UnknownCaveats,
    satisfiers: HashMap<String, Arc<dyn CaveatSatisfier>>,
}

impl core::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Verifier")
            .field("unknown_caveats", &self.unknown)
            .field("satisfiers", &self.satisfiers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A credential whose preimage has been checked against its identifier (steps 2-3).
#[derive(Debug)]
pub struct PaidCredential<'a> {
    verifier: &'a Verifier,
    credential: &'a Credential,
    identifier: Identifier,
}

impl Verifier {
    /// A verifier with the default policy (unknown caveats rejected, no custom satisfiers).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder for custom satisfiers and the unknown-caveat policy.
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }

    /// Steps 2-3: decodes the identifier and checks the preimage against the payment hash.
    /// Needs no key and touches no store.
    ///
    /// # Errors
    /// [`VerifyError::Identifier`] or [`VerifyError::PreimageMismatch`].
    pub fn check_payment<'a>(
        &'a self,
        credential: &'a Credential,
    ) -> Result<PaidCredential<'a>, VerifyError> {
        let identifier = Identifier::decode(credential.macaroon().identifier())
            .map_err(VerifyError::Identifier)?;
        if !identifier.payment_hash().matches(credential.preimage()) {
            return Err(VerifyError::PreimageMismatch);
        }
        Ok(PaidCredential {
            verifier: self,
            credential,
            identifier,
        })
    }

    /// All steps, with a synchronous key lookup called only after the preimage check.
    ///
    /// # Errors
    /// [`VerifyError`] naming the failed check.
    pub fn verify(
        &self,
        credential: &Credential,
        ctx: &VerifyContext<'_>,
        lookup: impl FnOnce(&TokenId) -> Vec<RootKey>,
    ) -> Result<Receipt, VerifyError> {
        let paid = self.check_payment(credential)?;
        let keys = lookup(paid.token_id());
        paid.verify(&keys, ctx)
    }

    /// All steps, looking the key up in `store` after the preimage check.
    ///
    /// # Errors
    /// [`VerifyWithStoreError::Invalid`] naming the failed check, or
    /// [`VerifyWithStoreError::Store`] when the store cannot answer (fail closed).
    pub async fn verify_with_store<S: RootKeyStore + ?Sized>(
        &self,
        credential: &Credential,
        ctx: &VerifyContext<'_>,
        store: &S,
    ) -> Result<Receipt, VerifyWithStoreError> {
        let paid = self.check_payment(credential)?;
        let keys = store
            .lookup(paid.token_id())
            .await
            .map_err(VerifyWithStoreError::Store)?;
        Ok(paid.verify(&keys, ctx)?)
    }
}

impl PaidCredential<'_> {
    /// The token id to look the root key up by.
    #[must_use]
    pub fn token_id(&self) -> &TokenId {
        self.identifier.token_id()
    }

    /// The decoded identifier.
    #[must_use]
    pub fn identifier(&self) -> &Identifier {
        &self.identifier
    }

    /// Steps 5-6: the signature under any of `root_keys`, then the caveats.
    ///
    /// # Errors
    /// [`VerifyError`] naming the failed check; [`VerifyError::UnknownToken`] when
    /// `root_keys` is empty.
    pub fn verify(
        self,
        root_keys: &[RootKey],
        ctx: &VerifyContext<'_>,
    ) -> Result<Receipt, VerifyError> {
        if root_keys.is_empty() {
            return Err(VerifyError::UnknownToken(*self.token_id()));
        }
        let macaroon = self.credential.macaroon();
        // Check every key, so timing does not reveal which one matched.
        let mut valid = subtle::Choice::from(0);
        for key in root_keys {
            valid |= subtle::Choice::from(u8::from(macaroon.verify_signature(key)));
        }
        if !bool::from(valid) {
            return Err(VerifyError::InvalidSignature);
        }
        self.verifier
            .check_caveats(macaroon.caveats(), &self.identifier, self.credential, ctx)
    }
}

impl Verifier {
    fn check_caveats<'m>(
        &self,
        raw: impl Iterator<Item = &'m str>,
        identifier: &Identifier,
        credential: &Credential,
        ctx: &VerifyContext<'_>,
    ) -> Result<Receipt, VerifyError> {
        // Values are checked and compared as borrowed text; only the receipt allocates.
        let mut services: Option<&str> = None;
        let mut last = LastSeen::new();

        for (index, raw) in raw.enumerate() {
            let malformed = |error| VerifyError::MalformedCaveat { index, error };
            let (condition, value) = split(raw).map_err(malformed)?;
            let widened = || VerifyError::Widened {
                index,
                condition: condition.to_owned(),
            };
            match classify(condition) {
                Class::Services => {
                    check_services(value).map_err(malformed)?;
                    if let Some(prev) = services {
                        let narrower = service_entries(value).all(|(name, tier)| {
                            service_entries(prev).any(|(p, pt)| p == name && tier <= pt)
                        });
                        if !narrower {
                            return Err(widened());
                        }
                    }
                    services = Some(value);
                }
                Class::Capabilities(service) => {
                    check_capabilities(value).map_err(malformed)?;
                    match last.find_mut(|l| match l {
                        Last::Capabilities(s, v) if *s == service => Some(v),
                        _ => None,
                    }) {
                        Some(prev) => {
                            if !capability_list(value)
                                .all(|c| capability_list(prev).any(|p| p == c))
                            {
                                return Err(widened());
                            }
                            *prev = value;
                        }
                        None => last.push(Last::Capabilities(service, value)),
                    }
                }
                Class::ValidUntil(service) => {
                    let until = value
                        .parse::<u64>()
                        .map_err(|_| malformed(CaveatError::InvalidTimestamp(value.to_owned())))?;
                    match last.find_mut(|l| match l {
                        Last::ValidUntil(s, v) if *s == service => Some(v),
                        _ => None,
                    }) {
                        Some(prev) => {
                            if until > *prev {
                                return Err(widened());
                            }
                            *prev = until;
                        }
                        None => last.push(Last::ValidUntil(service, until)),
                    }
                }
                Class::Preimage => {
                    let p = crate::Preimage::from_hex(value)
                        .map_err(|_| malformed(CaveatError::InvalidPreimage))?;
                    if !ct_eq_32(p.expose_secret(), credential.preimage().expose_secret()) {
                        return Err(VerifyError::PreimageCaveatMismatch(index));
                    }
                }
                Class::Other => match self.satisfiers.get(condition) {
                    Some(s) => match last.find_mut(|l| match l {
                        Last::Custom(c, v) if *c == condition => Some(v),
                        _ => None,
                    }) {
                        Some(prev) => {
                            s.satisfy_previous(prev, value).map_err(|_| widened())?;
                            *prev = value;
                        }
                        None => last.push(Last::Custom(condition, value)),
                    },
                    None if self.unknown == UnknownCaveats::Ignore => {}
                    None => {
                        return Err(VerifyError::UnknownCaveat {
                            index,
                            condition: condition.to_owned(),
                        });
                    }
                },
            }
        }

        // Final checks against the request.
        let service = ctx.service;
        let wrong_service = || VerifyError::WrongService(service.to_owned());
        let services = services.ok_or_else(wrong_service)?;
        let tier = service_entries(services)
            .find(|(name, _)| *name == service)
            .map(|(_, tier)| tier)
            .ok_or_else(wrong_service)?;
        if let Some(required) = ctx.min_tier
            && tier < required
        {
            return Err(VerifyError::TierTooLow {
                service: service.to_owned(),
                tier,
                required,
            });
        }
        let caps = last.iter().find_map(|l| match l {
            Last::Capabilities(s, v) if *s == service => Some(*v),
            _ => None,
        });
        if let Some(required) = ctx.capability
            && let Some(allowed) = caps
            && !capability_list(allowed).any(|c| c == required)
        {
            return Err(VerifyError::CapabilityNotAllowed {
                service: service.to_owned(),
                capability: required.to_owned(),
            });
        }
        let until = last.iter().find_map(|l| match l {
            Last::ValidUntil(s, u) if *s == service => Some(*u),
            _ => None,
        });
        if let Some(until) = until
            && ctx.now >= until
        {
            return Err(VerifyError::Expired {
                service: service.to_owned(),
                valid_until: until,
            });
        }
        for l in last.iter() {
            if let Last::Custom(condition, value) = l
                && let Some(s) = self.satisfiers.get(*condition)
            {
                s.satisfy_final(value, ctx)
                    .map_err(|reason| VerifyError::NotSatisfied {
                        condition: (*condition).to_owned(),
                        reason,
                    })?;
            }
        }
        Ok(Receipt::new(
            identifier, service, services, tier, caps, until,
        ))
    }
}

/// The last values seen per condition: inline for the usual handful, spilling to the heap
/// only for tokens with many distinct conditions.
struct LastSeen<'a> {
    inline: [Last<'a>; 8],
    len: usize,
    spill: Vec<Last<'a>>,
}

impl<'a> LastSeen<'a> {
    fn new() -> Self {
        LastSeen {
            inline: [Last::ValidUntil("", 0); 8],
            len: 0,
            spill: Vec::new(),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Last<'a>> {
        self.inline
            .get(..self.len)
            .unwrap_or_default()
            .iter()
            .chain(&self.spill)
    }

    fn find_mut<'s, T>(
        &'s mut self,
        f: impl FnMut(&'s mut Last<'a>) -> Option<&'s mut T>,
    ) -> Option<&'s mut T> {
        self.inline
            .get_mut(..self.len)
            .unwrap_or_default()
            .iter_mut()
            .chain(&mut self.spill)
            .find_map(f)
    }

    fn push(&mut self, last: Last<'a>) {
        match self.inline.get_mut(self.len) {
            Some(slot) => {
                *slot = last;
                self.len += 1;
            }
            None => self.spill.push(last),
        }
    }
}

/// The last value seen for a per-service or custom condition.
#[derive(Clone, Copy)]
enum Last<'a> {
    Capabilities(&'a str, &'a str),
    ValidUntil(&'a str, u64),
    Custom(&'a str, &'a str),
}
