//! Spawning the binary, temporary directories, free ports, a small upstream server.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::routing::any;
use serde_json::Value;

/// Bound on any one command.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(60);

/// The binary under test.
pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_l402")
}

/// A command for the binary, with no L402_* settings inherited from the environment,
/// and a spending ledger of its own for this test process (never the user's).
pub(crate) fn l402(args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("L402_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env(
        "L402_LEDGER_FILE",
        std::env::temp_dir()
            .join(format!("l402-cli-ledger-{}", std::process::id()))
            .join("ledger.json"),
    );
    cmd
}

/// Runs a command to completion within [`TIMEOUT`].
pub(crate) fn run(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn l402");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "command timed out; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `l402 ARGS` (async-friendly: on a blocking thread).
pub(crate) async fn run_async(cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || run(cmd))
        .await
        .expect("join")
}

pub(crate) fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not json ({e}): {}", stdout(out)))
}

/// The last line of stderr, as JSON (the `get --json` summary).
pub(crate) fn summary(out: &Output) -> Value {
    let err = stderr(out);
    let line = err.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("no json summary ({e}): {err}"))
}

/// A directory removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "l402-cli-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub(crate) fn str(&self, name: &str) -> String {
        self.join(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A background process, killed on drop.
pub(crate) struct Daemon {
    child: Child,
    name: &'static str,
}

impl Daemon {
    pub(crate) fn spawn(name: &'static str, mut cmd: Command, log: &Path) -> Self {
        let file = std::fs::File::create(log).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file));
        Daemon {
            child: cmd.spawn().expect("spawn daemon"),
            name,
        }
    }

    /// Panics if the process has exited.
    pub(crate) fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{} exited early: {status}", self.name);
        }
    }

    /// Sends `signal` (`HUP`, `TERM`...) without waiting.
    #[cfg(unix)]
    pub(crate) fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Sends SIGTERM (Unix) and waits for the exit status.
    #[cfg(unix)]
    pub(crate) fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{} ignored SIGTERM",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `addr`.
