//! Rate limits and an IP blocklist.
//!
//! The paywall limits at the two places where a limit means something:
//!
//! * **paid requests**, per token id, after the token verified
//!   ([`L402LayerBuilder::paid_rate_limit`](crate::L402LayerBuilder::paid_rate_limit)):
//!   one buyer cannot hammer the upstream with one token;
//! * **unpaid requests**, per client address prefix, right before a challenge would be
//!   minted ([`L402LayerBuilder::unpaid_rate_limit`](crate::L402LayerBuilder::unpaid_rate_limit)):
//!   a flood of requests without a valid token (none, garbage, forged) cannot make the
//!   node create invoices without bound. Keying on a prefix ([`IpPrefix`]: IPv4 /24,
//!   IPv6 /64 or /48) stops a client that owns a whole block from getting a bucket per
//!   address.
//!
//! A refused request gets `429 Too Many Requests` with `Retry-After` (whole seconds,
//! rounded up, at least one) and nothing else; a gRPC call gets a trailers-only answer
//! with `grpc-status: 8` (`RESOURCE_EXHAUSTED`). No invoice is created, no token
//! consumed.
//!
//! The bucket algorithm is behind the object-safe [`RateLimiter`] trait:
//! [`MemoryRateLimiter`] (feature `rate-limit`, GCRA from the `governor` crate) for one
//! instance, `l402-redis`'s `RedisRateLimiter` for a fleet. When a limiter fails (Redis
//! down) the layer lets the request through by default (fail open, logged and counted);
//! [`L402LayerBuilder::rate_limit_fail_closed`](crate::L402LayerBuilder::rate_limit_fail_closed)
//! answers 503 instead.
//!
//! [`IpBlocklistLayer`] refuses listed networks (CIDR) with 403 before anything else runs;
//! its list can be replaced at run time.

use core::fmt;
use core::task::{Context, Poll};
use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use http::{HeaderValue, Request, Response, StatusCode};
use ipnet::IpNet;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::MakeBody;

/// What a [`RateLimiter`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Within the limit: one unit was taken.
    Allow,
    /// Over the limit: nothing taken; the next request can pass after `retry_after`.
    Refuse {
        /// How long until the bucket has room again.
        retry_after: Duration,
    },
}

/// A rate limiter could not decide (its store is unreachable).
#[derive(Debug, thiserror::Error)]
#[error("rate limiter unavailable")]
pub struct RateLimitError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// A token bucket per key.
///
/// # Contract
/// * [`check`](Self::check) takes one unit from `key`'s bucket and answers
///   [`Decision::Allow`], or takes nothing and answers [`Decision::Refuse`] with how long
///   until a unit is available.
/// * Keys are opaque, at most a few hundred bytes (`token:<hex id>`, `ip:<network>`).
/// * The trait is object safe (through `async-trait`): an in-memory and a Redis limiter
///   plug in the same way.
#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Takes one unit from `key`'s bucket, if it has one.
    async fn check(&self, key: &str) -> Result<Decision, RateLimitError>;
}

#[async_trait::async_trait]
impl<T: RateLimiter + ?Sized> RateLimiter for Arc<T> {
    async fn check(&self, key: &str) -> Result<Decision, RateLimitError> {
        (**self).check(key).await
    }
}

/// A rate: `burst` requests at once, refilled at `burst` per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    burst: u32,
    period: Duration,
}

/// A [`Rate`] with a zero burst or a period too short to refill in whole nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a rate needs a burst of at least 1 and a period of at least one nanosecond per unit")]
pub struct InvalidRate;

impl Rate {
    /// `burst` requests per `period`: at most `burst` at once, one more every
    /// `period / burst`.
    ///
    /// # Errors
    /// [`InvalidRate`] for a zero burst or a period shorter than `burst` nanoseconds.
    pub fn new(burst: u32, period: Duration) -> Result<Self, InvalidRate> {
        if burst == 0 || period.as_nanos() < u128::from(burst) {
            return Err(InvalidRate);
        }
        Ok(Rate { burst, period })
    }

    /// `n` requests per second.
    ///
    /// # Errors
    /// [`InvalidRate`] for zero.
    pub fn per_second(n: u32) -> Result<Self, InvalidRate> {
        Rate::new(n, Duration::from_secs(1))
    }

