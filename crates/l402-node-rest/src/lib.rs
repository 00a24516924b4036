//! # l402-node-rest
//!
//! What the REST node backends, [`l402-lnd`](https://docs.rs/l402-lnd) and
//! [`l402-cln`](https://docs.rs/l402-cln), have in common, so that each states only what is
//! particular to its node and an LND user never compiles Core Lightning code (or the other
//! way round):
//!
//! - [`endpoint`]: the node's base URL, the HTTP client's fixed settings, and the warning
//!   for a credential sent over plain HTTP to another host;
//! - [`trust`]: certificates and root stores from PEM or DER, files included, the
//!   rustls crypto provider, and client configurations verifying against roots or
//!   pinned to one certificate (also used by `l402-proxy` for its upstreams);
//! - [`call`]: the error model of one call ([`CallError`](call::CallError), generic over the
//!   node's own error body), its mapping to [`BackendError`](l402_core::BackendError), and
//!   a unary JSON call with a deadline;
//! - [`redact`]: `Debug` of the secret fields in node answers.
//!
//! Applications do not need this crate; it has no node-specific knowledge.
//!
//! ```
//! use l402_node_rest::endpoint::base_url;
//!
//! let (url, https) = base_url("https://node.example:8080/rest?x=1").unwrap();
//! assert_eq!(url.as_str(), "https://node.example:8080/rest/");
//! assert!(https);
//! ```

#![warn(missing_docs)]

pub mod call;
pub mod endpoint;
pub mod redact;
pub mod trust;
