//! [`L402Middleware`]: check, pay, store, retry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use http::{Extensions, HeaderValue, StatusCode, header::AUTHORIZATION};
use l402_core::backend::{FailureReason, PayParams, PaymentStatus, PaymentSuccess};
use l402_core::lightning_invoice::Bolt11Invoice;
use l402_core::payment_scheme::{
    ChargeInvoiceError, PaymentChallenge, PaymentCredential, PaymentReceipt,
};
use l402_core::{
    Amount, BoxPaymentBackend, Challenge, Identifier, PayError, PaymentBackend, PaymentHash,
};
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};

use crate::error::{BuildError, L402Error};
use crate::events::{Event, EventHandler};
use crate::key::KeyScope;
use crate::ledger::{Limits, MemoryLedger, Reservation, Reserved, SpendingLedger};
use crate::outcome::{PaidFor, PaymentOutcome, Quote};
use crate::policy::{OfferScheme, PaymentOptions, SchemePreference, SpendingPolicy};
use crate::spending::{SpendingSummary, Tally};
use crate::store::{
    CHARGE_KEY_SUFFIX, ChargeRecord, MemoryTokenStore, PendingPayment, StoredToken, TokenRecord,
    TokenStore, charge_key,
};

/// Bounds the retries after a 402: the loop runs `0..=MAX_RETRIES`, so one call sends at
/// most four requests: the original, then a retry with each token obtained (one another
/// request paid for meanwhile may be refused too, then the one this call pays for). Only
/// one payment is ever made.
const MAX_RETRIES: usize = 2;

/// A `reqwest_middleware` middleware that pays L402 challenges.
///
/// Cheap to clone (all clones share the token cache, single-flight locks and spending
/// ledger). Build it with [`L402Middleware::builder`].
pub struct L402Middleware<P = BoxPaymentBackend> {
    inner: Arc<Inner<P>>,
}

impl<P> Clone for L402Middleware<P> {
    fn clone(&self) -> Self {
        L402Middleware {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<P> core::fmt::Debug for L402Middleware<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("L402Middleware")
            .field("policy", &self.inner.policy)
            .field("scope", &self.inner.scope)
            .finish_non_exhaustive()
    }
}

/// A token ready to present.
struct Cached {
    header: HeaderValue,
    payment_hash: PaymentHash,
    scheme: OfferScheme,
    amount: Amount,
    fee: Amount,
}

struct Inner<P> {
    payer: P,
    store: Arc<dyn TokenStore>,
    policy: SpendingPolicy,
    scope: KeyScope,
    events: Option<Arc<dyn EventHandler>>,
    recover_lazily: bool,
    recovered: tokio::sync::OnceCell<()>,
    /// Per-key single-flight locks.
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Tokens by key; `None` = the store had nothing when last looked at.
    cache: RwLock<HashMap<String, Option<Arc<Cached>>>>,
    ledger: Arc<dyn SpendingLedger>,
    /// What this middleware paid, for [`L402Middleware::spending`].
    tally: Mutex<Tally>,
    /// Pay challenges from the final origin of a cross-origin redirect.
    follow_cross_origin: bool,
    /// Origins that answered 402 to the token they had just been paid for, with when
    /// payments to them resume.
    suspended: Mutex<HashMap<String, Instant>>,
    /// Which offer of a 402 with several is paid.
    prefer: SchemePreference,
}

/// Builds an [`L402Middleware`]; from [`L402Middleware::builder`].
#[must_use]
pub struct L402MiddlewareBuilder<P> {
    payer: P,
    store: Option<Arc<dyn TokenStore>>,
    policy: SpendingPolicy,
    scope: KeyScope,
    events: Option<Arc<dyn EventHandler>>,
    recover_lazily: bool,
    ledger: Option<Arc<dyn SpendingLedger>>,
    follow_cross_origin: bool,
    prefer: SchemePreference,
}

impl<P> core::fmt::Debug for L402MiddlewareBuilder<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("L402MiddlewareBuilder")
            .field("policy", &self.policy)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl<P: PaymentBackend + 'static> L402MiddlewareBuilder<P> {
    /// Where tokens and pending payments are kept (default: a fresh
    /// [`MemoryTokenStore`]). Use a [`FileTokenStore`](crate::FileTokenStore) to keep
    /// tokens, and recover interrupted payments, across restarts.
    pub fn store(mut self, store: impl TokenStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Where budgets are counted (default: a fresh [`MemoryLedger`], budgets per
    /// process). A [`FileLedger`](crate::ledger::FileLedger) makes them hold across
    /// restarts and for every process on the machine sharing the file; a Redis ledger
    /// (`l402-redis`) for a fleet.
    pub fn ledger(mut self, ledger: impl SpendingLedger) -> Self {
        self.ledger = Some(Arc::new(ledger));
        self
    }

    /// The spending rules (default: [`SpendingPolicy::new`]).
    pub fn policy(mut self, policy: SpendingPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// One token per origin (the default).
    pub fn key_by_origin(mut self) -> Self {
        self.scope = KeyScope::Origin;
        self
    }

    /// One token per origin and first `segments` path segments.
    pub fn key_by_path_prefix(mut self, segments: usize) -> Self {
        self.scope = KeyScope::PathPrefix(segments);
        self
    }

    /// Receives [`Event`]s (a closure `Fn(&Event)` works).
    pub fn events(mut self, handler: impl EventHandler) -> Self {
        self.events = Some(Arc::new(handler));
        self
    }

    /// Whether to pay a challenge that comes, after a redirect, from another origin than
    /// the request's (default `false`).
    ///
    /// reqwest follows redirects (unless its client is built with another
    /// [`redirect::Policy`](reqwest::redirect::Policy)) and drops `Authorization` on a
    /// hop to another origin. By default a 402 from another origin than the request's is
    /// refused with [`L402Error::CrossOriginRedirect`], nothing paid: a token bought
    /// there could never be presented through the redirect, and the other origin would
    /// be paid on every request. With `true`, the challenge is paid for the final
    /// origin's key, the request is retried directly at the final URL (same method and
    /// body), and later requests that end up there reuse that token. Either way a
    /// challenge is paid only for the origin that issued it.
    pub fn follow_cross_origin_redirects(mut self, follow: bool) -> Self {
        self.follow_cross_origin = follow;
        self
    }

    /// Which offer to pay when a 402 carries both an L402 challenge and a `Payment`
    /// charge offer (default [`SchemePreference::L402First`], as lnget). Exactly one
    /// offer, one invoice, is paid per 402 either way; a `Payment` offer of another
    /// intent than `charge` (a `session`) is never paid.
    pub fn prefer_scheme(mut self, preference: SchemePreference) -> Self {
        self.prefer = preference;
        self
    }

    /// Whether the first request runs [`L402Middleware::recover`] (default `true`).
    /// Pending records are resolved before any payment for their key either way.
    pub fn recover_on_first_request(mut self, enabled: bool) -> Self {
        self.recover_lazily = enabled;
        self
    }

    /// Checks the configuration and builds the middleware.
    ///
    /// # Errors
    /// [`BuildError`] for an inconsistent policy (zero caps, budgets, window or timeout,
    /// a fee rate above 100 %) or a path-prefix key of zero segments.
    pub fn build(self) -> Result<L402Middleware<P>, BuildError> {
        self.policy.validate()?;
        if self.scope == KeyScope::PathPrefix(0) {
            return Err(BuildError::ZeroPathSegments);
        }
        Ok(L402Middleware {
            inner: Arc::new(Inner {
                payer: self.payer,
                store: self
                    .store
                    .unwrap_or_else(|| Arc::new(MemoryTokenStore::new())),
                policy: self.policy,
                scope: self.scope,
                events: self.events,
                recover_lazily: self.recover_lazily,
                recovered: tokio::sync::OnceCell::new(),
                flights: Mutex::new(HashMap::new()),
                cache: RwLock::new(HashMap::new()),
                ledger: self.ledger.unwrap_or_else(|| Arc::new(MemoryLedger::new())),
                tally: Mutex::new(Tally::default()),
                follow_cross_origin: self.follow_cross_origin,
                suspended: Mutex::new(HashMap::new()),
                prefer: self.prefer,
            }),
        })
    }
}

/// What [`L402Middleware::recover`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Pending payments found to have succeeded: their tokens were stored.
    pub recovered: usize,
    /// Pending payments found to have failed or never started: dropped.
    pub dropped: usize,
    /// Pending payments still in flight: kept, resolved later.
    pub in_flight: usize,
    /// Pending payments that could not be looked up: kept, resolved later.
    pub unresolved: usize,
}

impl L402Middleware<BoxPaymentBackend> {
    /// A builder for a middleware paying through `payer`, type-erased.
    pub fn boxed(payer: impl PaymentBackend + 'static) -> L402MiddlewareBuilder<BoxPaymentBackend> {
        L402Middleware::builder(BoxPaymentBackend::new(payer))
    }
}

impl<P: PaymentBackend + 'static> L402Middleware<P> {
    /// A builder for a middleware paying through `payer`.
    pub fn builder(payer: P) -> L402MiddlewareBuilder<P> {
        L402MiddlewareBuilder {
            payer,
            store: None,
            policy: SpendingPolicy::default(),
            scope: KeyScope::default(),
            events: None,
            recover_lazily: true,
            ledger: None,
            follow_cross_origin: false,
            prefer: SchemePreference::default(),
        }
    }

    /// What this middleware (and its clones) paid since it was built, payments
    /// recovered after a restart included. What everyone sharing the ledger paid is
    /// in [`ledger`](Self::ledger)'s [`summary`](SpendingLedger::summary).
    #[must_use]
    pub fn spending(&self) -> SpendingSummary {
        self.inner.tally().summary()
    }

    /// The spending ledger.
    #[must_use]
    pub fn ledger(&self) -> &Arc<dyn SpendingLedger> {
        &self.inner.ledger
    }

    /// The spending policy.
    #[must_use]
    pub fn policy(&self) -> &SpendingPolicy {
        &self.inner.policy
    }

    /// The token store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn TokenStore> {
        &self.inner.store
    }