pub(crate) async fn wait_for_port(addr: SocketAddr, daemon: &mut Daemon) {
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        daemon.assert_running();
        assert!(start.elapsed() < TIMEOUT, "nothing listens on {addr}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `f` until it returns `Some`, within [`TIMEOUT`].
pub(crate) async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running `l402 dev-node`.
pub(crate) struct DevNode {
    pub(crate) daemon: Daemon,
    pub(crate) dir: TempDir,
}

impl DevNode {
    pub(crate) async fn start() -> DevNode {
        DevNode::start_with(&[]).await
    }

    /// Starts one with extra flags.
    pub(crate) async fn start_with(extra: &[&str]) -> DevNode {
        let dir = TempDir::new("dev");
        let mut cmd = l402(&[
            "dev-node",
            "--listen",
            "127.0.0.1:0",
            "--payer-listen",
            "127.0.0.1:0",
        ]);
        cmd.args(extra);
        cmd.arg("--data-dir").arg(dir.join("node"));
        let mut daemon = Daemon::spawn("dev-node", cmd, &dir.join("dev-node.log"));
        let status = dir.join("node/dev-node.json");
        eventually("dev-node.json", || {
            daemon.assert_running();
            status.exists().then_some(())
        })
        .await;
        DevNode { daemon, dir }
    }

    pub(crate) fn status(&self) -> Value {
        let text = std::fs::read_to_string(self.dir.join("node/dev-node.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    pub(crate) fn file(&self, name: &str) -> String {
        self.dir.join("node").join(name).display().to_string()
    }

    pub(crate) fn server_url(&self) -> String {
        self.status()["server"]["url"].as_str().unwrap().to_owned()
    }

    /// The flags that make `l402 get` pay from the payer node (LND or CLN, as the
    /// status file says).
    pub(crate) fn payer_flags(&self) -> Vec<String> {
        let s = self.status();
        let payer = &s["payer"];
        let field = |name: &str| payer[name].as_str().unwrap().to_owned();
        let mut flags: Vec<String> = vec![
            "--backend".into(),
            s["backend"].as_str().unwrap().into(),
            "--node-url".into(),
            field("url"),
        ];
        if s["backend"] == "cln" {
            flags.extend([
                "--rune-file".into(),
                field("rune_file"),
                "--tls-server-name".into(),
                field("tls_server_name"),
            ]);
        } else {
            flags.extend(["--macaroon-file".into(), field("macaroon_file")]);
        }
        flags.extend([
            "--tls-cert-file".into(),
            field("tls_cert_file"),
            "--network".into(),
            "regtest".into(),
        ]);
        flags
    }

    /// The variables the dev-node's `get.env` exports, as (name, value) pairs.
    pub(crate) fn get_env(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(self.dir.join("node/get.env")).unwrap();
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let (name, value) = l
                    .strip_prefix("export ")
                    .and_then(|l| l.split_once('='))
                    .unwrap_or_else(|| panic!("not an export line: {l}"));
                let value = value
                    .strip_prefix('\'')
                    .and_then(|v| v.strip_suffix('\''))
                    .unwrap_or(value);
                (name.to_owned(), value.to_owned())
            })
            .collect()
    }

    /// Waits until the status file reports `payments` payments, then returns it.
    pub(crate) async fn wait_payments(&self, payments: u64) -> Value {
        eventually(&format!("{payments} payments"), || {
            let s = self.status();
            (s["payments"].as_u64() == Some(payments)).then_some(s)
        })
        .await
    }
}

/// What the upstream saw.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) path: String,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body_len: usize,
}

/// A small upstream API on a free port: `/…` answers `upstream says hi <path>`,
/// `POST /upload` answers the number of body bytes received, `…/slow` answers after 5 s.
pub(crate) struct Upstream {
    pub(crate) addr: SocketAddr,
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    pub(crate) async fn start() -> Upstream {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = Arc::clone(&seen);
        let app = Router::new().fallback(any(move |req: Request| {
            let log = Arc::clone(&log);
            async move {
                let (parts, body) = req.into_parts();
                let bytes = axum::body::to_bytes(body, 64 * 1024 * 1024).await.unwrap();
                log.lock().unwrap().push(Seen {
                    path: parts.uri.path().to_owned(),
                    headers: parts.headers.clone(),
                    body_len: bytes.len(),
                });
                if parts.uri.path().ends_with("/slow") {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                if parts.uri.path() == "/upload" {
                    Body::from(format!("received {} bytes", bytes.len()))
                } else {
                    Body::from(format!("upstream says hi {}", parts.uri.path()))
                }
            }
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Upstream { addr, seen }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A running `l402 proxy` with a generated config.
pub(crate) struct Proxy {
    pub(crate) daemon: Daemon,
    pub(crate) addr: SocketAddr,
    pub(crate) dir: TempDir,
}

impl Proxy {
    /// Starts a proxy selling `services` (TOML `[[services]]` tables) through the
    /// dev-node's server node, with a fresh master secret.
    pub(crate) async fn start(node: &DevNode, services: &str) -> Proxy {
        Proxy::start_with_files(node, services, &[]).await
    }

    /// As [`start`](Self::start), with more files (name, contents) in the config's
    /// directory.
    pub(crate) async fn start_with_files(
        node: &DevNode,
        services: &str,
        files: &[(&str, &str)],
    ) -> Proxy {
        let dir = TempDir::new("proxy");
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        std::fs::write(
            dir.join("master.secret"),
            "4242424242424242424242424242424242424242424242424242424242424242\n",
        )
        .unwrap();
        let port = free_port();
        let config = format!(
            r#"listen = "127.0.0.1:{port}"

[backend]
kind = "lnd"
url = "{url}"
macaroon_file = "{mac}"
tls_cert_file = "{cert}"

[root_keys]
master_secret_file = "master.secret"

{services}
"#,
            url = node.server_url(),
            mac = node.file("server.macaroon"),
            cert = node.file("server-tls.cert"),
        );
        std::fs::write(dir.join("proxy.toml"), config).unwrap();
        let config = dir.join("proxy.toml");
        Proxy::spawn(dir, &config, port).await
    }

    /// Runs `l402 proxy --config <config>` (which listens on `port`), logging into `dir`.
    pub(crate) async fn spawn(dir: TempDir, config: &Path, port: u16) -> Proxy {
        let mut cmd = l402(&["proxy", "--log-format", "json", "--config"]);
        cmd.arg(config);
        let mut daemon = Daemon::spawn("proxy", cmd, &dir.join("proxy.log"));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_for_port(addr, &mut daemon).await;
        Proxy { daemon, addr, dir }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("proxy.log")).unwrap_or_default()
    }
}

/// `l402 get` with the payer's flags, a token directory and `--json`.
pub(crate) fn get(node: &DevNode, tokens: &Path, extra: &[&str], url: &str) -> Command {
    let mut cmd = l402(&["get", "--json"]);
    cmd.args(node.payer_flags());
    cmd.arg("--token-dir").arg(tokens);
    cmd.arg("--ledger").arg(node.dir.join("ledger.json"));
    cmd.args(extra);
    cmd.arg(url);
    cmd
}

/// A response read off a raw socket.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    /// The status line and headers.
    pub(crate) head: String,
    pub(crate) body: String,
}

/// Sends `request` (bytes exactly as given, so no client library normalises the target)
/// to `addr` and reads the whole response; the request should say `Connection: close`.
pub(crate) async fn raw_request(addr: SocketAddr, request: &[u8]) -> RawResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut bytes = Vec::new();
        // A server may reset instead of closing after an early answer: keep what came.
        let _ = stream.read_to_end(&mut bytes).await;
        bytes
    };
    let bytes = tokio::time::timeout(Duration::from_secs(20), exchange)
        .await
        .expect("raw request timed out");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    RawResponse {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// `GET <target>` over a raw socket with `Host: <host>`.
pub(crate) async fn raw_get(addr: SocketAddr, target: &str, host: &str) -> RawResponse {
    let request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    raw_request(addr, request.as_bytes()).await
}

/// Whether the tests run in CI (`CI` set, and not `false` or `0`): there, a test that
/// needs a tool fails when the tool is missing instead of skipping.
pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The `redis-server` binary (`L402_REDIS_SERVER`, else on `PATH`), as l402-redis's tests
/// find it; `None` (after printing why) when the test must skip. In CI, a missing binary
/// fails the test.
#[allow(clippy::print_stderr)]
pub(crate) fn redis_server_binary(test: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("L402_REDIS_SERVER").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            !in_ci(),
            "{test}: no redis-server (set L402_REDIS_SERVER or put it on PATH), and CI is set"
        );
        eprintln!("skipping {test}: no redis-server (set L402_REDIS_SERVER or put it on PATH)");
    }
    found
}

/// A `redis-server` child process on a free port, killed on drop.
pub(crate) struct RedisServer {
    child: Child,
    pub(crate) port: u16,
    _dir: TempDir,
}

impl RedisServer {
    /// Starts one and waits until it answers `PING`.
    pub(crate) async fn start(binary: &Path) -> RedisServer {
        let port = free_port();
        let dir = TempDir::new("redis");
        let child = Command::new(binary)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let server = RedisServer {
            child,
            port,
            _dir: dir,
        };
        let start = Instant::now();
        loop {
            if let Ok(mut c) = server.client().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok()
            {
                return server;
            }
            assert!(start.elapsed() < TIMEOUT, "redis-server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A plain client, for doing what an operator does.
    pub(crate) async fn client(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        let client = redis::Client::open(self.url())?;
        match tokio::time::timeout(
            Duration::from_millis(500),
            client.get_multiplexed_async_connection(),
        )
        .await
        {
            Ok(c) => c,
            Err(_) => Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "connect timed out",
            ))),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