    /// `n` requests per minute.
    ///
    /// # Errors
    /// [`InvalidRate`] for zero.
    pub fn per_minute(n: u32) -> Result<Self, InvalidRate> {
        Rate::new(n, Duration::from_secs(60))
    }

    /// The most requests at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The time the whole burst takes to refill.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The time one unit takes to refill: `period / burst`.
    pub fn emission_interval(&self) -> Duration {
        self.period / self.burst
    }
}

/// How client addresses are grouped into one bucket: the network of the address with
/// this many leading bits (default IPv4 /32, IPv6 /64).
///
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) count as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPrefix {
    v4: u8,
    v6: u8,
}

/// A prefix length beyond the address family's bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("prefix lengths must be 1 to 32 (ipv4) and 1 to 128 (ipv6)")]
pub struct InvalidPrefix;

impl Default for IpPrefix {
    fn default() -> Self {
        IpPrefix { v4: 32, v6: 64 }
    }
}

impl IpPrefix {
    /// IPv4 addresses grouped by their first `v4` bits, IPv6 by their first `v6`.
    ///
    /// # Errors
    /// [`InvalidPrefix`] for 0, or more than 32 (IPv4) or 128 (IPv6).
    pub fn new(v4: u8, v6: u8) -> Result<Self, InvalidPrefix> {
        if !(1..=32).contains(&v4) || !(1..=128).contains(&v6) {
            return Err(InvalidPrefix);
        }
        Ok(IpPrefix { v4, v6 })
    }

    /// The network `ip` belongs to, as the bucket key (`ip:203.0.113.0/24`).
    pub fn key(&self, ip: IpAddr) -> String {
        format!("ip:{}", self.network(ip))
    }

    /// The network `ip` belongs to.
    pub fn network(&self, ip: IpAddr) -> IpNet {
        let ip = ip.to_canonical();
        let len = match ip {
            IpAddr::V4(_) => self.v4,
            IpAddr::V6(_) => self.v6,
        };
        // The lengths are validated, so this never fails; fall back to the host.
        IpNet::new(ip, len).map_or_else(|_| IpNet::from(ip), |n| n.trunc())
    }
}

/// Networks refused outright (CIDR), shared and replaceable at run time.
///
/// Cheap to clone: clones share the list, so [`replace`](Self::replace) on one reaches
/// every layer holding another.
#[derive(Clone, Default)]
pub struct IpBlocklist {
    nets: Arc<RwLock<Vec<IpNet>>>,
}

impl fmt::Debug for IpBlocklist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpBlocklist")
            .field("networks", &self.len())
            .finish()
    }
}

/// A blocklist entry that is not an address or a CIDR network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("blocklist entry {entry}: not an ip address or cidr network")]
pub struct InvalidBlocklist {
    /// The entry, cut to 64 characters.
    pub entry: String,
}

/// Most entries a blocklist holds.
pub const MAX_BLOCKLIST_LEN: usize = 100_000;
/// Largest blocklist text [`IpBlocklist::parse_text`] reads: 4 MiB.
pub const MAX_BLOCKLIST_TEXT_LEN: usize = 4 * 1024 * 1024;
/// Longest entry accepted, in bytes (the longest IPv6 CIDR is 43 characters).
const MAX_ENTRY_LEN: usize = 64;

/// Why a blocklist text ([`IpBlocklist::parse_text`]) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlocklistTextError {
    /// Longer than [`MAX_BLOCKLIST_TEXT_LEN`].
    #[error("the blocklist is larger than {MAX_BLOCKLIST_TEXT_LEN} bytes")]
    TooLarge,
    /// More than [`MAX_BLOCKLIST_LEN`] entries.
    #[error("the blocklist has more than {MAX_BLOCKLIST_LEN} entries")]
    TooManyEntries,
    /// A line that is not an address or a CIDR network.
    #[error("line {line}: {error}")]
    Line {
        /// The line number, from 1.
        line: usize,
        /// Why the entry is refused (shown in this error's message, so not its source).
        error: InvalidBlocklist,
    },
}

