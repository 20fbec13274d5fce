//! The egress guard: addresses pageinspect must never connect to, whatever a probe asks.
//!
//! A probe spec comes from a user, so without a guard pageinspect would fetch cloud metadata
//! endpoints (`http://169.254.169.254/…`) on the user's behalf. The guard holds a deny list of
//! CIDRs (`egress.deny_cidrs`; by default the link-local and cloud-metadata ranges, see
//! [`DEFAULT_DENY_CIDRS`]) and is checked **after name resolution**, on the address about to
//! be connected to, so a name that resolves into a denied range is caught as well as a literal.
//!
//! How probers use it:
//! - the http, tcp and tls probers resolve through [`crate::probers::net::resolve_allowed`],
//!   which checks the address it picked (every redirect hop resolves again, so every hop is
//!   checked);
//! - the dns prober checks its `dns_server` with [`Guard::check_ip`];
//! - the browser connects only through a SOCKS5 proxy pageinspect serves for each probe
//!   ([`crate::browser::proxy`]), which resolves every host the page asks for and checks
//!   *every* address it resolves to before connecting (redirects, sub-resources, scripts and a
//!   name whose address changes between two lookups included); the target is checked first
//!   with [`check_url`], the same check, for an early and clear failure.
//!
//! Names are resolved with [`Guard::lookup`]: the DNS servers of `resolver.servers`, or the
//! system resolver when that list is empty.
//!
//! A denied target fails with `target_denied` and an error naming the address and the CIDR,
//! without any connection being made. Loopback is allowed by default (tests and sidecars probe
//! it); add `127.0.0.0/8` and `::1/128` to deny it too.

use crate::failure::Failure;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Resolver, ResolverBuilder, TokioResolver};
use ipnet::IpNet;
use shared::probe::FailureReason;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use url::{Host, Url};

/// The default deny list: IPv4 and IPv6 link-local (AWS, GCP, Azure, OpenStack metadata at
/// 169.254.169.254), AWS' IPv6 metadata endpoint, and Alibaba Cloud's metadata address.
pub const DEFAULT_DENY_CIDRS: [&str; 4] = [
    "169.254.0.0/16",
    "fe80::/10",
    "fd00:ec2::254/128",
    "100.100.100.200/32",
];

/// A parsed deny list and the resolver names are looked up with. Cheap to clone; checks are a
/// linear scan of a few CIDRs.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    deny: Vec<IpNet>,
    resolver: NameResolver,
}

/// The system resolver (`None`), or one asking the DNS servers of `resolver.servers`.
#[derive(Debug, Clone, Default)]
pub struct NameResolver(Option<Arc<TokioResolver>>);

impl NameResolver {
    /// A resolver asking `servers` (UDP, then TCP on truncation); the system resolver when
    /// `servers` is empty.
    pub fn new(servers: &[SocketAddr]) -> Result<Self, NetError> {
        if servers.is_empty() {
            return Ok(Self(None));
        }
        let mut builder = resolver_for(servers);
        // Checked after every lookup anyway; no cache keeps tests of a changing answer honest.
        builder.options_mut().cache_size = 0;
        Ok(Self(Some(Arc::new(builder.build()?))))
    }
}

/// A resolver builder asking `servers` (each `ip:port`), UDP first, TCP on truncation.
pub fn resolver_for(servers: &[SocketAddr]) -> ResolverBuilder<TokioRuntimeProvider> {
    let name_servers = servers
        .iter()
        .map(|addr| {
            let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
            for c in &mut ns.connections {
                c.port = addr.port();
            }
            ns
        })
        .collect();
    Resolver::builder_with_config(
        ResolverConfig::from_name_servers(name_servers),
        TokioRuntimeProvider::default(),
    )
}

/// A deny-list entry that is not a CIDR (or an address).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry:?} is not a CIDR like 10.0.0.0/8 or fd00::/8 ({message})")]
pub struct BadCidr {
    pub entry: String,
    pub message: String,
}

/// Parses `a.b.c.d/n` or `v6/n`; a bare address means that one address (`/32`, `/128`).
/// Host bits are cleared (`10.1.2.3/8` is `10.0.0.0/8`).
pub fn parse_cidr(entry: &str) -> Result<IpNet, BadCidr> {
    let s = entry.trim();
    let net = if s.contains('/') {
        s.parse::<IpNet>().map_err(|e| BadCidr {
            entry: entry.to_string(),
            message: e.to_string(),
        })?
    } else {
        IpNet::from(s.parse::<IpAddr>().map_err(|e| BadCidr {
            entry: entry.to_string(),
            message: e.to_string(),
        })?)
    };
    Ok(net.trunc())
}

