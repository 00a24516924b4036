//! `l402 get` without a Lightning node: configuration errors, connection failures, HTTP
//! errors, output options.

use crate::support::{TempDir, Upstream, code, free_port, l402, run, run_async, stderr, stdout};

#[test]
fn configuration_errors_exit_2() {
    let dir = TempDir::new("cfg");
    let tokens = dir.str("tokens");
    for args in [
        vec!["get", "--token-dir", &tokens, "not a url"],
        vec!["get", "--token-dir", &tokens, "ftp://example.com/"],
        vec![
            "get",
            "--token-dir",
            &tokens,
            "-H",
            "no colon",
            "http://127.0.0.1:9/",
        ],
        vec![
            "get",
            "--token-dir",
            &tokens,
            "--max-cost",
            "0",
            "http://127.0.0.1:9/",
        ],
        vec![
            "get",
            "--token-dir",
            &tokens,
            "--network",
            "moon",
            "http://127.0.0.1:9/",
        ],
    ] {
        let out = run(l402(&args));
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn connection_refused_exits_7() {
    let dir = TempDir::new("conn");
    let url = format!("http://127.0.0.1:{}/", free_port());
    let out = run(l402(&[
        "get",
        "--no-pay",
        "--json",
        "--token-dir",
        &dir.str("t"),
        &url,
    ]));
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert_eq!(crate::support::summary(&out)["exit_code"], 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_content_headers_output_file_and_http_errors() {
    let upstream = Upstream::start().await;
    let dir = TempDir::new("free");
    let tokens = dir.str("t");

    let mut cmd = l402(&[
        "get",
        "--no-pay",
        "-q",
        "-i",
        "-H",
        "X-Test: yes",
        "--token-dir",
        &tokens,
    ]);
    cmd.arg(format!("{}/page", upstream.url()));
    let out = run_async(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nupstream says hi /page"), "{text}");
    assert_eq!(stderr(&out), "", "quiet");
    assert_eq!(upstream.seen()[0].headers["x-test"], "yes");

    let mut cmd = l402(&[
        "get",
        "--no-pay",
        "-X",
        "PUT",
        "-d",
        "abc",
        "-o",
        &dir.str("out.txt"),
        "--token-dir",
        &tokens,
    ]);
    cmd.arg(format!("{}/upload", upstream.url()));
    let out = run_async(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        std::fs::read_to_string(dir.join("out.txt")).unwrap(),
        "received 3 bytes"
    );

    // An HTTP error status: the body is written, exit 22.
    let app = axum::Router::new().fallback(|| async { (http::StatusCode::NOT_FOUND, "missing") });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let out = run_async(l402(&[
        "get",
        "--no-pay",
        "--token-dir",
        &tokens,
        &format!("http://{addr}/x"),
    ]))
    .await;
    assert_eq!(code(&out), 22, "{}", stderr(&out));
    assert_eq!(stdout(&out), "missing");
    assert!(stderr(&out).contains("HTTP 404"), "{}", stderr(&out));
}