fn parse_entry(e: &str) -> Result<IpNet, InvalidBlocklist> {
    let e = e.trim();
    let parsed = if e.len() > MAX_ENTRY_LEN {
        None
    } else {
        e.parse::<IpNet>()
            .map(|n| n.trunc())
            .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
            .ok()
    };
    parsed.ok_or_else(|| InvalidBlocklist {
        entry: format!("{:?}", e.chars().take(64).collect::<String>()),
    })
}

impl IpBlocklist {
    /// An empty list.
    pub fn new() -> Self {
        IpBlocklist::default()
    }

    /// Parses `entries` (`203.0.113.0/24`, `2001:db8::/32`, or a bare address).
    ///
    /// # Errors
    /// [`InvalidBlocklist`] naming the first entry refused, or more than
    /// [`MAX_BLOCKLIST_LEN`] entries.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Vec<IpNet>, InvalidBlocklist> {
        if entries.len() > MAX_BLOCKLIST_LEN {
            return Err(InvalidBlocklist {
                entry: format!("#{}", MAX_BLOCKLIST_LEN + 1),
            });
        }
        entries.iter().map(|e| parse_entry(e.as_ref())).collect()
    }

    /// Parses a blocklist file's text: one entry a line (as [`parse`](Self::parse)),
    /// `#` starting a comment, blank lines ignored.
    ///
    /// # Errors
    /// [`BlocklistTextError`]: text over [`MAX_BLOCKLIST_TEXT_LEN`] bytes, more than
    /// [`MAX_BLOCKLIST_LEN`] entries, or the first line refused, with its number.
    pub fn parse_text(text: &str) -> Result<Vec<IpNet>, BlocklistTextError> {
        if text.len() > MAX_BLOCKLIST_TEXT_LEN {
            return Err(BlocklistTextError::TooLarge);
        }
        let mut nets = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or_default().trim();
            if entry.is_empty() {
                continue;
            }
            if nets.len() == MAX_BLOCKLIST_LEN {
                return Err(BlocklistTextError::TooManyEntries);
            }
            nets.push(
                parse_entry(entry)
                    .map_err(|error| BlocklistTextError::Line { line: n + 1, error })?,
            );
        }
        Ok(nets)
    }

    /// A list of `entries`.
    ///
    /// # Errors
    /// See [`parse`](Self::parse).
    pub fn from_entries<S: AsRef<str>>(entries: &[S]) -> Result<Self, InvalidBlocklist> {
        let list = IpBlocklist::new();
        list.replace(Self::parse(entries)?);
        Ok(list)
    }

    /// Replaces the list (a reload): every holder sees the new one at once.
    pub fn replace(&self, nets: Vec<IpNet>) {
        *self.nets.write().unwrap_or_else(PoisonError::into_inner) = nets;
    }

    /// Number of networks.
    pub fn len(&self) -> usize {
        self.nets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `ip` is in a listed network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|n| n.contains(&ip))
    }
}

type ClientIpFn = dyn Fn(&crate::PriceRequest<'_>) -> Option<IpAddr> + Send + Sync + 'static;

/// A [`Layer`] refusing requests from blocklisted networks with `403 Forbidden` (a gRPC
/// call: `grpc-status: 7`, `PERMISSION_DENIED`) before the inner service sees them.
/// Requests whose client address is unknown pass.
pub struct IpBlocklistLayer<M = crate::TextBody> {
    list: IpBlocklist,
    client_ip: Arc<ClientIpFn>,
    _body: core::marker::PhantomData<fn() -> M>,
}

impl<M> Clone for IpBlocklistLayer<M> {
    fn clone(&self) -> Self {
        IpBlocklistLayer {
            list: self.list.clone(),
            client_ip: Arc::clone(&self.client_ip),
            _body: core::marker::PhantomData,
        }
    }
}

impl<M> fmt::Debug for IpBlocklistLayer<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpBlocklistLayer")
            .field("list", &self.list)
            .finish_non_exhaustive()
    }
}

