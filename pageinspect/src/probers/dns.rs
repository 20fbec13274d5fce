//! The `dns` probe: one query of `record_type` for the target, through the system resolver or
//! `dns_server`, with hickory-resolver. [DNS_RCODE] and the answers (as a JSON array in
//! [BODY]) are exposed to conditions.

use super::{Outcome, ProbeContext};
use crate::failure::Failure;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ResolveHosts, ResolverOpts};
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use shared::probe::{FailureReason, ProbeSpec};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub async fn probe(spec: &ProbeSpec, ctx: &ProbeContext, out: &mut Outcome) -> Result<(), Failure> {
    let rtype = record_type(spec.record_type.as_deref().unwrap_or("A"))?;
    // The egress guard applies to the server we send the query to (the system resolver's
    // servers are the operator's choice and not checked).
    if let Some(server) = spec.dns_server.as_deref()
        && let Ok(addr) = server.parse::<SocketAddr>()
    {
        ctx.egress.check_ip(addr.ip())?;
    }
    let resolver = resolver(spec)?;
    let name = fqdn(spec.target.trim());
    out.stage = "resolve";
    let start = Instant::now();
    let looked_up = resolver.lookup(name.as_str(), rtype).await;
    out.phases.resolve += Outcome::since(start);
    let (rcode, answers) = match looked_up {
        Ok(lookup) => (
            ResponseCode::NoError,
            lookup
                .answers()
                .iter()
                .filter(|r| r.record_type() == rtype)
                .filter_map(|r| render(&r.data))
                .collect::<Vec<_>>(),
        ),
        Err(NetError::Dns(DnsError::NoRecordsFound(nr))) => (nr.response_code, Vec::new()),
        Err(NetError::Dns(DnsError::ResponseCode(code))) => (code, Vec::new()),
        Err(NetError::Timeout) => {
            return Err(Failure::new(
                FailureReason::Timeout,
                format!("the DNS query for {name} {rtype} timed out"),
            ));
        }
        Err(NetError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(Failure::new(
                FailureReason::ConnectionRefused,
                format!("the DNS server refused the query: {e}"),
            ));
        }
        Err(e) if e.is_connection_closed() => {
            return Err(Failure::new(
                FailureReason::ConnectionError,
                format!("the DNS server closed the connection: {e}"),
            ));
        }
        Err(e) => {
            return Err(Failure::new(
                FailureReason::DnsFailure,
                format!("the DNS query for {name} {rtype} failed: {e}"),
            ));
        }
    };
    out.connected = Some(true);
    out.dns_rcode = Some(rcode_name(rcode));
    out.resolved_ip = answers
        .iter()
        .find(|a| a.parse::<std::net::IpAddr>().is_ok())
        .cloned();
    out.body = serde_json::to_string(&answers).ok();
    out.stage = "done";
    let missing: Vec<&str> = spec
        .expected_answers
        .iter()
        .filter(|want| !answers.iter().any(|a| same_answer(a, want)))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(Failure::new(
            FailureReason::ConditionFailed,
            format!(
                "expected answers missing: {} (got: {})",
                missing.join(", "),
                answers.join(", ")
            ),
        ));
    }
    if rcode != ResponseCode::NoError {
        out.default_failure = Some(Failure::new(
            FailureReason::DnsFailure,
            format!("{name} {rtype}: {}", rcode_name(rcode)),
        ));
    } else if answers.is_empty() {
        out.default_failure = Some(Failure::new(
            FailureReason::DnsFailure,
            format!("{name} has no {rtype} records"),
        ));
    }
    Ok(())
}

fn record_type(s: &str) -> Result<RecordType, Failure> {
    Ok(match s.to_ascii_uppercase().as_str() {
        "A" => RecordType::A,
        "AAAA" => RecordType::AAAA,
        "CNAME" => RecordType::CNAME,
        "MX" => RecordType::MX,
        "TXT" => RecordType::TXT,
        "NS" => RecordType::NS,
        other => {
            return Err(Failure::new(
                FailureReason::Internal,
                format!("unsupported record type {other}"),
            ));
        }
    })
}

/// A resolver for this probe alone (no cache shared between probes; no hosts file).
fn resolver(spec: &ProbeSpec) -> Result<TokioResolver, Failure> {
    let fail = |e: NetError| {
        Failure::new(
            FailureReason::DnsFailure,
            format!("cannot set up the resolver: {e}"),
        )
    };
    let mut builder = match &spec.dns_server {
        Some(server) => {
            let addr: SocketAddr = server
                .parse()
                .map_err(|_| Failure::new(FailureReason::Internal, "dns_server is not ip:port"))?;
            crate::egress::resolver_for(&[addr])
        }
        None => TokioResolver::builder_tokio().map_err(fail)?,
    };
    let opts: &mut ResolverOpts = builder.options_mut();
    opts.timeout = Duration::from_millis(spec.timeout_ms);
    opts.attempts = 1;
    opts.cache_size = 0;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.ndots = 0;
    builder.build().map_err(fail)
}

/// Absolute name, so search domains never apply.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// An answer as text: addresses as IPs, names without the trailing dot, MX as
/// `preference exchange`, TXT as its strings joined.
fn render(data: &RData) -> Option<String> {
    let name =
        |n: &hickory_resolver::proto::rr::Name| n.to_utf8().trim_end_matches('.').to_string();
    Some(match data {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(a) => a.0.to_string(),
        RData::CNAME(c) => name(&c.0),
        RData::NS(n) => name(&n.0),
        RData::MX(mx) => format!("{} {}", mx.preference, name(&mx.exchange)),
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect::<Vec<_>>()
            .join(""),
        _ => return None,
    })
}

/// Compares an answer with an expected one: case-insensitive, trailing dots ignored; an MX
/// answer also matches its exchange name alone.
fn same_answer(answer: &str, expected: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('.').to_ascii_lowercase();
    let (a, e) = (norm(answer), norm(expected));
    a == e || a.split_once(' ').is_some_and(|(_, exchange)| exchange == e)
}

/// The conventional upper-case mnemonic (`NOERROR`, `NXDOMAIN`, …).
fn rcode_name(code: ResponseCode) -> String {
    match code {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        other => u16::from(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_compare_loosely() {
        assert!(same_answer("mail.example.test", "MAIL.example.test."));
        assert!(same_answer("10 mail.example.test", "mail.example.test"));
        assert!(!same_answer("10.0.0.1", "10.0.0.2"));
    }

    #[test]
    fn names_become_absolute() {
        assert_eq!(fqdn("a.b"), "a.b.");
        assert_eq!(fqdn("a.b."), "a.b.");
    }
}
