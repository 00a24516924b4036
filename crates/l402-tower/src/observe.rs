//! [`Observer`]: what the paywall tells about its work, for metrics.
//!
//! The layer calls an observer (set with
//! [`L402LayerBuilder::observer`](crate::L402LayerBuilder::observer)) at each event: a
//! challenge issued, a credential verified or refused (with a bounded [`Reason`]), a
//! payment seen, a call to the Lightning node or to a store (with its latency). Every
//! event names the layer's [`label`](crate::L402LayerBuilder::metrics_label) (its service
//! name unless the embedder sets another) and only values from small fixed sets: never a
//! token id, a payment hash, a path or a client address, so a metrics backend never sees
//! an unbounded label.
//!
//! Why a trait and not the `metrics` facade alone: an application that already exports
//! with `prometheus-client` or OpenTelemetry implements [`Observer`] in a few lines and
//! pulls in nothing; with the `metrics` feature, [`MetricsObserver`] emits every event
//! through the `metrics` facade, to whatever recorder the application installed (for
//! example `metrics-exporter-prometheus`). Without an observer the layer does no extra
//! work (not even reading the clock).

use core::fmt;
use std::time::Duration;

use l402_core::Amount;

/// Which scheme an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// An L402 (or LSAT) token.
    L402,
    /// A `Payment` scheme charge.
    Payment,
}

impl Scheme {
    /// The label value: `l402` or `payment`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::L402 => "l402",
            Scheme::Payment => "payment",
        }
    }
}

/// Why a credential was accepted or refused: a small fixed set, safe as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// Accepted.
    Ok,
    /// Not parseable: the header, the identifier, a caveat, or a charge credential.
    Malformed,
    /// The preimage does not hash to the payment hash (or a charge's proof is wrong).
    WrongPreimage,
    /// No root key for the token: never minted here, forgotten, or revoked (the store
    /// answers the same for all three).
    UnknownOrRevoked,
    /// The macaroon signature does not verify.
    BadSignature,
    /// The token (or the charge challenge) expired.
    Expired,
    /// The token is for another service.
    WrongService,
    /// A caveat refused it: capability, tier, or a custom or unknown caveat.
    Caveat,
    /// A `Payment` charge already consumed.
    Replayed,
    /// A `Payment` charge for a smaller amount than the route's price.
    Underpaid,
    /// A `Payment` challenge id that does not verify (forged, tampered, other realm).
    InvalidChallenge,
    /// A `Payment` credential of another payment method.
    MethodUnsupported,
}

impl Reason {
    /// The label value (`ok`, `malformed`, `wrong_preimage`, `unknown_or_revoked`,
    /// `bad_signature`, `expired`, `wrong_service`, `caveat`, `replayed`, `underpaid`,
    /// `invalid_challenge`, `method_unsupported`).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Ok => "ok",
            Reason::Malformed => "malformed",
            Reason::WrongPreimage => "wrong_preimage",
            Reason::UnknownOrRevoked => "unknown_or_revoked",
            Reason::BadSignature => "bad_signature",
            Reason::Expired => "expired",
            Reason::WrongService => "wrong_service",
            Reason::Caveat => "caveat",
            Reason::Replayed => "replayed",
            Reason::Underpaid => "underpaid",
            Reason::InvalidChallenge => "invalid_challenge",
            Reason::MethodUnsupported => "method_unsupported",
        }
    }

    /// The reason of an L402 verification failure.
    pub fn of_verify_error(error: &l402_core::VerifyError) -> Self {
        use l402_core::VerifyError as E;
        match error {
            E::Identifier(_) | E::MalformedCaveat { .. } => Reason::Malformed,
            E::PreimageMismatch | E::PreimageCaveatMismatch(_) => Reason::WrongPreimage,
            E::UnknownToken(_) => Reason::UnknownOrRevoked,
            E::InvalidSignature => Reason::BadSignature,
            E::Expired { .. } => Reason::Expired,
            E::WrongService(_) => Reason::WrongService,
            _ => Reason::Caveat,
        }
    }
}

/// A call the layer makes to the Lightning node or to a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// The node creates an invoice (every challenge).
    CreateInvoice,
    /// The root-key store looks up a token's keys (every L402 verification).
    RootKeyLookup,
    /// The root-key store keeps a new token's key (every L402 challenge).
    RootKeyCreate,
    /// The root-key store records that a token verified.
    RootKeyMarkPaid,
    /// The charge store consumes a `Payment` charge.
    ChargeConsume,
    /// The free allowance is asked for a free request.
    FreeAllowance,
    /// A rate limiter is asked (see [`RateLimiter`](crate::RateLimiter)).
    RateLimit,
    /// The dynamic [`Pricer`](crate::Pricer) prices a request.
    Price,
}

