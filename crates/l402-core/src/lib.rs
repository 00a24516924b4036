//! # l402-core
//!
//! The heart of the L402 toolkit: everything needed to mint and verify L402 tokens,
//! byte-compatible with Lightning Labs' Aperture, with no HTTP framework and no async
//! runtime in the dependency graph.
//!
//! An L402 server answers an unpaid request with `402 Payment Required`, a Lightning
//! invoice and a macaroon whose identifier commits to the invoice's payment hash. The
//! client pays, learns the preimage, and retries with
//! `Authorization: L402 <macaroon>:<preimage>`. The server checks the preimage against the
//! hash and the macaroon's signature and caveats; no Lightning node is needed to verify.
//!
//! | module | what it holds |
//! |---|---|
//! | [`identifier`] | the 66-byte token [`Identifier`] and [`TokenId`] |
//! | [`payment`] | [`PaymentHash`] and the secret [`Preimage`] |
//! | [`macaroon`] | a strict libmacaroons V2 codec and HMAC-SHA256 chain |
//! | [`caveat`] | Aperture's caveats and the [`CaveatSatisfier`] trait |
//! | [`mint`](mod@mint) | [`MintRequest`] and [`mint()`](fn@mint) |
//! | [`verify`](mod@verify) | the pure [`Verifier`] and its [`Receipt`] |
//! | [`header`] | [`Challenge`] (`WWW-Authenticate`) and [`Credential`] (`Authorization`) |
//! | [`root_key`] | [`RootKeyStore`]: per-token keys or stateless derivation, rotation, revocation |
//! | [`backend`] | the [`LightningBackend`] traits that servers and clients plug nodes into |
//!
//! ## Example: mint, challenge, pay, verify
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use l402_core::{
//!     mint, Challenge, Credential, DerivedRootKeyStore, MasterSecret, MintRequest, Preimage,
//!     Service, Verifier, VerifyContext,
//! };
//!
//! # pollster::block_on(async {
//! let store = DerivedRootKeyStore::new(MasterSecret::from_bytes(&[42; 32])?);
//!
//! // Server: the node made an invoice; mint a token bound to its payment hash.
//! let preimage = Preimage::from_bytes([1; 32]); // known only to the node until paid
//! let service = Service::new("weather")?;
//! let request = MintRequest::new(preimage.payment_hash())
//!     .service(service.clone())
//!     .capabilities(&service, &["forecast"])?
//!     .valid_until(SystemTime::now() + Duration::from_secs(3600));
//! let macaroon = mint(&store, &request).await?;
//! let challenge = Challenge::new(macaroon, "lnbcrt10u1...");
//! let [lsat, l402] = challenge.to_header_values()?;
//!
//! // Client: parse the challenge, pay the invoice, present macaroon and preimage.
//! let parsed = Challenge::from_values([lsat.to_str()?, l402.to_str()?])?;
//! let credential = Credential::new(parsed.macaroon().clone(), preimage);
//! let header = credential.to_header_string(l402_core::Scheme::L402);
//!
//! // Server: parse and verify, without a Lightning node.
//! let presented = Credential::parse_authorization(&header)?.expect("an L402 credential");
//! let ctx = VerifyContext::new("weather", SystemTime::now()).capability("forecast");
//! let receipt = Verifier::new().verify_with_store(&presented, &ctx, &store).await?;
//! assert_eq!(receipt.capabilities, Some(vec!["forecast".to_string()]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! ## Features
//!
//! | feature | enables |
//! |---|---|
//! | `serde` | `Serialize`/`Deserialize` for amounts, hashes, token ids, services, receipts and (as hex, for token stores) preimages |
//!
//! ## Secrets
//!
//! [`RootKey`], [`MasterSecret`] and [`Preimage`] have redacted `Debug`, no `Display`, and
//! are zeroized on drop. Nothing in this crate logs them or puts them in error text.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod amount;
pub mod backend;
pub mod caveat;
pub mod encoding;
pub mod header;
pub mod identifier;
pub mod macaroon;
pub mod mint;
pub mod payment;
pub mod root_key;
pub mod verify;

pub use amount::Amount;
pub use backend::{
    BackendError, BoxInvoiceBackend, BoxLightningBackend, BoxPaymentBackend, ErrorKind,
    InvoiceBackend, LightningBackend, PayError, PaymentBackend,
};
pub use caveat::{
    Caveat, CaveatError, CaveatKind, CaveatSatisfier, Service, from_unix_seconds, unix_seconds,
};
pub use header::{Challenge, Credential, ParseChallengeError, ParseCredentialError, Scheme};
pub use identifier::{Identifier, IdentifierError, TokenId};
pub use macaroon::Macaroon;
pub use mint::{MintError, MintRequest, mint};
pub use payment::{PaymentHash, Preimage};
pub use root_key::{
    DerivedRootKeyStore, DynRootKeyStore, MasterSecret, MemoryRevocationList, MemoryRootKeyStore,
    RevocationList, RootKey, RootKeyError, RootKeyStore,
};
pub use verify::{
    PaidCredential, Receipt, UnknownCaveats, Verifier, VerifierBuilder, VerifyContext, VerifyError,
    VerifyWithStoreError,
};

/// Re-export of the BOLT11 crate the backend traits use, so users name the same version.
pub use lightning_invoice;
