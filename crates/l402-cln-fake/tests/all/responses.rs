//! Every kind of answer the fake gives, checked against the file.

use std::time::{Duration, SystemTime};

use l402_cln_fake::{FakeCln, FakeClnOptions, FakeRune};
use l402_core::backend::{FailureReason, InvoiceRequest};
use l402_core::{Amount, PaymentHash, Preimage};
use l402_mock::{MockNetwork, Outcome, PaymentFault, RoutingFee};
use serde_json::{Value, json};

use crate::schema::{assert_error_body, assert_valid, request_schema, response_schema, spec};

struct Answer {
    status: u16,
    body: Value,
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(cln: &FakeCln) -> Self {
        Client {
            http: reqwest::Client::new(),
            base: cln.base_url().to_owned(),
        }
    }

    async fn raw(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, body }
    }

    async fn call(&self, method: &str, rune: Option<&str>, params: Value) -> Answer {
        let mut request = self.http.post(format!("{}/v1/{method}", self.base));
        if let Some(rune) = rune {
            request = request.header("Rune", rune);
        }
        self.raw(request.json(&params)).await
    }
}

/// A successful call, its body checked against the method's response schema (and the
/// request against the request schema).
async fn ok(client: &Client, method: &str, rune: &str, params: Value) -> Value {
    assert_valid(
        request_schema(method),
        &params,
        &format!("{method} request"),
    );
    ok_unchecked(client, method, rune, params).await
}

/// [`ok`] for a request in a form the response-oriented validator does not take (a
/// `null`, an msat string), which clnrest and lightningd accept.
async fn ok_unchecked(client: &Client, method: &str, rune: &str, params: Value) -> Value {
    let answer = client.call(method, Some(rune), params).await;
    assert_eq!(answer.status, 201, "{method}: {}", answer.body);
    assert_valid(response_schema(method), &answer.body, method);
    answer.body
}

/// A failed call: its status and error body (checked for shape).
async fn fails(client: &Client, method: &str, rune: Option<&str>, params: Value) -> Answer {
    let answer = client.call(method, rune, params).await;
    assert_error_body(&answer.body, method);
    answer
}

struct Setup {
    network: MockNetwork,
    server: FakeCln,
    agent: FakeCln,
}

async fn setup(options: FakeClnOptions) -> Setup {
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
        server: FakeCln::start(server, options.clone()).await.unwrap(),
        agent: FakeCln::start(agent, options).await.unwrap(),
        network,
    }
}

fn status_map_body(status: u16, key: &str) -> &'static Value {
    spec()["clnrest"]["errors"]["status_map"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["http_status"] == json!(status) && e.get(key).is_some())
        .map(|e| &e[key])
        .unwrap()
}

#[tokio::test]
async fn get_info_and_rune_errors() {
    let s = setup(FakeClnOptions::new().plain_http()).await;
    let client = Client::new(&s.server);
    let info = ok(
        &client,
        "getinfo",
        &s.server.rune(FakeRune::InvoiceOnly),
        json!({}),
    )
    .await;
    assert_eq!(info["id"], json!(s.server.node().node_id().to_string()));
    assert_eq!(info["network"], json!("regtest"));
    assert_eq!(info["version"], json!("v26.06.6"));

    // No rune: 403, exactly the file's body.
    let missing = fails(&client, "getinfo", None, json!({})).await;
    assert_eq!(missing.status, 403);
    assert_eq!(&missing.body, status_map_body(403, "body"));
    // The invoice-only rune calling xpay: 401, exactly the file's example.
    let invoice_only = s.server.rune(FakeRune::InvoiceOnly);
    let refused = fails(
        &client,
        "xpay",
        Some(&invoice_only),
        json!({"invstring": "x"}),
    )
    .await;
    assert_eq!(refused.status, 401);
    assert_eq!(&refused.body, status_map_body(401, "example_body"));
    // Another node's rune: 401, 1501.
    let foreign = fails(
        &client,
        "getinfo",
        Some(&s.agent.rune(FakeRune::Admin)),
        json!({}),
    )
    .await;
    assert_eq!(foreign.status, 401);
    assert_eq!(foreign.body["code"], json!(1501));
    // The payer rune: maxfee must be an integer below 10001.
    let payer = s.server.rune(FakeRune::Payer);
    for maxfee in [json!(10_001), json!("5000msat")] {
        let capped = fails(
            &client,
            "xpay",
            Some(&payer),
            json!({"invstring": "x", "maxfee": maxfee}),
        )
        .await;
        assert_eq!(capped.status, 401);
        assert_eq!(capped.body["code"], json!(1502));
    }
    // A rune made with create_rune, in CLN's restriction format.
    let custom = s
        .server
        .create_rune(&[&["method=getinfo"], &["pnum<1"]])
        .unwrap();
    ok(&client, "getinfo", &custom, json!({})).await;
    assert!(s.server.create_rune(&[&["nonsense"]]).is_err());
}