    /// The token key of a URL (as the store sees it).
    ///
    /// # Errors
    /// [`L402Error::NoHost`] if the URL has no host.
    pub fn key_for(&self, url: &reqwest::Url) -> Result<String, L402Error> {
        self.inner.scope.key_for(url)
    }

    /// What `response` (the answer to a request for `request_url`) asks to be paid, checked
    /// against every rule the middleware applies before paying: the policy, `options`
    /// (its lower price cap), a cross-origin redirect, a suspended origin, and the budgets
    /// left in the ledger (amount plus fee cap must fit). Nothing is reserved or paid.
    ///
    /// The offer is the one a request would pay: the challenge the middleware put in the
    /// response's extensions (a request sent with [`PaymentOptions::never_pay`]), or the
    /// one in its headers. `Ok(None)` if it asks for no payment.
    ///
    /// # Errors
    /// [`L402Error::NoHost`] for a URL without a host; [`L402Error::Ledger`] if the
    /// ledger cannot be read.
    pub async fn quote(
        &self,
        request_url: &reqwest::Url,
        response: &Response,
        options: &PaymentOptions,
    ) -> Result<Option<Quote>, L402Error> {
        let inner = &self.inner;
        let offer = if let Some(c) = response.extensions().get::<Challenge>() {
            Some(Offer::L402(c.clone()))
        } else if let Some(c) = response.extensions().get::<PaymentChallenge>() {
            Some(Offer::Charge(c.clone()))
        } else {
            offer_of(response, inner.prefer)
        };
        let Some(offer) = offer else {
            return Ok(None);
        };
        let key = inner.scope.key_for(response.url())?;
        let invoice = match &offer {
            Offer::L402(c) => c.decode_invoice().ok(),
            Offer::Charge(c) => c.charge_request().ok().and_then(|r| r.check_invoice().ok()),
        };
        let amount = invoice
            .as_ref()
            .and_then(Bolt11Invoice::amount_milli_satoshis)
            .filter(|a| *a > 0)
            .map(Amount::from_msat);
        let mut refusal = None;
        if !same_origin(request_url, response.url()) && !inner.follow_cross_origin {
            refusal = Some(L402Error::CrossOriginRedirect {
                from: origin_of(request_url),
                to: origin_of(response.url()),
            });
        }
        if refusal.is_none() {
            refusal = inner.suspension(&origin_of(response.url()));
        }
        if refusal.is_none() {
            let checked = match &offer {
                Offer::L402(c) => inner.check(c, options).map(|_| ()),
                Offer::Charge(c) => inner.check_charge(c, options).map(|_| ()),
            };
            refusal = checked.err();
        }
        let limits = inner.policy.limits();
        let summary = inner
            .ledger
            .summary(limits.window)
            .await
            .map_err(L402Error::Ledger)?;
        let used = |a: Amount, f: Amount, r: Amount| a.saturating_add(f).saturating_add(r);
        let budget_left = limits
            .total
            .map(|b| b.saturating_sub(used(summary.total, summary.fees, summary.reserved)));
        let o = summary.per_origin.get(&key).copied().unwrap_or_default();
        let origin_budget_left = limits
            .per_origin
            .map(|b| b.saturating_sub(used(o.amount, o.fees, o.reserved)));
        let max_fee = amount.map(|a| inner.policy.fee_cap(a));
        if refusal.is_none()
            && let (Some(a), Some(f)) = (amount, max_fee)
        {
            let needed = a.saturating_add(f);
            let over = |left: Option<Amount>| left.filter(|l| needed > *l);
            if let Some(remaining) = over(budget_left) {
                refusal = Some(L402Error::BudgetExceeded {
                    scope: crate::BudgetScope::Total,
                    needed,
                    remaining,
                });
            } else if let Some(remaining) = over(origin_budget_left) {
                refusal = Some(L402Error::BudgetExceeded {
                    scope: crate::BudgetScope::Origin,
                    needed,
                    remaining,
                });
            }
        }
        Ok(Some(Quote {
            key,
            scheme: offer.scheme(),
            amount,
            max_fee,
            payment_hash: invoice.as_ref().map(PaymentHash::from),
            expires_at: invoice
                .as_ref()
                .and_then(Bolt11Invoice::expires_at)
                .map(|d| SystemTime::UNIX_EPOCH + d),
            network: invoice.as_ref().map(Bolt11Invoice::currency),
            budget_left,
            origin_budget_left,
            refusal,
        }))
    }

    /// Forgets the paid token stored for `key` (from the store and the cache): the next
    /// request for that key pays again. A pending payment is never forgotten (it may
    /// have cost money; it is resolved by lookup). Answers whether a token was removed.
    ///
    /// # Errors
    /// [`L402Error::Store`] if the store cannot be read or written.
    pub async fn forget(&self, key: &str) -> Result<bool, L402Error> {
        let inner = &self.inner;
        let flight = inner.flight(key);
        let result = {
            let _guard = flight.lock().await;
            match inner.store.lock(key).await {
                Ok(_store_lock) => match inner.store.load(key).await {
                    Ok(Some(TokenRecord::Paid(t))) => {
                        let removed = inner.store.remove(key, &t.payment_hash).await;
                        inner.set_cache(key, None);
                        removed.map_err(L402Error::from)
                    }
                    Ok(_) => {
                        inner.set_cache(key, None);
                        Ok(false)
                    }
                    Err(e) => Err(e.into()),
                },
                Err(e) => Err(e.into()),
            }
        };
        inner.end_flight(key, flight);
        result
    }

