//! The egress guard for the browser: a SOCKS5 proxy on loopback through which Chromium makes
//! every connection, and which resolves and checks each host itself.
//!
//! Checking a probe's target before handing it to Chromium is not enough: redirects,
//! sub-resources, clicks, scripts and a name that resolves to a new address on Chromium's own
//! lookup (DNS rebinding) all connect past such a check. So each probe's browser context is
//! created with a proxy of its own (`Target.createBrowserContext { proxyServer }`), and the
//! browser is started with the pool's proxy for anything outside a probe's context, with
//! loopback not bypassed (`<-loopback>`) and no name resolution of its own
//! (`--host-resolver-rules`): SOCKS5 hands the proxy the name, which it resolves with the
//! guard's resolver and connects to only when no address it resolves to is denied. A denial is
//! answered "not allowed by ruleset" and kept, so that the probe fails `target_denied` naming
//! the host.
//!
//! Hand-written rather than a crate: the server side of SOCKS5 CONNECT without authentication
//! is a two-message handshake (RFC 1928), and owning it lets the resolve-check-connect order be
//! exactly the guard's, with nothing else enabled (no UDP, no BIND).

use crate::egress::Guard;
use crate::failure::Failure;
use shared::probe::FailureReason;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// SOCKS5 reply codes (RFC 1928, section 6).
const SUCCEEDED: u8 = 0;
const GENERAL_FAILURE: u8 = 1;
const NOT_ALLOWED: u8 = 2;
const HOST_UNREACHABLE: u8 = 4;
const CONNECTION_REFUSED: u8 = 5;
const COMMAND_NOT_SUPPORTED: u8 = 7;
const ADDRESS_TYPE_NOT_SUPPORTED: u8 = 8;

/// A running proxy; stops (with every connection through it) when dropped.
pub struct Proxy {
    addr: SocketAddr,
    denied: Arc<Mutex<Option<Failure>>>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and serves until dropped. Needs a tokio runtime.
    pub fn start(guard: Guard) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let listener = TcpListener::from_std(listener)?;
        let denied = Arc::new(Mutex::new(None));
        let task = tokio::spawn(serve(listener, Arc::new(guard), denied.clone()));
        Ok(Self { addr, denied, task })
    }

    /// The proxy as Chromium's `--proxy-server` and `proxyServer` take it.
    pub fn url(&self) -> String {
        format!("socks5://{}", self.addr)
    }

    /// The first connection refused by the guard, as the probe's failure.
    pub fn denied(&self) -> Option<Failure> {
        self.denied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Dropping the task's `JoinSet` aborts the connections still open.
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, guard: Arc<Guard>, denied: Arc<Mutex<Option<Failure>>>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    let guard = guard.clone();
                    let denied = denied.clone();
                    connections.spawn(async move {
                        if let Err(e) = relay(client, &guard, &denied).await {
                            tracing::debug!(error = %e, "browser proxy connection ended");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "browser proxy cannot accept");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next() => {}
        }
    }
}