impl IpBlocklistLayer {
    /// Refuses requests whose client address (from `client_ip`, for example axum's
    /// `ConnectInfo`) is in `list`.
    pub fn new<F>(list: IpBlocklist, client_ip: F) -> Self
    where
        F: Fn(&crate::PriceRequest<'_>) -> Option<IpAddr> + Send + Sync + 'static,
    {
        IpBlocklistLayer {
            list,
            client_ip: Arc::new(client_ip),
            _body: core::marker::PhantomData,
        }
    }
}

impl<M> IpBlocklistLayer<M> {
    /// Writes empty response bodies (for body types without `From<&'static str>`).
    pub fn empty_bodies(self) -> IpBlocklistLayer<crate::EmptyBody> {
        IpBlocklistLayer {
            list: self.list,
            client_ip: self.client_ip,
            _body: core::marker::PhantomData,
        }
    }
}

impl<S, M> Layer<S> for IpBlocklistLayer<M> {
    type Service = IpBlocklistService<S, M>;
    fn layer(&self, inner: S) -> Self::Service {
        IpBlocklistService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of an [`IpBlocklistLayer`].
pub struct IpBlocklistService<S, M = crate::TextBody> {
    inner: S,
    layer: IpBlocklistLayer<M>,
}

impl<S: Clone, M> Clone for IpBlocklistService<S, M> {
    fn clone(&self) -> Self {
        IpBlocklistService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: fmt::Debug, M> fmt::Debug for IpBlocklistService<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpBlocklistService")
            .field("inner", &self.inner)
            .field("list", &self.layer.list)
            .finish()
    }
}

impl<S, M, ReqBody, ResBody> Service<Request<ReqBody>> for IpBlocklistService<S, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    M: MakeBody<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = futures_either::Either<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let blocked = (self.layer.client_ip)(&crate::PriceRequest::from_request(&request))
            .is_some_and(|ip| self.layer.list.contains(ip));
        if blocked {
            tracing::debug!("l402: request from a blocklisted network refused");
            let grpc = crate::response::is_grpc(request.headers());
            return futures_either::Either::ready(forbidden::<ResBody, M>(grpc));
        }
        futures_either::Either::inner(self.inner.call(request))
    }
}

fn forbidden<B, M: MakeBody<B>>(grpc: bool) -> Response<B> {
    let mut response = if grpc {
        let mut r = Response::new(M::make_body(""));
        let h = r.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        h.insert("grpc-status", HeaderValue::from_static("7"));
        h.insert("grpc-message", HeaderValue::from_static("forbidden"));
        r
    } else {
        let mut r = Response::new(M::make_body("forbidden"));
        *r.status_mut() = StatusCode::FORBIDDEN;
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    };
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    response
}

/// A future that is either the inner service's or an answer ready at once.
// pin-project-lite takes no doc comments on variant fields.
#[allow(missing_docs)]
pub(crate) mod futures_either {
    use core::future::Future;
    use core::pin::Pin;
    use core::task::{Context, Poll};

    use http::Response;
    use pin_project_lite::pin_project;

    pin_project! {
        /// The response future of an [`IpBlocklistService`](super::IpBlocklistService):
        /// `Inner` drives the inner service's future, `Ready` holds the layer's answer.
        #[project = EitherProj]
        pub enum Either<F, B, E> {
            /// The inner service answers.
            Inner { #[pin] future: F },
            /// The layer answered.
            Ready { response: Option<Result<Response<B>, E>> },
        }
    }

    impl<F, B, E> Either<F, B, E> {
        pub(crate) fn inner(future: F) -> Self {
            Either::Inner { future }
        }
        pub(crate) fn ready(response: Response<B>) -> Self {
            Either::Ready {
                response: Some(Ok(response)),
            }
        }
    }

    impl<F, B, E> Future for Either<F, B, E>
    where
        F: Future<Output = Result<Response<B>, E>>,
    {
        type Output = Result<Response<B>, E>;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            match self.project() {
                EitherProj::Inner { future } => future.poll(cx),
                EitherProj::Ready { response } => match response.take() {
                    Some(r) => Poll::Ready(r),
                    // Polled after completion: stay pending rather than panic.
                    None => Poll::Pending,
                },
            }
        }
    }
}

/// `Retry-After` for `wait`: whole seconds, rounded up, at least one.
pub(crate) fn retry_after_value(wait: Duration) -> HeaderValue {
    let mut secs = wait.as_secs();
    if wait.subsec_nanos() > 0 {
        secs = secs.saturating_add(1);
    }
    HeaderValue::from(secs.max(1))
}

#[cfg(feature = "rate-limit")]
pub use self::memory::MemoryRateLimiter;

#[cfg(feature = "rate-limit")]
mod memory {
    use core::fmt;
    use std::num::NonZeroU32;

