//! [`L402Service`]: the middleware service, and the authorization flow behind it.

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::sync::Arc;
use std::time::SystemTime;

use http::header::{AUTHORIZATION, CACHE_CONTROL};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request, Response};
use l402_core::backend::InvoiceRequest;
use l402_core::payment_scheme::{
    ChargeContext, ChargeRequest, Consumption, PAYMENT_RECEIPT, ParsePaymentCredentialError,
    PaymentChallenge, VerifyAuthorizationError, verify_authorization,
};
use l402_core::{Challenge, Credential, InvoiceBackend, RootKeyStore, VerifyContext, mint};
use tower_service::Service;

use crate::body::MakeBody;
use crate::future::ResponseFuture;
use crate::layer::{DefaultPrice, PriceSource, Shared};
use crate::observe::{Operation, Reason, Scheme, Timer};
use crate::payment::{Failure, Offers, PaymentConfig};
use crate::pricing::{Price, PriceRequest};
use crate::response::{Rejection, is_grpc};

/// The future of an authorization: gives the request head back, with the receipt in its
/// extensions when the request may pass.
pub(crate) type AuthFuture = Pin<Box<dyn Future<Output = (Parts, Outcome)> + Send + 'static>>;

/// What the authorization decided.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Call the inner service.
    Pass,
    /// Call the inner service, and set these headers on its response.
    PassWith(HeaderMap),
    /// Answer with this.
    Reject(Rejection),
}

/// Middleware that puts a service behind L402. Made by [`L402Layer`](crate::L402Layer).
///
/// Cheap to clone: the inner service is cloned, the configuration shared.
pub struct L402Service<S, B, K, M = crate::TextBody> {
    inner: S,
    shared: Arc<Shared<B, K>>,
    _body: PhantomData<fn() -> M>,
}

impl<S, B, K, M> L402Service<S, B, K, M> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<B, K>>) -> Self {
        L402Service {
            inner,
            shared,
            _body: PhantomData,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, B, K, M> Clone for L402Service<S, B, K, M> {
    fn clone(&self) -> Self {
        L402Service {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            _body: PhantomData,
        }
    }
}

impl<S: fmt::Debug, B, K, M> fmt::Debug for L402Service<S, B, K, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("L402Service")
            .field("inner", &self.inner)
            .field("service", &self.shared.service)
            .finish_non_exhaustive()
    }
}

impl<S, B, K, M, ReqBody, ResBody> Service<Request<ReqBody>> for L402Service<S, B, K, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    B: InvoiceBackend + 'static,
    K: RootKeyStore + 'static,
    M: MakeBody<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // Take the service that was driven to readiness; leave a clone in its place.
        let clone = self.inner.clone();
        let mut inner = core::mem::replace(&mut self.inner, clone);
        let route = self
            .shared
            .route_index(request.method(), request.uri().path());
        if let PriceSource::Static(price) = self.shared.price_source(route)
            && price.is_zero()
        {
            // Free: no credential needed, nothing to verify.
            return ResponseFuture::inner(inner.call(request));
        }
        let (parts, body) = request.into_parts();
        let auth = Box::pin(authorize(Arc::clone(&self.shared), parts, route));
        ResponseFuture::authorize(auth, inner, body)
    }
}