    /// Resolves every pending payment in the store by asking the node
    /// ([`PaymentBackend::lookup_payment`]): a payment that succeeded gives its token back
    /// (stored, nothing paid again); one that failed or never started is dropped; one
    /// still in flight is kept. Call it at start-up; the first request calls it otherwise
    /// (see [`L402MiddlewareBuilder::recover_on_first_request`]).
    ///
    /// # Errors
    /// [`L402Error::Store`] if the store cannot list its records. Lookup failures are
    /// counted in the report, not returned.
    pub async fn recover(&self) -> Result<RecoveryReport, L402Error> {
        let report = self.inner.recover_all().await;
        let _ = self.inner.recovered.set(());
        report
    }
}

#[async_trait::async_trait]
impl<P: PaymentBackend + 'static> Middleware for L402Middleware<P> {
    async fn handle(
        &self,
        req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        self.inner
            .handle(req, extensions, next)
            .await
            .map_err(|e| match e {
                Failure::L402(e) => reqwest_middleware::Error::middleware(e),
                Failure::Next(e) => e,
            })
    }
}

/// An error from the middleware itself, or from the rest of the chain (passed as is).
enum Failure {
    L402(L402Error),
    Next(reqwest_middleware::Error),
}

impl From<L402Error> for Failure {
    fn from(e: L402Error) -> Self {
        Failure::L402(e)
    }
}

impl From<reqwest_middleware::Error> for Failure {
    fn from(e: reqwest_middleware::Error) -> Self {
        Failure::Next(e)
    }
}

impl From<crate::error::StoreError> for Failure {
    fn from(e: crate::error::StoreError) -> Self {
        Failure::L402(e.into())
    }
}

/// A 402 answer's challenge, if it holds a usable one.
fn challenge_of(res: &Response) -> Option<Challenge> {
    if res.status() != StatusCode::PAYMENT_REQUIRED {
        return None;
    }
    match Challenge::from_headers(res.headers()) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::debug!(error = %l402_core::ErrorChain(&e), "402 without a usable L402 challenge, passing it on");
            None
        }
    }
}

/// The one offer of a 402 that the middleware pays (or refuses).
enum Offer {
    L402(Challenge),
    Charge(PaymentChallenge),
}

impl Offer {
    fn scheme(&self) -> OfferScheme {
        match self {
            Offer::L402(_) => OfferScheme::L402,
            Offer::Charge(_) => OfferScheme::Payment,
        }
    }

    /// The amount asked, if it can be read (for the [`Event::ChallengeSeen`] report only:
    /// the checks before paying decode everything again).
    fn amount(&self) -> Option<Amount> {
        match self {
            Offer::L402(c) => c
                .decode_invoice()
                .ok()
                .and_then(|i| i.amount_milli_satoshis())
                .map(Amount::from_msat),
            Offer::Charge(c) => c.charge_request().ok().map(|r| r.amount()),
        }
    }
}

/// The offer of a 402 to pay: its L402 challenge, or its first Lightning `charge` offer
/// of the `Payment` scheme, as `prefer` says when it has both. `Payment` offers of other
/// methods or intents (`session`) are never picked.
fn offer_of(res: &Response, prefer: SchemePreference) -> Option<Offer> {
    if res.status() != StatusCode::PAYMENT_REQUIRED {
        return None;
    }
    let l402 = challenge_of(res);
    let charge = match PaymentChallenge::from_headers(res.headers()) {
        Ok(list) => list.into_iter().find(PaymentChallenge::is_lightning_charge),
        Err(e) => {
            tracing::debug!(error = %l402_core::ErrorChain(&e), "402 without a usable Payment challenge");
            None
        }
    };
    match (prefer, l402, charge) {
        (SchemePreference::PaymentFirst, _, Some(c)) | (_, None, Some(c)) => Some(Offer::Charge(c)),
        (_, Some(l), _) => Some(Offer::L402(l)),
        (_, None, None) => None,
    }
}

/// How a pending payment's lookup ended.
enum Looked {
    Paid(PaymentSuccess),
    Failed(PayError),
}

/// How a lookup's "the node has no record of this payment" is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum UnknownIs {
    /// Final: the payment never started (a pending record found later).
    Final,
    /// Not yet final: the answer to a payment was just lost, and the node may not have
    /// recorded it yet; keep asking until the wait is over.
    NotYet,
}

/// How a pending payment turned out.
enum Resolution {
    Paid(Arc<Cached>),
    Dropped(PayError),
}

