//! The tools' arguments and results (their JSON schemas are derived from these types).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `fetch` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchArgs {
    /// The http or https URL to fetch.
    pub url: String,
    /// HTTP method (default GET).
    #[serde(default)]
    pub method: Option<String>,
    /// Extra request headers, name to value.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// Request body (text).
    #[serde(default)]
    pub body: Option<String>,
    /// Most to pay for this request, in satoshis, fees excluded. It can only lower the
    /// operator's per-request cap, never raise it.
    #[serde(default)]
    pub max_cost_sat: Option<u64>,
    /// Request timeout in seconds; can only lower the operator's.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// `quote` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteArgs {
    /// The http or https URL.
    pub url: String,
    /// HTTP method (default GET).
    #[serde(default)]
    pub method: Option<String>,
    /// A price cap to check the quote against, in satoshis (lowers the operator's).
    #[serde(default)]
    pub max_cost_sat: Option<u64>,
}

/// `budget` arguments: none.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetArgs {}

/// `payments` arguments.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentsArgs {
    /// Most entries returned, newest first (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Only the payments to this origin (`https://host:port`, or a URL on it).
    #[serde(default)]
    pub origin: Option<String>,
}

/// `tokens` arguments: none.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokensArgs {}

/// `forget_token` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgetArgs {
    /// The origin (or a URL on it) whose stored token to remove.
    pub origin: String,
}

/// `decode` arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecodeArgs {
    /// A macaroon, an `Authorization` or `WWW-Authenticate` value, a `Payment`
    /// challenge, credential or receipt, or a BOLT 11 invoice.
    pub value: String,
}

/// A payment made for one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct PaidOut {
    /// `l402` or `payment`.
    pub scheme: String,
    /// Amount paid, millisatoshis, fees excluded.
    pub amount_msat: u64,
    /// Routing fee paid, millisatoshis.
    pub fee_msat: u64,
    /// The payment hash, hex.
    pub payment_hash: String,
}

/// `fetch` result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FetchOut {
    /// HTTP status of the final answer.
    pub status: u16,
    /// The final URL (after same-checked redirects).
    pub url: String,
    /// Selected response headers (content type and length, location, retry-after,
    /// caching, `payment-receipt`).
    pub headers: BTreeMap<String, String>,
    /// The body, when it is text and within the inline size limit.
    pub body: Option<String>,
    /// Where the body was saved, when it is binary or larger than the inline limit.
    pub body_file: Option<String>,
    /// Why the body is neither inline nor saved, if so.
    pub body_omitted: Option<String>,
    /// Bytes of body received.
    pub body_bytes: u64,
    /// What this call paid (`null`: nothing).
    pub paid: Option<PaidOut>,
    /// A stored token was used: nothing paid.
    pub token_reused: bool,
}

/// `quote` result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct QuoteOut {
    /// HTTP status of the answer.
    pub status: u16,
    /// Whether the answer asks for payment (a 402 with an offer the client can pay).
    pub payment_required: bool,
    /// `l402` or `payment` (the offer that would be paid).
    pub scheme: Option<String>,
    /// The price, millisatoshis.
    pub price_msat: Option<u64>,
    /// The price, satoshis (rounded up).
    pub price_sat: Option<u64>,
    /// The fee cap the payment would carry, millisatoshis.
    pub max_fee_msat: Option<u64>,
    /// The invoice's expiry, unix seconds.
    pub invoice_expires_at: Option<u64>,
    /// The invoice's network (`mainnet`, `testnet`, `signet`, `regtest`, `simnet`).
    pub network: Option<String>,
    /// The token key it would be paid for.
    pub origin: Option<String>,
    /// Whether `fetch` would pay it now (within every cap and the remaining budget).
    pub fits: bool,
    /// Why it would be refused, if so.
    pub refusal: Option<Refusal>,
    /// What is left of the budget in the current window, millisatoshis.
    pub budget_left_msat: Option<u64>,
    /// What is left of this origin's budget, millisatoshis.
    pub origin_budget_left_msat: Option<u64>,
}