impl Operation {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::CreateInvoice => "create_invoice",
            Operation::RootKeyLookup => "root_key_lookup",
            Operation::RootKeyCreate => "root_key_create",
            Operation::RootKeyMarkPaid => "root_key_mark_paid",
            Operation::ChargeConsume => "charge_consume",
            Operation::FreeAllowance => "free_allowance",
            Operation::RateLimit => "rate_limit",
            Operation::Price => "price",
        }
    }

    /// Whether the call goes to the Lightning node (`true`) or to a store or pricer.
    pub fn is_node(self) -> bool {
        matches!(self, Operation::CreateInvoice)
    }
}

/// A rate-limit decision (see [`RateLimiter`](crate::RateLimiter)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limited {
    /// A paid request (keyed by token id) was let through.
    PaidAllowed,
    /// A paid request was refused with 429.
    PaidRefused,
    /// An unpaid request (keyed by client address prefix) was let through to a challenge.
    UnpaidAllowed,
    /// An unpaid request was refused with 429 (no invoice created).
    UnpaidRefused,
    /// The limiter failed and the request was let through (fail open).
    FailedOpen,
    /// The limiter failed and the request was refused (fail closed).
    FailedClosed,
}

impl Limited {
    /// The `kind` label: `paid`, `unpaid` or `error`.
    pub fn kind(self) -> &'static str {
        match self {
            Limited::PaidAllowed | Limited::PaidRefused => "paid",
            Limited::UnpaidAllowed | Limited::UnpaidRefused => "unpaid",
            Limited::FailedOpen | Limited::FailedClosed => "error",
        }
    }

    /// The `decision` label: `allowed` or `refused`.
    pub fn decision(self) -> &'static str {
        match self {
            Limited::PaidAllowed | Limited::UnpaidAllowed | Limited::FailedOpen => "allowed",
            Limited::PaidRefused | Limited::UnpaidRefused | Limited::FailedClosed => "refused",
        }
    }
}

/// Receives the paywall's events. Every method has an empty default: implement those you
/// need. Called inline on the request path: keep them cheap and never block.
///
/// `label` is the layer's metrics label (its service name unless set with
/// [`metrics_label`](crate::L402LayerBuilder::metrics_label)).
pub trait Observer: Send + Sync + 'static {
    /// A 402 (or a gRPC payment answer) carried a fresh challenge of `scheme`.
    fn challenge_issued(&self, label: &str, scheme: Scheme) {
        let _ = (label, scheme);
    }

    /// A credential of `scheme` was checked: accepted ([`Reason::Ok`]) or refused.
    fn verified(&self, label: &str, scheme: Scheme, reason: Reason) {
        let _ = (label, scheme, reason);
    }

    /// A payment was seen: a `Payment` charge consumed (exactly once, fleet-wide with a
    /// shared charge store), or an L402 token accepted for the first time by this layer
    /// (see [`L402LayerBuilder::observer`](crate::L402LayerBuilder::observer) for how
    /// that is counted). `amount` is what it paid.
    fn payment(&self, label: &str, scheme: Scheme, amount: Amount) {
        let _ = (label, scheme, amount);
    }

    /// The same payment as [`payment`](Self::payment), right after it, with what it
    /// bought: `id` is the token id of an L402 token, the payment hash of a `Payment`
    /// charge. For an application's own records (a list of recent sales); never put it
    /// in a metric label, it is unbounded.
    fn payment_detail(&self, label: &str, scheme: Scheme, amount: Amount, id: &[u8; 32]) {
        let _ = (label, scheme, amount, id);
    }

    /// A call to the node or a store finished: `ok` is `false` when it failed (the
    /// request was then answered 503, or degraded as documented).
    fn call(&self, label: &str, operation: Operation, ok: bool, latency: Duration) {
        let _ = (label, operation, ok, latency);
    }

    /// A rate limiter decided.
    fn rate_limited(&self, label: &str, decision: Limited) {
        let _ = (label, decision);
    }
}

/// A shared observer, as the layer keeps it.
#[derive(Clone)]
pub(crate) struct Observe {
    pub(crate) observer: std::sync::Arc<dyn Observer>,
    pub(crate) label: std::sync::Arc<str>,
}