impl<P: PaymentBackend + 'static> Inner<P> {
    fn tally(&self) -> MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops a reservation; a failure leaves it held (budget over-counted, never
    /// under-counted).
    async fn release(&self, key: &str, hash: &PaymentHash) {
        if let Err(e) = self.ledger.release(hash).await {
            tracing::warn!(key = %key, payment_hash = %hash, error = %l402_core::ErrorChain(&e), "could not release a budget reservation");
        }
    }

    fn emit(&self, event: Event) {
        if let Some(h) = &self.events {
            h.on_event(&event);
        }
    }

    async fn handle(
        &self,
        mut req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response, Failure> {
        if self.recover_lazily {
            self.recovered
                .get_or_init(|| async {
                    if let Err(e) = self.recover_all().await {
                        tracing::warn!(error = %l402_core::ErrorChain(&e), "could not recover pending L402 payments");
                    }
                })
                .await;
        }
        let url = req.url().clone();
        let key = self.scope.key_for(&url)?;
        // The caller's own credentials are never replaced: the request goes as it is and
        // its answer (a 402 too, with the parsed challenge) comes back unpaid.
        if req.headers().contains_key(AUTHORIZATION) {
            let mut res = next.run(req, extensions).await?;
            if let Some(c) = challenge_of(&res) {
                tracing::debug!(key = %key, "request carries its own Authorization, not paying");
                res.extensions_mut().insert(c);
            }
            return Ok(res);
        }
        let options = extensions
            .get::<PaymentOptions>()
            .cloned()
            .unwrap_or_default();

        let cached = self.cached(&key).await?;
        if let Some(c) = &cached {
            req.headers_mut().insert(AUTHORIZATION, c.header.clone());
        }
        // Kept to retry after paying; `None` for a streaming body (checked before paying).
        let replay = if options.never_pay {
            None
        } else {
            req.try_clone()
        };
        let mut res = next.clone().run(req, extensions).await?;
        let Some(offer) = offer_of(&res, self.prefer) else {
            let reused = cached.is_some() && res.status() != StatusCode::PAYMENT_REQUIRED;
            if reused {
                self.emit(Event::TokenReused { key: key.clone() });
            }
            res.extensions_mut().insert(PaymentOutcome {
                key,
                paid: None,
                token_reused: reused,
            });
            return Ok(res);
        };
        // Who asked for payment: after redirects, the final URL's origin. A token is only
        // ever bought from, stored for and sent to that origin.
        let (key, target, mut sent) = if same_origin(&url, res.url()) {
            (key, None, cached.map(|c| c.payment_hash))
        } else {
            // The cached token (if any) was for the request's origin, and reqwest dropped
            // it on the hop.
            (
                self.scope.key_for(res.url())?,
                Some(res.url().clone()),
                None,
            )
        };
        self.emit(Event::ChallengeSeen {
            key: key.clone(),
            amount: offer.amount(),
        });
        self.emit(Event::OfferChosen {
            key: key.clone(),
            scheme: offer.scheme(),
        });
        if options.never_pay {
            res.extensions_mut().insert(PaymentOutcome {
                key: key.clone(),
                paid: None,
                token_reused: false,
            });
            match offer {
                Offer::L402(c) => {
                    res.extensions_mut().insert(c);
                }
                Offer::Charge(c) => {
                    res.extensions_mut().insert(c);
                }
            }
            return Ok(res);
        }
        if let Some(target) = &target
            && !self.follow_cross_origin
        {
            let e = L402Error::CrossOriginRedirect {
                from: origin_of(&url),
                to: origin_of(target),
            };
            self.refused(&key, &e);
            return Err(e.into());
        }
        let Some(replay) = replay else {
            let e = L402Error::BodyNotReplayable;
            self.refused(&key, &e);
            return Err(e.into());
        };
        drop(res);
        let payee = target.as_ref().unwrap_or(&url);
        let origin = origin_of(payee);
        if let Some(e) = self.suspension(&origin) {
            self.refused(&key, &e);
            return Err(e.into());
        }
        let mut challenge = match offer {
            Offer::L402(c) => c,
            Offer::Charge(c) => {
                // The stored L402 token this request carried was answered with a 402.
                if let Some(hash) = sent {
                    self.drop_token(&key, &hash).await;
                }
                let payee = payee.clone();
                return self
                    .charge_flow(
                        &key,
                        c,
                        ChargeRetry {
                            replay: &replay,
                            target: target.as_ref(),
                            payee: &payee,
                            origin: &origin,
                        },
                        &options,
                        next,
                        extensions,
                    )
                    .await;
            }
        };

        let mut paid = false;
        let mut redirected = false;
        for _ in 0..=MAX_RETRIES {
            if paid {
                break;
            }
            let (token, paid_now) = self.obtain(&key, &challenge, sent, &options).await?;
            paid = paid_now;
            let mut retry = replay.try_clone().ok_or(L402Error::BodyNotReplayable)?;
            if let Some(target) = &target {
                *retry.url_mut() = target.clone();
            }
            retry
                .headers_mut()
                .insert(AUTHORIZATION, token.header.clone());
            let mut res = next.clone().run(retry, extensions).await?;
            match challenge_of(&res) {
                None => {
                    res.extensions_mut().insert(PaymentOutcome {
                        key: key.clone(),
                        paid: paid.then_some(PaidFor {
                            scheme: token.scheme,
                            payment_hash: token.payment_hash,
                            amount: token.amount,
                            fee: token.fee,
                        }),
                        token_reused: !paid,
                    });
                    return Ok(res);
                }
                Some(_) if !same_origin(payee, res.url()) => {
                    // Sent elsewhere again: that origin's challenge is never paid here.
                    redirected = true;
                    sent = None;
                    if !paid {
                        let e = L402Error::CrossOriginRedirect {
                            from: origin_of(payee),
                            to: origin_of(res.url()),
                        };
                        self.refused(&key, &e);
                        return Err(e.into());
                    }
                    break;
                }
                Some(c) => {
                    tracing::debug!(key = %key, "token refused right after it was obtained");
                    challenge = c;
                    sent = Some(token.payment_hash);
                }
            }
        }
        // Paid, presented the new token, and was asked to pay again: do not pay in a loop,
        // and do not pay this origin again for a while.
        if let Some(hash) = sent {
            self.drop_token(&key, &hash).await;
        }
        if paid {
            self.suspend(&origin);
        }
        tracing::warn!(key = %key, redirected, "server still requires payment after paying once");
        Err(L402Error::StillPaymentRequired.into())
    }

    /// The refusal for a suspended origin, if it is.
    fn suspension(&self, origin: &str) -> Option<L402Error> {
        let mut suspended = self
            .suspended
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        suspended.retain(|_, until| *until > now);
        suspended
            .get(origin)
            .map(|until| L402Error::OriginSuspended {
                origin: origin.to_owned(),
                retry_after: until.saturating_duration_since(now),
            })
    }

    fn suspend(&self, origin: &str) {
        let cooldown = self.policy.suspend_after_unpaid;
        if cooldown.is_zero() {
            return;
        }
        tracing::warn!(origin = %origin, seconds = cooldown.as_secs(), "suspending payments to an origin that still required payment after being paid");
        if let Some(until) = Instant::now().checked_add(cooldown) {
            self.suspended
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(origin.to_owned(), until);
        }
    }

    fn refused(&self, key: &str, e: &L402Error) {
        tracing::info!(key = %key, reason = %e, "refusing to pay L402 challenge");
        self.emit(Event::PaymentRefused {
            key: key.to_owned(),
            reason: e.to_string(),
        });
    }

    /// The token for `key`, from the cache or the store.
    async fn cached(&self, key: &str) -> Result<Option<Arc<Cached>>, L402Error> {
        if let Some(entry) = self
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
        {
            return Ok(entry.clone());
        }
        let entry = match self.store.load(key).await? {
            Some(TokenRecord::Paid(t)) => Some(to_cached(&t)?),
            _ => None,
        };
        Ok(self
            .cache
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.to_owned())
            .or_insert(entry)
            .clone())
    }

    fn set_cache(&self, key: &str, entry: Option<Arc<Cached>>) {
        self.cache
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned(), entry);
    }

    /// Removes a refused token from the store and the cache.
    async fn drop_token(&self, key: &str, hash: &PaymentHash) {
        if let Err(e) = self.store.remove(key, hash).await {
            tracing::warn!(key = %key, error = %l402_core::ErrorChain(&e), "could not remove a refused token");
        }
        self.set_cache(key, None);
        self.emit(Event::TokenRejected {
            key: key.to_owned(),
        });
    }

    fn flight(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(flights.entry(key.to_owned()).or_default())
    }

    fn end_flight(&self, key: &str, flight: Arc<tokio::sync::Mutex<()>>) {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        // Only the map and this handle left: nobody waits, forget the lock.
        if Arc::strong_count(&flight) == 2 {
            flights.remove(key);
        }
    }

    /// A token for `key` after `challenge`: one stored meanwhile, a recovered one, or a new
    /// payment. One caller per key at a time. `sent` is the token the refused request
    /// carried. Answers whether this call paid.
    async fn obtain(
        &self,
        key: &str,
        challenge: &Challenge,
        sent: Option<PaymentHash>,
        options: &PaymentOptions,
    ) -> Result<(Arc<Cached>, bool), L402Error> {
        // Waiting for an in-flight payment is bounded from the time this request started
        // waiting, so that requests queued behind one another time out together.
        let deadline = Instant::now() + self.policy.in_flight_wait;
        let flight = self.flight(key);
        let result = {
            let _guard = flight.lock().await;
            match self.store.lock(key).await {
                Ok(_store_lock) => {
                    self.obtain_locked(key, challenge, sent, options, deadline)
                        .await
                }
                Err(e) => Err(e.into()),
            }
        };
        self.end_flight(key, flight);
        result
    }

    async fn obtain_locked(
        &self,
        key: &str,
        challenge: &Challenge,
        sent: Option<PaymentHash>,
        options: &PaymentOptions,
        deadline: Instant,
    ) -> Result<(Arc<Cached>, bool), L402Error> {
        match self.store.load(key).await? {
            Some(TokenRecord::Paid(t)) => {
                if Some(t.payment_hash) != sent {
                    // Paid by another request (or process) while this one waited.
                    let c = to_cached(&t)?;
                    self.set_cache(key, Some(Arc::clone(&c)));
                    tracing::debug!(key = %key, "using a token obtained meanwhile");
                    return Ok((c, false));
                }
                self.drop_token(key, &t.payment_hash).await;
            }
            Some(TokenRecord::Pending(p)) => match self
                .resolve_pending(key, &p, deadline, UnknownIs::Final)
                .await?
            {
                Resolution::Paid(c) if Some(c.payment_hash) != sent => return Ok((c, false)),
                Resolution::Paid(c) => self.drop_token(key, &c.payment_hash).await,
                Resolution::Dropped(_) => {}
            },
            // Charge records live under their own keys; never here.
            None | Some(TokenRecord::Charge(_)) => {
                if let Some(hash) = sent {
                    self.set_cache(key, None);
                    tracing::debug!(key = %key, payment_hash = %hash, "cached token refused");
                    self.emit(Event::TokenRejected {
                        key: key.to_owned(),
                    });
                }
            }
        }
        let c = self.pay(key, challenge, options).await?;
        Ok((c, true))
    }

    /// Checks a challenge against the policy; the invoice, its hash and amount if payable.
    fn check(
        &self,
        challenge: &Challenge,
        options: &PaymentOptions,
    ) -> Result<(Bolt11Invoice, PaymentHash, Amount), L402Error> {
        let invoice = challenge
            .decode_invoice()
            .map_err(L402Error::InvalidInvoice)?;
        let identifier = Identifier::decode(challenge.macaroon().identifier())
            .map_err(L402Error::InvalidIdentifier)?;
        let hash = PaymentHash::from(&invoice);
        if identifier.payment_hash() != &hash {
            return Err(L402Error::PaymentHashMismatch);
        }
        let amount = self.check_invoice(&invoice, options)?;
        Ok((invoice, hash, amount))
    }

    /// Checks a `Payment` charge offer against the policy, before paying: the request
    /// decodes; its invoice decodes, has an amount, and agrees with the request on
    /// amount, payment hash and network (the invoice is authoritative); the challenge
    /// has not expired; then every rule an L402 invoice is held to.
    fn check_charge(
        &self,
        challenge: &PaymentChallenge,
        options: &PaymentOptions,
    ) -> Result<(Bolt11Invoice, PaymentHash, Amount), L402Error> {
        let request = challenge
            .charge_request()
            .map_err(L402Error::InvalidChargeRequest)?;
        let invoice = request.check_invoice().map_err(|e| match e {
            ChargeInvoiceError::NoAmount => L402Error::NoAmount,
            e => L402Error::ChargeMismatch(e),
        })?;
        if challenge.expires.is_some() {
            let expires = challenge
                .expires_at()
                .map_err(L402Error::InvalidChallengeExpiry)?;
            let soon = SystemTime::now()
                .checked_add(self.policy.expiry_margin)
                .unwrap_or_else(SystemTime::now);
            if expires <= soon {
                return Err(L402Error::ChallengeExpired);
            }
        }
        let hash = PaymentHash::from(&invoice);
        let amount = self.check_invoice(&invoice, options)?;
        Ok((invoice, hash, amount))
    }

    /// The rules every invoice is held to, whatever the scheme: network, expiry, CLTV
    /// delta, an amount, the per-request cap. Answers the amount.
    fn check_invoice(
        &self,
        invoice: &Bolt11Invoice,
        options: &PaymentOptions,
    ) -> Result<Amount, L402Error> {
        if let Some(expected) = &self.policy.network
            && invoice.currency() != *expected
        {
            return Err(L402Error::WrongNetwork {
                expected: expected.clone(),
                found: invoice.currency(),
            });
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        if invoice.would_expire(now.saturating_add(self.policy.expiry_margin)) {
            return Err(L402Error::InvoiceExpired);
        }
        let delta = invoice.min_final_cltv_expiry_delta();
        if delta > u64::from(self.policy.max_cltv_delta) {
            return Err(L402Error::CltvDeltaTooHigh {
                delta,
                max: self.policy.max_cltv_delta,
            });
        }
        let amount = invoice
            .amount_milli_satoshis()
            .filter(|a| *a > 0)
            .map(Amount::from_msat)
            .ok_or(L402Error::NoAmount)?;
        let max = options
            .max_price
            .map_or(self.policy.max_price, |m| m.min(self.policy.max_price));
        if amount > max {
            return Err(L402Error::PriceTooHigh { price: amount, max });
        }
        Ok(amount)
    }

    /// Checks, reserves budget, stores the pending record, pays, stores the token.
    async fn pay(
        &self,
        key: &str,
        challenge: &Challenge,
        options: &PaymentOptions,
    ) -> Result<Arc<Cached>, L402Error> {
        let (invoice, hash, amount) = match self.check(challenge, options) {
            Ok(ok) => ok,
            Err(e) => {
                self.refused(key, &e);
                return Err(e);
            }
        };
        let max_fee = self.policy.fee_cap(amount);
        let reservation = Reservation::new(key, hash, amount, max_fee, self.policy.limits());
        // `AlreadyHeld`: a payment of this hash is reserved by someone else sharing the
        // ledger (the same invoice served to two agents); that reservation is theirs to
        // release, not this call's.
        let ours = match self.ledger.reserve(&reservation).await {
            Ok(reserved) => reserved == Reserved::New,
            Err(e) => {
                let e = L402Error::from(e);
                self.refused(key, &e);
                return Err(e);
            }
        };
        let pending = PendingPayment::new(
            challenge.macaroon().clone(),
            challenge.invoice(),
            hash,
            amount,
            SystemTime::now(),
        )
        .with_scheme(challenge.scheme())
        .with_max_fee(max_fee);
        if let Err(e) = self
            .store
            .save(key, &TokenRecord::Pending(pending.clone()))
            .await
        {
            if ours {
                self.release(key, &hash).await;
            }
            tracing::warn!(key = %key, error = %l402_core::ErrorChain(&e), "could not store the pending record, not paying");
            return Err(e.into());
        }
        self.set_cache(key, None);
        tracing::info!(key = %key, payment_hash = %hash, amount = %amount, max_fee = %max_fee, "paying L402 invoice");
        self.emit(Event::PaymentStarted {
            key: key.to_owned(),
            payment_hash: hash,
            amount,
            max_fee,
        });
        let params = PayParams::new(max_fee, self.policy.pay_timeout)
            .max_cltv_delta(self.policy.max_cltv_delta);
        match self.payer.pay_invoice(&invoice, &params).await {
            Ok(success) => self.complete(key, &pending, success, false).await,
            // "Already paid" / "in transition": a payment for this hash exists (another
            // process on the node, an invoice served twice). Its outcome is this one's.
            Err(
                e @ (PayError::OutcomeUnknown(_) | PayError::Failed(FailureReason::AlreadyPaid)),
            ) => {
                tracing::warn!(key = %key, payment_hash = %hash, error = %l402_core::ErrorChain(&e), "payment outcome unknown, looking it up");
                let deadline = Instant::now() + self.policy.in_flight_wait;
                // Right after a lost answer the node may not have recorded the payment
                // yet: "unknown" is not final until the wait is over.
                match self
                    .resolve_pending(key, &pending, deadline, UnknownIs::NotYet)
                    .await?
                {
                    Resolution::Paid(c) => Ok(c),
                    Resolution::Dropped(e) => Err(L402Error::PaymentFailed(e)),
                }
            }
            Err(e) => Err(self.payment_failed(key, key, hash, ours, e, "L402").await),
        }
    }

    /// A payment that definitely failed (nothing paid): drops its pending record (stored
    /// under `record_key`), releases the reservation this call took (`ours`), and reports
    /// the failure. The same for L402 tokens and `Payment` charges (`what`).
    async fn payment_failed(
        &self,
        key: &str,
        record_key: &str,
        hash: PaymentHash,
        ours: bool,
        e: PayError,
        what: &'static str,
    ) -> L402Error {
        if let Err(se) = self.store.remove(record_key, &hash).await {
            // The record stays; the next lookup finds the failure and drops it.
            tracing::warn!(key = %key, error = %l402_core::ErrorChain(&se), "could not remove a failed pending {what} record");
        }
        if ours {
            self.release(key, &hash).await;
        }
        tracing::info!(key = %key, payment_hash = %hash, error = %l402_core::ErrorChain(&e), "{what} payment failed");
        self.emit(Event::PaymentFailed {
            key: key.to_owned(),
            payment_hash: hash,
            reason: e.to_string(),
        });
        L402Error::PaymentFailed(e)
    }

    /// Stores the token of a completed payment (replacing its pending record) and caches
    /// it.
    async fn complete(
        &self,
        key: &str,
        pending: &PendingPayment,
        success: PaymentSuccess,
        recovered: bool,
    ) -> Result<Arc<Cached>, L402Error> {
        let hash = pending.payment_hash;
        if !hash.matches(&success.preimage) {
            tracing::error!(key = %key, payment_hash = %hash, "node returned a preimage that does not match");
            return Err(L402Error::BadPreimage { payment_hash: hash });
        }
        let amount = paid_amount(&success, pending.amount_due());
        let token = StoredToken::new(
            pending.macaroon.clone(),
            success.preimage,
            amount,
            success.fee,
            SystemTime::now(),
        )
        .with_scheme(pending.scheme);
        if let Err(e) = self.ledger.commit(key, &hash, amount, success.fee).await {
            // The reservation (amount plus fee cap) stays: over-counted, never under.
            tracing::warn!(key = %key, payment_hash = %hash, error = %l402_core::ErrorChain(&e), "could not commit a payment to the spending ledger");
        }
        self.tally().record(key, amount, success.fee);
        let cached = to_cached(&token)?;
        if let Err(e) = self.store.save(key, &TokenRecord::Paid(token)).await {
            // The pending record stays: after a restart the token is recovered by lookup.
            tracing::error!(key = %key, payment_hash = %hash, error = %l402_core::ErrorChain(&e), "paid but could not store the token; using it from memory");
        }
        self.set_cache(key, Some(Arc::clone(&cached)));
        if recovered {
            tracing::info!(key = %key, payment_hash = %hash, amount = %amount, fee = %success.fee, "recovered the token of a pending payment");
            self.emit(Event::PaymentRecovered {
                key: key.to_owned(),
                payment_hash: hash,
                amount,
                fee: success.fee,
                scheme: OfferScheme::L402,
            });
        } else {
            tracing::info!(key = %key, payment_hash = %hash, amount = %amount, fee = %success.fee, "L402 payment succeeded, token stored");
            self.emit(Event::PaymentSucceeded {
                key: key.to_owned(),
                payment_hash: hash,
                amount,
                fee: success.fee,
            });
        }
        Ok(cached)
    }

    /// Asks the node how a pending payment ended, waiting until `deadline` while it is in
    /// flight (one lookup at least). Never pays.
    async fn resolve_pending(
        &self,
        key: &str,
        pending: &PendingPayment,
        deadline: Instant,
        unknown_is: UnknownIs,
    ) -> Result<Resolution, L402Error> {
        let hash = pending.payment_hash;
        self.hold(key, &hash, pending.amount_due(), pending.max_fee)
            .await;
        match self.lookup_until(key, &hash, deadline, unknown_is).await? {
            Looked::Paid(success) => self
                .complete(key, pending, success, true)
                .await
                .map(Resolution::Paid),
            Looked::Failed(why) => self.drop_pending(key, key, &hash, why).await,
        }
    }

    /// Looks a payment up by hash until it is final or `deadline` passes (one lookup at
    /// least).
    async fn lookup_until(
        &self,
        key: &str,
        hash: &PaymentHash,
        deadline: Instant,
        unknown_is: UnknownIs,
    ) -> Result<Looked, L402Error> {
        loop {
            let last_error = match self.payer.lookup_payment(hash).await {
                Ok(PaymentStatus::Succeeded(success)) => return Ok(Looked::Paid(success)),
                Ok(PaymentStatus::Failed(reason)) => {
                    return Ok(Looked::Failed(PayError::Failed(reason)));
                }
                Ok(PaymentStatus::Unknown)
                    if unknown_is == UnknownIs::NotYet && Instant::now() < deadline =>
                {
                    None
                }
                Ok(PaymentStatus::Unknown) => {
                    let reason =
                        FailureReason::Other("the node has no record of the payment".into());
                    return Ok(Looked::Failed(PayError::Failed(reason)));
                }
                Ok(_) => None, // in flight
                Err(e) => Some(e),
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(match last_error {
                    Some(source) => L402Error::Lookup {
                        payment_hash: *hash,
                        source,
                    },
                    None => L402Error::PaymentInFlight {
                        payment_hash: *hash,
                    },
                });
            }
            if let Some(e) = &last_error {
                tracing::debug!(key = %key, payment_hash = %hash, error = %l402_core::ErrorChain(&e), "payment lookup failed, retrying");
            }
            tokio::time::sleep(self.policy.poll_interval.min(deadline - now)).await;
        }
    }

    /// Holds amount plus fee cap of a pending payment in the ledger until it is resolved
    /// (a payment from before a restart may still complete), whatever the budgets say:
    /// the money may be spent already. Idempotent: the payment's own reservation, if
    /// still held, is kept as is.
    async fn hold(&self, key: &str, hash: &PaymentHash, amount: Amount, max_fee: Option<Amount>) {
        let max_fee = max_fee.unwrap_or_else(|| self.policy.fee_cap(amount));
        let reservation = Reservation::new(key, *hash, amount, max_fee, Limits::new());
        if let Err(e) = self.ledger.reserve(&reservation).await {
            tracing::warn!(key = %key, payment_hash = %hash, error = %l402_core::ErrorChain(&e), "could not hold a pending payment in the spending ledger");
        }
    }

    /// Removes a pending record (under `store_key`) that did not complete and releases
    /// its reservation (under `key`).
    async fn drop_pending(
        &self,
        key: &str,
        store_key: &str,
        hash: &PaymentHash,
        why: PayError,
    ) -> Result<Resolution, L402Error> {
        self.store.remove(store_key, hash).await?;
        self.release(key, hash).await;
        tracing::info!(key = %key, payment_hash = %hash, reason = %why, "dropped a pending payment that did not complete");
        self.emit(Event::PendingDropped {
            key: key.to_owned(),
            payment_hash: *hash,
        });
        Ok(Resolution::Dropped(why))
    }

    async fn recover_all(&self) -> Result<RecoveryReport, L402Error> {
        let mut report = RecoveryReport::default();
        for (key, pending) in self.store.pending().await? {
            let flight = self.flight(&key);
            let outcome = {
                let _guard = flight.lock().await;
                match self.store.lock(&key).await {
                    Ok(_store_lock) => match self.store.load(&key).await {
                        // Still the same pending record (nobody resolved it meanwhile)?
                        Ok(Some(TokenRecord::Pending(p)))
                            if p.payment_hash == pending.payment_hash =>
                        {
                            self.resolve_pending(&key, &p, Instant::now(), UnknownIs::Final)
                                .await
                                .map(Some)
                        }
                        Ok(_) => Ok(None),
                        Err(e) => Err(e.into()),
                    },
                    Err(e) => Err(e.into()),
                }
            };
            self.end_flight(&key, flight);
            match outcome {
                Ok(Some(Resolution::Paid(_))) => report.recovered += 1,
                Ok(Some(Resolution::Dropped(_))) => report.dropped += 1,
                Ok(None) => {}
                Err(L402Error::PaymentInFlight { .. }) => report.in_flight += 1,
                Err(e) => {
                    tracing::warn!(key = %key, error = %l402_core::ErrorChain(&e), "could not resolve a pending payment");
                    report.unresolved += 1;
                }
            }
        }
        self.recover_charges(&mut report).await?;
        Ok(report)
    }
}

