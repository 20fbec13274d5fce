//! Every HTTP client HAS makes comes from here ([`Outbound::client`]), so that what HAS sends
//! is told apart from what people send (issue 11, item 1):
//! - every request carries [`ORIGIN_HEADER`] (`X-HAS-Origin: acmangkut`): acmangkut's IAM
//!   switch refuses marked requests, so a webhook, a probe or any later action aimed at
//!   `http://127.0.0.1:8080/api/common/closeIam` cannot degrade IAM;
//! - a connection to the process's own listen address (any loopback address on its port, or
//!   any local address when it listens on all of them) is dropped right after connecting, before
//!   a byte is sent, unless `outbound.allow_self` is set. The check runs on the connected
//!   socket's peer, after DNS and after every redirect, so no name or redirect gets around it.
//!
//! pageinspect's own probers (hyper and Chromium, not reqwest) send [`ORIGIN_HEADER`] too.

use serde::{Deserialize, Serialize};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

/// The marker header on every request HAS makes; its value names the application.
pub const ORIGIN_HEADER: &str = "x-has-origin";

/// `[outbound]` in acmangkut's config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    /// Allow HAS's own clients (webhooks, checks, the pageinspect and OIDC clients) to connect
    /// to this process's own listen address. Off: such a connection is dropped unused.
    pub allow_self: bool,
}

/// Builds the HTTP clients of one application; cheap to clone.
#[derive(Clone, Debug)]
pub struct Outbound {
    app: &'static str,
    allow_self: bool,
    own: Arc<RwLock<Vec<SocketAddr>>>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Outbound {
    /// The clients of `app` (`acmangkut`, `pageinspect`, `hasinit`), which has no listen
    /// address yet: see [`Outbound::listening_on`].
    pub fn new(app: &'static str, config: &OutboundConfig) -> Self {
        Self {
            app,
            allow_self: config.allow_self,
            own: Arc::default(),
        }
    }

    /// Records an address this process listens on; clients built before see it too.
    pub fn listening_on(self, addr: SocketAddr) -> Self {
        if let Ok(mut own) = self.own.write() {
            own.push(addr);
        }
        self
    }

    /// The application named in [`ORIGIN_HEADER`].
    pub fn app(&self) -> &'static str {
        self.app
    }

    /// A client builder with the marker header and the self-connection guard; callers add
    /// their timeouts and redirect policy.
    pub fn client(&self) -> reqwest::ClientBuilder {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            ORIGIN_HEADER,
            reqwest::header::HeaderValue::from_static(self.app),
        );
        reqwest::Client::builder()
            .user_agent(format!("has-{}/{}", self.app, env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .connector_layer(SelfGuardLayer(self.clone()))
    }

    /// Whether a connection to `peer` would reach this process itself (and is not allowed).
    pub fn refuses(&self, peer: SocketAddr) -> bool {
        if self.allow_self {
            return false;
        }
        let Ok(own) = self.own.read() else {
            return true;
        };
        own.iter()
            .any(|o| o.port() == peer.port() && (is_loopback(peer.ip()) || is_local(peer.ip())))
    }
}

/// Loopback, IPv4-mapped loopback, or the unspecified address (which connects to loopback).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_unspecified(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// An address of this host: one a socket can be bound to.
fn is_local(ip: IpAddr) -> bool {
    std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

#[derive(Clone)]
struct SelfGuardLayer(Outbound);

impl<S> tower_layer::Layer<S> for SelfGuardLayer {
    type Service = SelfGuard<S>;

    fn layer(&self, inner: S) -> SelfGuard<S> {
        SelfGuard {
            inner,
            outbound: self.0.clone(),
        }
    }
}

/// Wraps reqwest's connector: a connection whose peer is this process is dropped unused.
#[derive(Clone)]
struct SelfGuard<S> {
    inner: S,
    outbound: Outbound,
}

impl<S, R> tower_service::Service<R> for SelfGuard<S>
where
    S: tower_service::Service<R, Error = BoxError>,
    S::Response: hyper_util::client::legacy::connect::Connection + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let connecting = self.inner.call(req);
        let outbound = self.outbound.clone();
        Box::pin(async move {
            let conn = connecting.await?;
            let mut extras = http::Extensions::new();
            hyper_util::client::legacy::connect::Connection::connected(&conn)
                .get_extras(&mut extras);
            let peer = extras
                .get::<hyper_util::client::legacy::connect::HttpInfo>()
                .map(|info| info.remote_addr());
            match peer {
                Some(peer) if outbound.refuses(peer) => Err(format!(
                    "refused to connect to {peer}: that is this {}'s own listen address \
                     (set outbound.allow_self = true to allow it)",
                    outbound.app
                )
                .into()),
                _ => Ok(conn),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect(s)
    }

    #[test]
    fn its_own_port_on_any_loopback_or_local_address_is_refused_unless_allowed() {
        let o = Outbound::new("acmangkut", &OutboundConfig::default())
            .listening_on(addr("127.0.0.1:8080"));
        for own in [
            "127.0.0.1:8080",
            "127.0.0.2:8080",
            "[::1]:8080",
            "[::ffff:127.0.0.1]:8080",
            "0.0.0.0:8080",
        ] {
            assert!(o.refuses(addr(own)), "{own}");
        }
        for other in ["127.0.0.1:8081", "192.0.2.7:8080", "[2001:db8::1]:8080"] {
            assert!(!o.refuses(addr(other)), "{other}");
        }
        let allowed = Outbound::new("acmangkut", &OutboundConfig { allow_self: true })
            .listening_on(addr("127.0.0.1:8080"));
        assert!(!allowed.refuses(addr("127.0.0.1:8080")));
        let nothing = Outbound::new("hasinit", &OutboundConfig::default());
        assert!(!nothing.refuses(addr("127.0.0.1:8080")));
    }

    #[tokio::test]
    async fn a_client_marks_its_requests_and_never_sends_one_to_its_own_port() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let own = listener.local_addr().expect("addr");
        let other = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let other_addr = other.local_addr().expect("addr");
        let seen = std::thread::spawn(move || {
            let (mut s, _) = other.accept().expect("accept");
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).expect("read");
            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
            String::from_utf8_lossy(&buf[..n]).to_lowercase()
        });
        let client = Outbound::new("acmangkut", &OutboundConfig::default())
            .listening_on(own)
            .client()
            .build()
            .expect("client");
        let e = client
            .get(format!(
                "http://localhost:{}/api/common/closeIam",
                own.port()
            ))
            .send()
            .await
            .expect_err("refused");
        let chain = crate::error_chain::error_chain(&e);
        assert!(chain.contains("own listen address"), "{chain}");
        listener.set_nonblocking(true).expect("nonblocking");
        let r = client
            .get(format!("http://{other_addr}/x"))
            .send()
            .await
            .expect("another port is fine");
        assert_eq!(r.status(), 204);
        let request = seen.join().expect("join");
        assert!(request.contains("x-has-origin: acmangkut"), "{request}");
    }
}
