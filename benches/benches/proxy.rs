//! Requests per second through `l402-proxy` to a static upstream, side by side in one run
//! with the upstream direct and with nginx `proxy_pass` (keep-alive upstream pool), for a
//! free route and for a paid route with a valid token.
//!
//! Run: `cargo bench -p l402-benches --bench proxy [-- <connections> <requests>]`
//! (defaults: 32 connections, 40,000 requests per run of the in-process generator). nginx
//! is used when `nginx` is on the `PATH` (Debian: `apt-get install nginx-light`), with one
//! worker per core. The load generator is `wrk` when installed (one thread, 3 s per run),
//! else an in-process one (keep-alive HTTP/1.1 connections, hyper); the same drives every
//! target. Each target is run three times, alternating (every other round in reverse
//! order), and the best run is reported. The proxy runs on a runtime of its own, served
//! as `l402 proxy` serves; the upstream answers `hello` from an axum route in this process.
//! The last two columns are issue 20's comparison: a paid route with and without metrics
//! and a per-token rate limit.
//!
//! `proxy/profile <direct|free|paid|ops-off|ops-on> <n>` sends `n` requests one after the
//! other instead, for `valgrind --tool=callgrind` (see `docs/performance.md`).

#![allow(
    missing_docs,
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use l402_core::backend::PayParams;
use l402_core::{
    Amount, BoxInvoiceBackend, Challenge, Credential, MemoryRootKeyStore, PaymentBackend, Scheme,
};
use l402_mock::MockNetwork;
use l402_proxy::{ClientAddr, Proxy, ProxyConfig, ServiceConfig};
use l402_tower::{L402Layer, L402Service, MemoryRateLimiter, MetricsObserver, Rate};
use tower::{Layer as _, ServiceExt as _};

/// Sends `total` GETs for `path` over `connections` connections; returns requests per second.
async fn load(
    addr: SocketAddr,
    path: &'static str,
    auth: Option<HeaderValue>,
    connections: usize,
    total: usize,
) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let next = Arc::clone(&next);
        let auth = auth.clone();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let mut req = Request::get(path).header("host", "bench");
                if let Some(a) = &auth {
                    req = req.header("authorization", a.clone());
                }
                let res = sender
                    .send_request(req.body(Empty::<Bytes>::new()).unwrap())
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::OK, "{path}");
                res.into_body().collect().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

async fn hello() -> &'static str {
    "hello"
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// nginx in front of `upstream` with a keep-alive pool, if nginx is installed.
struct Nginx {
    addr: SocketAddr,
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers (SIGKILL would leave them running).
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn nginx(upstream: SocketAddr) -> Option<Nginx> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let dir = std::env::temp_dir().join(format!("l402-bench-nginx-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("logs")).ok()?;
    let conf = format!(
        "worker_processes auto;\n\
         error_log {dir}/logs/error.log;\n\
         pid {dir}/nginx.pid;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n\
           access_log off;\n\
           keepalive_requests 10000000;\n\
           client_body_temp_path {dir}; proxy_temp_path {dir};\n\
           fastcgi_temp_path {dir}; uwsgi_temp_path {dir}; scgi_temp_path {dir};\n\
           upstream up {{ server {upstream}; keepalive 64; keepalive_requests 10000000; }}\n\
           server {{\n\
             listen 127.0.0.1:{port};\n\
             location / {{\n\
               proxy_pass http://up;\n\
               proxy_http_version 1.1;\n\
               proxy_set_header Connection \"\";\n\
             }}\n\
           }}\n\
         }}\n",
        dir = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).ok()?;
    let child = std::process::Command::new("nginx")
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    for _ in 0..50 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Some(Nginx { addr, child, dir });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn main() {
    let mut words = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    if words.next().as_deref() == Some("proxy/profile") {
        let what = words.next().unwrap_or_else(|| "paid".to_owned());
        let n = words.next().and_then(|n| n.parse().ok()).unwrap_or(20_000);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(profile(&what, n));
        return;
    }
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let connections = args.first().copied().unwrap_or(32);
    let total = args.get(1).copied().unwrap_or(40_000);
    // The servers under test on a runtime of their own, as `l402 proxy` runs (one worker
    // per core), apart from the load generator and the upstream.
    let servers = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(servers.handle().clone(), connections, total));
    servers.shutdown_background();
    runtime.shutdown_background();
}

/// Serves `service` on `rt` as `l402 proxy`'s listener does (hyper-util's auto builder,
/// HTTP/1.1 with a header read timeout, `TCP_NODELAY`, the client's address in
/// `ClientAddr`).
fn serve_like_cli<S>(rt: &tokio::runtime::Handle, service: S) -> SocketAddr
where
    S: tower::Service<
            Request<hyper::body::Incoming>,
            Response = http::Response<l402_proxy::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30));
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let builder = builder.clone();
            let service = service.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(ClientAddr(peer));
                        service.clone().oneshot(req)
                    });
                let _ = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Requests per second from `wrk` (one thread, `connections` connections, 3 seconds),
