//! The admin API as a tower service: who gets in (only the bearer secret), and what each
//! call answers before and after a paid request and a revocation.

use std::sync::Arc;

use axum::body::Body;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::BodyExt as _;
use l402_core::{BoxInvoiceBackend, DerivedRootKeyStore, MasterSecret};
use l402_proxy::admin::{Admin, BearerSecret, Sales};
use l402_proxy::revocation::Revocations;
use l402_proxy::{ClientAddr, Proxy, ProxyConfig, RevocationConfig};
use tower::ServiceExt as _;

use crate::support::*;

const SECRET: &str = "admin-secret-0123456789abcdefghijklmnop";

struct Fixture {
    net: Net,
    proxy: Proxy,
    admin: Admin,
    dir: std::path::PathBuf,
}

/// A proxy with a priced service (an upstream with credentials, a secret header) and a
/// free one, its admin API, and revocations in a file when `file` is set.
async fn fixture(file: bool) -> Fixture {
    let dir = std::env::temp_dir().join(format!(
        "l402-proxy-admin-{}-{}",
        std::process::id(),
        if file { "file" } else { "none" }
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let upstream = echo_upstream().await;
    let mut weather = ServiceConfig::new("weather", format!("http://user:hunter2@{upstream}/api"));
    weather.path = Some("/weather".to_owned());
    weather.price_sat = Some(7);
    weather.validity_secs = Some(3600);
    weather
        .headers
        .insert("X-Api-Key".to_owned(), "upstream-secret-value".to_owned());
    let mut docs = service("docs", upstream, "/");
    docs.path = Some("/docs".to_owned());
    docs.free = true;
    let mut config = ProxyConfig::new(vec![weather, docs]);
    if file {
        std::fs::write(dir.join("revoked.txt"), "# revoked tokens\n").unwrap();
        config.revocation = Some(
            toml::from_str::<RevocationConfig>(&format!(
                "kind = \"memory\"\nfile = {:?}\n",
                dir.join("revoked.txt")
            ))
            .unwrap(),
        );
    }
    let revocations = Arc::new(Revocations::from_config(config.revocation.as_ref()).unwrap());
    let store = Arc::new(DerivedRootKeyStore::with_revocation_list(
        MasterSecret::from_hex(&"42".repeat(32)).unwrap(),
        Arc::clone(&revocations),
    ));
    let sales = Arc::new(Sales::new(100));
    let net = Net::new();
    let proxy = Proxy::builder(config, BoxInvoiceBackend::new(net.server.clone()), store)
        .sales(Arc::clone(&sales))
        .build()
        .unwrap();
    let live = proxy.clone();
    let admin = Admin::builder(
        BearerSecret::new(SECRET).unwrap(),
        Arc::new(move || live.clone()),
        sales,
    )
    .revocations(revocations)
    .backend("lnd")
    .build();
    Fixture {
        net,
        proxy,
        admin,
        dir,
    }
}

fn request(method: &str, uri: &str, authorization: Option<&str>, body: &str) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body.to_owned()))
        .unwrap();
    req.extensions_mut()
        .insert(ClientAddr(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            4000,
        ))));
    if let Some(a) = authorization {
        req.headers_mut()
            .insert("authorization", HeaderValue::from_str(a).unwrap());
    }
    req
}

async fn call(admin: &Admin, req: Request<Body>) -> (http::response::Parts, Vec<u8>) {
    let response = admin.clone().oneshot(req).await.unwrap();
    let (parts, body) = response.into_parts();
    (parts, body.collect().await.unwrap().to_bytes().to_vec())
}

/// An authorized call; its status and JSON body.
async fn admin_json(
    admin: &Admin,
    method: &str,
    uri: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let (parts, body) = call(
        admin,
        request(method, uri, Some(&format!("Bearer {SECRET}")), body),
    )
    .await;
    assert_eq!(parts.headers["content-type"], "application/json");
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("not json: {}", String::from_utf8_lossy(&body)));
    (parts.status, value)
}