    use governor::clock::{Clock, DefaultClock};
    use governor::state::keyed::DefaultKeyedStateStore;
    use governor::{Quota, RateLimiter as Governor};

    use super::{Decision, Rate, RateLimitError, RateLimiter};

    /// An in-memory token bucket per key (GCRA, from the `governor` crate; feature
    /// `rate-limit`), for one instance: each instance of a fleet keeps its own buckets.
    ///
    /// Keys idle long enough that their bucket is full again are dropped by
    /// [`retain_recent`](Self::retain_recent) (the layer does not call it: call it from
    /// a periodic task, or let [`max_keys`](Self::max_keys) bound the map: past it, the
    /// map is pruned on insertion).
    pub struct MemoryRateLimiter {
        limiter: Governor<String, DefaultKeyedStateStore<String>, DefaultClock>,
        max_keys: usize,
    }

    impl fmt::Debug for MemoryRateLimiter {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("MemoryRateLimiter")
                .field("keys", &self.limiter.len())
                .field("max_keys", &self.max_keys)
                .finish()
        }
    }

    impl MemoryRateLimiter {
        /// Buckets of `rate`, at most [`crate::DEFAULT_MAX_KEYS`] tracked.
        pub fn new(rate: Rate) -> Self {
            let burst = NonZeroU32::new(rate.burst()).unwrap_or(NonZeroU32::MIN);
            let quota = Quota::with_period(rate.emission_interval())
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
                .allow_burst(burst);
            MemoryRateLimiter {
                limiter: Governor::dashmap(quota),
                max_keys: crate::DEFAULT_MAX_KEYS,
            }
        }

        /// Prunes full buckets when more than `max_keys` keys are tracked.
        #[must_use]
        pub fn max_keys(mut self, max_keys: usize) -> Self {
            self.max_keys = max_keys;
            self
        }

        /// Drops the keys whose bucket is full again (they behave as new keys).
        pub fn retain_recent(&self) {
            self.limiter.retain_recent();
        }

        /// Number of keys tracked.
        pub fn len(&self) -> usize {
            self.limiter.len()
        }

