//! Every kind of answer the fake gives, checked against the file.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use l402_core::{Amount, PaymentHash, Preimage};
use l402_lnd_fake::{FakeLnd, FakeLndOptions, FakeMacaroon};
use l402_mock::{MockNetwork, RoutingFee};
use serde_json::{Value, json};

use crate::schema::{assert_stream_line, assert_valid, definition, spec};

struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not json ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn lines(&self) -> Vec<Value> {
        let text = std::str::from_utf8(&self.body).unwrap();
        assert!(
            text.ends_with('\n'),
            "stream lines end with a newline: {text:?}"
        );
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(lnd: &FakeLnd) -> Self {
        Client {
            http: reqwest::Client::new(),
            base: lnd.base_url().to_owned(),
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        macaroon: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(m) = macaroon {
            request = request.header("Grpc-Metadata-macaroon", m);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "{path}"
        );
        let body = response.bytes().await.unwrap().to_vec();
        Answer { status, body }
    }
}

struct Setup {
    _network: MockNetwork,
    server: FakeLnd,
    agent: FakeLnd,
}

async fn setup() -> Setup {
    let network = MockNetwork::builder()
        .routing_fee(RoutingFee::new(Amount::from_msat(1_000), 0))
        .build();
    let server = network.node("server").build().unwrap();
    let agent = network
        .node("agent")
        .balance(Amount::from_msat(1_000_000))
        .build()
        .unwrap();
    Setup {
        server: FakeLnd::start(server, FakeLndOptions::new().plain_http())
            .await
            .unwrap(),
        agent: FakeLnd::start(agent, FakeLndOptions::new().plain_http())
            .await
            .unwrap(),
        _network: network,
    }
}

fn file_error(pointer: &str) -> &'static Value {
    spec()
        .pointer(pointer)
        .unwrap_or_else(|| panic!("no {pointer}"))
}

