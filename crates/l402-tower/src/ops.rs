//! The operational settings of a layer: its observer and its rate limits, and the
//! builder methods that set them.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use http::HeaderValue;
use l402_core::{Amount, TokenId};
use lru::LruCache;

use crate::L402LayerBuilder;
use crate::observe::{Limited, Observe, Observer, Operation, Reason, Scheme, Timer};
use crate::pricing::PriceRequest;
use crate::ratelimit::{Decision, IpPrefix, RateLimiter, retry_after_value};
use crate::response::Rejection;

/// How many token ids a layer remembers as already counted paid (see
/// [`L402LayerBuilder::observer`]): 65,536, about 4 MB.
pub const PAID_TOKENS_REMEMBERED: usize = 65_536;

type ClientIpFn = dyn Fn(&PriceRequest<'_>) -> Option<IpAddr> + Send + Sync + 'static;

pub(crate) struct UnpaidLimit {
    limiter: Arc<dyn RateLimiter>,
    prefix: IpPrefix,
    client_ip: Box<ClientIpFn>,
}

/// Observer and rate limits, as the builder collects them.
#[derive(Default)]
pub(crate) struct Ops {
    observer: Option<Arc<dyn Observer>>,
    label: Option<String>,
    paid: Option<Arc<dyn RateLimiter>>,
    unpaid: Option<UnpaidLimit>,
    fail_closed: bool,
}

/// Observer and rate limits, as the service uses them.
pub(crate) struct LiveOps {
    pub(crate) observe: Option<Observe>,
    paid: Option<Arc<dyn RateLimiter>>,
    unpaid: Option<UnpaidLimit>,
    fail_closed: bool,
    /// Token ids already counted as payments, when observed.
    seen: Option<Mutex<LruCache<TokenId, ()>>>,
}

impl Ops {
    pub(crate) fn build(self, service: &str) -> LiveOps {
        let observe = self.observer.map(|observer| Observe {
            observer,
            label: self.label.unwrap_or_else(|| service.to_owned()).into(),
        });
        let seen = observe.as_ref().map(|_| {
            Mutex::new(LruCache::new(
                NonZeroUsize::new(PAID_TOKENS_REMEMBERED).unwrap_or(NonZeroUsize::MIN),
            ))
        });
        LiveOps {
            observe,
            paid: self.paid,
            unpaid: self.unpaid,
            fail_closed: self.fail_closed,
            seen,
        }
    }
}

impl LiveOps {
    pub(crate) fn observe(&self) -> Option<&Observe> {
        self.observe.as_ref()
    }

    pub(crate) fn challenge_issued(&self, scheme: Scheme) {
        if let Some(o) = &self.observe {
            o.observer.challenge_issued(&o.label, scheme);
        }
    }

    pub(crate) fn verified(&self, scheme: Scheme, reason: Reason) {
        if let Some(o) = &self.observe {
            o.observer.verified(&o.label, scheme, reason);
        }
    }

    pub(crate) fn charge_paid(&self, amount: Amount, payment_hash: &[u8; 32]) {
        if let Some(o) = &self.observe {
            o.observer.payment(&o.label, Scheme::Payment, amount);
            o.observer
                .payment_detail(&o.label, Scheme::Payment, amount, payment_hash);
        }
    }

    /// A token accepted: a payment the first time this layer sees it, if its price is
    /// known.
    pub(crate) fn token_accepted(&self, token_id: &TokenId, price: Option<Amount>) {
        let (Some(o), Some(seen)) = (&self.observe, &self.seen) else {
            return;
        };
        let new = seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(*token_id, ())
            .is_none();
        if new && let Some(price) = price {
            o.observer.payment(&o.label, Scheme::L402, price);
            o.observer
                .payment_detail(&o.label, Scheme::L402, price, token_id.as_bytes());
        }
    }

    fn limited(&self, decision: Limited) {
        if let Some(o) = &self.observe {
            o.observer.rate_limited(&o.label, decision);
        }
    }

    /// `None`: go on; `Some`: answer this.
    async fn check(
        &self,
        limiter: &dyn RateLimiter,
        key: &str,
        allowed: Limited,
        refused: Limited,
        grpc: bool,
        unavailable: impl FnOnce() -> Rejection,
    ) -> Option<Rejection> {
        let timer = Timer::start(self.observe());
        let result = limiter.check(key).await;
        timer.done(self.observe(), Operation::RateLimit, result.is_ok());
        match result {
            Ok(Decision::Allow) => {
                self.limited(allowed);
                None
            }
            Ok(Decision::Refuse { retry_after }) => {
                self.limited(refused);
                tracing::debug!(
                    kind = refused.kind(),
                    "l402: request refused by a rate limit"
                );
                Some(Rejection::RateLimited {
                    retry_after: retry_after_value(retry_after),
                    grpc,
                })
            }
            Err(error) if self.fail_closed => {
                self.limited(Limited::FailedClosed);
                tracing::warn!(error = %l402_core::ErrorChain(&error), "l402: rate limiter failed; refusing (fail closed)");
                Some(unavailable())
            }
            Err(error) => {
                self.limited(Limited::FailedOpen);
                tracing::warn!(error = %l402_core::ErrorChain(&error), "l402: rate limiter failed; letting the request through (fail open)");
                None
            }
        }
    }

    /// The paid limit for a verified token.
    pub(crate) async fn check_paid(
        &self,
        token_id: &TokenId,
        grpc: bool,
        unavailable: impl FnOnce() -> Rejection,
    ) -> Option<Rejection> {
        let limiter = self.paid.as_ref()?;
        let key = format!("token:{}", token_id.to_hex());
        self.check(
            limiter.as_ref(),
            &key,
            Limited::PaidAllowed,
            Limited::PaidRefused,
            grpc,
            unavailable,
        )
        .await
    }

    /// The unpaid limit, before a challenge is minted.
    pub(crate) async fn check_unpaid(
        &self,
        request: &PriceRequest<'_>,
        grpc: bool,
        unavailable: impl FnOnce() -> Rejection,
    ) -> Option<Rejection> {
        let unpaid = self.unpaid.as_ref()?;
        let ip = (unpaid.client_ip)(request)?;
        let key = unpaid.prefix.key(ip);
        self.check(
            unpaid.limiter.as_ref(),
            &key,
            Limited::UnpaidAllowed,
            Limited::UnpaidRefused,
            grpc,
            unavailable,
        )
        .await
    }
}

/// The `Retry-After` of a 503, for [`LiveOps`] callers.
pub(crate) fn unavailable(retry_after: &HeaderValue, grpc: bool) -> Rejection {
    Rejection::Unavailable {
        retry_after: retry_after.clone(),
        grpc,
    }
}

impl<B, K> L402LayerBuilder<B, K> {
    /// Tells `observer` about every challenge, verification, payment, node and store call
    /// and rate-limit decision (see [`Observer`]; with the `metrics` feature,
    /// [`MetricsObserver`](crate::MetricsObserver) emits them as metrics).
    ///
    /// Payments are counted so: a `Payment` charge when it is consumed (once, fleet-wide
    /// with a shared charge store); an L402 token the first time this layer accepts it,
    /// at the static price of the route it is accepted on (the price it was sold at when
    /// the routes tell prices apart by capability, as [`build`](Self::build) requires).
    /// The layer remembers the last [`PAID_TOKENS_REMEMBERED`] token ids it counted, in
    /// memory: a token is counted again on each instance of a fleet that accepts it, and
    /// after it falls out of that memory. Tokens accepted on a dynamically priced route
    /// are counted in verifications but not as payments (their price is not known at
    /// verification).
    pub fn observer(mut self, observer: impl Observer) -> Self {
        self.ops.observer = Some(Arc::new(observer));
        self
    }

    /// The `service` label of this layer's events (default: the service name). Keep it
    /// to a small fixed set across the application: it becomes a metric label.
    pub fn metrics_label(mut self, label: impl Into<String>) -> Self {
        self.ops.label = Some(label.into());
        self
    }

    /// Limits paid requests: each verified L402 token draws from its own bucket in
    /// `limiter` (key `token:<token id hex>`). Past it: 429 with `Retry-After`, the token
    /// still valid. `Payment` charges are not limited here (each pays for its request).
    pub fn paid_rate_limit(mut self, limiter: impl RateLimiter) -> Self {
        self.ops.paid = Some(Arc::new(limiter));
        self
    }

    /// Limits unpaid requests: each request that would get a challenge (no credential,
    /// or one refused) draws from the bucket of its client's network in `limiter` (key
    /// `ip:<network>`, the address cut to `prefix`), before any invoice is created. Past
    /// it: 429 with `Retry-After`, no invoice. `client_ip` finds the client's address
    /// (axum's `ConnectInfo`, a trusted proxy header); requests it gives none for are
    /// not limited.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use axum::extract::ConnectInfo;
    /// use l402_tower::{IpPrefix, L402LayerBuilder, MemoryRateLimiter, PriceRequest, Rate};
    ///
    /// fn limited<B, K>(b: L402LayerBuilder<B, K>) -> L402LayerBuilder<B, K> {
    ///     // 30 challenges a minute per IPv4 /24 or IPv6 /48.
    ///     let limiter = MemoryRateLimiter::new(Rate::per_minute(30).unwrap());
    ///     b.unpaid_rate_limit(limiter, IpPrefix::new(24, 48).unwrap(), |req: &PriceRequest<'_>| {
    ///         req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
    ///     })
    /// }
    /// ```
    pub fn unpaid_rate_limit<F>(
        mut self,
        limiter: impl RateLimiter,
        prefix: IpPrefix,
        client_ip: F,
    ) -> Self
    where
        F: Fn(&PriceRequest<'_>) -> Option<IpAddr> + Send + Sync + 'static,
    {
        self.ops.unpaid = Some(UnpaidLimit {
            limiter: Arc::new(limiter),
            prefix,
            client_ip: Box::new(client_ip),
        });
        self
    }

    /// When a rate limiter fails (its store is down): `true` answers 503, `false` (the
    /// default) lets the request through, logged and counted
    /// ([`Limited::FailedOpen`]). Payments and revocations are never affected: they
    /// fail closed whatever this says.
    pub fn rate_limit_fail_closed(mut self, fail_closed: bool) -> Self {
        self.ops.fail_closed = fail_closed;
        self
    }
}