/// The flow for a request on a route that may cost something.
///
/// 1. A credential, if present, is verified: an L402 token (preimage first, then the
///    root-key lookup, then signature and caveats), or on routes that offer the `Payment`
///    scheme a charge credential (priced first, then id, expiry, amount, preimage, then
///    consumed once). Valid: the receipt goes into the extensions; pass.
/// 2. Otherwise the request is priced (route table, static or dynamic); free: pass.
/// 3. A free allowance, if configured, may let it through.
/// 4. Otherwise an invoice is created and a token minted (and, for the `Payment` scheme,
///    a second invoice and a charge challenge): the challenge.
async fn authorize<B, K>(
    shared: Arc<Shared<B, K>>,
    mut parts: Parts,
    route: Option<usize>,
) -> (Parts, Outcome)
where
    B: InvoiceBackend + 'static,
    K: RootKeyStore + 'static,
{
    let grpc = is_grpc(&parts.headers);
    let now = SystemTime::now();
    let offers = shared.offers(route);
    let mut invalid_credential = false;
    let mut failure = Failure::Required;
    let mut price = None;

    let payment_value = if offers.payment() {
        payment_authorization(&parts.headers)
    } else {
        None
    };
    if let (Some(value), Some(config)) = (payment_value, &shared.payment) {
        let amount = match price_of(&shared, &parts, route).await {
            Priced::Free => return (parts, Outcome::Pass),
            Priced::Failed => return (parts, unavailable(&shared, grpc)),
            Priced::Amount(amount) => amount,
        };
        price = Some(amount);
        let ctx = ChargeContext::new(&config.secret, &config.realm, charge_sat(amount), now);
        let verdict = match value {
            Some(value) => verify_authorization(value, &ctx),
            // Not visible ASCII: no credential is; refused as malformed.
            None => Err(VerifyAuthorizationError::Parse(
                ParsePaymentCredentialError::NotPaymentScheme,
            )),
        };
        match verdict {
            Ok(verified) => match consume(&shared, config, &verified).await {
                Ok(Consumption::Fresh) => {
                    shared.ops.verified(Scheme::Payment, Reason::Ok);
                    if let Some(paid) = l402_core::Amount::from_sat(charge_sat(amount)) {
                        shared
                            .ops
                            .charge_paid(paid, verified.payment_hash.as_bytes());
                    }
                    let receipt = verified.receipt(now);
                    let mut headers = HeaderMap::new();
                    match HeaderValue::try_from(receipt.to_header_string()) {
                        Ok(v) => {
                            headers.insert(PAYMENT_RECEIPT, v);
                        }
                        Err(error) => {
                            tracing::error!(%error, "l402: payment receipt is not a valid header value");
                        }
                    }
                    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private"));
                    parts.extensions.insert(receipt);
                    parts.extensions.insert(verified);
                    return (parts, Outcome::PassWith(headers));
                }
                Ok(_) => {
                    shared.ops.verified(Scheme::Payment, Reason::Replayed);
                    tracing::debug!("l402: payment charge replayed");
                    failure = Failure::Used;
                }
                Err(error) => {
                    // Fail closed: the charge stays unconsumed, the request unserved.
                    tracing::warn!(error = %l402_core::ErrorChain(&error), "l402: charge store failed");
                    return (parts, unavailable(&shared, grpc));
                }
            },
            Err(error) => {
                tracing::debug!(error = %l402_core::ErrorChain(&error), "l402: payment credential rejected");
                failure = Failure::from_problem(error.problem_type());
                shared.ops.verified(Scheme::Payment, failure.reason());
                if failure == Failure::MethodUnsupported {
                    return (
                        parts,
                        Outcome::Reject(Rejection::MethodUnsupported { grpc }),
                    );
                }
            }
        }
    } else if offers.l402() {
        match Credential::from_headers(&parts.headers) {
            Ok(Some(credential)) => match verify(&shared, &parts, &credential, route, now).await {
                Verified::Valid(receipt) => {
                    let unavailable = || crate::ops::unavailable(&shared.retry_after, grpc);
                    if let Some(refused) = shared
                        .ops
                        .check_paid(receipt.token_id(), grpc, unavailable)
                        .await
                    {
                        return (parts, Outcome::Reject(refused));
                    }
                    let price = match shared.price_source(route) {
                        PriceSource::Static(price) => Some(price),
                        PriceSource::Dynamic => None,
                    };
                    shared.ops.token_accepted(receipt.token_id(), price);
                    parts.extensions.insert(receipt);
                    return (parts, Outcome::Pass);
                }
                Verified::Invalid => invalid_credential = true,
                Verified::StoreDown => return (parts, unavailable(&shared, grpc)),
            },
            Ok(None) => {}
            Err(error) => {
                shared.ops.verified(Scheme::L402, Reason::Malformed);
                tracing::debug!(error = %l402_core::ErrorChain(&error), "l402: malformed credential");
                invalid_credential = true;
            }
        }
    }

    let price = match price {
        Some(price) => price,
        None => match price_of(&shared, &parts, route).await {
            Priced::Free => return (parts, Outcome::Pass),
            Priced::Failed => return (parts, unavailable(&shared, grpc)),
            Priced::Amount(amount) => amount,
        },
    };

    if let Some(allowance) = &shared.allowance
        && let Some(key) = (allowance.key)(&PriceRequest::from_parts(&parts))
        && {
            let timer = Timer::start(shared.ops.observe());
            let free = allowance.counter.try_consume(&key).await;
            timer.done(shared.ops.observe(), Operation::FreeAllowance, true);
            free
        }
    {
        tracing::debug!("l402: request passed on the free allowance");
        return (parts, Outcome::Pass);
    }

    // Before any invoice is created: the flood the unpaid limit is for.
    let refused = shared
        .ops
        .check_unpaid(&PriceRequest::from_parts(&parts), grpc, || {
            crate::ops::unavailable(&shared.retry_after, grpc)
        })
        .await;
    if let Some(refused) = refused {
        return (parts, Outcome::Reject(refused));
    }

    if offers == Offers::L402 {
        // Exactly the L402 answer of a layer that knows no other scheme.
        let outcome = match challenge(&shared, price, route, now).await {
            Some(values) => Outcome::Reject(Rejection::Challenge {
                invalid_credential,
                unauthorized: shared.unauthorized_on_invalid,
                values,
                grpc,
            }),
            None => unavailable(&shared, grpc),
        };
        return (parts, outcome);
    }
    let mut values = Vec::with_capacity(3);
    if offers.l402() {
        match challenge(&shared, price, route, now).await {
            Some(l402) => values.extend(l402),
            None => return (parts, unavailable(&shared, grpc)),
        }
    }
    if let Some(config) = &shared.payment {
        match payment_challenge(&shared, config, price, now).await {
            Some(value) => values.push(value),
            None => return (parts, unavailable(&shared, grpc)),
        }
    }
    let outcome = Outcome::Reject(Rejection::Payment {
        values,
        failure,
        grpc,
    });
    (parts, outcome)
}