        /// Whether no key is tracked.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        pub(super) fn decide(&self, key: &str) -> Decision {
            if self.limiter.len() >= self.max_keys {
                self.limiter.retain_recent();
            }
            match self.limiter.check_key(&key.to_owned()) {
                Ok(()) => Decision::Allow,
                Err(not_until) => Decision::Refuse {
                    retry_after: not_until.wait_time_from(self.limiter.clock().now()),
                },
            }
        }
    }

    #[async_trait::async_trait]
    impl RateLimiter for MemoryRateLimiter {
        async fn check(&self, key: &str) -> Result<Decision, RateLimitError> {
            Ok(self.decide(key))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn prefixes_group_addresses() {
        let p = IpPrefix::new(24, 48).unwrap();
        let a: IpAddr = "203.0.113.7".parse().unwrap();
        let b: IpAddr = "203.0.113.200".parse().unwrap();
        let c: IpAddr = "203.0.114.7".parse().unwrap();
        assert_eq!(p.key(a), "ip:203.0.113.0/24");
        assert_eq!(p.key(a), p.key(b));
        assert_ne!(p.key(a), p.key(c));
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        assert_eq!(p.key(mapped), p.key(a));
        let v6a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:ffff::1".parse().unwrap();
        assert_eq!(p.key(v6a), "ip:2001:db8:1::/48");
        assert_eq!(p.key(v6a), p.key(v6b));
        let host = IpPrefix::default();
        assert_ne!(host.key(a), host.key(b));
        assert!(IpPrefix::new(0, 64).is_err() && IpPrefix::new(33, 64).is_err());
        assert!(IpPrefix::new(24, 129).is_err());
    }

    #[test]
    fn blocklist_entries() {
        let list =
            IpBlocklist::from_entries(&["198.51.100.0/24", "2001:db8::/32", "192.0.2.9"]).unwrap();
        assert!(list.contains("198.51.100.77".parse().unwrap()));
        assert!(list.contains("::ffff:198.51.100.1".parse().unwrap()));
        assert!(list.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(list.contains("192.0.2.9".parse().unwrap()));
        assert!(!list.contains("192.0.2.10".parse().unwrap()));
        let e = IpBlocklist::parse(&["10.0.0.0/8", "nonsense"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "blocklist entry \"nonsense\": not an ip address or cidr network"
        );
        assert!(IpBlocklist::parse(&["10.0.0.0/33"]).is_err());
        list.replace(Vec::new());
        assert!(!list.contains("192.0.2.9".parse().unwrap()));
    }

    #[test]
    fn blocklist_text() {
        let nets = IpBlocklist::parse_text("# abuse\n198.51.100.7/24  # a /24\n\n  2001:db8::1\n")
            .unwrap();
        assert_eq!(
            nets,
            vec![
                "198.51.100.0/24".parse::<IpNet>().unwrap(),
                "2001:db8::1/128".parse().unwrap()
            ]
        );
        let e = IpBlocklist::parse_text("10.0.0.0/8\n# x\n10.0.0.0/40\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 3: blocklist entry \"10.0.0.0/40\": not an ip address or cidr network"
        );
        assert_eq!(
            IpBlocklist::parse_text(&" ".repeat(MAX_BLOCKLIST_TEXT_LEN + 1)),
            Err(BlocklistTextError::TooLarge)
        );
        let many = "10.0.0.1\n".repeat(MAX_BLOCKLIST_LEN + 1);
        assert_eq!(
            IpBlocklist::parse_text(&many),
            Err(BlocklistTextError::TooManyEntries)
        );
        assert!(IpBlocklist::parse_text(&"1".repeat(100)).is_err());
    }

    proptest::proptest! {
        /// Any text: an answer, never a panic; every network accepted is what its line
        /// says, so the list holds exactly the addresses the operator wrote.
        #[test]
        fn blocklist_text_never_panics(text in "\\PC{0,400}") {
            let _ = IpBlocklist::parse_text(&text);
        }

        #[test]
        fn blocklist_text_round_trips(nets in proptest::collection::vec(
            (proptest::prelude::any::<[u8; 4]>(), 0u8..=32, proptest::prelude::any::<[u8; 16]>(), 0u8..=128, proptest::prelude::any::<bool>()),
            0..20,
        )) {
            let want: Vec<IpNet> = nets
                .iter()
                .map(|&(v4, l4, v6, l6, pick)| {
                    let net = if pick {
                        IpNet::new(IpAddr::from(v4), l4)
                    } else {
                        IpNet::new(IpAddr::from(v6), l6)
                    };
                    net.map(|n| n.trunc()).unwrap()
                })
                .collect();
            let text: String = want.iter().map(|n| format!("{n} # c\n")).collect();
            proptest::prop_assert_eq!(IpBlocklist::parse_text(&text).unwrap(), want.clone());
            let list = IpBlocklist::new();
            list.replace(want.clone());
            for n in &want {
                proptest::prop_assert!(list.contains(n.network()));
            }
        }
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_value(Duration::ZERO), "1");
        assert_eq!(retry_after_value(Duration::from_millis(1)), "1");
        assert_eq!(retry_after_value(Duration::from_secs(3)), "3");
        assert_eq!(retry_after_value(Duration::from_millis(3001)), "4");
    }

    #[test]
    fn rates_are_validated() {
        assert!(Rate::new(0, Duration::from_secs(1)).is_err());
        assert!(Rate::new(10, Duration::from_nanos(5)).is_err());
        let r = Rate::per_minute(6).unwrap();
        assert_eq!(r.emission_interval(), Duration::from_secs(10));
    }

    #[cfg(feature = "rate-limit")]
    #[test]
    fn memory_limiter_refuses_past_the_burst_with_the_wait() {
        let l = MemoryRateLimiter::new(Rate::per_minute(3).unwrap());
        for _ in 0..3 {
            assert_eq!(l.decide("k"), Decision::Allow);
        }
        match l.decide("k") {
            Decision::Refuse { retry_after } => {
                // One unit refills every 20 s.
                assert!(retry_after <= Duration::from_secs(20), "{retry_after:?}");
                assert!(retry_after > Duration::from_secs(15), "{retry_after:?}");
            }
            Decision::Allow => panic!("allowed past the burst"),
        }
        assert_eq!(l.decide("other"), Decision::Allow);
    }
}
