//! Name resolution and TCP connection, shared by the http, tcp and tls probers.

use super::Outcome;
use crate::egress::Guard;
use crate::failure::Failure;
use shared::probe::{FailureReason, IpPreference};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Instant;
use tokio::net::TcpStream;

/// Resolves `host` (a name or an IP literal, IPv6 without brackets) to one address with the
/// guard's resolver, honouring the IP preference (the preferred family first, the other as a
/// fallback).
pub async fn resolve(
    host: &str,
    port: u16,
    preference: IpPreference,
    guard: &Guard,
    out: &mut Outcome,
) -> Result<SocketAddr, Failure> {
    out.stage = "resolve";
    let start = Instant::now();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = guard
        .lookup(host, port)
        .await?
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    out.phases.resolve += Outcome::since(start);
    let preferred = |a: &&SocketAddr| match preference {
        IpPreference::Any => true,
        IpPreference::Ipv4 => a.is_ipv4(),
        IpPreference::Ipv6 => a.is_ipv6(),
    };
    let addr = addrs
        .iter()
        .find(preferred)
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| {
            Failure::new(
                FailureReason::DnsFailure,
                format!("{host} resolved to no address"),
            )
        })?;
    out.resolved_ip = Some(addr.ip().to_string());
    Ok(addr)
}

/// [`resolve`], then the egress guard on the address picked: a denied address fails
/// `target_denied` before any connection. Every prober that connects resolves through this.
pub async fn resolve_allowed(
    host: &str,
    port: u16,
    preference: IpPreference,
    guard: &Guard,
    out: &mut Outcome,
) -> Result<SocketAddr, Failure> {
    let addr = resolve(host, port, preference, guard, out).await?;
    guard.check_ip(addr.ip())?;
    Ok(addr)
}

/// Opens a new TCP connection (never pooled: each probe measures its own connect).
pub async fn connect(addr: SocketAddr, out: &mut Outcome) -> Result<TcpStream, Failure> {
    out.stage = "connect";
    let start = Instant::now();
    let stream = TcpStream::connect(addr).await.map_err(|e| {
        let reason = match e.kind() {
            ErrorKind::ConnectionRefused => FailureReason::ConnectionRefused,
            ErrorKind::TimedOut => FailureReason::Timeout,
            _ => FailureReason::ConnectionError,
        };
        Failure::new(reason, format!("cannot connect to {addr}: {e}"))
    })?;
    out.phases.connect += Outcome::since(start);
    out.connected = Some(true);
    // Latency probes should not wait on Nagle; failing to set it changes nothing else.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// A human message for an I/O error after connecting.
pub fn io_failure(what: &str, e: &std::io::Error) -> Failure {
    let reason = match e.kind() {
        ErrorKind::TimedOut => FailureReason::Timeout,
        ErrorKind::ConnectionRefused => FailureReason::ConnectionRefused,
        _ => FailureReason::ConnectionError,
    };
    Failure::new(reason, format!("{what}: {e}"))
}