#[tokio::test]
async fn wrong_missing_or_almost_right_credentials_get_401_and_nothing_else() {
    let f = fixture(false).await;
    let almost = [
        None,
        Some(String::new()),
        Some("Bearer".to_owned()),
        Some("Bearer ".to_owned()),
        Some(SECRET.to_owned()),
        Some(format!("Basic {SECRET}")),
        Some(format!("Bearer {}", &SECRET[..SECRET.len() - 1])),
        Some(format!("Bearer {SECRET}x")),
        Some(format!("Bearer {}", SECRET.to_ascii_uppercase())),
        Some(format!("Bearer  {SECRET}")),
        Some(format!("Bearer {SECRET} ")),
        Some(format!("Bearer {}X", &SECRET[..SECRET.len() - 1])),
    ];
    let id = "ab".repeat(32);
    let calls = [
        ("GET", "/v1/health".to_owned()),
        ("GET", "/v1/services".to_owned()),
        ("GET", "/v1/no-such-call".to_owned()),
        ("POST", format!("/v1/tokens/{id}/revoke")),
        ("DELETE", "/v1/info".to_owned()),
    ];
    for authorization in &almost {
        for (method, path) in &calls {
            let (parts, body) = call(
                &f.admin,
                request(method, path, authorization.as_deref(), "{}"),
            )
            .await;
            assert_eq!(parts.status, 401, "{authorization:?} {method} {path}");
            let mut headers: Vec<_> = parts
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
                .collect();
            headers.sort();
            assert_eq!(
                headers,
                ["content-type: application/json", "www-authenticate: Bearer"],
                "{authorization:?} {method} {path}"
            );
            assert_eq!(body, br#"{"error":"unauthorized"}"#);
        }
    }
    // The right one gets in (the scheme's case does not matter).
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let (parts, _) = call(
            &f.admin,
            request("GET", "/v1/health", Some(&format!("{scheme} {SECRET}")), ""),
        )
        .await;
        assert_eq!(parts.status, 200, "{scheme}");
    }
    let _ = std::fs::remove_dir_all(&f.dir);
}