#[tokio::test]
async fn routing_and_status_codes() {
    let s = setup(FakeClnOptions::new().plain_http()).await;
    let client = Client::new(&s.server);
    let admin = s.server.rune(FakeRune::Admin);

    let get = client
        .raw(
            client
                .http
                .get(format!("{}/v1/getinfo", client.base))
                .header("Rune", &admin),
        )
        .await;
    assert_eq!(get.status, 405);
    assert_eq!(&get.body, status_map_body(405, "body"));

    let unknown = fails(&client, "foo", Some(&admin), json!({})).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.body,
        json!({"code": -32601, "message": "Unknown command 'foo'", "data": null})
    );
    // The rune is checked first.
    let restricted = fails(
        &client,
        "foo",
        Some(&s.server.rune(FakeRune::InvoiceOnly)),
        json!({}),
    )
    .await;
    assert_eq!(restricted.status, 401);
    // decodepay is gone (v26.04).
    let decodepay = fails(&client, "decodepay", Some(&admin), json!({"bolt11": "x"})).await;
    assert_eq!(decodepay.status, 404);
    assert_eq!(
        decodepay.body,
        spec()["removed_or_deprecated"]["decodepay"]["expected_error"]["body_shape"]
    );
    let no_version = client
        .raw(client.http.post(format!("{}/v2/getinfo", client.base)))
        .await;
    assert_eq!(no_version.status, 404);
    assert_eq!(&no_version.body, status_map_body(404, "body"));

    // An unsupported content type: 406 before the call.
    let text = client
        .raw(
            client
                .http
                .post(format!("{}/v1/getinfo", client.base))
                .header("Rune", &admin)
                .header("Content-Type", "text/plain")
                .body("{}"),
        )
        .await;
    assert_eq!(text.status, 406);
    assert_eq!(text.body["code"], Value::Null);
    // An unsupported Accept: 406 after the call (the invoice exists).
    let accept = client
        .raw(
            client
                .http
                .post(format!("{}/v1/invoice", client.base))
                .header("Rune", &admin)
                .header("Accept", "text/html")
                .json(&json!({"amount_msat": 1000, "label": "a", "description": "d"})),
        )
        .await;
    assert_eq!(accept.status, 406);
    assert_eq!(s.network.invoice_count(), 1);
    // Positional params are not accepted; unknown params are refused; nulls are dropped.
    let array = client
        .raw(
            client
                .http
                .post(format!("{}/v1/getinfo", client.base))
                .header("Rune", &admin)
                .json(&json!([])),
        )
        .await;
    assert_eq!(array.status, 500);
    assert_eq!(array.body["code"], Value::Null);
    let extra = fails(&client, "getinfo", Some(&admin), json!({"verbose": true})).await;
    assert_eq!(
        (extra.status, extra.body["code"].clone()),
        (500, json!(-32602))
    );
    let all = ok_unchecked(
        &client,
        "listinvoices",
        &admin,
        json!({"payment_hash": null}),
    )
    .await;
    assert_eq!(all["invoices"].as_array().unwrap().len(), 1);
    // An empty body is no params.
    let empty = client
        .raw(
            client
                .http
                .post(format!("{}/v1/getinfo", client.base))
                .header("Rune", &admin),
        )
        .await;
    assert_eq!(empty.status, 201);
}