/// Where and how a paid `Payment` charge is presented.
struct ChargeRetry<'a> {
    /// The request, cloned before it was first sent.
    replay: &'a Request,
    /// The final URL of a cross-origin redirect that is followed, if any.
    target: Option<&'a reqwest::Url>,
    /// The URL of whoever asked for payment.
    payee: &'a reqwest::Url,
    /// Its origin.
    origin: &'a str,
}

/// `Payment` scheme charges (method `lightning`, intent `charge`).
///
/// A charge credential is single use, so each request pays its own charge: there is no
/// token to share. One request per key at a time pays and presents its charge (the
/// single-flight lock and the store lock are held from the payment to the answer to the
/// retry), so concurrent requests to one origin queue and each reservation sees the
/// budget the ones before it left: N requests pay at most N charges, and never more than
/// the budgets allow.
impl<P: PaymentBackend + 'static> Inner<P> {
    async fn charge_flow(
        &self,
        key: &str,
        challenge: PaymentChallenge,
        retry: ChargeRetry<'_>,
        options: &PaymentOptions,
        next: Next<'_>,
        extensions: &mut Extensions,
    ) -> Result<Response, Failure> {
        let ckey = charge_key(key);
        let flight = self.flight(&ckey);
        let result = {
            let _guard = flight.lock().await;
            match self.store.lock(&ckey).await {
                Ok(_store_lock) => {
                    self.charge_locked(key, &ckey, challenge, &retry, options, next, extensions)
                        .await
                }
                Err(e) => Err(L402Error::from(e).into()),
            }
        };
        self.end_flight(&ckey, flight);
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn charge_locked(
        &self,
        key: &str,
        ckey: &str,
        mut challenge: PaymentChallenge,
        retry: &ChargeRetry<'_>,
        options: &PaymentOptions,
        next: Next<'_>,
        extensions: &mut Extensions,
    ) -> Result<Response, Failure> {
        let deadline = Instant::now() + self.policy.in_flight_wait;
        let mut paid = false;
        // At most two presentations: a credential paid before (an interrupted request)
        // that the server may have consumed already, then one this call pays for.
        for _ in 0..2 {
            let (rec, paid_now) = self
                .charge_credential(key, ckey, &challenge, options, deadline)
                .await?;
            paid |= paid_now;
            let Some(preimage) = &rec.preimage else {
                return Err(L402Error::InvalidHeader.into());
            };
            let header = PaymentCredential::new(rec.challenge.clone(), preimage)
                .to_header_value()
                .map_err(|_| L402Error::InvalidHeader)?;
            let mut req = retry
                .replay
                .try_clone()
                .ok_or(L402Error::BodyNotReplayable)?;
            if let Some(target) = retry.target {
                *req.url_mut() = target.clone();
            }
            req.headers_mut().insert(AUTHORIZATION, header);
            // A transport error leaves the record: the credential may not have reached
            // the server, and the next challenged request presents it.
            let mut res = next.clone().run(req, extensions).await?;
            // Presented and answered: single use, spent whatever the answer.
            self.spend_charge(ckey, &rec.payment_hash).await;
            if res.status() != StatusCode::PAYMENT_REQUIRED {
                match PaymentReceipt::from_headers(res.headers()) {
                    Ok(Some(receipt)) => {
                        self.emit(Event::ReceiptReceived {
                            key: key.to_owned(),
                            payment_hash: rec.payment_hash,
                            receipt: receipt.clone(),
                        });
                        res.extensions_mut().insert(receipt);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(key = %key, error = %l402_core::ErrorChain(&e), "unreadable Payment-Receipt");
                    }
                }
                res.extensions_mut().insert(PaymentOutcome {
                    key: key.to_owned(),
                    paid: paid_now.then_some(PaidFor {
                        scheme: OfferScheme::Payment,
                        payment_hash: rec.payment_hash,
                        amount: rec.amount,
                        fee: rec.fee.unwrap_or(Amount::ZERO),
                    }),
                    token_reused: false,
                });
                return Ok(res);
            }
            if !same_origin(retry.payee, res.url()) {
                if !paid {
                    let e = L402Error::CrossOriginRedirect {
                        from: origin_of(retry.payee),
                        to: origin_of(res.url()),
                    };
                    self.refused(key, &e);
                    return Err(e.into());
                }
                break;
            }
            if paid_now {
                break;
            }
            // A credential paid before was refused (the server had most likely consumed
            // it before the interruption): pay this 402's charge, once.
            tracing::debug!(key = %key, payment_hash = %rec.payment_hash, "earlier Payment credential refused");
            match offer_of(&res, SchemePreference::PaymentFirst) {
                Some(Offer::Charge(c)) => challenge = c,
                _ => return Ok(res),
            }
        }
        if paid {
            self.suspend(retry.origin);
        }
        tracing::warn!(key = %key, "server still requires payment after a Payment charge");
        Err(L402Error::StillPaymentRequired.into())
    }

    /// A paid charge to present: one paid before and never presented (resolved by lookup
    /// first if pending), else a new payment of `challenge`. Answers whether it paid now.
    async fn charge_credential(
        &self,
        key: &str,
        ckey: &str,
        challenge: &PaymentChallenge,
        options: &PaymentOptions,
        deadline: Instant,
    ) -> Result<(ChargeRecord, bool), L402Error> {
        if let Some(TokenRecord::Charge(rec)) = self.store.load(ckey).await? {
            let rec = if rec.is_pending() {
                self.resolve_charge(key, ckey, &rec, deadline, UnknownIs::Final)
                    .await?
            } else {
                Some(rec)
            };
            if let Some(rec) = rec {
                if charge_presentable(&rec) {
                    return Ok((rec, false));
                }
                // Paid (and counted) but its challenge expired before it was presented.
                tracing::warn!(key = %key, payment_hash = %rec.payment_hash, "a paid Payment credential expired before it was presented");
                self.spend_charge(ckey, &rec.payment_hash).await;
            }
        }
        let rec = self.pay_charge(key, ckey, challenge, options).await?;
        Ok((rec, true))
    }

    /// Checks, reserves budget, stores the pending record, pays, stores the paid
    /// credential (not yet presented).
    async fn pay_charge(
        &self,
        key: &str,
        ckey: &str,
        challenge: &PaymentChallenge,
        options: &PaymentOptions,
    ) -> Result<ChargeRecord, L402Error> {
        let (invoice, hash, amount) = match self.check_charge(challenge, options) {
            Ok(ok) => ok,
            Err(e) => {
                self.refused(key, &e);
                return Err(e);
            }
        };
        let max_fee = self.policy.fee_cap(amount);
        let reservation = Reservation::new(key, hash, amount, max_fee, self.policy.limits());
        let ours = match self.ledger.reserve(&reservation).await {
            Ok(reserved) => reserved == Reserved::New,
            Err(e) => {
                let e = L402Error::from(e);
                self.refused(key, &e);
                return Err(e);
            }
        };
        let pending = ChargeRecord::pending(challenge.clone(), hash, amount, SystemTime::now());
        if let Err(e) = self
            .store
            .save(ckey, &TokenRecord::Charge(pending.clone()))
            .await
        {
            if ours {
                self.release(key, &hash).await;
            }
            tracing::warn!(key = %key, error = %l402_core::ErrorChain(&e), "could not store the pending charge, not paying");
            return Err(e.into());
        }
        tracing::info!(key = %key, payment_hash = %hash, amount = %amount, max_fee = %max_fee, "paying Payment charge invoice");
        self.emit(Event::PaymentStarted {
            key: key.to_owned(),
            payment_hash: hash,
            amount,
            max_fee,
        });
        let params = PayParams::new(max_fee, self.policy.pay_timeout)
            .max_cltv_delta(self.policy.max_cltv_delta);
        match self.payer.pay_invoice(&invoice, &params).await {
            Ok(success) => {
                self.complete_charge(key, ckey, &pending, success, false)
                    .await
            }
            Err(
                e @ (PayError::OutcomeUnknown(_) | PayError::Failed(FailureReason::AlreadyPaid)),
            ) => {
                tracing::warn!(key = %key, payment_hash = %hash, error = %l402_core::ErrorChain(&e), "charge payment outcome unknown, looking it up");
                let deadline = Instant::now() + self.policy.in_flight_wait;
                match self
                    .resolve_charge(key, ckey, &pending, deadline, UnknownIs::NotYet)
                    .await?
                {
                    Some(rec) => Ok(rec),
                    None => Err(L402Error::PaymentFailed(e)),
                }
            }
            Err(e) => Err(self
                .payment_failed(key, ckey, hash, ours, e, "Payment charge")
                .await),
        }
    }

    /// Records a paid charge: the ledger's commit, then the paid credential replaces the
    /// pending record (so that a crash before it is presented loses no preimage).
    async fn complete_charge(
        &self,
        key: &str,
        ckey: &str,
        pending: &ChargeRecord,
        success: PaymentSuccess,
        recovered: bool,
    ) -> Result<ChargeRecord, L402Error> {
        let hash = pending.payment_hash;
        if !hash.matches(&success.preimage) {
            tracing::error!(key = %key, payment_hash = %hash, "node returned a preimage that does not match");
            return Err(L402Error::BadPreimage { payment_hash: hash });
        }
        let amount = paid_amount(&success, pending.amount_due());
        if let Err(e) = self.ledger.commit(key, &hash, amount, success.fee).await {
            tracing::warn!(key = %key, payment_hash = %hash, error = %l402_core::ErrorChain(&e), "could not commit a payment to the spending ledger");
        }
        self.tally().record(key, amount, success.fee);
        let mut paid = pending.clone().paid(success.preimage, success.fee);
        paid.amount = amount;
        if let Err(e) = self
            .store
            .save(ckey, &TokenRecord::Charge(paid.clone()))
            .await
        {
            // The pending record stays: after a restart the payment is found by lookup.
            tracing::error!(key = %key, payment_hash = %hash, error = %l402_core::ErrorChain(&e), "paid but could not store the charge; presenting it from memory");
        }
        if recovered {
            tracing::info!(key = %key, payment_hash = %hash, amount = %amount, fee = %success.fee, "recovered a pending Payment charge");
            self.emit(Event::PaymentRecovered {
                key: key.to_owned(),
                payment_hash: hash,
                amount,
                fee: success.fee,
                scheme: OfferScheme::Payment,
            });
        } else {
            tracing::info!(key = %key, payment_hash = %hash, amount = %amount, fee = %success.fee, "Payment charge paid");
            self.emit(Event::PaymentSucceeded {
                key: key.to_owned(),
                payment_hash: hash,
                amount,
                fee: success.fee,
            });
        }
        Ok(paid)
    }

    /// Resolves a pending charge by lookup: the paid record, or `None` when it did not
    /// complete (dropped, reservation released). Never pays.
    async fn resolve_charge(
        &self,
        key: &str,
        ckey: &str,
        pending: &ChargeRecord,
        deadline: Instant,
        unknown_is: UnknownIs,
    ) -> Result<Option<ChargeRecord>, L402Error> {
        let hash = pending.payment_hash;
        self.hold(key, &hash, pending.amount_due(), None).await;
        match self.lookup_until(key, &hash, deadline, unknown_is).await? {
            Looked::Paid(success) => self
                .complete_charge(key, ckey, pending, success, true)
                .await
                .map(Some),
            Looked::Failed(why) => {
                self.drop_pending(key, ckey, &hash, why).await?;
                Ok(None)
            }
        }
    }

    /// Removes a charge record once its credential was presented and answered.
    async fn spend_charge(&self, ckey: &str, hash: &PaymentHash) {
        if let Err(e) = self.store.remove(ckey, hash).await {
            tracing::warn!(key = %ckey, payment_hash = %hash, error = %l402_core::ErrorChain(&e), "could not remove a spent Payment charge");
        }
    }

    /// Resolves every pending charge in the store at start-up. Paid ones stay, to be
    /// presented by the next challenged request for their key.
    async fn recover_charges(&self, report: &mut RecoveryReport) -> Result<(), L402Error> {
        for (ckey, listed) in self.store.charges().await? {
            if !listed.is_pending() {
                continue;
            }
            let Some(key) = ckey.strip_suffix(CHARGE_KEY_SUFFIX) else {
                continue;
            };
            let flight = self.flight(&ckey);
            let outcome = {
                let _guard = flight.lock().await;
                match self.store.lock(&ckey).await {
                    Ok(_store_lock) => match self.store.load(&ckey).await {
                        Ok(Some(TokenRecord::Charge(c)))
                            if c.is_pending() && c.payment_hash == listed.payment_hash =>
                        {
                            self.resolve_charge(key, &ckey, &c, Instant::now(), UnknownIs::Final)
                                .await
                                .map(Some)
                        }
                        Ok(_) => Ok(None),
                        Err(e) => Err(e.into()),
                    },
                    Err(e) => Err(e.into()),
                }
            };
            self.end_flight(&ckey, flight);
            match outcome {
                Ok(Some(Some(_))) => report.recovered += 1,
                Ok(Some(None)) => report.dropped += 1,
                Ok(None) => {}
                Err(L402Error::PaymentInFlight { .. }) => report.in_flight += 1,
                Err(e) => {
                    tracing::warn!(key = %ckey, error = %l402_core::ErrorChain(&e), "could not resolve a pending Payment charge");
                    report.unresolved += 1;
                }
            }
        }
        Ok(())
    }
}

