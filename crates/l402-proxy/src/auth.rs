//! The paywall of one priced service: an [`L402Layer`] configured from its
//! [`ServiceConfig`], wrapped around the forwarder.

use std::sync::Arc;
use std::time::Duration;

use l402_core::payment_scheme::{ChallengeIdSecret, DynChargeStore};
use l402_core::{Amount, BoxInvoiceBackend, RootKeyStore};
use l402_tower::L402Layer;
use tower::Layer;
use tower::util::BoxCloneSyncService;

use crate::BuildError;
use crate::config::{ConfigError, ServiceConfig};
use crate::forward::Forward;
use crate::route::Pipeline;

/// What every service offering the Payment scheme shares.
#[derive(Clone)]
pub(crate) struct PaymentSettings {
    /// Challenge ids are derived from it: challenges survive restarts and verify on every
    /// proxy sharing the secret.
    pub(crate) id_secret: Option<ChallengeIdSecret>,
    /// Consumed charges: one store for every service (payment hashes are unique).
    pub(crate) charges: Arc<dyn DynChargeStore>,
}

/// Wraps `forward` in the paywall of `service`; a free service is the forwarder alone.
pub(crate) fn pipeline<K>(
    service: &ServiceConfig,
    price: Option<Amount>,
    validity: Option<Duration>,
    backend: &BoxInvoiceBackend,
    store: &K,
    payment: &PaymentSettings,
    forward: Forward,
) -> Result<Pipeline, BuildError>
where
    K: RootKeyStore + Clone + 'static,
{
    let Some(price) = price else {
        return Ok(BoxCloneSyncService::new(forward.into_service()));
    };
    let mut builder = L402Layer::builder(backend.clone(), store.clone())
        .service(service.name.clone())
        .price(price);
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
    Ok(BoxCloneSyncService::new(
        layer.layer(forward.into_service()),
    ))
}