fn assert_unary_error(answer: &Answer, expected_status: u16, expected: &Value) {
    assert_eq!(
        answer.status,
        expected_status,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let body = answer.json();
    assert_valid(&spec()["errors"]["swagger_rpcStatus"], &body, "error body");
    assert_eq!(&body, expected);
}

#[tokio::test]
async fn get_info_and_macaroon_errors() {
    let s = setup().await;
    let client = Client::new(&s.server);
    let admin = s.server.macaroon_hex(FakeMacaroon::Admin);
    let answer = client.call("GET", "/v1/getinfo", Some(&admin), None).await;
    assert_eq!(answer.status, 200);
    let info = answer.json();
    assert_valid(definition("lnrpcGetInfoResponse"), &info, "GetInfo");
    assert_eq!(
        info["identity_pubkey"],
        json!(s.server.node().node_id().to_string())
    );
    assert_eq!(info["chains"][0]["network"], json!("regtest"));
    assert!(info["block_height"].is_u64() && info["best_header_timestamp"].is_string());

    // Upper-case hex is accepted too.
    let upper = client
        .call("GET", "/v1/getinfo", Some(&admin.to_uppercase()), None)
        .await;
    assert_eq!(upper.status, 200);

    let missing = client.call("GET", "/v1/getinfo", None, None).await;
    assert_unary_error(
        &missing,
        500,
        &spec()["transport"]["auth"]["missing"]["body"],
    );
    let invoice_only = s.server.macaroon_hex(FakeMacaroon::Invoice);
    let denied = client
        .call("GET", "/v1/getinfo", Some(&invoice_only), None)
        .await;
    assert_unary_error(&denied, 500, file_error("/calls/GetInfo/errors/0/body"));
    assert_eq!(
        denied.json(),
        spec()["transport"]["auth"]["insufficient"]["body"]
    );
    let foreign = s.agent.macaroon_hex(FakeMacaroon::Admin);
    let wrong = client
        .call("GET", "/v1/getinfo", Some(&foreign), None)
        .await;
    assert_eq!(wrong.status, 500);
    assert_eq!(wrong.json()["code"], json!(2));
}

#[tokio::test]
async fn invoices_and_their_errors() {
    let s = setup().await;
    let client = Client::new(&s.server);
    let mac = s.server.macaroon_hex(FakeMacaroon::InvoiceServer);

    let none = client
        .call(
            "GET",
            &format!("/v1/invoice/{}", "11".repeat(32)),
            Some(&mac),
            None,
        )
        .await;
    assert_unary_error(&none, 404, file_error("/calls/LookupInvoice/errors/1/body"));

    // 64-bit integers as strings or numbers; camelCase names accepted.
    let added = client
        .call(
            "POST",
            "/v1/invoices",
            Some(&mac),
            Some(json!({"memo": "m", "valueMsat": 21000, "expiry": "600"})),
        )
        .await;
    assert_eq!(added.status, 200);
    let added = added.json();
    assert_valid(definition("lnrpcAddInvoiceResponse"), &added, "AddInvoice");
    let r_hash = STANDARD.decode(added["r_hash"].as_str().unwrap()).unwrap();
    assert_eq!(r_hash.len(), 32);
    let hash_hex = l402_core::encoding::hex_encode(&r_hash);

    let open = client
        .call("GET", &format!("/v1/invoice/{hash_hex}"), Some(&mac), None)
        .await;
    assert_eq!(open.status, 200);
    let open = open.json();
    assert_valid(definition("lnrpcInvoice"), &open, "LookupInvoice open");
    assert_eq!(open["state"], json!("OPEN"));
    assert_eq!(open["value_msat"], json!("21000"));
    assert_eq!(open["value"], json!("21"));
    assert_eq!(open["settle_date"], json!("0"));
    // An OPEN invoice already shows its preimage (pitfall 7).
    let preimage = STANDARD
        .decode(open["r_preimage"].as_str().unwrap())
        .unwrap();
    assert_eq!(preimage.len(), 32);

    let unknown = client
        .call(
            "GET",
            &format!("/v1/invoice/{}", "11".repeat(32)),
            Some(&mac),
            None,
        )
        .await;
    assert_unary_error(
        &unknown,
        404,
        file_error("/calls/LookupInvoice/errors/0/body"),
    );
    let short = client
        .call("GET", "/v1/invoice/abcd", Some(&mac), None)
        .await;
    assert_unary_error(
        &short,
        500,
        &json!({"code": 2, "message": "payment hash must be exactly 32 bytes, is instead 2", "details": []}),
    );
    let not_hex = client.call("GET", "/v1/invoice/zz", Some(&mac), None).await;
    assert_eq!(not_hex.status, 500);
    assert!(
        not_hex.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("encoding/hex: invalid byte")
    );

    let unknown_field = client
        .call(
            "POST",
            "/v1/invoices",
            Some(&mac),
            Some(json!({"memo": "m", "amount": "1"})),
        )
        .await;
    assert_eq!(unknown_field.status, 400);
    assert_eq!(unknown_field.json()["code"], json!(3));
    assert_valid(
        &spec()["errors"]["swagger_rpcStatus"],
        &unknown_field.json(),
        "400",
    );

    // Settle it by paying from the agent, then look again.
    let request = added["payment_request"].as_str().unwrap();
    let pay_mac = s.agent.macaroon_hex(FakeMacaroon::PayClient);
    let paid = Client::new(&s.agent)
        .call("POST", "/v2/router/send", Some(&pay_mac), Some(json!({"payment_request": request, "fee_limit_msat": "5000", "timeout_seconds": 10})))
        .await;
    assert_eq!(paid.status, 200);
    let settled = client
        .call("GET", &format!("/v1/invoice/{hash_hex}"), Some(&mac), None)
        .await
        .json();
    assert_valid(
        definition("lnrpcInvoice"),
        &settled,
        "LookupInvoice settled",
    );
    assert_eq!(settled["state"], json!("SETTLED"));
    assert_eq!(settled["amt_paid_msat"], json!("21000"));
    // amt_paid carries msat despite its name (pitfall 7).
    assert_eq!(settled["amt_paid"], json!("21000"));
    assert_eq!(settled["amt_paid_sat"], json!("21"));
}

#[tokio::test]
async fn payment_streams_and_tracking() {
    let s = setup().await;
    let inv_mac = s.server.macaroon_hex(FakeMacaroon::InvoiceServer);
    let added = Client::new(&s.server)
        .call(
            "POST",
            "/v1/invoices",
            Some(&inv_mac),
            Some(json!({"memo": "m", "value": "10", "expiry": 600})),
        )
        .await
        .json();
    let request = added["payment_request"].as_str().unwrap().to_owned();
    let r_hash = STANDARD.decode(added["r_hash"].as_str().unwrap()).unwrap();
    let hash = PaymentHash::from_bytes(r_hash.clone().try_into().unwrap());

    let agent = Client::new(&s.agent);
    let mac = s.agent.macaroon_hex(FakeMacaroon::PayClient);

    // Not yet paid: "payment isn't initiated".
    let path = format!("/v2/router/track/{}", URL_SAFE.encode(&r_hash));
    let unknown = agent.call("GET", &path, Some(&mac), None).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.lines(),
        vec![file_error("/calls/TrackPaymentV2/errors/0/body_line").clone()]
    );

    // Without a fee limit only zero-fee routes: NO_ROUTE on this network.
    let failed = agent
        .call(
            "POST",
            "/v2/router/send",
            Some(&mac),
            Some(json!({"payment_request": request, "timeout_seconds": 10})),
        )
        .await;
    assert_eq!(failed.status, 200);
    let lines = failed.lines();
    for line in &lines {
        assert_stream_line(line, "SendPaymentV2 failed");
    }
    let last = &lines.last().unwrap()["result"];
    assert_eq!(last["status"], json!("FAILED"));
    assert_eq!(last["failure_reason"], json!("FAILURE_REASON_NO_ROUTE"));
    assert_eq!(last["payment_preimage"], json!("0".repeat(64)));

    let sent = agent
        .call(
            "POST",
            "/v2/router/send",
            Some(&mac),
            Some(json!({"payment_request": request, "fee_limit_sat": "5", "timeout_seconds": 10})),
        )
        .await;
    assert_eq!(sent.status, 200);
    let lines = sent.lines();
    assert!(
        lines.len() >= 2,
        "an IN_FLIGHT update, then the final state"
    );
    for line in &lines {
        assert_stream_line(line, "SendPaymentV2");
        assert_eq!(line["result"]["payment_hash"], json!(hash.to_hex()));
    }
    assert_eq!(lines[0]["result"]["status"], json!("IN_FLIGHT"));
    assert_eq!(
        lines[0]["result"]["payment_preimage"],
        json!("0".repeat(64))
    );
    let last = &lines.last().unwrap()["result"];
    assert_eq!(last["status"], json!("SUCCEEDED"));
    let preimage = Preimage::from_hex(last["payment_preimage"].as_str().unwrap()).unwrap();
    assert!(hash.matches(&preimage));
    assert_eq!(last["value_msat"], json!("10000"));
    assert_eq!(last["fee_msat"], json!("1000"));

    // Paying again: 409 with the stream error wrapper.
    let again = agent
        .call(
            "POST",
            "/v2/router/send",
            Some(&mac),
            Some(json!({"payment_request": request, "fee_limit_sat": "5"})),
        )
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(
        again.lines(),
        vec![file_error("/calls/SendPaymentV2/errors/0/body_line").clone()]
    );

    // Tracking: URL-safe base64 with padding; one final message.
    let tracked = agent
        .call(
            "GET",
            &format!("{path}?no_inflight_updates=true"),
            Some(&mac),
            None,
        )
        .await;
    assert_eq!(tracked.status, 200);
    let lines = tracked.lines();
    assert_eq!(lines.len(), 1);
    assert_stream_line(&lines[0], "TrackPaymentV2");
    assert_eq!(lines[0]["result"]["status"], json!("SUCCEEDED"));
    // Standard base64 works too when it has no '/'.
    if !STANDARD.encode(&r_hash).contains('/') {
        let std_path = format!(
            "/v2/router/track/{}",
            STANDARD.encode(&r_hash).replace('+', "%2B")
        );
        assert_eq!(
            agent.call("GET", &std_path, Some(&mac), None).await.status,
            200
        );
    }

    // Hex in the track path (lnd #7821).
    let hex = agent
        .call(
            "GET",
            &format!("/v2/router/track/{}", hash.to_hex()),
            Some(&mac),
            None,
        )
        .await;
    assert_eq!(hex.status, 500);
    assert_eq!(
        hex.lines(),
        vec![file_error("/calls/TrackPaymentV2/errors/1/body_line").clone()]
    );
    // Unpadded base64 is rejected by the gateway (unary shape).
    let unpadded = URL_SAFE.encode(&r_hash).trim_end_matches('=').to_owned();
    let bad = agent
        .call(
            "GET",
            &format!("/v2/router/track/{unpadded}"),
            Some(&mac),
            None,
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["code"], json!(3));
    // A '/' of standard base64, even escaped, splits the path: 404.
    let fixture = spec()["bytes_in_urls"]["fixture"]["std_base64"]
        .as_str()
        .unwrap();
    let split = agent
        .call(
            "GET",
            &format!("/v2/router/track/{}", fixture.replace('/', "%2F")),
            Some(&mac),
            None,
        )
        .await;
    assert_unary_error(&split, 404, &spec()["errors"]["unknown_route"]["body"]);

    // Stream auth errors use the wrapper too.
    let no_mac = agent.call("GET", &path, None, None).await;
    assert_eq!(no_mac.status, 500);
    assert_eq!(
        no_mac.lines(),
        vec![json!({"error": spec()["transport"]["auth"]["missing"]["body"]})]
    );
    let inv_only = s.agent.macaroon_hex(FakeMacaroon::InvoiceServer);
    let denied = agent
        .call(
            "POST",
            "/v2/router/send",
            Some(&inv_only),
            Some(json!({"payment_request": request})),
        )
        .await;
    assert_eq!(denied.status, 500);
    assert_eq!(
        denied.lines(),
        vec![json!({"error": spec()["transport"]["auth"]["insufficient"]["body"]})]
    );
    // Unknown fields (like the removed outgoing_chan_id): 400, unary shape.
    let removed_field = agent
        .call(
            "POST",
            "/v2/router/send",
            Some(&mac),
            Some(json!({"payment_request": request, "outgoing_chan_id": "1"})),
        )
        .await;
    assert_eq!(removed_field.status, 400);
    assert_valid(
        &spec()["errors"]["swagger_rpcStatus"],
        &removed_field.json(),
        "400",
    );
}