/// Consumes a verified charge, timed.
async fn consume<B, K>(
    shared: &Shared<B, K>,
    config: &PaymentConfig,
    verified: &l402_core::payment_scheme::VerifiedCharge,
) -> Result<Consumption, l402_core::payment_scheme::ChargeStoreError> {
    let timer = Timer::start(shared.ops.observe());
    let consumed = config
        .store
        .consume_dyn(&verified.payment_hash, verified.expires_at)
        .await;
    timer.done(
        shared.ops.observe(),
        Operation::ChargeConsume,
        consumed.is_ok(),
    );
    consumed
}

/// The price of a request, or why there is none.
enum Priced {
    Free,
    Amount(l402_core::Amount),
    /// The pricer failed (logged): answer 503.
    Failed,
}

async fn price_of<B, K>(shared: &Shared<B, K>, parts: &Parts, route: Option<usize>) -> Priced {
    match shared.price_source(route) {
        PriceSource::Static(price) if price.is_zero() => Priced::Free,
        PriceSource::Static(price) => Priced::Amount(price),
        PriceSource::Dynamic => match &shared.default_price {
            DefaultPrice::Dynamic(pricer) => {
                let timer = Timer::start(shared.ops.observe());
                let fut = pricer.price_boxed(&PriceRequest::from_parts(parts));
                let priced = fut.await;
                timer.done(shared.ops.observe(), Operation::Price, priced.is_ok());
                match priced {
                    Ok(Price::Free) => Priced::Free,
                    Ok(Price::Amount(price)) if !price.is_zero() => Priced::Amount(price),
                    // Fail closed: a failing pricer never makes a request free.
                    Ok(Price::Amount(_)) => {
                        tracing::error!(
                            "l402: pricer answered a zero amount (answer Price::Free for free requests)"
                        );
                        Priced::Failed
                    }
                    Err(error) => {
                        tracing::warn!(%error, source = ?std::error::Error::source(&error), "l402: pricing failed");
                        Priced::Failed
                    }
                }
            }
            DefaultPrice::Static(price) if price.is_zero() => Priced::Free,
            DefaultPrice::Static(price) => Priced::Amount(*price),
        },
    }
}

/// What a Payment charge of `price` asks for: whole satoshis, rounded up (a charge is
/// counted in satoshis; rounding down would sell below the price).
fn charge_sat(price: l402_core::Amount) -> u64 {
    price.msat().div_ceil(1000)
}

