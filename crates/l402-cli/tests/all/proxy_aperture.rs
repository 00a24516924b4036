//! `l402 proxy --aperture-config`: an Aperture YAML file run, printed as TOML, refused.

use std::net::SocketAddr;

use crate::support::{
    Daemon, DevNode, TempDir, Upstream, code, free_port, l402, run, stderr, stdout, wait_for_port,
};

const SECRET: &str = "4242424242424242424242424242424242424242424242424242424242424242";

/// An Aperture configuration in the sample's shape, for the dev-node and `upstream`.
fn aperture_yaml(node: &DevNode, dir: &TempDir, upstream: &Upstream, port: u16) -> String {
    std::fs::create_dir_all(dir.join("macs")).unwrap();
    std::fs::copy(
        node.file("server.macaroon"),
        dir.join("macs/invoice.macaroon"),
    )
    .unwrap();
    format!(
        r#"# The address which the proxy can be reached at.
listenaddr: "127.0.0.1:{port}"
staticroot: "./static"
servestatic: false
debuglevel: "debug"
basedir: "{dir}"
autocert: false
servername: aperture.example.com
insecure: true
strictverify: false
invoicebatchsize: 100000
idletimeout: 2m
readtimeout: 15s
writetimeout: 30s
authenticator:
  network: "regtest"
  disable: false
  lndhost: "localhost:10009"
  tlspath: "{cert}"
  macdir: "{dir}/macs"
dbbackend: "sqlite"
sqlite:
    dbfile: "{dir}/aperture.db"
hashmail:
  enabled: false
prometheus:
  enabled: false
services:
  - name: "service1"
    hostregexp: '^127.0.0.1:{port}$'
    pathregexp: '^/service1/.*$'
    address: "{upstream}"
    protocol: http
    headers:
      X-Api-Key: "upstream-secret"
    capabilities: "add,subtract"
    timeout: 31557600
    price: 3
    authwhitelistpaths:
      - '^/service1/free.*$'
    dynamicprice:
      enabled: false
  - name: "service2"
    pathregexp: '^/service2/.*$'
    address: "{upstream}"
    protocol: http
    rewrite:
      prefix: "/v2"
    auth: "off"
  - name: "service3"
    pathregexp: '^/service3/.*$'
    address: "{upstream}"
    price: 0
    auth: "freebie 1"
"#,
        dir = dir.path().display(),
        cert = node.file("server-tls.cert"),
        upstream = upstream.addr,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aperture_config_runs_and_prints_as_toml_our_loader_reads() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let dir = TempDir::new("aperture");
    let port = free_port();
    let yaml = dir.join("aperture.yaml");
    std::fs::write(&yaml, aperture_yaml(&node, &dir, &upstream, port)).unwrap();
    let aperture = |extra: &[&str]| {
        let mut cmd = l402(&["proxy", "--aperture-config"]);
        cmd.arg(&yaml)
            .args(["--lnd-rest-url", &node.server_url()])
            .args(extra)
            .env("L402_MASTER_SECRET", SECRET);
        cmd
    };

    // --print-config: TOML that `--check --config` accepts.
    let out = run(aperture(&["--print-config"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let toml_text = stdout(&out);
    let t: toml::Table = toml::from_str(&toml_text).unwrap();
    assert_eq!(t["listen"].as_str(), Some(&*format!("127.0.0.1:{port}")));
    assert_eq!(t["backend"]["url"].as_str(), Some(&*node.server_url()));
    let s = t["services"].as_array().unwrap();
    assert_eq!(
        s[0]["host_regex"].as_str(),
        Some(&*format!("^127.0.0.1:{port}$"))
    );
    assert_eq!(s[0]["price_sat"].as_integer(), Some(3));
    assert_eq!(s[0]["validity_secs"].as_integer(), Some(31_557_600));
    assert_eq!(s[0]["capabilities"].as_array().unwrap().len(), 2);
    assert_eq!(s[1]["free"].as_bool(), Some(true));
    assert!(s[1]["upstream"].as_str().unwrap().ends_with("/v2"));
    assert_eq!(
        s[2]["price_sat"].as_integer(),
        Some(1),
        "a price of 0 is 1 sat"
    );
    assert_eq!(s[2]["freebies"].as_integer(), Some(1));
    std::fs::write(dir.join("converted.toml"), &toml_text).unwrap();
    let mut check = l402(&["proxy", "--check"]);
    check
        .arg(dir.join("converted.toml"))
        .env("L402_MASTER_SECRET", SECRET);
    let out = run(check);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("ok, 3 services"), "{}", stdout(&out));
    let out = run(aperture(&["--check"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // Run it.
    let daemon = Daemon::spawn("proxy", aperture(&[]), &dir.join("proxy.log"));
    let mut daemon = daemon;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_for_port(addr, &mut daemon).await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("http://{addr}{p}");
    let res = http.get(url("/service1/x")).send().await.unwrap();
    assert_eq!(res.status(), 402);
    let res = http.get(url("/service1/free/x")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = http.get(url("/service2/y")).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "upstream says hi /v2/service2/y");
    let res = http.get(url("/nowhere")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let seen = upstream.seen();
    assert_eq!(seen[0].headers["x-api-key"], "upstream-secret");
}

#[test]
fn unsupported_aperture_keys_are_named() {
    let dir = TempDir::new("aperture-bad");
    let yaml = dir.join("aperture.yaml");
    std::fs::write(
        &yaml,
        r#"listenaddr: "127.0.0.1:8081"
autocert: true
blocklist: ["1.1.1.1"]
authenticator:
  lndhost: "localhost:10009"
  macdir: "/lnd"
  passphrase: "pairing phrase"
prometheus:
  enabled: true
  listenaddr: "localhost:9000"
services:
  - name: "service1"
    address: "127.0.0.1:10009"
    protocol: https
    constraints:
      "valid_until": 1682483169
    authskipinvoicecreationpaths: ['^/streaming.*$']
    ratelimits:
      - pathregexp: '^/x$'
        requests: 5
        per: 1s
    dynamicprice:
      enabled: true
      grpcaddress: "127.0.0.1:10010"
"#,
    )
    .unwrap();
    let mut cmd = l402(&["proxy", "--print-config", "--aperture-config"]);
    cmd.arg(&yaml);
    let out = run(cmd);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    for key in [
        "autocert",
        "blocklist",
        "authenticator.passphrase",
        "prometheus",
        "services[0].constraints",
        "services[0].authskipinvoicecreationpaths",
        "services[0].ratelimits",
        "services[0].dynamicprice",
    ] {
        assert!(err.contains(key), "{key}: {err}");
    }
    assert!(stdout(&out).is_empty());
}

#[test]
fn malformed_aperture_configs_exit_2() {
    let dir = TempDir::new("aperture-malformed");
    for (name, text, want) in [
        (
            "syntax.yaml",
            "services:\n  - name: [unclosed\n",
            "malformed aperture config",
        ),
        (
            "list.yaml",
            "- just\n- a list\n",
            "top level must be a mapping",
        ),
        (
            "unknown.yaml",
            "listenaddr: \"127.0.0.1:1\"\nlistenadr: x\n",
            "unknown aperture key \"listenadr\"",
        ),
        (
            "auth.yaml",
            "authenticator:\n  lndhost: \"h:10009\"\n  macdir: /m\nservices:\n  - name: a\n    address: \"x:1\"\n    auth: sometimes\n",
            "services[0].auth",
        ),
        (
            "grpc.yaml",
            "authenticator:\n  lndhost: \"h:10019\"\n  macdir: /m\nservices: []\n",
            "--lnd-rest-url",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let mut cmd = l402(&["proxy", "--check", "--aperture-config"]);
        cmd.arg(&path);
        let out = run(cmd);
        assert_eq!(code(&out), 2, "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{name}: {}", stderr(&out));
    }
    let mut cmd = l402(&["proxy", "--aperture-config"]);
    cmd.arg(dir.join("absent.yaml"));
    assert_eq!(code(&run(cmd)), 2);
}