impl Guard {
    /// A guard denying `cidrs` (see [`parse_cidr`]); the first bad entry is the error.
    pub fn new<S: AsRef<str>>(cidrs: &[S]) -> Result<Self, BadCidr> {
        let deny = cidrs
            .iter()
            .map(|c| parse_cidr(c.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            deny,
            resolver: NameResolver::default(),
        })
    }

    /// A guard that denies nothing.
    pub fn allow_all() -> Self {
        Self::default()
    }

    /// This guard, looking names up with `resolver`.
    pub fn with_resolver(self, resolver: NameResolver) -> Self {
        Self { resolver, ..self }
    }

    /// The addresses `host` resolves to (an IP literal, brackets allowed, is itself); fails
    /// with `dns_failure` when it resolves to none. Does not check them.
    pub async fn lookup(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, Failure> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let fail = |e: &dyn std::fmt::Display| {
            Failure::new(
                FailureReason::DnsFailure,
                format!("cannot resolve {host}: {e}"),
            )
        };
        let ips: Vec<IpAddr> = match &self.resolver.0 {
            None => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| fail(&e))?
                .map(|a| a.ip())
                .collect(),
            Some(r) => r
                .lookup_ip(host)
                .await
                .map_err(|e| fail(&e))?
                .iter()
                .collect(),
        };
        if ips.is_empty() {
            return Err(Failure::new(
                FailureReason::DnsFailure,
                format!("{host} resolved to no address"),
            ));
        }
        Ok(ips)
    }

    /// The CIDRs denied, as parsed.
    pub fn denied(&self) -> &[IpNet] {
        &self.deny
    }

    /// The first deny-list CIDR containing `ip`, if any. An IPv4-mapped IPv6 address
    /// (`::ffff:169.254.169.254`) is checked as the IPv4 address it reaches.
    pub fn matching(&self, ip: IpAddr) -> Option<&IpNet> {
        let mapped = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.deny
            .iter()
            .find(|net| net.contains(&ip) || mapped.is_some_and(|m| net.contains(&m)))
    }

    /// `Ok` when `ip` may be connected to; else a `target_denied` failure naming `ip` and the
    /// CIDR that denies it. Synchronous: use it on addresses you already resolved.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Failure> {
        match self.matching(ip) {
            None => Ok(()),
            Some(net) => Err(Failure::new(
                FailureReason::TargetDenied,
                format!("{ip} is in the denied range {net} (egress.deny_cidrs); not connecting"),
            )),
        }
    }
}