/// The first `Authorization` value of the `Payment` scheme (any case), if any, borrowed
/// (the credential holds the preimage: it is not copied). `Some(None)` for one that is not
/// visible ASCII, which no credential is.
fn payment_authorization(headers: &HeaderMap) -> Option<Option<&str>> {
    const SCHEME: &[u8] = b"payment";
    headers.get_all(AUTHORIZATION).iter().find_map(|v| {
        let b = v.as_bytes();
        // `Payment` alone, or followed by white space: a bare scheme is a malformed
        // credential, not no credential.
        let is_payment = b
            .get(..SCHEME.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(SCHEME))
            && b.get(SCHEME.len())
                .is_none_or(|c| *c == b' ' || *c == b'\t');
        is_payment.then(|| v.to_str().ok())
    })
}

/// Creates the charge's own invoice and its challenge; `None` (logged) on failure.
async fn payment_challenge<B, K>(
    shared: &Shared<B, K>,
    config: &PaymentConfig,
    price: l402_core::Amount,
    now: SystemTime,
) -> Option<HeaderValue>
where
    B: InvoiceBackend,
{
    let Some(amount) = l402_core::Amount::from_sat(charge_sat(price)) else {
        tracing::error!("l402: payment charge does not fit in millisatoshis");
        return None;
    };
    let request = InvoiceRequest::new(amount)
        .memo(shared.memo.clone())
        .expiry(shared.invoice_expiry);
    let timer = Timer::start(shared.ops.observe());
    let created = shared.backend.create_invoice(&request).await;
    timer.done(
        shared.ops.observe(),
        Operation::CreateInvoice,
        created.is_ok(),
    );
    let invoice = match created {
        Ok(invoice) => invoice,
        Err(error) => {
            tracing::warn!(%error, kind = %error.kind(), "l402: invoice creation failed");
            return None;
        }
    };
    let Some(charge) = ChargeRequest::for_invoice(&invoice.invoice) else {
        tracing::error!("l402: the node's invoice cannot be sold as a payment charge");
        return None;
    };
    if charge.amount_sat != charge_sat(price) || charge.payment_hash != Some(invoice.payment_hash) {
        tracing::error!("l402: the node's invoice does not match the request");
        return None;
    }
    // Never later than the invoice can be paid.
    let lifetime = now.checked_add(config.expiry).unwrap_or(now);
    let expires = invoice
        .invoice
        .expires_at()
        .and_then(|since_epoch| std::time::UNIX_EPOCH.checked_add(since_epoch))
        .map_or(lifetime, |pay_by| pay_by.min(lifetime));
    let challenge = match PaymentChallenge::lightning_charge(
        &config.secret,
        config.realm.as_str(),
        &charge.with_description(shared.memo.clone()),
        expires,
    ) {
        Ok(c) => c,
        Err(error) => {
            tracing::error!(%error, "l402: payment challenge could not be encoded");
            return None;
        }
    };
    match challenge.to_header_value() {
        Ok(v) => {
            shared.ops.challenge_issued(Scheme::Payment);
            Some(v)
        }
        Err(error) => {
            tracing::error!(%error, "l402: payment challenge is not a valid header value");
            None
        }
    }
}

enum Verified {
    Valid(l402_core::Receipt),
    Invalid,
    StoreDown,
}

