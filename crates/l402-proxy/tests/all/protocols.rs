//! WebSocket upgrades, streamed bodies and forwarding headers, over a real listener.

use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, StreamBody};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::support::*;

/// A WebSocket upstream echoing every message back.
async fn ws_echo() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn websocket_upgrades_are_forwarded_after_payment() {
    let up = ws_echo().await;
    let net = Net::new();
    let mut s = service("ws", up, "");
    s.price_sat = Some(2);
    let proxy = listen(net.proxy(vec![s])).await;

    // Unpaid: the handshake is answered 402, nothing reaches the upstream.
    let stream = tokio::net::TcpStream::connect(proxy).await.unwrap();
    let req = format!("ws://{proxy}/chat").into_client_request().unwrap();
    let err = tokio_tungstenite::client_async(req, stream)
        .await
        .unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(resp) = err else {
        panic!("{err:?}");
    };
    assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED);
    let credential = net.pay(resp.headers()).await;

    let stream = tokio::net::TcpStream::connect(proxy).await.unwrap();
    let mut req = format!("ws://{proxy}/chat").into_client_request().unwrap();
    req.headers_mut().insert(
        http::header::AUTHORIZATION,
        credential.to_header_value(l402_core::Scheme::L402).unwrap(),
    );
    let (mut ws, resp) = tokio_tungstenite::client_async(req, stream).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    for i in 0..5 {
        ws.send(Message::text(format!("hello {i}"))).await.unwrap();
        let back = ws.next().await.unwrap().unwrap();
        assert_eq!(back.into_text().unwrap().as_str(), format!("hello {i}"));
    }
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap().into_data().as_ref(),
        &[0u8, 1, 2, 255]
    );
    ws.close(None).await.unwrap();
}

/// An upstream that reports each request body chunk as it arrives (through `seen`), and
/// answers with chunks it is handed one by one (through `send`).
async fn streaming_upstream(seen: mpsc::Sender<usize>, send: mpsc::Receiver<Bytes>) -> SocketAddr {
    let send = std::sync::Arc::new(tokio::sync::Mutex::new(Some(send)));
    let app = axum::Router::new().fallback(move |req: Request<axum::body::Body>| {
        let seen = seen.clone();
        let send = std::sync::Arc::clone(&send);
        async move {
            let mut body = req.into_body();
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.unwrap().into_data() {
                    let _ = seen.send(data.len()).await;
                }
            }
            let rx = send.lock().await.take().unwrap();
            let stream = ChannelStream(rx)
                .map(|b| Ok::<_, std::convert::Infallible>(http_body::Frame::data(b)));
            axum::body::Body::new(StreamBody::new(stream))
        }
    });
    serve(app).await
}

#[tokio::test]
async fn large_bodies_are_streamed_both_ways_not_buffered() {
    let (seen_tx, mut seen) = mpsc::channel(64);
    let (send, send_rx) = mpsc::channel::<Bytes>(1);
    let up = streaming_upstream(seen_tx, send_rx).await;
    let net = Net::new();
    let mut s = service("big", up, "");
    s.free = true;
    let proxy = listen(net.proxy(vec![s])).await;

    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<axum::body::Body>();
    let (chunks, chunks_rx) = mpsc::channel::<Bytes>(1);
    let body = StreamBody::new(
        ChannelStream(chunks_rx)
            .map(|b| Ok::<_, std::convert::Infallible>(http_body::Frame::data(b))),
    );
    let req = Request::post(format!("http://{proxy}/upload"))
        .body(axum::body::Body::new(body))
        .unwrap();
    let response = tokio::spawn(async move { client.request(req).await });

    // Each 1 MiB chunk reaches the upstream before the next one is even produced: the
    // request body is never held whole at the proxy.
    let chunk = Bytes::from(vec![7u8; 1 << 20]);
    for _ in 0..16 {
        chunks.send(chunk.clone()).await.unwrap();
        let mut got = 0;
        while got < chunk.len() {
            got += seen.recv().await.unwrap();
        }
    }
    drop(chunks);

    // And back: each chunk of the response reaches the client before the upstream
    // produces the next.
    send.send(chunk.clone()).await.unwrap();
    let response = response.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    for i in 0..16 {
        let mut got = 0;
        while got < chunk.len() {
            let frame = body.frame().await.unwrap().unwrap();
            got += frame.into_data().unwrap().len();
        }
        if i < 15 {
            send.send(chunk.clone()).await.unwrap();
        }
    }
    drop(send);
    assert!(body.frame().await.is_none());
}

#[tokio::test]
async fn forwarding_headers_are_replaced_unless_trusted() {
    let up = echo_upstream().await;
    let net = Net::new();
    let mut s = service("e", up, "");
    s.free = true;
    let spoofed = |proxy: SocketAddr| {
        Request::get(format!("http://{proxy}/x"))
            .header("host", "api.example.com")
            .header("x-forwarded-for", "203.0.113.9")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "evil.test")
            .header("x-real-ip", "203.0.113.9")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<axum::body::Body>();
    let fetch = |req| {
        let client = client.clone();
        async move {
            let resp = client.request(req).await.unwrap();
            echoed(&resp.into_body().collect().await.unwrap().to_bytes())
        }
    };

    let proxy = listen(net.proxy(vec![s.clone()])).await;
    let seen = fetch(spoofed(proxy)).await;
    assert_eq!(seen["headers"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen["headers"]["x-forwarded-proto"], "http");
    assert_eq!(seen["headers"]["x-forwarded-host"], "api.example.com");
    assert!(seen["headers"].get("x-real-ip").is_none());

    // Behind a trusted balancer: appended to, and kept.
    let mut config = l402_proxy::ProxyConfig::new(vec![s]);
    config.trust_forwarded_headers = true;
    let trusting = l402_proxy::Proxy::builder(
        config,
        l402_core::BoxInvoiceBackend::new(net.server.clone()),
        std::sync::Arc::new(l402_core::MemoryRootKeyStore::new()),
    )
    .build()
    .unwrap();
    let proxy = listen(trusting).await;
    let seen = fetch(spoofed(proxy)).await;
    assert_eq!(seen["headers"]["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(seen["headers"]["x-forwarded-proto"], "https");
    assert_eq!(seen["headers"]["x-forwarded-host"], "evil.test");
}