#[tokio::test]
async fn each_call_answers_and_sales_move_after_a_paid_request() {
    let f = fixture(true).await;
    let (status, health) = admin_json(&f.admin, "GET", "/v1/health", "").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));

    let (status, info) = admin_json(&f.admin, "GET", "/v1/info", "").await;
    assert_eq!(status, 200);
    assert_eq!(info["services"], 2);
    assert_eq!(info["backend"], "lnd");
    assert_eq!(info["revocation"], "memory");
    assert!(info["uptime_secs"].is_u64());

    let (status, services) = admin_json(&f.admin, "GET", "/v1/services", "").await;
    assert_eq!(status, 200);
    let text = services.to_string();
    assert!(
        !text.contains("hunter2") && !text.contains("user:"),
        "{text}"
    );
    assert!(!text.contains("upstream-secret-value"), "{text}");
    let weather = &services["services"][0];
    assert_eq!(weather["name"], "weather");
    assert_eq!(weather["path"], "/weather");
    assert_eq!(weather["pricing"], "static");
    assert_eq!(weather["price_msat"], 7000);
    assert_eq!(weather["auth_scheme"], "l402");
    assert_eq!(weather["validity_secs"], 3600);
    assert!(weather["freebies"].is_null());
    assert_eq!(weather["headers"], serde_json::json!(["X-Api-Key"]));
    assert!(weather["upstream"].as_str().unwrap().ends_with("/api"));
    assert_eq!(services["services"][1]["pricing"], "free");

    // Nothing sold yet.
    let (_, recent) = admin_json(&f.admin, "GET", "/v1/tokens/recent", "").await;
    assert_eq!(recent["tokens"], serde_json::json!([]));
    let (_, stats) = admin_json(&f.admin, "GET", "/v1/stats", "").await;
    assert_eq!(stats["revenue"], serde_json::json!([]));
    assert_eq!(stats["scope"], "instance");

    // A paid request, and the same token again.
    let uri = "http://api.example.com/weather/today";
    let (res, _) = send(&f.proxy, get(uri, None)).await;
    assert_eq!(res.status(), 402);
    let credential = f.net.pay(res.headers()).await;
    for _ in 0..2 {
        let (res, _) = send(&f.proxy, get(uri, Some(&credential))).await;
        assert_eq!(res.status(), 200);
    }
    let token_id = l402_core::Identifier::decode(credential.macaroon().identifier())
        .unwrap()
        .token_id()
        .to_hex();

    let (_, recent) = admin_json(&f.admin, "GET", "/v1/tokens/recent?limit=5", "").await;
    let tokens = recent["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{recent}");
    assert_eq!(tokens[0]["token_id"], token_id.as_str());
    assert_eq!(tokens[0]["service"], "weather");
    assert_eq!(tokens[0]["amount_msat"], 7000);
    assert_eq!(tokens[0]["scheme"], "l402");
    assert!(tokens[0]["time"].as_str().unwrap().ends_with('Z'));
    // Never the preimage nor the macaroon.
    let preimage = credential.preimage().expose_hex();
    assert!(!recent.to_string().contains(preimage.as_str()));
    let (_, stats) = admin_json(&f.admin, "GET", "/v1/stats", "").await;
    let revenue = stats["revenue"].as_array().unwrap();
    assert_eq!(revenue.len(), 1, "{stats}");
    assert_eq!(revenue[0]["service"], "weather");
    assert_eq!(revenue[0]["count"], 1);
    assert_eq!(revenue[0]["msat"], 7000);

    // Revoked: refused at once, and written to the file.
    let (status, answer) = admin_json(
        &f.admin,
        "POST",
        &format!("/v1/tokens/{token_id}/revoke"),
        "",
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["revoked"], true);
    assert_eq!(answer["already_revoked"], false);
    let (res, _) = send(&f.proxy, get(uri, Some(&credential))).await;
    assert_eq!(res.status(), 402);
    let file = std::fs::read_to_string(f.dir.join("revoked.txt")).unwrap();
    assert!(file.lines().any(|l| l == token_id), "{file}");
    let (status, answer) = admin_json(
        &f.admin,
        "POST",
        "/v1/revocations",
        &format!("{{\"token_id\": \"{token_id}\"}}"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["already_revoked"], true);

    // Typed errors, never 500.
    for (method, uri, body, want) in [
        ("GET", "/v1/nope", "", 404),
        ("POST", "/v1/health", "", 405),
        ("GET", "/v1/tokens/recent?limit=0", "", 400),
        ("POST", "/v1/tokens/xyz/revoke", "", 400),
        ("POST", "/v1/revocations", "{\"token\": 1}", 400),
    ] {
        let (status, answer) = admin_json(&f.admin, method, uri, body).await;
        assert_eq!(status, want, "{method} {uri}: {answer}");
        assert!(answer["error"].is_string());
    }
    let big = " ".repeat(5000);
    let (status, _) = admin_json(&f.admin, "GET", "/v1/health", &big).await;
    assert_eq!(status, 413);
    let _ = std::fs::remove_dir_all(&f.dir);
}

#[tokio::test]
async fn revoking_without_a_revocation_list_is_409() {
    let f = fixture(false).await;
    let (status, answer) = admin_json(
        &f.admin,
        "POST",
        &format!("/v1/tokens/{}/revoke", "ab".repeat(32)),
        "",
    )
    .await;
    assert_eq!(status, 409);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("no [revocation] is configured"),
        "{answer}"
    );
    let _ = std::fs::remove_dir_all(&f.dir);
}