/// or `None` without `wrk`. Panics if any answer is not 2xx.
fn wrk(
    addr: SocketAddr,
    path: &str,
    auth: Option<&HeaderValue>,
    connections: usize,
) -> Option<f64> {
    let mut cmd = std::process::Command::new("wrk");
    cmd.args([
        "-t1",
        &format!("-c{connections}"),
        "-d3s",
        "-H",
        "Host: bench",
    ]);
    if let Some(a) = auth {
        cmd.arg("-H")
            .arg(format!("Authorization: {}", a.to_str().unwrap()));
    }
    let out = cmd.arg(format!("http://{addr}{path}")).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Non-2xx"), "{path}: {text}");
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The paywall of the ops comparison (issue 20): the same L402 layer in front of the same
/// proxy, with or without its metrics and a per-token rate limit.
type Ops = L402Service<Proxy, BoxInvoiceBackend, Arc<MemoryRootKeyStore>>;

/// The upstream; a proxy with a free and a paid route in front of it (metrics off) and a
/// valid token for the paid one; and the ops pair: a proxy whose `/ops` route is sold by
/// an `L402Layer` configured through the library, once with nothing else (`ops_off`) and
/// once with the proxy's metrics, the layer's `MetricsObserver` and a per-token
/// `MemoryRateLimiter` (`ops_on`), with a token valid for both.
struct Setup {
    upstream: SocketAddr,
    proxy: Proxy,
    auth: HeaderValue,
    ops_off: Ops,
    ops_on: Ops,
    ops_auth: HeaderValue,
}

/// Pays the challenge of a 402 and returns the `Authorization` value.
async fn buy(res: &http::Response<l402_proxy::Body>, payer: &l402_mock::MockNode) -> HeaderValue {
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    let challenge = Challenge::from_headers(res.headers()).unwrap();
    let invoice = challenge.decode_invoice().unwrap();
    let paid = payer
        .pay_invoice(
            &invoice,
            &PayParams::new(Amount::from_sat(1).unwrap(), Duration::from_secs(5)),
        )
        .await
        .unwrap();
    Credential::new(challenge.macaroon().clone(), paid.preimage)
        .to_header_value(Scheme::L402)
        .unwrap()
}

impl Setup {
    async fn new() -> Setup {
        let upstream = serve(Router::new().fallback(get(hello))).await;
        let network = MockNetwork::new();
        let server = BoxInvoiceBackend::new(network.node("server").build().unwrap());
        let payer = network
            .node("payer")
            .balance(Amount::from_sat(1_000).unwrap())
            .build()
            .unwrap();
        let store = Arc::new(MemoryRootKeyStore::new());
        let mut free = ServiceConfig::new("free", format!("http://{upstream}"));
        free.path = Some("/free".to_owned());
        free.free = true;
        let mut paid = ServiceConfig::new("paid", format!("http://{upstream}"));
        paid.path = Some("/paid".to_owned());
        paid.price_sat = Some(1);
        let proxy = Proxy::builder(
            ProxyConfig::new(vec![free, paid]),
            server.clone(),
            Arc::clone(&store),
        )
        .build()
        .unwrap();
        let res = proxy.clone().oneshot(request("/paid", None)).await.unwrap();
        let auth = buy(&res, &payer).await;

        let mut ops = ServiceConfig::new("ops", format!("http://{upstream}"));
        ops.path = Some("/ops".to_owned());
        ops.free = true;
        let ops_proxy = |metrics: bool| {
            Proxy::builder(
                ProxyConfig::new(vec![ops.clone()]),
                server.clone(),
                Arc::clone(&store),
            )
            .metrics(metrics)
            .build()
            .unwrap()
        };
        let layer = || {
            L402Layer::builder(server.clone(), Arc::clone(&store))
                .service("ops")
                .price(Amount::from_sat(1).unwrap())
        };
        let ops_off = layer().build().unwrap().layer(ops_proxy(false));
        let ops_on = layer()
            .observer(MetricsObserver::new())
            // Far above the bench's rate: every request is let through, after the check.
            .paid_rate_limit(MemoryRateLimiter::new(Rate::per_second(1_000_000).unwrap()))
            .build()
            .unwrap()
            .layer(ops_proxy(true));
        let res = ops_off
            .clone()
            .oneshot(request("/ops", None))
            .await
            .unwrap();
        let ops_auth = buy(&res, &payer).await;
        Setup {
            upstream,
            proxy,
            auth,
            ops_off,
            ops_on,
            ops_auth,
        }
    }
}

/// A GET for `path`, as the listener hands it to the proxy.
fn request(path: &str, auth: Option<&HeaderValue>) -> Request<l402_proxy::Body> {
    let mut req = Request::get(path).header("host", "bench");
    if let Some(a) = auth {
        req = req.header("authorization", a.clone());
    }
    let mut req = req.body(l402_proxy::Body::empty()).unwrap();
    req.extensions_mut()
        .insert(ClientAddr(SocketAddr::from(([127, 0, 0, 1], 40_000))));
    req
}

/// `n` requests one after the other, for `valgrind --tool=callgrind` (instructions per
/// request: the difference between two request counts, divided by it):
/// `direct` to the upstream over one keep-alive connection; `free` and `paid` through the
/// `Proxy` service called in-process (its upstream pool over loopback); `ops-off` and
/// `ops-on` through the ops pair.
async fn profile(what: &str, n: usize) {
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // The Prometheus recorder for the case with metrics on; the others run without one,
    // as a proxy without `[metrics]` does.
    if what == "ops-on" {
        l402_proxy::metrics::serve_prometheus(listen).unwrap();
    }
    let setup = Setup::new().await;
    let stream = tokio::net::TcpStream::connect(setup.upstream)
        .await
        .unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut direct, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    for _ in 0..n {
        let res = match what {
            "direct" => direct
                .send_request(
                    Request::get("/free")
                        .header("host", "bench")
                        .body(Empty::<Bytes>::new())
                        .unwrap(),
                )
                .await
                .unwrap()
                .map(l402_proxy::Body::new),
            "free" => setup
                .proxy
                .clone()
                .oneshot(request("/free", None))
                .await
                .unwrap(),
            "paid" => setup
                .proxy
                .clone()
                .oneshot(request("/paid", Some(&setup.auth)))
                .await
                .unwrap(),
            "ops-off" => setup
                .ops_off
                .clone()
                .oneshot(request("/ops", Some(&setup.ops_auth)))
                .await
                .unwrap(),
            "ops-on" => setup
                .ops_on
                .clone()
                .oneshot(request("/ops", Some(&setup.ops_auth)))
                .await
                .unwrap(),
            other => panic!(
                "proxy/profile: unknown case {other:?} (direct, free, paid, ops-off, ops-on)"
            ),
        };
        assert_eq!(res.status(), StatusCode::OK, "{what}");
        res.into_body().collect().await.unwrap();
    }
}

async fn run(servers: tokio::runtime::Handle, connections: usize, total: usize) {
    // The global Prometheus recorder, as `[metrics] listen` installs it.
    let metrics_listen = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    l402_proxy::metrics::serve_prometheus(metrics_listen).unwrap();
    let Setup {
        upstream,
        proxy,
        auth,
        ops_off,
        ops_on,
        ops_auth,
    } = Setup::new().await;
    let proxy = serve_like_cli(&servers, proxy);
    let ops_off = serve_like_cli(&servers, ops_off);
    let ops_on = serve_like_cli(&servers, ops_on);

    let nginx = nginx(upstream);
    let use_wrk = std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok();
    println!(
        "l402-proxy throughput: {connections} connections, {}; nginx: {}",
        if use_wrk {
            "wrk, 3 s per run".to_owned()
        } else {
            format!("in-process load generator, {total} requests per run")
        },
        if nginx.is_some() { "yes" } else { "not found" }
    );
    type Target = (&'static str, SocketAddr, &'static str, Option<HeaderValue>);
    let mut targets: Vec<Target> = vec![
        ("direct", upstream, "/free", None),
        ("proxy free", proxy, "/free", None),
        ("proxy paid", proxy, "/paid", Some(auth.clone())),
        ("paid, ops off", ops_off, "/ops", Some(ops_auth.clone())),
        ("paid, ops on", ops_on, "/ops", Some(ops_auth.clone())),
    ];
    if let Some(n) = &nginx {
        targets.insert(1, ("nginx", n.addr, "/free", None));
    }
    let measure = |addr: SocketAddr,
                   path: &'static str,
                   auth: Option<HeaderValue>,
                   total: usize| async move {
        if use_wrk {
            tokio::task::spawn_blocking(move || {
                wrk(addr, path, auth.as_ref(), connections).unwrap()
            })
            .await
            .unwrap()
        } else {
            load(addr, path, auth, connections, total).await
        }
    };
    for (_, addr, path, auth) in &targets {
        load(*addr, path, auth.clone(), connections, total / 10).await;
    }
    let mut best = vec![0.0f64; targets.len()];
    for round in 1..=3 {
        // Every other round in reverse order: no target always runs right after another.
        let mut order: Vec<usize> = (0..targets.len()).collect();
        if round % 2 == 0 {
            order.reverse();
        }
        let mut rates = vec![0.0f64; targets.len()];
        for &i in &order {
            let (_, addr, path, auth) = &targets[i];
            rates[i] = measure(*addr, path, auth.clone(), total).await;
            best[i] = best[i].max(rates[i]);
        }
        let mut line = format!("round {round}:");
        for ((name, ..), r) in targets.iter().zip(&rates) {
            line.push_str(&format!("  {name} {r:>8.0}"));
        }
        println!("{line}");
    }
    let reference = nginx.as_ref().map(|_| best[1]);
    for ((name, ..), b) in targets.iter().zip(&best) {
        match reference {
            Some(r) => println!("best {name:<14} {b:>9.0} req/s   {:.2}x nginx", b / r),
            None => println!("best {name:<14} {b:>9.0} req/s"),
        }
    }
    let at = |name: &str| {
        targets
            .iter()
            .position(|t| t.0 == name)
            .map(|i| best[i])
            .unwrap()
    };
    println!(
        "paid route extra cost: {:.2} us per request (1/paid - 1/free, at full load)",
        (1.0 / at("proxy paid") - 1.0 / at("proxy free")) * 1e6
    );
    println!(
        "metrics and a per-token rate limit: {:+.1}% throughput (ops on vs ops off)",
        (at("paid, ops on") / at("paid, ops off") - 1.0) * 100.0
    );
}
