//! [`LndBackend::bake_macaroon`]: a new macaroon from the node (`BakeMacaroon`).

use core::fmt;

use l402_core::BackendError;
use l402_core::node_credential::lnd::LndMacaroon;
use l402_node_rest::call::CallError;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::backend::LndBackend;
use crate::wire::RpcStatus;

/// Most permissions one request may ask for.
pub const MAX_BAKE_PERMISSIONS: usize = 256;

/// One permission of a macaroon: an entity and an action (`offchain` and `write`), or the
/// entity `uri` and a full gRPC method (`/lnrpc.Lightning/GetInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacaroonPermission {
    /// The entity (`invoices`, `offchain`, `info`, `uri`…).
    pub entity: String,
    /// The action (`read`, `write`, `generate`, or a method for `uri`).
    pub action: String,
}

impl MacaroonPermission {
    /// A permission.
    pub fn new(entity: impl Into<String>, action: impl Into<String>) -> Self {
        MacaroonPermission {
            entity: entity.into(),
            action: action.into(),
        }
    }
}

impl fmt::Display for MacaroonPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.entity, self.action)
    }
}

/// Why [`LndBackend::bake_macaroon`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BakeError {
    /// The request was refused before it was sent: no permissions, too many, or an
    /// empty entity or action.
    #[error("invalid bake request: {0}")]
    InvalidRequest(&'static str),
    /// LND refused the macaroon the backend holds for this call: it lacks
    /// `macaroon:generate`, has expired, is locked to another IP address, or is not this
    /// node's.
    #[error("lnd refused to bake: {message} (code {code})")]
    Denied {
        /// LND's gRPC code.
        code: i32,
        /// LND's message.
        message: String,
    },
    /// LND refused the request itself (an unknown entity or action, say).
    #[error("lnd rejected the bake request: {message} (code {code})")]
    Rejected {
        /// LND's gRPC code.
        code: i32,
        /// LND's message.
        message: String,
    },
    /// No answer, a timeout, or an answer that is not LND's.
    #[error("lnd bake macaroon failed")]
    Unavailable(#[source] BackendError),
    /// LND answered, but not with a macaroon holding exactly the permissions asked for.
    #[error("lnd's answer is not the macaroon asked for: {0}")]
    InvalidResponse(String),
}

/// `lnrpc.BakeMacaroonRequest`.
#[derive(Serialize)]
struct BakeRequest<'a> {
    permissions: Vec<PermissionJson<'a>>,
    /// A uint64: a string in protojson.
    root_key_id: String,
    allow_external_permissions: bool,
}

#[derive(Serialize)]
struct PermissionJson<'a> {
    entity: &'a str,
    action: &'a str,
}

/// `lnrpc.BakeMacaroonResponse`.
#[derive(Deserialize)]
struct BakeResponse {
    #[serde(default)]
    macaroon: String,
}

impl Drop for BakeResponse {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.macaroon);
    }
}

/// LND's messages for a macaroon it does not accept (its interceptor's, code 2).
fn is_denial(status: &RpcStatus) -> bool {
    let m = status.message.as_str();
    m == "permission denied"
        || m.starts_with("verification failed")
        || m.starts_with("expected 1 macaroon")
        || m.starts_with("cannot get macaroon")
        || m.starts_with("encoding/hex")
}

impl LndBackend {
    /// Asks LND for a new macaroon with exactly `permissions` (`BakeMacaroon`,
    /// `POST /v1/macaroon`), under the root key `root_key_id` (`0` is LND's default;
    /// deleting a root key id with `lncli deletemacaroonid` revokes every macaroon baked
    /// under it). The backend's own macaroon needs `macaroon:generate`.
    ///
    /// The answer is checked: it must be an LND macaroon whose identifier holds exactly
    /// the permissions asked for. Only LND's names are accepted (LND checks them);
    /// permissions of other daemons need `lncli bakemacaroon --allow_external_permissions`.
    ///
    /// # Errors
    /// [`BakeError`]: an empty or oversized request, LND's refusal of the backend's
    /// macaroon or of the request, no answer, or an answer that is not the macaroon
    /// asked for.
    pub async fn bake_macaroon(
        &self,
        permissions: &[MacaroonPermission],
        root_key_id: u64,
    ) -> Result<LndMacaroon, BakeError> {
        const OP: &str = "bake macaroon";
        if permissions.is_empty() {
            return Err(BakeError::InvalidRequest("no permissions"));
        }
        if permissions.len() > MAX_BAKE_PERMISSIONS {
            return Err(BakeError::InvalidRequest("too many permissions"));
        }
        if permissions
            .iter()
            .any(|p| p.entity.is_empty() || p.action.is_empty())
        {
            return Err(BakeError::InvalidRequest("an empty entity or action"));
        }
        let body = BakeRequest {
            permissions: permissions
                .iter()
                .map(|p| PermissionJson {
                    entity: &p.entity,
                    action: &p.action,
                })
                .collect(),
            root_key_id: root_key_id.to_string(),
            allow_external_permissions: false,
        };
        let request = self
            .request(Method::POST, "v1/macaroon")
            .map_err(|e| BakeError::Unavailable(e.into_backend("lnd", OP)))?
            .json(&body);
        let answer: BakeResponse = match self.unary(request).await {
            Ok(answer) => answer,
            Err(CallError::Node { error, .. }) if is_denial(&error) => {
                return Err(BakeError::Denied {
                    code: error.code,
                    message: error.message,
                });
            }
            Err(CallError::Node { error, http }) if http.is_client_error() || error.code == 2 => {
                return Err(BakeError::Rejected {
                    code: error.code,
                    message: error.message,
                });
            }
            Err(e) => return Err(BakeError::Unavailable(e.into_backend("lnd", OP))),
        };
        let bytes = zeroize::Zeroizing::new(
            l402_core::encoding::hex_decode(answer.macaroon.trim())
                .map_err(|_| BakeError::InvalidResponse("the macaroon is not hex".to_owned()))?,
        );
        let macaroon = LndMacaroon::from_bytes(&bytes)
            .map_err(|e| BakeError::InvalidResponse(l402_core::ErrorChain(&e).to_string()))?;
        let mut asked: Vec<String> = permissions.iter().map(ToString::to_string).collect();
        asked.sort();
        asked.dedup();
        if macaroon.id().permissions() != asked {
            return Err(BakeError::InvalidResponse(format!(
                "it allows {}",
                macaroon.id().permissions().join(" ")
            )));
        }
        if !macaroon.caveats().is_empty() {
            return Err(BakeError::InvalidResponse(
                "a fresh macaroon has caveats".to_owned(),
            ));
        }
        if macaroon.id().storage_id != root_key_id.to_string().as_bytes() {
            return Err(BakeError::InvalidResponse(
                "it is under another root key id".to_owned(),
            ));
        }
        Ok(macaroon)
    }
}