impl fmt::Debug for Observe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observe")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// Times a call when someone observes it.
pub(crate) struct Timer(Option<std::time::Instant>);

impl Timer {
    pub(crate) fn start(observe: Option<&Observe>) -> Self {
        Timer(observe.map(|_| std::time::Instant::now()))
    }

    pub(crate) fn done(self, observe: Option<&Observe>, operation: Operation, ok: bool) {
        if let (Some(o), Some(start)) = (observe, self.0) {
            o.observer.call(&o.label, operation, ok, start.elapsed());
        }
    }
}

#[cfg(feature = "metrics")]
pub use self::metrics_impl::MetricsObserver;

#[cfg(feature = "metrics")]
mod metrics_impl {
    use std::sync::OnceLock;
    use std::time::Duration;

    use l402_core::Amount;
    use metrics::{Counter, Histogram};

    use super::{Limited, Observer, Operation, Reason, Scheme};

    /// Emits the paywall's events through the [`metrics`] facade, to the recorder the
    /// application installed (feature `metrics`).
    ///
    /// | metric | kind | labels |
    /// |---|---|---|
    /// | `l402_challenges_issued_total` | counter | `service`, `scheme` |
    /// | `l402_verifications_total` | counter | `service`, `scheme`, `reason` |
    /// | `l402_payments_total` | counter | `service`, `scheme` |
    /// | `l402_payments_msat_total` | counter | `service`, `scheme` |
    /// | `l402_node_requests_total` | counter | `service`, `operation`, `outcome` (`ok`, `error`) |
    /// | `l402_node_request_duration_seconds` | histogram | `service`, `operation` |
    /// | `l402_store_requests_total` | counter | `service`, `operation`, `outcome` |
    /// | `l402_store_request_duration_seconds` | histogram | `service`, `operation` |
    /// | `l402_rate_limit_decisions_total` | counter | `service`, `kind` (`paid`, `unpaid`, `error`), `decision` (`allowed`, `refused`) |
    ///
    /// `service` is the layer's metrics label; every other label comes from a fixed set
    /// ([`Scheme`], [`Reason`], [`Operation`], [`Limited`]).
    ///
    /// ```
    /// use l402_tower::MetricsObserver;
    /// # fn with<B, K>(b: l402_tower::L402LayerBuilder<B, K>) -> l402_tower::L402LayerBuilder<B, K> {
    /// b.observer(MetricsObserver::new())
    /// # }
    /// ```
    ///
    /// The handles of the series are registered with the recorder the first time each is
    /// used and kept (for the first label the observer sees; another label registers on
    /// every event): an event then costs an atomic add, not a registration (building the
    /// key, copying its labels, searching the registry). Install the recorder before the
    /// first request: a handle stays with the recorder it was registered with.
    #[derive(Debug, Clone, Default)]
    #[non_exhaustive]
    pub struct MetricsObserver {
        cache: OnceLock<(Box<str>, Box<Handles>)>,
    }

    /// Registered handles, one slot per series of one label.
    #[derive(Debug, Clone, Default)]
    struct Handles {
        challenges: [OnceLock<Counter>; SCHEMES],
        verifications: [[OnceLock<Counter>; REASONS]; SCHEMES],
        payments: [OnceLock<Counter>; SCHEMES],
        payments_msat: [OnceLock<Counter>; SCHEMES],
        calls: [[OnceLock<Counter>; 2]; OPERATIONS],
        durations: [OnceLock<Histogram>; OPERATIONS],
        limited: [OnceLock<Counter>; LIMITED],
    }

    const SCHEMES: usize = 2;
    const REASONS: usize = 12;
    const OPERATIONS: usize = 8;
    const LIMITED: usize = 6;

    impl MetricsObserver {
        /// An observer writing to the global `metrics` recorder (or the thread's default
        /// one).
        pub fn new() -> Self {
            MetricsObserver::default()
        }

        /// The cached handles for `label`, if it is the one this observer caches.
        fn handles(&self, label: &str) -> Option<&Handles> {
            let (cached, handles) = self.cache.get_or_init(|| (label.into(), Box::default()));
            (**cached == *label).then_some(&**handles)
        }
    }

    /// `slot`'s handle, registered by `register` the first time (or every time when there
    /// is no slot).
    fn cached<T: Clone>(slot: Option<&OnceLock<T>>, register: impl FnOnce() -> T) -> T {
        match slot {
            Some(slot) => slot.get_or_init(register).clone(),
            None => register(),
        }
    }