#[tokio::test]
async fn in_flight_track_then_final() {
    let s = setup().await;
    let inv_mac = s.server.macaroon_hex(FakeMacaroon::InvoiceServer);
    let added = Client::new(&s.server)
        .call(
            "POST",
            "/v1/invoices",
            Some(&inv_mac),
            Some(json!({"value_msat": "5000"})),
        )
        .await
        .json();
    let request = added["payment_request"].as_str().unwrap().to_owned();
    let r_hash = STANDARD.decode(added["r_hash"].as_str().unwrap()).unwrap();
    s.agent
        .node()
        .faults()
        .next_payment(l402_mock::PaymentFault::InFlight {
            duration: Duration::from_millis(300),
            then: l402_mock::Outcome::Succeed,
        });
    let mac = s.agent.macaroon_hex(FakeMacaroon::PayClient);
    let agent = Client::new(&s.agent);
    let sending = {
        let http = agent.http.clone();
        let url = format!("{}/v2/router/send", agent.base);
        let mac = mac.clone();
        tokio::spawn(async move {
            http.post(url)
                .header("Grpc-Metadata-macaroon", mac)
                .json(&json!({"payment_request": request, "fee_limit_msat": "2000", "no_inflight_updates": true}))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let tracked = agent
        .call(
            "GET",
            &format!("/v2/router/track/{}", URL_SAFE.encode(&r_hash)),
            Some(&mac),
            None,
        )
        .await;
    let lines = tracked.lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(lines[0]["result"]["status"], json!("IN_FLIGHT"));
    assert_eq!(lines[1]["result"]["status"], json!("SUCCEEDED"));
    for line in &lines {
        assert_stream_line(line, "TrackPaymentV2 in flight");
    }
    // no_inflight_updates: only the final message.
    let sent = sending.await.unwrap();
    assert_eq!(sent.lines().count(), 1, "{sent}");
    let line: Value = serde_json::from_str(sent.trim()).unwrap();
    assert_stream_line(&line, "SendPaymentV2 no_inflight_updates");
    assert_eq!(line["result"]["status"], json!("SUCCEEDED"));
}

#[tokio::test]
async fn routes_the_gateway_does_not_have() {
    let s = setup().await;
    let client = Client::new(&s.agent);
    let mac = s.agent.macaroon_hex(FakeMacaroon::Admin);
    let removed = &spec()["removed_calls"]["SendPaymentSync"]["expected_response_on_0_21"];
    let sync = client
        .call(
            "POST",
            "/v1/channels/transactions",
            Some(&mac),
            Some(json!({"payment_request": "x"})),
        )
        .await;
    assert_unary_error(
        &sync,
        removed["http_status"].as_u64().unwrap() as u16,
        &removed["body"],
    );
    let wrong = &spec()["errors"]["wrong_method"];
    let get_send = client
        .call("GET", "/v2/router/send", Some(&mac), None)
        .await;
    assert_unary_error(
        &get_send,
        wrong["http_status"].as_u64().unwrap() as u16,
        &wrong["body"],
    );
}

fn baked_id(answer: &Answer) -> (Vec<u8>, l402_core::node_credential::lnd::MacaroonId) {
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let body = answer.json();
    assert_eq!(
        body.as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["macaroon".to_owned()]),
        "BakeMacaroonResponse has one field"
    );
    let bytes = l402_core::encoding::hex_decode(body["macaroon"].as_str().unwrap()).unwrap();
    let m = l402_core::node_credential::lnd::LndMacaroon::from_bytes(&bytes).unwrap();
    assert_eq!(m.macaroon().location(), Some("lnd"));
    (bytes, m.id().clone())
}

#[tokio::test]
async fn bake_macaroon_makes_working_least_privilege_macaroons() {
    let s = setup().await;
    let client = Client::new(&s.server);
    let admin = s.server.macaroon_hex(FakeMacaroon::Admin);
    let answer = client
        .call(
            "POST",
            "/v1/macaroon",
            Some(&admin),
            Some(json!({
                "permissions": [
                    {"entity": "invoices", "action": "write"},
                    {"entity": "info", "action": "read"},
                    {"entity": "invoices", "action": "read"},
                    {"entity": "invoices", "action": "read"}
                ],
                "root_key_id": "7"
            })),
        )
        .await;
    let (bytes, id) = baked_id(&answer);
    assert_eq!(id.storage_id, b"7");
    // The bakery's canonical order, duplicates dropped.
    assert_eq!(
        id.permissions(),
        vec!["info:read", "invoices:read", "invoices:write"]
    );
    assert_eq!(
        id.ops
            .iter()
            .map(|op| op.entity.as_str())
            .collect::<Vec<_>>(),
        vec!["info", "invoices"]
    );
    let baked = l402_core::encoding::hex_encode(&bytes);
    let invoice = client
        .call(
            "POST",
            "/v1/invoices",
            Some(&baked),
            Some(json!({"value": "10", "memo": "baked"})),
        )
        .await;
    assert_eq!(invoice.status, 200);
    assert_eq!(
        client
            .call("GET", "/v1/getinfo", Some(&baked), None)
            .await
            .status,
        200
    );
    // It cannot pay, nor bake.
    let pay = client
        .call(
            "POST",
            "/v2/router/send",
            Some(&baked),
            Some(json!({"payment_request": invoice.json()["payment_request"]})),
        )
        .await;
    assert_eq!(pay.status, 500);
    assert_eq!(pay.json()["error"]["message"], json!("permission denied"));
    let rebake = client
        .call(
            "POST",
            "/v1/macaroon",
            Some(&baked),
            Some(json!({"permissions": [{"entity": "onchain", "action": "write"}]})),
        )
        .await;
    assert_eq!(rebake.status, 500);
    assert_eq!(rebake.json()["message"], json!("permission denied"));

    // root_key_id as a number, or absent (0, the default key); a uri permission.
    let numeric = client
        .call(
            "POST",
            "/v1/macaroon",
            Some(&admin),
            Some(json!({
                "permissions": [{"entity": "uri", "action": "/lnrpc.Lightning/GetInfo"}],
                "root_key_id": 12
            })),
        )
        .await;
    let (bytes, id) = baked_id(&numeric);
    assert_eq!(id.storage_id, b"12");
    let uri_only = l402_core::encoding::hex_encode(&bytes);
    assert_eq!(
        client
            .call("GET", "/v1/getinfo", Some(&uri_only), None)
            .await
            .status,
        200
    );
    let default = client
        .call(
            "POST",
            "/v1/macaroon",
            Some(&admin),
            Some(json!({"permissions": [{"entity": "offchain", "action": "read"}]})),
        )
        .await;
    assert_eq!(baked_id(&default).1.storage_id, b"0");
    // Unknown names pass with allow_external_permissions.
    let external = client
        .call(
            "POST",
            "/v1/macaroon",
            Some(&admin),
            Some(json!({
                "permissions": [{"entity": "loop", "action": "out"}],
                "allow_external_permissions": true
            })),
        )
        .await;
    assert_eq!(baked_id(&external).1.permissions(), vec!["loop:out"]);
}

#[tokio::test]
async fn bake_macaroon_refuses_as_lnd_does() {
    let s = setup().await;
    let client = Client::new(&s.server);
    let admin = s.server.macaroon_hex(FakeMacaroon::Admin);
    let help = "supported actions are [read write generate], supported entities are \
                [onchain offchain address message remotesigner peers info invoices signer \
                macaroon uri]";
    let bake = |body: Value, mac: String| {
        let client = &client;
        async move {
            client
                .call("POST", "/v1/macaroon", Some(&mac), Some(body))
                .await
        }
    };
    let cases = [
        (
            json!({}),
            format!(
                "permission list cannot be empty. specify at least one action/entity pair. {help}"
            ),
        ),
        (
            json!({"permissions": [{"entity": "wallet", "action": "read"}]}),
            format!("invalid permission entity. {help}"),
        ),
        (
            json!({"permissions": [{"entity": "offchain", "action": "spend"}]}),
            format!("invalid permission action. {help}"),
        ),
        (
            json!({"permissions": [{"entity": "uri", "action": "/lnrpc.Lightning/Nope"}]}),
            "invalid permission action, must be an existing URI in the format \
             /package.Service/MethodName"
                .to_owned(),
        ),
    ];
    for (body, message) in cases {
        let answer = bake(body.clone(), admin.clone()).await;
        assert_eq!(answer.status, 500, "{body}");
        assert_eq!(
            answer.json(),
            json!({"code": 2, "message": message, "details": []}),
            "{body}"
        );
    }
    // Beyond the fake's identifier limit (LND has none): a fake's error, not a panic.
    let many: Vec<Value> = (0..64)
        .map(|i| json!({"entity": format!("external-entity-{i}"), "action": "read"}))
        .collect();
    let answer = bake(
        json!({"permissions": many, "allow_external_permissions": true}),
        admin.clone(),
    )
    .await;
    assert_eq!(answer.status, 500);
    assert!(
        answer.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("fake lnd:"),
        "{}",
        answer.json()
    );
    // Request shapes: protojson's refusals, 400.
    for body in [
        json!({"permissions": [], "rootKeyId": "1", "extra": 1}),
        json!({"permissions": [{"entity": "info", "action": "read", "x": 1}]}),
        json!({"permissions": {"entity": "info"}}),
        json!({"permissions": [{"entity": "info", "action": "read"}], "root_key_id": "-1"}),
        json!({"permissions": [{"entity": "info", "action": "read"}], "root_key_id": -1}),
    ] {
        let answer = bake(body.clone(), admin.clone()).await;
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(answer.json()["code"], json!(3), "{body}");
    }
    // Without macaroon:generate: LND's permission denied, and nothing baked.
    for preset in [FakeMacaroon::InvoiceServer, FakeMacaroon::Readonly] {
        let answer = bake(
            json!({"permissions": [{"entity": "info", "action": "read"}]}),
            s.server.macaroon_hex(preset),
        )
        .await;
        assert_eq!(answer.status, 500);
        assert_eq!(
            answer.json(),
            spec()["transport"]["auth"]["insufficient"]["body"]
        );
    }
    let none = client
        .call(
            "POST",
            "/v1/macaroon",
            None,
            Some(json!({"permissions": [{"entity": "info", "action": "read"}]})),
        )
        .await;
    assert_eq!(none.status, 500);
    // Another node's macaroon with the same storage id: signature mismatch.
    let foreign = bake(
        json!({"permissions": [{"entity": "info", "action": "read"}]}),
        s.agent.macaroon_hex(FakeMacaroon::Admin),
    )
    .await;
    assert_eq!(foreign.status, 500);
    assert_eq!(
        foreign.json()["message"],
        json!("verification failed: signature mismatch after caveat verification")
    );
    assert_eq!(
        client
            .call("GET", "/v1/macaroon", Some(&admin), None)
            .await
            .status,
        501,
        "grpc-gateway's Method Not Allowed (code 12)"
    );
}