async fn verify<B, K>(
    shared: &Shared<B, K>,
    parts: &Parts,
    credential: &Credential,
    route: Option<usize>,
    now: SystemTime,
) -> Verified
where
    K: RootKeyStore,
{
    // Steps 2-3: identifier and preimage, before any store access.
    let paid = match shared.verifier.check_payment(credential) {
        Ok(paid) => paid,
        Err(error) => {
            shared
                .ops
                .verified(Scheme::L402, Reason::of_verify_error(&error));
            tracing::debug!(error = %l402_core::ErrorChain(&error), "l402: credential rejected");
            return Verified::Invalid;
        }
    };
    // Step 4: the root keys. Errors fail closed.
    let timer = Timer::start(shared.ops.observe());
    let looked_up = shared.store.lookup(paid.token_id()).await;
    timer.done(
        shared.ops.observe(),
        Operation::RootKeyLookup,
        looked_up.is_ok(),
    );
    let keys = match looked_up {
        Ok(keys) => keys,
        Err(error) => {
            tracing::warn!(%error, source = ?std::error::Error::source(&error), "l402: root key lookup failed");
            return Verified::StoreDown;
        }
    };
    // Steps 5-6: signature and caveats.
    let attributes = [
        ("method", parts.method.as_str()),
        ("path", parts.uri.path()),
    ];
    let mut ctx = VerifyContext::new(shared.service.name(), now).attributes(&attributes);
    if let Some(capability) = shared.required_capability(route) {
        ctx = ctx.capability(capability);
    }
    if let Some(tier) = shared.min_tier {
        ctx = ctx.min_tier(tier);
    }
    let token_id = *paid.token_id();
    match paid.verify(&keys, &ctx) {
        Ok(receipt) => {
            shared.ops.verified(Scheme::L402, Reason::Ok);
            // Verified, so paid: the store keeps the key for the token's lifetime. A
            // failure here does not refuse a valid token; the next request retries it.
            let timer = Timer::start(shared.ops.observe());
            let marked = shared.store.mark_paid(&token_id).await;
            timer.done(
                shared.ops.observe(),
                Operation::RootKeyMarkPaid,
                marked.is_ok(),
            );
            if let Err(error) = marked {
                tracing::warn!(%error, source = ?std::error::Error::source(&error), "l402: could not mark a token paid");
            }
            Verified::Valid(receipt)
        }
        Err(error) => {
            shared
                .ops
                .verified(Scheme::L402, Reason::of_verify_error(&error));
            tracing::debug!(error = %l402_core::ErrorChain(&error), "l402: credential rejected");
            Verified::Invalid
        }
    }
}

/// Creates the invoice and mints the token; `None` (logged) when the backend or the store
/// fails.
async fn challenge<B, K>(
    shared: &Shared<B, K>,
    price: l402_core::Amount,
    route: Option<usize>,
    now: SystemTime,
) -> Option<[http::HeaderValue; 2]>
where
    B: InvoiceBackend,
    K: RootKeyStore,
{
    let request = InvoiceRequest::new(price)
        .memo(shared.memo.clone())
        .expiry(shared.invoice_expiry);
    let timer = Timer::start(shared.ops.observe());
    let created = shared.backend.create_invoice(&request).await;
    timer.done(
        shared.ops.observe(),
        Operation::CreateInvoice,
        created.is_ok(),
    );
    let invoice = match created {
        Ok(invoice) => invoice,
        Err(error) => {
            tracing::warn!(%error, kind = %error.kind(), "l402: invoice creation failed");
            return None;
        }
    };
    // The key of the token lives as long as its invoice can be paid (the invoice's own
    // expiry, which the client sees), unless the token is paid and verifies.
    let pay_by = invoice
        .invoice
        .expires_at()
        .and_then(|since_epoch| std::time::UNIX_EPOCH.checked_add(since_epoch))
        .or_else(|| now.checked_add(shared.invoice_expiry))
        .unwrap_or(now);
    let mint_request = match shared.mint_request(invoice.payment_hash, route, now) {
        Ok(r) => r.pay_by(pay_by),
        Err(error) => {
            tracing::error!(%error, "l402: invalid mint request");
            return None;
        }
    };
    let timer = Timer::start(shared.ops.observe());
    let minted = mint(&shared.store, &mint_request).await;
    timer.done(
        shared.ops.observe(),
        Operation::RootKeyCreate,
        minted.is_ok(),
    );
    let macaroon = match minted {
        Ok(m) => m,
        Err(error) => {
            tracing::warn!(%error, source = ?std::error::Error::source(&error), "l402: minting failed");
            return None;
        }
    };
    match Challenge::new(macaroon, invoice.invoice.to_string()).to_header_values() {
        Ok(values) => {
            shared.ops.challenge_issued(Scheme::L402);
            Some(values)
        }
        Err(error) => {
            tracing::error!(%error, "l402: challenge is not a valid header value");
            None
        }
    }
}

fn unavailable<B, K>(shared: &Shared<B, K>, grpc: bool) -> Outcome {
    Outcome::Reject(Rejection::Unavailable {
        retry_after: shared.retry_after.clone(),
        grpc,
    })
}
