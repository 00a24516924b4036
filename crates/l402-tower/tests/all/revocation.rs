//! A revocation must outlive the token it revokes: the builder refuses a store that
//! forgets revocations sooner than the tokens it would mint expire.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use l402_core::{
    DerivedRootKeyStore, Identifier, MasterSecret, RevocationList, RootKeyError, RootKeyStore,
    Scheme, TokenId,
};
use l402_tower::{BuildError, L402Layer};
use tower::ServiceExt;

use crate::support::*;

/// A revocation list that forgets each revocation `retention` after it is made (as the
/// Redis one does, to bound its storage).
struct Forgetful {
    retention: Duration,
    revoked: Mutex<HashMap<TokenId, Instant>>,
}

impl Forgetful {
    fn new(retention: Duration) -> Self {
        Forgetful {
            retention,
            revoked: Mutex::default(),
        }
    }
}

impl RevocationList for Forgetful {
    async fn is_revoked(&self, token_id: &TokenId) -> Result<bool, RootKeyError> {
        let revoked = self.revoked.lock().unwrap();
        Ok(revoked
            .get(token_id)
            .is_some_and(|at| at.elapsed() < self.retention))
    }

    async fn revoke(&self, token_id: &TokenId) -> Result<(), RootKeyError> {
        self.revoked
            .lock()
            .unwrap()
            .insert(*token_id, Instant::now());
        Ok(())
    }

    fn retention(&self) -> Option<Duration> {
        Some(self.retention)
    }
}

fn store(retention: Duration) -> Arc<DerivedRootKeyStore<Forgetful>> {
    Arc::new(DerivedRootKeyStore::with_revocation_list(
        MasterSecret::from_bytes(&[9; 32]).unwrap(),
        Forgetful::new(retention),
    ))
}

#[test]
fn tokens_that_outlive_their_revocation_are_refused() {
    let net = Net::new();
    let hour = Duration::from_secs(3600);
    let builder = || {
        L402Layer::builder(net.server.clone(), store(hour))
            .service("weather")
            .price_sat(10)
    };
    // The default (no expiry): a revoked token would come back after an hour.
    let err = builder().build().unwrap_err();
    assert_eq!(
        err,
        BuildError::RevocationForgotten {
            retention: hour,
            validity: None,
        }
    );
    assert_eq!(
        err.to_string(),
        "revocations are forgotten after 3600s but tokens would be minted without an expiry: \
         set validity() to at most the retention"
    );
    assert_eq!(
        builder().validity(hour * 2).build().unwrap_err(),
        BuildError::RevocationForgotten {
            retention: hour,
            validity: Some(hour * 2),
        }
    );
    builder().validity(hour).build().unwrap();
    // Stores that never forget accept tokens without an expiry.
    L402Layer::builder(
        net.server.clone(),
        DerivedRootKeyStore::new(MasterSecret::from_bytes(&[9; 32]).unwrap()),
    )
    .service("weather")
    .price_sat(10)
    .build()
    .unwrap();
    assert_eq!(
        RootKeyStore::revocation_retention(&*store(hour)),
        Some(hour)
    );
    assert_eq!(net.store.revocation_retention(), None);
}

/// With a validity within the retention, a revoked token stays refused after its
/// revocation is forgotten: it has expired by then.
#[tokio::test]
async fn a_revoked_token_does_not_come_back() {
    let net = Net::new();
    let retention = Duration::from_secs(1);
    let keys = store(retention);
    let layer = L402Layer::builder(net.server.clone(), Arc::clone(&keys))
        .service("weather")
        .price_sat(10)
        .validity(retention)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/forecast", get(echo_receipt))
        .route_layer(layer);
    let res = app.clone().oneshot(req("/forecast")).await.unwrap();
    let (_, credential) = net.pay(res.headers()).await;
    let status = || async {
        app.clone()
            .oneshot(get_with("/forecast", &credential, Scheme::L402))
            .await
            .unwrap()
            .status()
    };
    assert_eq!(status().await, StatusCode::OK);
    let id = *Identifier::decode(credential.macaroon().identifier())
        .unwrap()
        .token_id();
    keys.revoke(&id).await.unwrap();
    assert_eq!(status().await, StatusCode::PAYMENT_REQUIRED);
    tokio::time::sleep(retention + Duration::from_millis(1_100)).await;
    assert!(
        !keys.revocation_list().is_revoked(&id).await.unwrap(),
        "the list forgot the revocation"
    );
    assert_eq!(
        status().await,
        StatusCode::PAYMENT_REQUIRED,
        "expired by now"
    );
}
