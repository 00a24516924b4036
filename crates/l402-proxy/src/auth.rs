//! The paywall of one priced service: an [`L402Layer`] configured from its
//! [`ServiceConfig`], wrapped around the forwarder.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use l402_core::payment_scheme::{ChallengeIdSecret, DynChargeStore};
use l402_core::{Amount, BoxInvoiceBackend, RootKeyStore};
use l402_tower::{L402Layer, PriceRequest};
use tower::Layer;
use tower::util::BoxCloneSyncService;

use crate::BuildError;
use crate::config::{ConfigError, ServiceConfig};
use crate::forward::Forward;
use crate::pricer::HttpPricer;
use crate::route::{Pipeline, Routed};
use crate::shared::{Limit, SharedState};

/// The freebie key of a client: its IPv4 address, or its IPv6 /64 (a host gets a whole
/// /64 and could otherwise take a fresh allowance with each of its addresses).
fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// What every service offering the Payment scheme shares.
#[derive(Clone)]
pub(crate) struct PaymentSettings {
    /// Challenge ids are derived from it: challenges survive restarts and verify on every
    /// proxy sharing the secret.
    pub(crate) id_secret: Option<ChallengeIdSecret>,
    /// Consumed charges: one store for every service (payment hashes are unique).
    pub(crate) charges: Arc<dyn DynChargeStore>,
}

/// How a service is priced.
pub(crate) enum Pricing {
    /// Free: the forwarder alone.
    Free,
    /// A static price.
    Static(Amount),
    /// Priced per request by an HTTP pricer.
    Dynamic(HttpPricer),
}

/// Wraps `forward` in the paywall of `service`; a free service is the forwarder alone.
/// `metrics`: the paywall and the forwarder report to the `metrics` facade.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pipeline<K>(
    service: &ServiceConfig,
    pricing: Pricing,
    validity: Option<Duration>,
    backend: &BoxInvoiceBackend,
    store: &K,
    payment: &PaymentSettings,
    shared: &SharedState,
    sales: Option<&Arc<crate::admin::Sales>>,
    forward: Forward,
    metrics: bool,
) -> Result<Pipeline, BuildError>
where
    K: RootKeyStore + Clone + 'static,
{
    let builder = L402Layer::builder(backend.clone(), store.clone()).service(service.name.clone());
    let observer = metrics.then(l402_tower::MetricsObserver::new);
    let builder = match (sales, observer) {
        (Some(sales), observer) => {
            let sales = crate::admin::SalesObserver::new(Arc::clone(sales));
            builder.observer(match observer {
                Some(m) => sales.with_metrics(m),
                None => sales,
            })
        }
        (None, Some(m)) => builder.observer(m),
        (None, None) => builder,
    };
    let mut builder = match pricing {
        Pricing::Free => {
            return Ok(BoxCloneSyncService::new(crate::metrics::Observed::new(
                forward.into_service(),
                &service.name,
                metrics,
            )));
        }
        Pricing::Static(price) => builder.price(price),
        Pricing::Dynamic(pricer) => builder.pricer(pricer),
    };
    if let Some(n) = service.freebies {
        builder = builder.free_allowance(
            shared.freebies(&service.name, n)?,
            |req: &PriceRequest<'_>| {
                req.extensions()
                    .get::<Routed>()
                    .and_then(|r| r.peer)
                    .map(|peer| client_key(peer.ip()))
            },
        );
    }
    if let Some(limit) = &service.rate_limit {
        let err = |reason: String| ConfigError::Service {
            service: service.name.clone(),
            reason,
        };
        if let Some(paid) = &limit.paid {
            let rate = paid.rate().map_err(err)?;
            builder = builder.paid_rate_limit(shared.limiter(&service.name, Limit::Paid, rate)?);
        }
        if let Some(unpaid) = &limit.unpaid {
            let rate = unpaid.rate().map_err(err)?;
            builder = builder.unpaid_rate_limit(
                shared.limiter(&service.name, Limit::Unpaid, rate)?,
                limit.prefix().map_err(err)?,
                |req: &PriceRequest<'_>| {
                    req.extensions()
                        .get::<Routed>()
                        .and_then(|r| r.peer)
                        .map(|peer| peer.ip())
                },
            );
        }
        builder = builder.rate_limit_fail_closed(limit.fail_closed);
    }
    if !service.capabilities.is_empty() {
        builder = builder.capabilities(&service.capabilities);
    }
    if let Some(validity) = validity {
        builder = builder.validity(validity);
    }
    if let Some(memo) = &service.memo {
        builder = builder.memo(memo.clone());
    }
    let offers = service.auth_scheme.offers();
    builder = builder.offers(offers);
    if offers.payment() {
        let Some(id_secret) = payment.id_secret.clone() else {
            return Err(BuildError::Config(ConfigError::Service {
                service: service.name.clone(),
                reason: "the Payment scheme needs a challenge id secret: call \
                         payment_id_secret() on the builder"
                    .to_owned(),
            }));
        };
        builder = builder
            .payment_id_secret(id_secret)
            .charge_store(Arc::clone(&payment.charges));
        if let Some(realm) = &service.payment_realm {
            builder = builder.payment_realm(realm.clone());
        }
        if let Some(secs) = service.payment_expiry_secs {
            builder = builder.payment_expiry(Duration::from_secs(secs));
        }
    }
    let layer = builder.build().map_err(|source| BuildError::Paywall {
        service: service.name.clone(),
        source,
    })?;
    Ok(BoxCloneSyncService::new(layer.layer(
        crate::metrics::Observed::new(forward.into_service(), &service.name, metrics),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freebie_keys() {
        let key = |s: &str| client_key(s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])));
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }
}
