//! Requests per second through `l402-proxy` to a static upstream, side by side in one run
//! with the upstream direct and with nginx `proxy_pass` (keep-alive upstream pool), for a
//! free route and for a paid route with a valid token.
//!
//! Run: `cargo bench -p l402-benches --bench proxy [-- <connections> <requests>]`
//! (defaults: 32 connections, 40,000 requests per run). nginx is used when `nginx` is on
//! the `PATH` (Debian: `apt-get install nginx-light`), with one worker per core. The same
//! in-process load generator (keep-alive HTTP/1.1 connections, hyper) drives every
//! target; each is run three times, alternating, and the best run is reported. The
//! upstream answers `hello` from an axum route in this process.

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
use l402_core::backend::PayParams;
use l402_core::{
    Amount, BoxInvoiceBackend, Challenge, Credential, MemoryRootKeyStore, PaymentBackend, Scheme,
};
use l402_mock::MockNetwork;
use l402_proxy::{Proxy, ProxyConfig, ServiceConfig};

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
        let _ = self.child.kill();
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
           client_body_temp_path {dir}; proxy_temp_path {dir};\n\
           fastcgi_temp_path {dir}; uwsgi_temp_path {dir}; scgi_temp_path {dir};\n\
           upstream up {{ server {upstream}; keepalive 64; }}\n\
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
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let connections = args.first().copied().unwrap_or(32);
    let total = args.get(1).copied().unwrap_or(40_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(connections, total));
}

async fn run(connections: usize, total: usize) {
    let upstream = serve(Router::new().fallback(get(hello))).await;
    let network = MockNetwork::new();
    let server = network.node("server").build().unwrap();
    let payer = network
        .node("payer")
        .balance(Amount::from_sat(1_000).unwrap())
        .build()
        .unwrap();
    let mut free = ServiceConfig::new("free", format!("http://{upstream}"));
    free.path = Some("/free".to_owned());
    free.free = true;
    let mut paid = ServiceConfig::new("paid", format!("http://{upstream}"));
    paid.path = Some("/paid".to_owned());
    paid.price_sat = Some(1);
    let proxy = Proxy::builder(
        ProxyConfig::new(vec![free, paid]),
        BoxInvoiceBackend::new(server),
        Arc::new(MemoryRootKeyStore::new()),
    )
    .build()
    .unwrap();
    let proxy = serve(Router::new().fallback_service(proxy)).await;

    // Buy one token.
    let stream = tokio::net::TcpStream::connect(proxy).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let res = sender
        .send_request(
            Request::get("/paid")
                .header("host", "bench")
                .body(Empty::<Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
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
    let auth = Credential::new(challenge.macaroon().clone(), paid.preimage)
        .to_header_value(Scheme::L402)
        .unwrap();

    let nginx = nginx(upstream);
    println!(
        "l402-proxy throughput: {connections} connections, {total} requests per run; nginx: {}",
        if nginx.is_some() { "yes" } else { "not found" }
    );
    type Target = (&'static str, SocketAddr, &'static str, bool);
    let mut targets: Vec<Target> = vec![
        ("direct", upstream, "/free", false),
        ("proxy free", proxy, "/free", false),
        ("proxy paid", proxy, "/paid", true),
    ];
    if let Some(n) = &nginx {
        targets.insert(1, ("nginx", n.addr, "/free", false));
    }
    let auth_for = |with: bool| with.then(|| auth.clone());
    for (_, addr, path, with) in &targets {
        load(*addr, path, auth_for(*with), connections, total / 10).await;
    }
    let mut best = vec![0.0f64; targets.len()];
    for round in 1..=3 {
        let mut line = format!("round {round}:");
        for (i, (name, addr, path, with)) in targets.iter().enumerate() {
            let r = load(*addr, path, auth_for(*with), connections, total).await;
            best[i] = best[i].max(r);
            line.push_str(&format!("  {name} {r:>8.0}"));
        }
        println!("{line}");
    }
    let reference = nginx.as_ref().map(|_| best[1]);
    for ((name, ..), b) in targets.iter().zip(&best) {
        match reference {
            Some(r) => println!("best {name:<11} {b:>9.0} req/s   {:.2}x nginx", b / r),
            None => println!("best {name:<11} {b:>9.0} req/s"),
        }
    }
    let (free, paid) = (best[best.len() - 2], best[best.len() - 1]);
    println!(
        "paid route extra cost: {:.2} us per request (1/paid - 1/free, at full load)",
        (1.0 / paid - 1.0 / free) * 1e6
    );
}
