//! gRPC end to end: a tonic client and server through the proxy, over h2c both sides.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;

use bytes::{Buf as _, BufMut as _, Bytes};
use http::uri::PathAndQuery;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataValue;
use tonic::{Code, Status, Streaming};

use crate::support::*;

/// Messages are raw bytes: no protobuf needed to test the transport.
#[derive(Debug, Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

const UNARY: &str = "/test.Echo/Unary";
const BIDI: &str = "/test.Echo/Bidi";

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The echo server: `Unary` answers `echo:` and the request, with a trailer; `Bidi`
/// answers each message as it arrives.
#[derive(Clone)]
struct Echo;

impl tower::Service<http::Request<axum::body::Body>> for Echo {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<axum::body::Body>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(Raw);
            Ok(match req.uri().path() {
                UNARY => {
                    // The proxy's receipt reaches the server; the credential does not.
                    let paid = req.headers().contains_key("x-l402-token-id")
                        && !req.headers().contains_key("authorization")
                        && !req.headers().contains_key("grpc-metadata-macaroon");
                    let svc = tower::service_fn(move |r: tonic::Request<Bytes>| async move {
                        let mut body = b"echo:".to_vec();
                        body.extend_from_slice(r.get_ref());
                        let mut resp = tonic::Response::new(Bytes::from(body));
                        resp.metadata_mut().insert(
                            "x-paid",
                            MetadataValue::from_static(if paid { "yes" } else { "no" }),
                        );
                        Ok::<_, Status>(resp)
                    });
                    grpc.unary(svc, req).await
                }
                BIDI => {
                    let svc = tower::service_fn(|r: tonic::Request<Streaming<Bytes>>| async move {
                        let mut incoming = r.into_inner();
                        let (tx, rx) = tokio::sync::mpsc::channel(1);
                        tokio::spawn(async move {
                            while let Ok(Some(m)) = incoming.message().await {
                                let mut out = b"re:".to_vec();
                                out.extend_from_slice(&m);
                                if tx.send(Ok(Bytes::from(out))).await.is_err() {
                                    break;
                                }
                            }
                        });
                        Ok::<_, Status>(tonic::Response::new(ChannelStream(rx)))
                    });
                    grpc.streaming(svc, req).await
                }
                _ => Status::unimplemented("no such method").into_http(),
            })
        })
    }
}

type Channel = Client<HttpConnector, tonic::body::Body>;

fn client(proxy: SocketAddr) -> tonic::client::Grpc<Channel> {
    let channel = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    tonic::client::Grpc::with_origin(channel, format!("http://{proxy}").parse().unwrap())
}

async fn unary(
    grpc: &mut tonic::client::Grpc<Channel>,
    metadata: Option<(&'static str, String)>,
) -> Result<tonic::Response<Bytes>, Status> {
    let mut req = tonic::Request::new(Bytes::from_static(b"hi"));
    if let Some((k, v)) = metadata {
        req.metadata_mut().insert(k, v.parse().unwrap());
    }
    grpc.ready().await.unwrap();
    grpc.unary(req, PathAndQuery::from_static(UNARY), Raw).await
}

#[tokio::test]
async fn grpc_unary_and_bidi_streaming_through_the_proxy() {
    let upstream = serve(axum::Router::new().fallback_service(Echo)).await;
    let net = Net::new();
    let mut s = service("grpc", upstream, "");
    s.upstream_protocol = l402_proxy::UpstreamProtocol::Http2;
    s.price_sat = Some(3);
    let proxy = listen(net.proxy(vec![s])).await;
    let mut grpc = client(proxy);

    // Unpaid: the gRPC form of the challenge (status INTERNAL, Aperture's), the
    // challenge in the metadata.
    let status = unary(&mut grpc, None).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert_eq!(status.message(), "payment required");
    let headers = status.metadata().clone().into_headers();
    let credential = net.pay(&headers).await;

    // Paid with the token in `authorization` metadata.
    let value = credential
        .to_header_value(l402_core::Scheme::L402)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let resp = unary(&mut grpc, Some(("authorization", value)))
        .await
        .unwrap();
    assert_eq!(resp.get_ref().as_ref(), b"echo:hi");
    assert_eq!(resp.metadata().get("x-paid").unwrap(), "yes");

    // Paid with the macaroon in `grpc-metadata-macaroon` (hex, preimage caveat), and
    // streaming both ways: each reply arrives before the next message is sent.
    let mut m = credential.macaroon().clone();
    m.add_first_party_caveat(format!(
        "preimage={}",
        credential.preimage().expose_hex().as_str()
    ))
    .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let mut req = tonic::Request::new(ChannelStream(rx));
    req.metadata_mut()
        .insert("grpc-metadata-macaroon", m.to_hex().parse().unwrap());
    tx.send(Bytes::from_static(b"0")).await.unwrap();
    grpc.ready().await.unwrap();
    let mut replies = grpc
        .streaming(req, PathAndQuery::from_static(BIDI), Raw)
        .await
        .unwrap()
        .into_inner();
    for i in 0..20u8 {
        let got = replies.message().await.unwrap().unwrap();
        assert_eq!(got.as_ref(), format!("re:{i}").as_bytes());
        if i < 19 {
            tx.send(Bytes::from(format!("{}", i + 1))).await.unwrap();
        }
    }
    drop(tx);
    // The end of the stream comes with the server's trailers: status OK.
    assert!(replies.message().await.unwrap().is_none());
    assert!(replies.trailers().await.unwrap().is_some());
}