/// A refusal in a quote.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Refusal {
    /// The limit.
    pub limit: String,
    /// What happened.
    pub message: String,
}

/// `budget` result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BudgetOut {
    /// The operator's per-request price cap, millisatoshis.
    pub max_price_msat: u64,
    /// The fixed part of the fee cap, millisatoshis.
    pub max_fee_base_msat: u64,
    /// The proportional part of the fee cap, parts per million.
    pub max_fee_ppm: u32,
    /// The budget over all origins, millisatoshis (`null`: none).
    pub budget_msat: Option<u64>,
    /// The budget per origin, millisatoshis (`null`: none).
    pub origin_budget_msat: Option<u64>,
    /// The budget window, seconds (`null`: all time).
    pub window_secs: Option<u64>,
    /// Spent in the window (amounts plus fees), millisatoshis.
    pub spent_msat: u64,
    /// Held for payments not resolved yet, millisatoshis.
    pub reserved_msat: u64,
    /// Payments in the window.
    pub payments: u64,
    /// Left of the budget, millisatoshis (`null`: no budget).
    pub left_msat: Option<u64>,
    /// The same per origin.
    pub per_origin: Vec<OriginOut>,
    /// The network invoices must be for.
    pub network: Option<String>,
    /// Whether private, loopback and link-local addresses may be fetched.
    pub allow_private: bool,
    /// Hosts allowed (empty: any public host).
    pub allowed_hosts: Vec<String>,
    /// Hosts denied.
    pub denied_hosts: Vec<String>,
    /// Largest body returned inline, bytes.
    pub max_inline_bytes: u64,
    /// Request timeout, seconds.
    pub timeout_secs: u64,
}

/// Spending for one origin.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OriginOut {
    /// The token key.
    pub origin: String,
    /// Spent (amounts plus fees), millisatoshis.
    pub spent_msat: u64,
    /// Reserved, millisatoshis.
    pub reserved_msat: u64,
    /// Payments.
    pub payments: u64,
    /// Left of the per-origin budget, millisatoshis.
    pub left_msat: Option<u64>,
}

/// `payments` result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PaymentsOut {
    /// Newest first.
    pub payments: Vec<PaymentEntry>,
}

/// One payment this server made.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PaymentEntry {
    /// Unix seconds.
    pub at: u64,
    /// The token key paid for.
    pub origin: String,
    /// `l402` or `payment`.
    pub scheme: Option<String>,
    /// Amount, millisatoshis.
    pub amount_msat: u64,
    /// Fee, millisatoshis.
    pub fee_msat: u64,
    /// Payment hash, hex.
    pub payment_hash: String,
    /// Recovered after an interruption (paid by an earlier request or process whose
    /// answer was lost; amount and scheme come from the record kept before paying).
    pub recovered: bool,
    /// The server's `Payment-Receipt`, when it sent one.
    pub receipt: Option<serde_json::Value>,
}

/// `tokens` result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TokensOut {
    /// Stored tokens (never their secrets).
    pub tokens: Vec<TokenEntry>,
}

/// One stored token.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TokenEntry {
    /// The token key.
    pub origin: String,
    /// `L402` or `LSAT`.
    pub scheme: String,
    /// What it cost, millisatoshis.
    pub amount_msat: u64,
    /// Its routing fee, millisatoshis.
    pub fee_msat: u64,
    /// Payment hash, hex.
    pub payment_hash: String,
    /// When it was bought, unix seconds.
    pub created_at: u64,
}

/// `forget_token` result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ForgetOut {
    /// The token key.
    pub origin: String,
    /// Whether a token was removed.
    pub removed: bool,
}

/// `decode` result: the `l402 token decode` view (`kind` says what the value was:
/// `macaroon`, `credential`, `challenge`, `payment_challenge`, `payment_credential`,
/// `payment_receipt`, `invoice`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DecodeOut {
    /// The decoded fields.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}