    fn scheme_index(scheme: Scheme) -> usize {
        match scheme {
            Scheme::L402 => 0,
            Scheme::Payment => 1,
        }
    }

    fn reason_index(reason: Reason) -> usize {
        match reason {
            Reason::Ok => 0,
            Reason::Malformed => 1,
            Reason::WrongPreimage => 2,
            Reason::UnknownOrRevoked => 3,
            Reason::BadSignature => 4,
            Reason::Expired => 5,
            Reason::WrongService => 6,
            Reason::Caveat => 7,
            Reason::Replayed => 8,
            Reason::Underpaid => 9,
            Reason::InvalidChallenge => 10,
            Reason::MethodUnsupported => 11,
        }
    }

    fn operation_index(operation: Operation) -> usize {
        match operation {
            Operation::CreateInvoice => 0,
            Operation::RootKeyLookup => 1,
            Operation::RootKeyCreate => 2,
            Operation::RootKeyMarkPaid => 3,
            Operation::ChargeConsume => 4,
            Operation::FreeAllowance => 5,
            Operation::RateLimit => 6,
            Operation::Price => 7,
        }
    }

    fn limited_index(decision: Limited) -> usize {
        match decision {
            Limited::PaidAllowed => 0,
            Limited::PaidRefused => 1,
            Limited::UnpaidAllowed => 2,
            Limited::UnpaidRefused => 3,
            Limited::FailedOpen => 4,
            Limited::FailedClosed => 5,
        }
    }

    impl Observer for MetricsObserver {
        fn challenge_issued(&self, label: &str, scheme: Scheme) {
            let slot = self
                .handles(label)
                .map(|h| &h.challenges[scheme_index(scheme)]);
            cached(slot, || {
                metrics::counter!(
                    "l402_challenges_issued_total",
                    "service" => label.to_owned(),
                    "scheme" => scheme.as_str(),
                )
            })
            .increment(1);
        }

        fn verified(&self, label: &str, scheme: Scheme, reason: Reason) {
            let slot = self
                .handles(label)
                .map(|h| &h.verifications[scheme_index(scheme)][reason_index(reason)]);
            cached(slot, || {
                metrics::counter!(
                    "l402_verifications_total",
                    "service" => label.to_owned(),
                    "scheme" => scheme.as_str(),
                    "reason" => reason.as_str(),
                )
            })
            .increment(1);
        }

        fn payment(&self, label: &str, scheme: Scheme, amount: Amount) {
            let handles = self.handles(label);
            let i = scheme_index(scheme);
            cached(handles.map(|h| &h.payments[i]), || {
                metrics::counter!(
                    "l402_payments_total",
                    "service" => label.to_owned(),
                    "scheme" => scheme.as_str(),
                )
            })
            .increment(1);
            cached(handles.map(|h| &h.payments_msat[i]), || {
                metrics::counter!(
                    "l402_payments_msat_total",
                    "service" => label.to_owned(),
                    "scheme" => scheme.as_str(),
                )
            })
            .increment(amount.msat());
        }

        fn call(&self, label: &str, operation: Operation, ok: bool, latency: Duration) {
            let (total, duration) = if operation.is_node() {
                (
                    "l402_node_requests_total",
                    "l402_node_request_duration_seconds",
                )
            } else {
                (
                    "l402_store_requests_total",
                    "l402_store_request_duration_seconds",
                )
            };
            let handles = self.handles(label);
            let i = operation_index(operation);
            cached(handles.map(|h| &h.calls[i][usize::from(ok)]), || {
                metrics::counter!(
                    total,
                    "service" => label.to_owned(),
                    "operation" => operation.as_str(),
                    "outcome" => if ok { "ok" } else { "error" },
                )
            })
            .increment(1);
            cached(handles.map(|h| &h.durations[i]), || {
                metrics::histogram!(
                    duration,
                    "service" => label.to_owned(),
                    "operation" => operation.as_str(),
                )
            })
            .record(latency.as_secs_f64());
        }

        fn rate_limited(&self, label: &str, decision: Limited) {
            let slot = self
                .handles(label)
                .map(|h| &h.limited[limited_index(decision)]);
            cached(slot, || {
                metrics::counter!(
                    "l402_rate_limit_decisions_total",
                    "service" => label.to_owned(),
                    "kind" => decision.kind(),
                    "decision" => decision.decision(),
                )
            })
            .increment(1);
        }
    }
}