/// One client connection: the SOCKS5 handshake, the guard, then bytes both ways.
async fn relay(
    mut client: TcpStream,
    guard: &Guard,
    denied: &Mutex<Option<Failure>>,
) -> io::Result<()> {
    let _ = client.set_nodelay(true);
    let mut head = [0u8; 2];
    client.read_exact(&mut head).await?;
    let mut methods = vec![0u8; usize::from(head[1])];
    client.read_exact(&mut methods).await?;
    if head[0] != 5 || !methods.contains(&0) {
        // Only "no authentication" (0) is offered; 0xff: none acceptable.
        client.write_all(&[5, 0xff]).await?;
        return Ok(());
    }
    client.write_all(&[5, 0]).await?;
    let mut request = [0u8; 4];
    client.read_exact(&mut request).await?;
    let host = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await?;
            Ipv4Addr::from(ip).to_string()
        }
        3 => {
            let mut name = vec![0u8; usize::from(client.read_u8().await?)];
            client.read_exact(&mut name).await?;
            String::from_utf8_lossy(&name).into_owned()
        }
        4 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip).await?;
            Ipv6Addr::from(ip).to_string()
        }
        _ => return reply(&mut client, ADDRESS_TYPE_NOT_SUPPORTED).await,
    };
    let port = client.read_u16().await?;
    if request[0] != 5 || request[1] != 1 {
        // Only CONNECT (1); no BIND, no UDP.
        return reply(&mut client, COMMAND_NOT_SUPPORTED).await;
    }
    let ips = match guard.lookup(&host, port).await {
        Ok(ips) => ips,
        Err(f) => {
            tracing::debug!(%host, error = %f.message, "browser proxy cannot resolve");
            return reply(&mut client, HOST_UNREACHABLE).await;
        }
    };
    if let Err(f) = ips.iter().try_for_each(|ip| guard.check_ip(*ip)) {
        let failure = Failure::new(
            FailureReason::TargetDenied,
            format!(
                "the page's connection to {host}:{port} was refused: {}",
                f.message
            ),
        );
        tracing::info!(%host, port, error = %failure.message, "browser connection denied");
        denied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(failure);
        return reply(&mut client, NOT_ALLOWED).await;
    }
    let mut upstream = None;
    let mut last_error = None;
    for ip in ips {
        match TcpStream::connect((ip, port)).await {
            Ok(s) => {
                upstream = Some(s);
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    let Some(mut upstream) = upstream else {
        let code = match last_error.map(|e| e.kind()) {
            Some(io::ErrorKind::ConnectionRefused) => CONNECTION_REFUSED,
            Some(_) => HOST_UNREACHABLE,
            None => GENERAL_FAILURE,
        };
        return reply(&mut client, code).await;
    };
    let _ = upstream.set_nodelay(true);
    reply(&mut client, SUCCEEDED).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// A reply with an unspecified bound address (0.0.0.0:0; Chromium does not use it).
async fn reply(client: &mut TcpStream, code: u8) -> io::Result<()> {
    client.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SOCKS5 CONNECT to `host` (as a name) through `proxy`; the reply code.
    async fn connect_via(proxy: &Proxy, host: &str, port: u16) -> (u8, TcpStream) {
        let mut s = TcpStream::connect(proxy.addr).await.expect("proxy answers");
        s.write_all(&[5, 1, 0]).await.expect("greeting");
        let mut chosen = [0u8; 2];
        s.read_exact(&mut chosen).await.expect("method");
        assert_eq!(chosen, [5, 0]);
        let mut req = vec![5, 1, 0, 3, u8::try_from(host.len()).expect("short name")];
        req.extend_from_slice(host.as_bytes());
        req.extend_from_slice(&port.to_be_bytes());
        s.write_all(&req).await.expect("request");
        let mut answer = [0u8; 10];
        s.read_exact(&mut answer).await.expect("reply");
        (answer[1], s)
    }

    #[tokio::test]
    async fn an_allowed_host_is_relayed_and_a_denied_one_is_refused_and_kept() {
        let target = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = target.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = target.accept().await {
                let _ = s.write_all(b"hello").await;
            }
        });
        let proxy = Proxy::start(Guard::new(&["127.0.0.2/32"]).expect("guard")).expect("starts");

        let (code, mut s) = connect_via(&proxy, "127.0.0.1", port).await;
        assert_eq!(code, SUCCEEDED);
        let mut hello = [0u8; 5];
        s.read_exact(&mut hello).await.expect("relayed");
        assert_eq!(&hello, b"hello");
        assert!(proxy.denied().is_none());

        let (code, _) = connect_via(&proxy, "127.0.0.2", port).await;
        assert_eq!(code, NOT_ALLOWED);
        let f = proxy.denied().expect("the denial is kept");
        assert_eq!(f.reason, FailureReason::TargetDenied);
        assert!(f.message.contains("127.0.0.2"), "{}", f.message);
    }
}
