//! Two `l402-tower` instances (two axum servers on 127.0.0.1) sharing one Redis, paid
//! through the mock Lightning network; Redis killed and restarted mid-test.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use http::header::{AUTHORIZATION, RETRY_AFTER};
use l402_core::{Amount, Credential, DerivedRootKeyStore, MasterSecret, RootKeyStore, Scheme};
use l402_mock::{MockNetwork, MockNode};
use l402_redis::{RedisConnection, RedisFreeAllowance, RedisRevocationList, RedisRootKeyStore};
use l402_tower::{L402Layer, PriceRequest};

use crate::support::*;

const PREFIX: &str = "fleet";

/// One instance: an axum server with `/api` behind the layer, 10 sat a token valid for an
/// hour, and the free allowance (keyed on `x-client`) if given.
async fn instance<K: RootKeyStore + 'static>(
    node: MockNode,
    store: K,
    allowance: Option<RedisFreeAllowance>,
) -> String {
    let mut builder = L402Layer::builder(node, store)
        .service("fleet")
        .price_sat(10)
        .validity(Duration::from_secs(3600));
    if let Some(allowance) = allowance {
        builder = builder.free_allowance(allowance, |req: &PriceRequest<'_>| {
            req.headers()
                .get("x-client")?
                .to_str()
                .ok()
                .map(str::to_owned)
        });
    }
    let app = Router::new()
        .route("/api", get(|| async { "ok" }))
        .route_layer(builder.build().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Each instance has its own connection (as separate processes would), same prefix.
fn connection(url: &str) -> RedisConnection {
    RedisConnection::builder(url)
        .prefix(PREFIX)
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap()
}

struct Client {
    http: reqwest::Client,
    payer: MockNode,
}

impl Client {
    fn new(network: &MockNetwork) -> Self {
        Client {
            http: reqwest::Client::new(),
            payer: network
                .node("payer")
                .balance(Amount::from_sat(100_000).unwrap())
                .build()
                .unwrap(),
        }
    }

    async fn get(
        &self,
        base: &str,
        credential: Option<&Credential>,
        client: Option<&str>,
    ) -> reqwest::Response {
        let mut r = self.http.get(format!("{base}/api"));
        if let Some(c) = credential {
            r = r.header(AUTHORIZATION, c.to_header_value(Scheme::L402).unwrap());
        }
        if let Some(c) = client {
            r = r.header("x-client", c);
        }
        r.send().await.unwrap()
    }

    async fn status(&self, base: &str, credential: Option<&Credential>) -> StatusCode {
        self.get(base, credential, None).await.status()
    }

    /// 402 from `base`, paid through the mock network.
    async fn buy(&self, base: &str) -> Credential {
        let res = self.get(base, None, None).await;
        assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
        pay(&self.payer, res.headers()).await
    }
}

fn allowance(url: &str) -> RedisFreeAllowance {
    RedisFreeAllowance::builder(connection(url), 2)
        .window(Duration::from_secs(60))
        .build()
        .unwrap()
}

#[tokio::test]
async fn per_token_store_fleet() {
    let Some(bin) = server_binary("per_token_store_fleet") else {
        return;
    };
    let mut redis = RedisProcess::start(bin).await;
    let url = redis.url();
    let network = MockNetwork::new();
    let node = network.node("server").build().unwrap();
    let client = Client::new(&network);
    let store_a = RedisRootKeyStore::new(connection(&url));
    let a = instance(node.clone(), store_a.clone(), Some(allowance(&url))).await;
    let b = instance(
        node.clone(),
        RedisRootKeyStore::new(connection(&url)),
        Some(allowance(&url)),
    )
    .await;

    // Free allowance: 2 for the fleet, not 2 per instance.
    assert_eq!(
        client.get(&a, None, Some("c1")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        client.get(&b, None, Some("c1")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        client.get(&a, None, Some("c1")).await.status(),
        StatusCode::PAYMENT_REQUIRED
    );
    assert_eq!(
        client.get(&b, None, Some("c1")).await.status(),
        StatusCode::PAYMENT_REQUIRED
    );

    // Minted by A, accepted by B (and A).
    let token = client.buy(&a).await;
    assert_eq!(client.status(&b, Some(&token)).await, StatusCode::OK);
    assert_eq!(client.status(&a, Some(&token)).await, StatusCode::OK);
    // Revoked through A: B refuses at once (no cache in front of the per-token store).
    let id = *l402_core::Identifier::decode(token.macaroon().identifier())
        .unwrap()
        .token_id();
    store_a.revoke(&id).await.unwrap();
    assert_eq!(
        client.status(&b, Some(&token)).await,
        StatusCode::PAYMENT_REQUIRED
    );
    let kept = client.buy(&b).await;
    assert_eq!(client.status(&a, Some(&kept)).await, StatusCode::OK);

    // Redis down: minting 503, verification 503 (fails closed), the allowance grants
    // nothing (so the request goes on to minting: 503).
    redis.stop();
    let res = client.get(&a, None, None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().get(RETRY_AFTER).is_some());
    assert_eq!(
        client.status(&b, Some(&kept)).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        client.status(&a, Some(&kept)).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        client.get(&b, None, Some("c2")).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    // Back: everything recovers by itself; tokens bought before the outage still work
    // (this Redis persists to an append-only file), the revoked one stays revoked.
    redis.restart().await;
    within(Duration::from_secs(10), || async {
        client.status(&b, Some(&kept)).await == StatusCode::OK
    })
    .await
    .expect("B verifies again");
    assert_eq!(client.status(&a, Some(&kept)).await, StatusCode::OK);
    assert_eq!(
        client.status(&a, Some(&token)).await,
        StatusCode::PAYMENT_REQUIRED
    );
    let fresh = client.buy(&a).await;
    assert_eq!(client.status(&b, Some(&fresh)).await, StatusCode::OK);
    assert_eq!(
        client.get(&a, None, Some("c2")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn derived_store_fleet() {
    let Some(bin) = server_binary("derived_store_fleet") else {
        return;
    };
    let mut redis = RedisProcess::start(bin).await;
    let url = redis.url();
    let network = MockNetwork::new();
    let node = network.node("server").build().unwrap();
    let client = Client::new(&network);
    let staleness = Duration::from_millis(300);
    let secret = MasterSecret::generate().unwrap();
    let derived = |fail_open: bool| {
        let list = RedisRevocationList::builder(connection(&url))
            .max_token_lifetime(Duration::from_secs(3600))
            .staleness(staleness)
            .build()
            .unwrap();
        Arc::new(
            DerivedRootKeyStore::with_revocation_list(secret.clone(), list)
                .fail_open_on_revocation_error(fail_open),
        )
    };
    // A fails closed (the default), B fails open.
    let store_a = derived(false);
    let a = instance(node.clone(), Arc::clone(&store_a), Some(allowance(&url))).await;
    let b = instance(node.clone(), derived(true), Some(allowance(&url))).await;

    // Minted by A, accepted by B.
    let token = client.buy(&a).await;
    let kept = client.buy(&a).await;
    assert_eq!(client.status(&b, Some(&token)).await, StatusCode::OK);
    assert_eq!(client.status(&b, Some(&kept)).await, StatusCode::OK);
    // Free allowance across both.
    assert_eq!(
        client.get(&b, None, Some("c1")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        client.get(&a, None, Some("c1")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        client.get(&b, None, Some("c1")).await.status(),
        StatusCode::PAYMENT_REQUIRED
    );

    // Revoked through A: A refuses at once; B (which cached "not revoked") within the
    // staleness bound.
    let id = *l402_core::Identifier::decode(token.macaroon().identifier())
        .unwrap()
        .token_id();
    store_a.revoke(&id).await.unwrap();
    assert_eq!(
        client.status(&a, Some(&token)).await,
        StatusCode::PAYMENT_REQUIRED
    );
    let took = within(staleness * 5, || async {
        client.status(&b, Some(&token)).await == StatusCode::PAYMENT_REQUIRED
    })
    .await
    .expect("B refuses the revoked token");
    // Within the bound, with a margin for a loaded machine.
    assert!(took <= staleness + Duration::from_millis(700), "{took:?}");

    // Redis down. Minting needs no Redis: still 402 challenges that can be paid.
    redis.stop();
    let during = client.buy(&a).await;
    // Once cached answers are stale: A (fail closed) answers 503, B (fail open) accepts.
    tokio::time::sleep(staleness + Duration::from_millis(50)).await;
    assert_eq!(
        client.status(&a, Some(&kept)).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(client.status(&b, Some(&kept)).await, StatusCode::OK);
    assert_eq!(client.status(&b, Some(&during)).await, StatusCode::OK);
    // Known revocations still hold on both.
    assert_eq!(
        client.status(&a, Some(&token)).await,
        StatusCode::PAYMENT_REQUIRED
    );
    assert_eq!(
        client.status(&b, Some(&token)).await,
        StatusCode::PAYMENT_REQUIRED
    );
    // The allowance grants nothing: the client is asked to pay.
    assert_eq!(
        client.get(&a, None, Some("c2")).await.status(),
        StatusCode::PAYMENT_REQUIRED
    );

    // Back: A verifies again by itself; the revocation survived the restart.
    redis.restart().await;
    within(Duration::from_secs(10), || async {
        client.status(&a, Some(&kept)).await == StatusCode::OK
    })
    .await
    .expect("A verifies again");
    assert_eq!(client.status(&a, Some(&during)).await, StatusCode::OK);
    assert_eq!(
        client.status(&a, Some(&token)).await,
        StatusCode::PAYMENT_REQUIRED
    );
    assert_eq!(
        client.get(&b, None, Some("c2")).await.status(),
        StatusCode::OK
    );
    // A revocation through B now reaches A within the staleness.
    let id = *l402_core::Identifier::decode(kept.macaroon().identifier())
        .unwrap()
        .token_id();
    let c = RedisRevocationList::builder(connection(&url))
        .max_token_lifetime(Duration::from_secs(3600))
        .build()
        .unwrap();
    l402_core::RevocationList::revoke(&c, &id).await.unwrap();
    within(staleness * 5, || async {
        client.status(&a, Some(&kept)).await == StatusCode::PAYMENT_REQUIRED
    })
    .await
    .expect("A refuses the token revoked elsewhere");
}
