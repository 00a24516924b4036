//! Redis for the tests: the shared server of `L402_REDIS_URL`, or our own `redis-server`
//! processes that a test can stop and restart.
//!
//! * `L402_REDIS_URL` (set by `.ci/run`): a running server for the tests that need no
//!   outage. Unset: those tests print why and skip.
//! * `L402_REDIS_SERVER` (a path), else `redis-server` on `PATH`: the binary for the tests
//!   that start their own servers. Missing: those tests print why and skip.
//! * With `CI` set (and not `false` or `0`), a missing or unusable Redis fails the test
//!   instead: CI must run them.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http::HeaderMap;
use l402_core::backend::PayParams;
use l402_core::{Amount, Challenge, Credential, PaymentBackend};
use l402_mock::MockNode;
use l402_redis::RedisConnection;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Skips (prints why) or, in CI, fails.
fn unavailable(test: &str, why: &str) {
    assert!(
        !in_ci(),
        "{test}: {why}, and CI is set: Redis tests must run in CI"
    );
    eprintln!("skipping {test}: {why}");
}

/// The shared server's URL, or `None` (after printing why) when the test must skip.
pub fn shared_url(test: &str) -> Option<String> {
    match std::env::var("L402_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            unavailable(test, "L402_REDIS_URL is not set");
            None
        }
    }
}

/// The `redis-server` binary, or `None` (after printing why) when the test must skip.
pub fn server_binary(test: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("L402_REDIS_SERVER").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        unavailable(
            test,
            "no redis-server (set L402_REDIS_SERVER or put it on PATH)",
        );
    }
    found
}

/// A prefix no other test uses, on the shared server.
pub fn unique_prefix(test: &str) -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    let tag: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("t-{test}-{tag}")
}

/// A connection to `url` under a fresh prefix.
pub fn connect(url: &str, test: &str) -> RedisConnection {
    RedisConnection::builder(url)
        .prefix(unique_prefix(test))
        .build()
        .unwrap()
}

/// A plain client on `url`, for checking what the stores wrote.
pub async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("redis reachable at L402_REDIS_URL")
}

/// A `redis-server` child process of this test, on a fixed port across restarts, with an
/// append-only file (fsync on every write) so that data survives a restart.
pub struct RedisProcess {
    binary: PathBuf,
    dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl RedisProcess {
    /// Starts a server on a free port and waits until it answers.
    pub async fn start(binary: PathBuf) -> Self {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("l402-redis-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut p = RedisProcess {
            binary,
            dir,
            port,
            child: None,
        };
        p.restart().await;
        p
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// (Re)starts the server on the same port and data directory.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(&self.binary)
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(client) = redis::Client::open(self.url())
                && let Ok(Ok(mut c)) = tokio::time::timeout(
                    Duration::from_millis(500),
                    client.get_multiplexed_async_connection(),
                )
                .await
                && redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok()
            {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the server (SIGKILL): connections drop, the port refuses.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the server: connections stay open, nothing
    /// answers.
    pub fn freeze(&self, frozen: bool) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .arg(if frozen { "-STOP" } else { "-CONT" })
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A frozen server would not die of SIGKILL until thawed on some systems.
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(child.id().to_string())
                .status();
        }
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Parses the challenge in `headers`, pays its invoice with `payer`, returns the credential.
pub async fn pay(payer: &MockNode, headers: &HeaderMap) -> Credential {
    let challenge = Challenge::from_headers(headers).expect("a challenge");
    let invoice = challenge.decode_invoice().expect("a valid invoice");
    let params = PayParams::new(Amount::from_sat(100).unwrap(), Duration::from_secs(10));
    let paid = payer.pay_invoice(&invoice, &params).await.expect("paid");
    Credential::new(challenge.macaroon().clone(), paid.preimage)
}

/// Polls `check` every 20 ms until it is true or `limit` passes; returns the time taken.
pub async fn within<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
