//! [`ClnBackend::create_rune`]: a new restricted rune from the node (`createrune`).

use l402_core::BackendError;
use l402_core::node_credential::rune::{Restriction, Rune};
use l402_node_rest::call::CallError;
use serde::{Deserialize, Serialize};

use crate::backend::ClnBackend;

/// Most restrictions one request may carry (a rune holds at most
/// [`MAX_RESTRICTIONS`](l402_core::node_credential::rune::MAX_RESTRICTIONS), its unique
/// id included).
pub const MAX_CREATE_RESTRICTIONS: usize = l402_core::node_credential::rune::MAX_RESTRICTIONS - 1;

/// CLN's rune error codes (`common/jsonrpc_errors.h`).
const RUNE_NOT_AUTHORIZED: i64 = 1501;
const RUNE_NOT_PERMITTED: i64 = 1502;
const RUNE_BLACKLISTED: i64 = 1503;

/// Why [`ClnBackend::create_rune`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateRuneError {
    /// The request was refused before it was sent: no restriction (an unrestricted rune
    /// is never asked for), or too many.
    #[error("invalid createrune request: {0}")]
    InvalidRequest(&'static str),
    /// clnrest refused the rune the backend holds for this call: missing, not this
    /// node's, blacklisted, or not allowed to call `createrune` (codes 1501 to 1503).
    #[error("cln refused to create a rune: {message} (code {code})")]
    Denied {
        /// CLN's code (`0` when clnrest gave none).
        code: i64,
        /// CLN's message.
        message: String,
    },
    /// CLN refused the request itself (a malformed restriction, say: `-32602`).
    #[error("cln rejected the createrune request: {message} (code {code})")]
    Rejected {
        /// CLN's code.
        code: i64,
        /// CLN's message.
        message: String,
    },
    /// No answer, a timeout, or an answer that is not CLN's.
    #[error("cln createrune failed")]
    Unavailable(#[source] BackendError),
    /// CLN answered, but not with a rune carrying the restrictions asked for.
    #[error("cln's answer is not the rune asked for: {0}")]
    InvalidResponse(String),
}

/// A rune the node created.
#[derive(Debug)]
#[non_exhaustive]
pub struct CreatedRune {
    /// The rune (a secret: zeroized on drop, `Debug` redacted).
    pub rune: Rune,
    /// Its unique id (what `blacklistrune` takes to revoke it).
    pub unique_id: String,
}

#[derive(Serialize)]
struct Params {
    restrictions: Vec<Vec<String>>,
}

#[derive(Deserialize)]
struct Answer {
    rune: String,
    unique_id: String,
}

impl Drop for Answer {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.rune);
    }
}

/// An alternative as `createrune`'s JSON form takes it: field, condition, value, nothing
/// escaped.
fn json_form(r: &Restriction) -> Vec<String> {
    r.alternatives
        .iter()
        .map(|a| format!("{}{}{}", a.field, a.condition, a.value))
        .collect()
}

impl ClnBackend {
    /// Asks the node for a new rune with these restrictions (`createrune`,
    /// `POST /v1/createrune`): every restriction must pass, one alternative of each. The
    /// backend's own rune must allow `createrune`.
    ///
    /// The answer is checked: a rune whose restrictions are its unique id followed by
    /// exactly those asked for.
    ///
    /// # Errors
    /// [`CreateRuneError`]: no or too many restrictions, CLN's refusal of the backend's
    /// rune or of the request, no answer, or an answer that is not the rune asked for.
    pub async fn create_rune(
        &self,
        restrictions: &[Restriction],
    ) -> Result<CreatedRune, CreateRuneError> {
        const OP: &str = "createrune";
        if restrictions.is_empty() {
            return Err(CreateRuneError::InvalidRequest("no restrictions"));
        }
        if restrictions.len() > MAX_CREATE_RESTRICTIONS {
            return Err(CreateRuneError::InvalidRequest("too many restrictions"));
        }
        if restrictions
            .iter()
            .any(|r| r.alternatives.is_empty() || r.alternatives.iter().any(|a| a.field.is_empty()))
        {
            return Err(CreateRuneError::InvalidRequest(
                "an empty restriction or field name",
            ));
        }
        let params = Params {
            restrictions: restrictions.iter().map(json_form).collect(),
        };
        let answer: Answer = match self.call(OP, &params).await {
            Ok(answer) => answer,
            Err(CallError::Node { error, http }) => {
                let code = error.code.unwrap_or_default();
                let denied = matches!(
                    error.code,
                    Some(RUNE_NOT_AUTHORIZED | RUNE_NOT_PERMITTED | RUNE_BLACKLISTED)
                ) || matches!(http.as_u16(), 401 | 403);
                if denied {
                    return Err(CreateRuneError::Denied {
                        code,
                        message: error.message,
                    });
                }
                if error.code.is_some() {
                    return Err(CreateRuneError::Rejected {
                        code,
                        message: error.message,
                    });
                }
                let e = CallError::Node { error, http };
                return Err(CreateRuneError::Unavailable(e.into_backend("cln", OP)));
            }
            Err(e) => return Err(CreateRuneError::Unavailable(e.into_backend("cln", OP))),
        };
        let rune = Rune::parse(&answer.rune)
            .map_err(|e| CreateRuneError::InvalidResponse(l402_core::ErrorChain(&e).to_string()))?;
        match rune.restrictions().split_first() {
            Some((_id, rest)) if rune.unique_id().is_some() && rest == restrictions => {}
            _ => {
                return Err(CreateRuneError::InvalidResponse(format!(
                    "its restrictions are {:?}",
                    rune.restrictions_text()
                )));
            }
        }
        if rune.unique_id() != Some(answer.unique_id.as_str()) {
            return Err(CreateRuneError::InvalidResponse(
                "its unique id differs from the one reported".to_owned(),
            ));
        }
        let unique_id = answer.unique_id.clone();
        Ok(CreatedRune { rune, unique_id })
    }
}
