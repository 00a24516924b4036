//! Dynamic prices from an HTTP pricer (`price_url`); the protocol is in the crate docs.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use l402_tower::{Price, PriceRequest, Pricer, PricingError};
use serde::Serialize;
use url::Url;

use crate::price_answer::{self, Asked, MAX_ANSWER_LEN};
use crate::route::Routed;

/// How long the pricer may take to answer.
const PRICER_TIMEOUT: Duration = Duration::from_secs(10);
/// Never sent to the pricer.
const WITHHELD: [&str; 5] = [
    "authorization",
    "macaroon",
    "grpc-metadata-macaroon",
    "cookie",
    "proxy-authorization",
];

/// A [`Pricer`] asking an HTTP service.
#[derive(Debug, Clone)]
pub(crate) struct HttpPricer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    service: String,
    url: Url,
    client: reqwest::Client,
}

#[derive(Serialize)]
struct Question<'a> {
    service: &'a str,
    method: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<&'a str>,
    headers: BTreeMap<&'a str, &'a str>,
}

/// Why a pricer's answer is refused (logged, never sent to the client).
#[derive(Debug, thiserror::Error)]
enum AnswerError {
    #[error("pricer answered status {0}")]
    Status(u16),
    #[error("pricer answer is larger than {MAX_ANSWER_LEN} bytes")]
    TooLarge,
    #[error(
        "pricer answer is not {{\"price_msat\": N}}, {{\"price_sat\": N}} or {{\"free\": true}}"
    )]
    Malformed,
    #[error("pricer did not answer within {PRICER_TIMEOUT:?}")]
    Timeout,
}

impl HttpPricer {
    pub(crate) fn new(service: &str, url: Url, client: reqwest::Client) -> Self {
        HttpPricer {
            inner: Arc::new(Inner {
                service: service.to_owned(),
                url,
                client,
            }),
        }
    }
}

/// The price an answer's bytes give.
fn price_of(body: &[u8]) -> Result<Price, PricingError> {
    match price_answer::parse(body) {
        // Zero is refused by the layer (503), as a price computed as zero by mistake.
        Some(Asked::Msat(msat)) => Ok(Price::from_msat(msat)),
        Some(Asked::Sat(sat)) => Price::from_sat(sat),
        Some(Asked::Free) => Ok(Price::Free),
        None => Err(PricingError::unavailable(AnswerError::Malformed)),
    }
}

impl Pricer for HttpPricer {
    type Future = Pin<Box<dyn Future<Output = Result<Price, PricingError>> + Send>>;

    fn price(&self, request: &PriceRequest<'_>) -> Self::Future {
        let routed = request.extensions().get::<Routed>();
        let mut headers = BTreeMap::new();
        for (name, value) in request.headers() {
            if WITHHELD.contains(&name.as_str()) {
                continue;
            }
            if let Ok(v) = value.to_str() {
                headers.entry(name.as_str()).or_insert(v);
            }
        }
        let question = Question {
            service: &self.inner.service,
            method: request.method().as_str(),
            path: routed.map_or(request.path(), |r| r.target.path.as_str()),
            query: routed.map_or(request.uri().query(), |r| r.target.query.as_deref()),
            headers,
        };
        let body = serde_json::to_vec(&question);
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let body = body.map_err(PricingError::unavailable)?;
            let ask = async {
                let response = inner
                    .client
                    .post(inner.url.clone())
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await
                    .map_err(PricingError::unavailable)?;
                if response.status() != http::StatusCode::OK {
                    return Err(PricingError::unavailable(AnswerError::Status(
                        response.status().as_u16(),
                    )));
                }
                let mut response = response;
                let mut read = Vec::new();
                while let Some(chunk) = response.chunk().await.map_err(PricingError::unavailable)? {
                    if read.len() + chunk.len() > MAX_ANSWER_LEN {
                        return Err(PricingError::unavailable(AnswerError::TooLarge));
                    }
                    read.extend_from_slice(&chunk);
                }
                price_of(&read)
            };
            match tokio::time::timeout(PRICER_TIMEOUT, ask).await {
                Ok(price) => price,
                Err(_) => Err(PricingError::unavailable(AnswerError::Timeout)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        assert_eq!(
            price_of(br#"{"price_msat": 1500}"#).ok(),
            Some(Price::from_msat(1500))
        );
        assert_eq!(
            price_of(br#"{"price_sat": 2}"#).ok(),
            Some(Price::from_msat(2000))
        );
        assert_eq!(price_of(br#"{"free": true}"#).ok(), Some(Price::Free));
        for bad in [
            &br#"{"free": false}"#[..],
            br#"{"price": 3}"#,
            br#"{"price_msat": 3, "free": true}"#,
            br#"{"price_msat": -1}"#,
            br#"{"price_sat": 18446744073709551615}"#,
            b"",
            b"null",
        ] {
            assert!(price_of(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