/// Resolves the host of `url` (an IP literal is used as is) and checks **every** address it
/// resolves to, for callers whose own client will pick one of them (the browser). Fails with
/// `dns_failure` when the name does not resolve, `target_denied` when any address is denied.
/// The caller bounds it with its timeout; it does not connect.
pub async fn check_url(guard: &Guard, url: &Url) -> Result<(), Failure> {
    let port = url.port_or_known_default().unwrap_or(80);
    let host = match url.host() {
        Some(Host::Ipv4(ip)) => ip.to_string(),
        Some(Host::Ipv6(ip)) => ip.to_string(),
        Some(Host::Domain(name)) => name.to_string(),
        None => return Err(Failure::new(FailureReason::Internal, "the URL has no host")),
    };
    let ips = guard.lookup(&host, port).await?;
    ips.into_iter()
        .try_for_each(|ip| guard.check_ip(ip))
        .map_err(|f| match url.host() {
            Some(Host::Domain(_)) => Failure::new(f.reason, format!("{host}: {}", f.message)),
            _ => f,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn default_guard() -> Guard {
        Guard::new(&DEFAULT_DENY_CIDRS).expect("the defaults parse")
    }

    #[test]
    fn the_default_list_denies_metadata_endpoints_and_allows_loopback() {
        let g = default_guard();
        let denied = [
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "fd00:ec2::254",
            "100.100.100.200",
            "::ffff:169.254.169.254",
        ];
        for ip in denied {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(g.matching(ip).is_some(), "{ip} must be denied");
        }
        let allowed = [
            "127.0.0.1",
            "::1",
            "10.0.0.1",
            "100.100.100.201",
            "fd00:ec2::253",
            "8.8.8.8",
        ];
        for ip in allowed {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(g.matching(ip).is_none(), "{ip} must be allowed");
        }
    }

    #[test]
    fn a_denial_names_the_address_and_the_cidr() {
        let f = default_guard()
            .check_ip("169.254.169.254".parse().expect("ip"))
            .expect_err("denied");
        assert_eq!(f.reason, FailureReason::TargetDenied);
        assert!(f.message.contains("169.254.169.254"), "{}", f.message);
        assert!(f.message.contains("169.254.0.0/16"), "{}", f.message);
    }

    #[test]
    fn bad_entries_are_rejected_with_the_entry_named() {
        // Each must fail: the reason is in the comment.
        let bad = [
            "169.254.0.0/33", // prefix longer than 32
            "fe80::/129",     // prefix longer than 128
            "10.0.0/8",       // not an address
            "example.com/8",  // a name, not an address
            "",               // empty
            "10.0.0.0/",      // no prefix length
        ];
        for entry in bad {
            let e = parse_cidr(entry).expect_err(entry);
            assert_eq!(e.entry, entry);
        }
    }

    #[test]
    fn a_bare_address_is_one_host_and_host_bits_are_cleared() {
        assert_eq!(
            parse_cidr("10.1.2.3").expect("ok").to_string(),
            "10.1.2.3/32"
        );
        assert_eq!(
            parse_cidr("10.1.2.3/8").expect("ok").to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(parse_cidr(" ::1 ").expect("ok").to_string(), "::1/128");
    }

    #[tokio::test]
    async fn check_url_resolves_names_before_checking() {
        let g = Guard::new(&["127.0.0.0/8"]).expect("parses");
        let url = Url::parse("http://localhost:9/").expect("url");
        // localhost may resolve to ::1 only on some hosts; it always has an address.
        let denied = check_url(&g, &url).await;
        let all_v6 = tokio::net::lookup_host(("localhost", 9))
            .await
            .expect("localhost resolves")
            .all(|a| a.is_ipv6());
        assert_eq!(denied.is_err(), !all_v6);
        let f = check_url(&g, &Url::parse("http://127.0.0.2/").expect("url"))
            .await
            .expect_err("literal denied");
        assert_eq!(f.reason, FailureReason::TargetDenied);
        assert!(
            check_url(&g, &Url::parse("http://[::1]/").expect("url"))
                .await
                .is_ok()
        );
    }

    proptest! {
        /// Any address inside a parsed v4 CIDR matches it, and the CIDR's text round-trips.
        #[test]
        fn v4_cidrs_contain_exactly_their_addresses(
            a in any::<u32>(),
            len in 0u8..=32,
            probe in any::<u32>(),
        ) {
            let text = format!("{}/{len}", Ipv4Addr::from(a));
            let net = parse_cidr(&text).expect("valid v4 CIDR");
            prop_assert_eq!(parse_cidr(&net.to_string()).expect("round-trips"), net);
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
            let guard = Guard::new(&[text]).expect("guard");
            let inside = IpAddr::V4(Ipv4Addr::from((a & mask) | (probe & !mask)));
            prop_assert!(guard.matching(inside).is_some(), "{} not matched", inside);
            let same_prefix = (probe & mask) == (a & mask);
            let other = IpAddr::V4(Ipv4Addr::from(probe));
            prop_assert_eq!(guard.matching(other).is_some(), same_prefix);
            // The IPv4-mapped form of an address is judged like the address.
            let mapped = IpAddr::V6(Ipv4Addr::from(probe).to_ipv6_mapped());
            prop_assert_eq!(guard.matching(mapped).is_some(), same_prefix);
        }

        /// The same for IPv6, and a v6 CIDR never matches a v4 address.
        #[test]
        fn v6_cidrs_contain_exactly_their_addresses(
            a in any::<u128>(),
            len in 0u8..=128,
            probe in any::<u128>(),
            v4 in any::<u32>(),
        ) {
            let text = format!("{}/{len}", Ipv6Addr::from(a));
            let net = parse_cidr(&text).expect("valid v6 CIDR");
            prop_assert_eq!(parse_cidr(&net.to_string()).expect("round-trips"), net);
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
            let guard = Guard::new(&[text]).expect("guard");
            let other = IpAddr::V6(Ipv6Addr::from(probe));
            let v6_match = (probe & mask) == (a & mask);
            prop_assert_eq!(guard.matching(other).is_some(), v6_match);
            let inside = IpAddr::V6(Ipv6Addr::from((a & mask) | (probe & !mask)));
            prop_assert!(guard.matching(inside).is_some());
            prop_assert!(guard.matching(IpAddr::V4(Ipv4Addr::from(v4))).is_none());
        }

        /// Prefix lengths past the family's width are always rejected, never truncated.
        #[test]
        fn overlong_prefixes_are_rejected(a in any::<u32>(), len in 33u16..1000) {
            let entry = format!("{}/{len}", Ipv4Addr::from(a));
            prop_assert!(parse_cidr(&entry).is_err());
        }
    }
}
