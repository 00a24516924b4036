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
//! | [`payment_scheme`] | the IETF `Payment` scheme (MPP) with the Lightning `charge` intent: challenges, credentials, receipts, verification, single-use stores |
//! | [`root_key`] | [`RootKeyStore`]: per-token keys or stateless derivation, rotation, revocation |
//! | [`backend`] | the [`LightningBackend`] traits that servers and clients plug nodes into |
//!
//! ## Example: mint, challenge, pay, verify
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use l402_core::{
//!     mint, Challenge, Credential, DerivedRootKeyStore, Identifier, MasterSecret, MintRequest,
//!     PaymentHash, Preimage, Scheme, Service, Verifier, VerifyContext,
//! };
//!
//! # pollster::block_on(async {
//! // A real regtest invoice and its preimage (test fixtures: never use on a real network).
//! const INVOICE: &str = "lnbcrt10u1p4p3fgqpp5jm4j6l0qgr02hp6xe8w5ztcl4rer5al3azy477fqau8vsy0u3nnqdpdfs6rqv3qve5hsar4wfjn5gp3xqcrqgrnv96zq2rvdejzjxqrrsscqzzs9qyysgqsp5pktjrrjj47ne0ylmmu4hvavdmd43j2smglhvqtpce2txmtzxky4qltev2xxxlqwf6zamu4ajkttpjmyac9mpvr4fmdqjpj5nqwgvs5753hg0t5rxvpju5hu5lv49g5jxfg09q774v4h8mss7lunumf4r6ngp95f0cv";
//! const PREIMAGE: &str = "8c2653a1a051bcc2ce1978864402dd07e5699b591ae3de6a6c161c5f16fc6f5b";
//!
//! // Server: the node made an invoice; mint a token bound to its payment hash.
//! let store = DerivedRootKeyStore::new(MasterSecret::from_bytes(&[42; 32])?);
//! let invoice: l402_core::lightning_invoice::Bolt11Invoice = INVOICE.parse()?;
//! let service = Service::new("weather")?;
//! let request = MintRequest::new(PaymentHash::from(&invoice))
//!     .service(service.clone())
//!     .capabilities(&service, &["forecast"])?
//!     .valid_until(SystemTime::now() + Duration::from_secs(3600));
//! let macaroon = mint(&store, &request).await?;
//! let [lsat, l402] = Challenge::new(macaroon, INVOICE).to_header_values()?;
//!
//! // Client: parse the challenge, check the invoice matches the token, pay, present.
//! let challenge = Challenge::from_values([lsat.to_str()?, l402.to_str()?])?;
//! let identifier = Identifier::decode(challenge.macaroon().identifier())?;
//! let to_pay = challenge.decode_invoice()?;
//! assert_eq!(identifier.payment_hash(), &PaymentHash::from(&to_pay));
//! let preimage = Preimage::from_hex(PREIMAGE)?; // what paying the invoice reveals
//! let credential = Credential::new(challenge.macaroon().clone(), preimage);
//! let header = credential.to_header_string(Scheme::L402);
//!
//! // Server: parse and verify, without a Lightning node.
//! let presented = Credential::parse_authorization(&header)?.ok_or("no L402 credential")?;
//! let ctx = VerifyContext::new("weather", SystemTime::now()).capability("forecast");
//! let receipt = Verifier::new().verify_with_store(&presented, &ctx, &store).await?;
//! assert_eq!(receipt.service(), "weather");
//! assert!(receipt.allows("forecast"));
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
//! [`RootKey`], [`MasterSecret`], [`Preimage`] and the `Payment` scheme's
//! [`ChallengeIdSecret`](payment_scheme::ChallengeIdSecret) and
//! [`ChargePayload`](payment_scheme::ChargePayload) have redacted `Debug`, no `Display`, and
//! are zeroized on drop. Nothing in this crate logs them or puts them in error text.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod amount;
pub mod backend;
pub mod caveat;
pub mod encoding;
mod error_chain;
pub mod header;
pub mod identifier;
pub mod macaroon;
pub mod mint;
pub mod node_credential;
pub mod payment;
pub mod payment_scheme;
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
pub use error_chain::ErrorChain;
pub use header::{Challenge, Credential, ParseChallengeError, ParseCredentialError, Scheme};
pub use identifier::{Identifier, IdentifierError, TokenId};
pub use macaroon::Macaroon;
pub use mint::{MintError, MintRequest, mint};
pub use payment::{PaymentHash, Preimage};
pub use root_key::{
    DEFAULT_MAX_UNPAID_KEYS, DEFAULT_UNPAID_GRACE, DerivedRootKeyStore, DynRootKeyStore,
    MasterSecret, MemoryRevocationList, MemoryRootKeyStore, RevocationList, RootKey, RootKeyError,
    RootKeyStore,
};
pub use verify::{
    PaidCredential, Receipt, UnknownCaveats, Verifier, VerifierBuilder, VerifyContext, VerifyError,
    VerifyWithStoreError,
};

/// Re-export of the BOLT11 crate the backend traits use, so users name the same version.
pub use lightning_invoice;