#[tokio::test]
async fn invoices_labels_and_listinvoices() {
    let s = setup(FakeClnOptions::new().plain_http()).await;
    let client = Client::new(&s.server);
    let rune = s.server.rune(FakeRune::InvoiceOnly);
    let fixture = &spec()["fixtures"];
    let label = fixture["label"].as_str().unwrap();

    let created = ok(
        &client,
        "invoice",
        &rune,
        json!({"amount_msat": 1_000_000, "label": label, "description": "L402 fixture", "expiry": 3600}),
    )
    .await;
    assert_eq!(created["created_index"], json!(1));
    let hash = created["payment_hash"].as_str().unwrap().to_owned();
    let bolt11: l402_core::lightning_invoice::Bolt11Invoice =
        created["bolt11"].as_str().unwrap().parse().unwrap();
    assert_eq!(PaymentHash::from(&bolt11).to_hex(), hash);
    assert_eq!(bolt11.expiry_time(), Duration::from_secs(3600));

    // The same label again: exactly the file's error.
    let duplicate = fails(
        &client,
        "invoice",
        Some(&rune),
        json!({"amount_msat": 5, "label": label, "description": "again"}),
    )
    .await;
    assert_eq!(duplicate.status, 500);
    assert_eq!(
        duplicate.body,
        spec()["methods"]["invoice"]["error_examples"][0]["body"]
    );
    // Without expiry: CLN's week.
    let week = ok_unchecked(
        &client,
        "invoice",
        &rune,
        json!({"amount_msat": "2sat", "label": 7, "description": "default expiry"}),
    )
    .await;
    let week: l402_core::lightning_invoice::Bolt11Invoice =
        week["bolt11"].as_str().unwrap().parse().unwrap();
    assert_eq!(week.expiry_time(), Duration::from_secs(604_800));
    assert_eq!(week.amount_milli_satoshis(), Some(2_000));
    let missing = fails(
        &client,
        "invoice",
        Some(&rune),
        json!({"amount_msat": 5, "label": "x"}),
    )
    .await;
    assert_eq!(missing.body["code"], json!(-32602));

    // Unpaid: no preimage.
    let unpaid = ok(
        &client,
        "listinvoices",
        &rune,
        json!({"payment_hash": hash}),
    )
    .await;
    let entry = &unpaid["invoices"][0];
    assert_eq!(entry["status"], json!("unpaid"));
    assert_eq!(entry["label"], json!(label));
    assert!(entry.get("payment_preimage").is_none());
    // By label, the same entry.
    let by_label = ok(&client, "listinvoices", &rune, json!({"label": label})).await;
    assert_eq!(by_label["invoices"][0], *entry);
    // Unknown hash: exactly the file's empty answer.
    let zeros = &spec()["methods"]["listinvoices"]["more_examples"][1];
    let none = ok(
        &client,
        "listinvoices",
        &rune,
        zeros["request"]["body"].clone(),
    )
    .await;
    assert_eq!(none, zeros["response"]["body"]);
    let two = fails(
        &client,
        "listinvoices",
        Some(&rune),
        json!({"payment_hash": hash, "label": label}),
    )
    .await;
    assert_eq!(two.body["code"], json!(-32602));

    // Paid (by the agent through xpay): preimage, paid_at, amount_received_msat.
    let agent = Client::new(&s.agent);
    s.agent
        .node()
        .deposit(Amount::from_msat(1_000_000))
        .unwrap();
    ok(
        &agent,
        "xpay",
        &s.agent.rune(FakeRune::Payer),
        json!({"invstring": bolt11.to_string(), "maxfee": 10_000, "retry_for": 60}),
    )
    .await;
    let paid = ok(
        &client,
        "listinvoices",
        &rune,
        json!({"payment_hash": hash}),
    )
    .await;
    let entry = &paid["invoices"][0];
    assert_eq!(entry["status"], json!("paid"));
    assert_eq!(entry["amount_received_msat"], json!(1_000_000));
    let preimage = Preimage::from_hex(entry["payment_preimage"].as_str().unwrap()).unwrap();
    assert_eq!(preimage.payment_hash().to_hex(), hash);

    // Expired.
    let old = s
        .server
        .node()
        .create_invoice_at(
            &InvoiceRequest::new(Amount::from_msat(1_000)).expiry(Duration::from_secs(60)),
            SystemTime::now() - Duration::from_secs(3600),
        )
        .unwrap();
    let expired = ok(
        &client,
        "listinvoices",
        &rune,
        json!({"payment_hash": old.payment_hash.to_hex()}),
    )
    .await;
    assert_eq!(expired["invoices"][0]["status"], json!("expired"));
    let all = ok(&client, "listinvoices", &rune, json!({})).await;
    assert_eq!(all["invoices"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn xpay_listpays_listsendpays() {
    let s = setup(FakeClnOptions::new().plain_http()).await;
    let client = Client::new(&s.agent);
    let rune = s.agent.rune(FakeRune::Payer);
    let server = Client::new(&s.server);
    let server_rune = s.server.rune(FakeRune::InvoiceOnly);
    let mut n = 0;
    let mut new_invoice = async |msat: u64| {
        n += 1;
        let created = ok(
            &server,
            "invoice",
            &server_rune,
            json!({"amount_msat": msat, "label": format!("l{n}"), "description": "t"}),
        )
        .await;
        (
            created["bolt11"].as_str().unwrap().to_owned(),
            created["payment_hash"].as_str().unwrap().to_owned(),
        )
    };

    // Success: no payment_hash, no status.
    let (bolt11, hash) = new_invoice(21_000).await;
    let paid = ok(
        &client,
        "xpay",
        &rune,
        json!({"invstring": bolt11, "maxfee": 5_000, "retry_for": 30}),
    )
    .await;
    assert!(paid.get("payment_hash").is_none() && paid.get("status").is_none());
    assert_eq!(paid["amount_msat"], json!(21_000));
    assert_eq!(paid["amount_sent_msat"], json!(22_000));
    let preimage = Preimage::from_hex(paid["payment_preimage"].as_str().unwrap()).unwrap();
    assert_eq!(preimage.payment_hash().to_hex(), hash);
    let pays = ok(&client, "listpays", &rune, json!({"payment_hash": hash})).await;
    assert_eq!(pays["pays"][0]["status"], json!("complete"));
    assert_eq!(pays["pays"][0]["preimage"], paid["payment_preimage"]);
    let parts = ok(
        &client,
        "listsendpays",
        &rune,
        json!({"payment_hash": hash}),
    )
    .await;
    assert_eq!(
        parts["payments"][0]["payment_preimage"],
        paid["payment_preimage"]
    );
    let by_bolt11 = ok(&client, "listpays", &rune, json!({"bolt11": bolt11})).await;
    assert_eq!(by_bolt11, pays);

    // Again: 219.
    let again = fails(
        &client,
        "xpay",
        Some(&rune),
        json!({"invstring": bolt11, "maxfee": 5_000}),
    )
    .await;
    assert_eq!(
        (again.status, again.body["code"].clone()),
        (500, json!(219))
    );

    // No route (fee cap): 205, nothing listed.
    let (bolt11, hash) = new_invoice(10_000).await;
    let no_route = fails(
        &client,
        "xpay",
        Some(&rune),
        json!({"invstring": bolt11, "maxfee": 0}),
    )
    .await;
    assert_eq!(no_route.body["code"], json!(205));
    let none = ok(&client, "listpays", &rune, json!({"payment_hash": hash})).await;
    assert_eq!(none, json!({"pays": []}));

    // Rejected at the destination: 203, listed as failed (no amount_msat, no preimage).
    let (bolt11, hash) = new_invoice(1_000).await;
    s.agent
        .node()
        .faults()
        .next_payment(PaymentFault::Fail(FailureReason::IncorrectPaymentDetails));
    let rejected = fails(
        &client,
        "xpay",
        Some(&rune),
        json!({"invstring": bolt11, "maxfee": 5_000}),
    )
    .await;
    assert_eq!(rejected.body["code"], json!(203));
    let failed = ok(&client, "listpays", &rune, json!({"payment_hash": hash})).await;
    assert_eq!(failed["pays"][0]["status"], json!("failed"));
    ok(
        &client,
        "listsendpays",
        &rune,
        json!({"payment_hash": hash, "status": "failed"}),
    )
    .await;

    // In flight: pending in both lists.
    let (bolt11, hash) = new_invoice(2_000).await;
    s.agent
        .node()
        .faults()
        .next_payment(PaymentFault::InFlight {
            duration: Duration::from_millis(300),
            then: Outcome::Succeed,
        });
    let paying = {
        let http = client.http.clone();
        let url = format!("{}/v1/xpay", client.base);
        let rune = rune.clone();
        tokio::spawn(async move {
            http.post(url)
                .header("Rune", rune)
                .json(&json!({"invstring": bolt11, "maxfee": 5_000}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let pending = ok(&client, "listpays", &rune, json!({"payment_hash": hash})).await;
    assert_eq!(pending["pays"][0]["status"], json!("pending"));
    let pending = ok(
        &client,
        "listsendpays",
        &rune,
        json!({"payment_hash": hash}),
    )
    .await;
    assert_eq!(pending["payments"][0]["status"], json!("pending"));
    assert_eq!(paying.await.unwrap(), 201);
    let all = ok(&client, "listpays", &rune, json!({})).await;
    assert_eq!(all["pays"].as_array().unwrap().len(), 3);
    let all = ok(
        &client,
        "listsendpays",
        &rune,
        json!({"status": "complete"}),
    )
    .await;
    assert_eq!(all["payments"].as_array().unwrap().len(), 2);

    // Bad parameters: -32602.
    let bad = fails(
        &client,
        "listpays",
        Some(&rune),
        json!({"payment_hash": "abcd"}),
    )
    .await;
    assert_eq!(bad.body["code"], json!(-32602));
    let bad = fails(
        &client,
        "xpay",
        Some(&rune),
        json!({"invstring": "lnbc1garbage", "maxfee": 1}),
    )
    .await;
    assert_eq!(bad.body["code"], json!(-32602));
}

#[tokio::test]
async fn listpays_can_be_disabled() {
    let s = setup(FakeClnOptions::new().plain_http().without_listpays()).await;
    let client = Client::new(&s.agent);
    let rune = s.agent.rune(FakeRune::Payer);
    let gone = fails(&client, "listpays", Some(&rune), json!({})).await;
    assert_eq!(gone.status, 404);
    ok(&client, "listsendpays", &rune, json!({})).await;
}

#[tokio::test]
async fn tls_names_cln_and_localhost_only() {
    let s = setup(FakeClnOptions::new()).await;
    let ca = reqwest::Certificate::from_pem(s.server.ca_pem().unwrap().as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let rune = s.server.rune(FakeRune::InvoiceOnly);
    let by_name = http
        .post(format!("{}/v1/getinfo", s.server.localhost_url()))
        .header("Rune", &rune)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.status(), 201);
    assert!(
        http.post(format!("{}/v1/getinfo", s.server.base_url()))
            .header("Rune", &rune)
            .json(&json!({}))
            .send()
            .await
            .is_err()
    );
    assert!(
        s.server
            .server_cert_pem()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    assert_ne!(s.server.server_cert_der(), s.server.ca_der());
}

#[tokio::test]
async fn createrune_makes_restricted_runes_that_work() {
    let s = setup(FakeClnOptions::new().plain_http()).await;
    let client = Client::new(&s.server);
    let admin = s.server.rune(FakeRune::Admin);
    let created = ok(
        &client,
        "createrune",
        &admin,
        json!({"restrictions": [["method=invoice", "method=listinvoices", "method=getinfo"]]}),
    )
    .await;
    assert!(created.get("warning_unrestricted_rune").is_none());
    let rune = created["rune"].as_str().unwrap().to_owned();
    let parsed = l402_core::node_credential::rune::Rune::parse(&rune).unwrap();
    assert_eq!(created["unique_id"], json!(parsed.unique_id().unwrap()));
    assert_eq!(
        parsed.restrictions_text(),
        format!(
            "={}&method=invoice|method=listinvoices|method=getinfo",
            parsed.unique_id().unwrap()
        )
    );
    ok(&client, "getinfo", &rune, json!({})).await;
    let refused = fails(&client, "xpay", Some(&rune), json!({"invstring": "x"})).await;
    assert_eq!(
        (refused.status, refused.body["code"].clone()),
        (401, json!(1502))
    );
    // It cannot make runes either.
    let again = fails(&client, "createrune", Some(&rune), json!({})).await;
    assert_eq!(again.body["code"], json!(1502));

    // Unique ids count up; no restrictions: CLN's warning.
    let bare = ok(&client, "createrune", &admin, json!({})).await;
    assert_eq!(
        bare["unique_id"].as_str().unwrap().parse::<u64>().unwrap(),
        created["unique_id"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            + 1
    );
    assert!(
        bare["warning_unrestricted_rune"]
            .as_str()
            .unwrap()
            .starts_with("WARNING: This rune has no restrictions!")
    );
    // readonly.
    let readonly = ok(
        &client,
        "createrune",
        &admin,
        json!({"restrictions": "readonly"}),
    )
    .await;
    let readonly = readonly["rune"].as_str().unwrap().to_owned();
    ok(&client, "listinvoices", &readonly, json!({})).await;
    ok(&client, "getinfo", &readonly, json!({})).await;
    assert_eq!(
        fails(&client, "invoice", Some(&readonly), json!({}))
            .await
            .body["code"],
        json!(1502)
    );
    // Attenuating a given rune: same unique id, restriction appended, no new id.
    let narrowed = ok(
        &client,
        "createrune",
        &admin,
        json!({"rune": rune, "restrictions": [["method=getinfo"]]}),
    )
    .await;
    assert_eq!(narrowed["unique_id"], created["unique_id"]);
    let narrowed = narrowed["rune"].as_str().unwrap().to_owned();
    ok(&client, "getinfo", &narrowed, json!({})).await;
    assert_eq!(
        fails(&client, "listinvoices", Some(&narrowed), json!({}))
            .await
            .body["code"],
        json!(1502)
    );
}

#[tokio::test]
async fn createrune_rate_limits_are_enforced() {
    let s = setup(FakeClnOptions::new().plain_http()).await;
    let client = Client::new(&s.server);
    let admin = s.server.rune(FakeRune::Admin);
    let created = ok(
        &client,
        "createrune",
        &admin,
        json!({"restrictions": [["method=getinfo"], ["rate=1"]]}),
    )
    .await;
    let rune = created["rune"].as_str().unwrap().to_owned();
    ok(&client, "getinfo", &rune, json!({})).await;
    // One use a minute: the second at once is too soon.
    let soon = fails(&client, "getinfo", Some(&rune), json!({})).await;
    assert_eq!(soon.status, 401);
    assert_eq!(
        soon.body,
        json!({"code": 1502, "message": "Not permitted: too soon", "data": null})
    );
    // A malformed rate refuses every call.
    let bad = ok(
        &client,
        "createrune",
        &admin,
        json!({"restrictions": [["rate=fast"]]}),
    )
    .await;
    let bad = fails(&client, "getinfo", bad["rune"].as_str(), json!({})).await;
    assert_eq!(bad.body["message"], json!("Not permitted: malformed rate"));
    // A generous per lets calls through.
    let per = ok(
        &client,
        "createrune",
        &admin,
        json!({"restrictions": [["per=1nsec"]]}),
    )
    .await;
    let per = per["rune"].as_str().unwrap().to_owned();
    ok(&client, "getinfo", &per, json!({})).await;
    ok(&client, "getinfo", &per, json!({})).await;
}

#[tokio::test]
async fn createrune_refuses_as_cln_does() {
    let s = setup(FakeClnOptions::new().plain_http()).await;
    let client = Client::new(&s.server);
    let admin = s.server.rune(FakeRune::Admin);
    let cases = [
        (
            json!({"restrictions": "writeonly"}),
            "restrictions: not a valid restriction (should be array): invalid token '\"writeonly\"'",
        ),
        (
            json!({"restrictions": ["method=getinfo"]}),
            "restrictions: not a valid restriction (should be array): invalid token '\"method=getinfo\"'",
        ),
        (
            json!({"restrictions": [["method"]]}),
            "restrictions: not a valid restriction (should be array): invalid token '[\"method\"]'",
        ),
        (
            json!({"restrictions": [["=1"]]}),
            "restrictions: not a valid restriction (should be array): invalid token '[\"=1\"]'",
        ),
        (
            json!({"rune": "not base64!"}),
            "rune: should be base64 string: invalid token '\"not base64!\"'",
        ),
        (json!({"label": "x"}), "unknown parameter: label"),
    ];
    for (params, message) in cases {
        let answer = fails(&client, "createrune", Some(&admin), params.clone()).await;
        assert_eq!(answer.status, 500, "{params}");
        assert_eq!(
            answer.body,
            json!({"code": -32602, "message": message, "data": null}),
            "{params}"
        );
    }
    // A rune without a numeric unique id.
    let no_id = l402_core::node_credential::rune::Rune::from_secret(&[7; 32])
        .unwrap()
        .restrict("method=getinfo")
        .unwrap()
        .to_base64();
    let answer = fails(&client, "createrune", Some(&admin), json!({"rune": no_id})).await;
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .starts_with("rune: should have valid numeric unique_id"),
        "{}",
        answer.body
    );
    // A rune that does not allow createrune: refused before the call.
    for preset in [FakeRune::InvoiceOnly, FakeRune::Payer, FakeRune::Readonly] {
        let answer = fails(
            &client,
            "createrune",
            Some(&s.server.rune(preset)),
            json!({"restrictions": [["method=getinfo"]]}),
        )
        .await;
        assert_eq!(
            (answer.status, answer.body["code"].clone()),
            (401, json!(1502))
        );
    }
    let answer = fails(&client, "createrune", None, json!({})).await;
    assert_eq!(answer.status, 403);
    // Another node's rune.
    let answer = fails(
        &client,
        "createrune",
        Some(&s.agent.rune(FakeRune::Admin)),
        json!({}),
    )
    .await;
    assert_eq!(
        (answer.status, answer.body["code"].clone()),
        (401, json!(1501))
    );
}
