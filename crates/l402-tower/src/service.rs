//! [`L402Service`]: the middleware service, and the authorization flow behind it.

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::sync::Arc;
use std::time::SystemTime;

use http::request::Parts;
use http::{Request, Response};
use l402_core::backend::InvoiceRequest;
use l402_core::{Challenge, Credential, InvoiceBackend, RootKeyStore, VerifyContext, mint};
use tower_service::Service;

use crate::body::MakeBody;
use crate::future::ResponseFuture;
use crate::layer::{DefaultPrice, PriceSource, Shared};
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
/// 1. A credential, if present, is verified: preimage first, then the root-key lookup,
///    then signature and caveats. Valid: the receipt goes into the extensions; pass.
/// 2. Otherwise the request is priced (route table, static or dynamic); free: pass.
/// 3. A free allowance, if configured, may let it through.
/// 4. Otherwise an invoice is created and a token minted: the challenge.
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
    let mut invalid_credential = false;

    match Credential::from_headers(&parts.headers) {
        Ok(Some(credential)) => match verify(&shared, &parts, &credential, route, now).await {
            Verified::Valid(receipt) => {
                parts.extensions.insert(receipt);
                return (parts, Outcome::Pass);
            }
            Verified::Invalid => invalid_credential = true,
            Verified::StoreDown => return (parts, unavailable(&shared, grpc)),
        },
        Ok(None) => {}
        Err(error) => {
            tracing::debug!(error = %l402_core::ErrorChain(&error), "l402: malformed credential");
            invalid_credential = true;
        }
    }

    let price = match shared.price_source(route) {
        PriceSource::Static(price) if price.is_zero() => return (parts, Outcome::Pass),
        PriceSource::Static(price) => price,
        PriceSource::Dynamic => match &shared.default_price {
            DefaultPrice::Dynamic(pricer) => {
                let fut = pricer.price_boxed(&PriceRequest::from_parts(&parts));
                match fut.await {
                    Ok(Price::Free) => return (parts, Outcome::Pass),
                    Ok(Price::Amount(price)) if !price.is_zero() => price,
                    // Fail closed: a failing pricer never makes a request free.
                    Ok(Price::Amount(_)) => {
                        tracing::error!(
                            "l402: pricer answered a zero amount (answer Price::Free for free requests)"
                        );
                        return (parts, unavailable(&shared, grpc));
                    }
                    Err(error) => {
                        tracing::warn!(%error, source = ?std::error::Error::source(&error), "l402: pricing failed");
                        return (parts, unavailable(&shared, grpc));
                    }
                }
            }
            DefaultPrice::Static(price) if price.is_zero() => return (parts, Outcome::Pass),
            DefaultPrice::Static(price) => *price,
        },
    };

    if let Some(allowance) = &shared.allowance
        && let Some(key) = (allowance.key)(&PriceRequest::from_parts(&parts))
        && allowance.counter.try_consume(&key).await
    {
        tracing::debug!("l402: request passed on the free allowance");
        return (parts, Outcome::Pass);
    }

    let outcome = match challenge(&shared, price, route, now).await {
        Some(values) => Outcome::Reject(Rejection::Challenge {
            invalid_credential,
            unauthorized: shared.unauthorized_on_invalid,
            values,
            grpc,
        }),
        None => unavailable(&shared, grpc),
    };
    (parts, outcome)
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
            tracing::debug!(error = %l402_core::ErrorChain(&error), "l402: credential rejected");
            return Verified::Invalid;
        }
    };
    // Step 4: the root keys. Errors fail closed.
    let keys = match shared.store.lookup(paid.token_id()).await {
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
            // Verified, so paid: the store keeps the key for the token's lifetime. A
            // failure here does not refuse a valid token; the next request retries it.
            if let Err(error) = shared.store.mark_paid(&token_id).await {
                tracing::warn!(%error, source = ?std::error::Error::source(&error), "l402: could not mark a token paid");
            }
            Verified::Valid(receipt)
        }
        Err(error) => {
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
    let invoice = match shared.backend.create_invoice(&request).await {
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
    let macaroon = match mint(&shared.store, &mint_request).await {
        Ok(m) => m,
        Err(error) => {
            tracing::warn!(%error, source = ?std::error::Error::source(&error), "l402: minting failed");
            return None;
        }
    };
    match Challenge::new(macaroon, invoice.invoice.to_string()).to_header_values() {
        Ok(values) => Some(values),
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