/// What a payment cost, fees excluded: what the node reports, or, when it reports
/// nothing (some nodes' payment lists omit the amount), the amount recorded before
/// paying.
fn paid_amount(success: &PaymentSuccess, recorded: Amount) -> Amount {
    if success.amount == Amount::ZERO {
        recorded
    } else {
        success.amount
    }
}

/// Whether a paid charge can still be presented: its challenge has not expired (one
/// without `expires` is left to the server to judge).
fn charge_presentable(rec: &ChargeRecord) -> bool {
    rec.challenge.expires.is_none()
        || rec
            .challenge
            .expires_at()
            .is_ok_and(|at| at > SystemTime::now())
}

fn to_cached(t: &StoredToken) -> Result<Arc<Cached>, L402Error> {
    let header = t
        .credential()
        .to_header_value(t.scheme)
        .map_err(|_| L402Error::InvalidHeader)?;
    Ok(Arc::new(Cached {
        header,
        payment_hash: t.payment_hash,
        // A stored token is an L402 (or LSAT) one; charges are never stored as tokens.
        scheme: OfferScheme::L402,
        amount: t.amount,
        fee: t.fee,
    }))
}

/// The origin of a URL, `scheme://host:port`.
fn origin_of(url: &reqwest::Url) -> String {
    KeyScope::Origin
        .key_for(url)
        .unwrap_or_else(|_| url.origin().ascii_serialization())
}

/// Whether two URLs have the same origin (scheme, host and port).
fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}
