//! [`ResponseFuture`]: the response of an [`L402Service`](crate::L402Service).

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::body::MakeBody;
use crate::response::Rejection;
use crate::service::{AuthFuture, Outcome};

pin_project! {
    /// Response future of [`L402Service`](crate::L402Service).
    ///
    /// Authorizes the request first (awaiting the root-key store, and the Lightning backend
    /// only when a challenge must be minted), then either answers itself (402, 401, 503)
    /// or drives the inner service's future.
    pub struct ResponseFuture<S, ReqBody, M>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        kind: Kind<S, ReqBody>,
        _body: PhantomData<fn() -> M>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Authorize {
            auth: AuthFuture,
            service: S,
            body: Option<ReqBody>,
        },
        Inner {
            #[pin]
            future: S::Future,
            // Headers to set on the inner service's response (a Payment receipt).
            headers: Option<http::HeaderMap>,
        },
    }
}

impl<S, ReqBody, M> ResponseFuture<S, ReqBody, M>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn inner(future: S::Future) -> Self {
        ResponseFuture {
            kind: Kind::Inner {
                future,
                headers: None,
            },
            _body: PhantomData,
        }
    }

    pub(crate) fn authorize(auth: AuthFuture, service: S, body: ReqBody) -> Self {
        ResponseFuture {
            kind: Kind::Authorize {
                auth,
                service,
                body: Some(body),
            },
            _body: PhantomData,
        }
    }
}

impl<S, ReqBody, M, ResBody> Future for ResponseFuture<S, ReqBody, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    M: MakeBody<ResBody>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.kind.as_mut().project() {
                KindProj::Authorize {
                    auth,
                    service,
                    body,
                } => {
                    let (parts, outcome) = ready!(auth.as_mut().poll(cx));
                    match (outcome, body.take()) {
                        (Outcome::Pass, Some(body)) => {
                            let future = service.call(Request::from_parts(parts, body));
                            this.kind.set(Kind::Inner {
                                future,
                                headers: None,
                            });
                        }
                        (Outcome::PassWith(extra), Some(body)) => {
                            let future = service.call(Request::from_parts(parts, body));
                            this.kind.set(Kind::Inner {
                                future,
                                headers: Some(extra),
                            });
                        }
                        (Outcome::Reject(rejection), _) => {
                            return Poll::Ready(Ok(rejection.into_response::<ResBody, M>()));
                        }
                        (Outcome::Pass | Outcome::PassWith(_), None) => {
                            // Polled again after completion: answer rather than panic.
                            tracing::error!("l402: response future polled after completion");
                            return Poll::Ready(Ok(Rejection::Unavailable {
                                retry_after: http::HeaderValue::from_static("1"),
                                grpc: false,
                            }
                            .into_response::<ResBody, M>()));
                        }
                    }
                }
                KindProj::Inner { future, headers } => {
                    let mut response = ready!(future.poll(cx))?;
                    if let Some(extra) = headers.take() {
                        // Set (not appended): the layer's headers replace the inner
                        // service's, so a receipt is never next to a public cache policy.
                        for (name, value) in extra {
                            if let Some(name) = name {
                                response.headers_mut().insert(name, value);
                            }
                        }
                    }
                    return Poll::Ready(Ok(response));
                }
            }
        }
    }
}

impl<S, ReqBody, M> fmt::Debug for ResponseFuture<S, ReqBody, M>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
