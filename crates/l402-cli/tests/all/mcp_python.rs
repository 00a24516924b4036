//! `l402 mcp` driven by a client we did not write: the Python MCP SDK (PyPI `mcp`),
//! over stdio, against `l402 dev-node` + `l402 proxy` + `l402 echo`. The script is
//! `tests/mcp_client/agent.py`; it asserts what it sees, payments counted on the nodes.
//!
//! The interpreter is `L402_MCP_PYTHON` (CI installs a pinned `mcp` into a venv and sets
//! it), else `python3`. Without the `mcp` package the test is skipped with a message,
//! except in CI (`CI` set), where it fails.

use std::process::Command;

use crate::support::{Daemon, DevNode, Proxy, TempDir, free_port, wait_for_port};

#[allow(clippy::print_stderr)] // the skip message is for whoever runs the tests
fn python() -> Option<String> {
    let python = std::env::var("L402_MCP_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_mcp = Command::new(&python)
        .args(["-c", "import mcp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_mcp {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the Python MCP SDK is missing: {python} -c 'import mcp' failed (CI installs it: \
         see .ci/run and L402_MCP_PYTHON)"
    );
    eprintln!(
        "skipping mcp_python: {python} -c 'import mcp' failed; pip install mcp (or set \
         L402_MCP_PYTHON to an interpreter that has it) to run it"
    );
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_mcp_sdk_drives_l402_mcp() {
    let Some(python) = python() else { return };
    let node = DevNode::start().await;
    let echo_dir = TempDir::new("echo");
    let echo_port = free_port();
    let echo_addr = std::net::SocketAddr::from(([127, 0, 0, 1], echo_port));
    let mut echo = Daemon::spawn(
        "echo",
        crate::support::l402(&["echo", "--listen", &echo_addr.to_string()]),
        &echo_dir.join("echo.log"),
    );
    wait_for_port(echo_addr, &mut echo).await;
    let services = ["echo", "premium", "extra"]
        .iter()
        .map(|name| {
            format!(
                "[[services]]\nname = \"{name}\"\npath = \"/{name}\"\nupstream = \"http://{echo_addr}\"\nprice_sat = 10\n\n"
            )
        })
        .collect::<String>();
    let proxy = Proxy::start(&node, &services).await;

    let dir = TempDir::new("mcp");
    let mut args = node.payer_flags();
    args.extend(
        [
            "--max-cost",
            "100",
            "--max-fee",
            "2",
            "--budget",
            "30",
            "--budget-window",
            "24h",
            "--path-scope",
            "1",
        ]
        .map(String::from),
    );
    args.push("--token-dir".into());
    args.push(dir.join("tokens").display().to_string());
    args.push("--ledger".into());
    args.push(dir.join("ledger.json").display().to_string());
    args.push("--history".into());
    args.push(dir.join("payments.jsonl").display().to_string());
    args.push("--download-dir".into());
    args.push(dir.join("downloads").display().to_string());
    // The Python SDK starts the server with this environment only (plus a few basics).
    let mut env = serde_json::Map::new();
    for k in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(k) {
            env.insert(k.into(), v.into());
        }
    }
    let settings = serde_json::json!({
        "l402": crate::support::bin(),
        "args": args,
        "env": env,
        "proxy": proxy.url(""),
        "status_file": node.dir.join("node/dev-node.json"),
    });
    let settings_file = dir.join("settings.json");
    std::fs::write(&settings_file, settings.to_string()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp_client/agent.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(&settings_file)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "agent.py failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nproxy log:\n{}",
        proxy.log()
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
    assert_eq!(node.status()["payments"], 2);
}
