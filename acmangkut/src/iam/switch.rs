//! The IAM emergency switch of the original operations guide: on every acmangkut instance,
//! `curl localhost:8080/api/common/closeIam` degrades the dependency on IAM and
//! `curl localhost:8080/api/common/openiam` rolls back. Answered only when the TCP peer is
//! loopback (forwarded-for headers are never read here); every flip is audited with the peer.
//! The HTTP handler is `api::iam::switch::common`.
//!
//! A loopback peer is not always a person on the host: HAS itself calls out from loopback
//! (webhooks, probes, browser probes) and so does any browser on the host, on behalf of any web
//! page it shows (`<img src=http://127.0.0.1:8080/api/common/closeIam>`). [`refusal`] tells
//! those apart from `curl localhost:8080/api/common/closeIam` by the headers they carry.

use super::Iam;
use crate::store::audit::{self, Actor};
use serde::Serialize;
use shared::{ApiError, ErrorCode};
use std::net::IpAddr;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IamStatus {
    /// Degraded on this instance: its own switch or the cluster-wide one is closed.
    pub degraded: bool,
    /// This instance's switch (`closeIam` / `openiam`).
    pub instance_degraded: bool,
    /// The cluster-wide switch (`PUT /api/v1/settings/iam`).
    pub cluster_degraded: bool,
    /// Whether this call changed this instance's switch.
    pub changed: bool,
}

pub fn status(iam: &Iam, changed: bool) -> IamStatus {
    IamStatus {
        degraded: iam.degraded(),
        instance_degraded: iam.local_degraded(),
        cluster_degraded: iam.cluster_degraded(),
        changed,
    }
}

pub fn is_loopback(ip: IpAddr) -> bool {
    !ip.is_unspecified() && shared::outbound::is_loopback(ip)
}

/// Why a request from a loopback peer is still not a person at the host's shell, from its
/// headers (`header(name)` reads one, lower-case name): `None` lets it through.
/// - [`shared::outbound::ORIGIN_HEADER`]: HAS sent it (a webhook, a probe, a check).
/// - `Sec-Fetch-Site` other than `none`, `Sec-Fetch-Mode` other than `navigate`,
///   `Sec-Fetch-Dest` other than `document`, `Origin`, `Referer`: a browser sent it for a web
///   page (an image, a script, a form, a fetch, a link followed).
/// - A `Host` that is not a loopback name or address: a page whose name was rebound to
///   127.0.0.1 (DNS rebinding).
///
/// `curl localhost:8080/api/common/closeIam` sends none of these, and `Host: localhost:8080`.
pub fn refusal<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Option<String> {
    if let Some(app) = header(shared::outbound::ORIGIN_HEADER) {
        return Some(format!(
            "sent by HAS itself (X-HAS-Origin: {app}): webhooks, probes and checks never reach \
             the switch"
        ));
    }
    let browser = [
        ("sec-fetch-site", "none"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-dest", "document"),
    ];
    for (name, only) in browser {
        if let Some(v) = header(name).filter(|v| !v.eq_ignore_ascii_case(only)) {
            return Some(format!(
                "sent by a browser for a web page ({name}: {v}); type the URL yourself or use curl"
            ));
        }
    }
    for name in ["origin", "referer"] {
        if header(name).is_some() {
            return Some(format!(
                "sent by a browser for a web page (it has a {name} header); use curl on the host"
            ));
        }
    }
    match header("host") {
        Some(host) if !is_loopback_host(host) => Some(format!(
            "Host `{host}` is not a loopback name or address: call localhost, 127.0.0.1 or [::1]"
        )),
        _ => None,
    }
}

/// `localhost`, `*.localhost`, a loopback IPv4 or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(is_loopback)
}

/// Runs the switch `action` (`closeiam`, `openiam` or `iamstatus`, lower case) for a caller at
/// `peer`. Refused with the reason, and the refusal audited, when `refused` says why (not a
/// loopback peer, or see [`refusal`]); a flip is audited before it happens.
pub async fn run(
    iam: &Iam,
    action: &str,
    peer: String,
    refused: Option<String>,
) -> Result<IamStatus, ApiError> {
    let close = match action {
        "closeiam" => Some(true),
        "openiam" => Some(false),
        "iamstatus" => None,
        _ => {
            return Err(ApiError::not_found(format!(
                "no such switch action `{action}`"
            )));
        }
    };
    let actor = Actor {
        name: "loopback".into(),
        kind: "loopback",
        peer: peer.clone(),
    };
    if let Some(why) = refused {
        let ev = actor
            .event(&format!("iam.switch.{action}"), "iam-switch", None)
            .outcome("denied")
            .detail(&why);
        iam.store().run(move |c| audit::record(c, &ev)).await?;
        tracing::warn!(peer = %peer, action, reason = %why, "IAM switch request refused");
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "the IAM switch answers only a person on the instance itself \
                 (curl localhost:PORT/api/common/{action}): {why}"
            ),
        ));
    }
    let Some(close) = close else {
        return Ok(status(iam, false));
    };
    let was = iam.local_degraded();
    // The audit row first: a flip that cannot be audited does not happen.
    let ev = actor
        .event(
            if close {
                "iam.switch.close"
            } else {
                "iam.switch.open"
            },
            "iam-switch",
            Some("instance".into()),
        )
        .before(&serde_json::json!({"instance_degraded": was}))
        .after(&serde_json::json!({"instance_degraded": close}));
    iam.store().run(move |c| audit::record(c, &ev)).await?;
    iam.set_local_degraded(close);
    tracing::warn!(peer = %peer, degraded = close, "IAM switch flipped on this instance");
    Ok(status(iam, was != close))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(headers: &[(&str, &str)]) -> Option<String> {
        refusal(|name| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
    }

    #[test]
    fn curl_and_a_typed_url_pass_and_what_a_page_or_has_sends_is_refused() {
        for ok in [
            vec![("host", "localhost:8080"), ("user-agent", "curl/8.5.0")],
            vec![("host", "127.0.0.1:8080")],
            vec![("host", "[::1]:8080")],
            vec![("host", "LOCALHOST")],
            vec![],
            // The URL typed into a browser's address bar on the host.
            vec![
                ("host", "localhost:8080"),
                ("sec-fetch-site", "none"),
                ("sec-fetch-mode", "navigate"),
                ("sec-fetch-dest", "document"),
            ],
        ] {
            assert_eq!(refused(&ok), None, "{ok:?}");
        }
        for (no, why) in [
            (vec![("x-has-origin", "acmangkut")], "X-HAS-Origin"),
            (vec![("sec-fetch-site", "cross-site")], "sec-fetch-site"),
            (vec![("sec-fetch-site", "same-site")], "sec-fetch-site"),
            (vec![("sec-fetch-mode", "no-cors")], "sec-fetch-mode"),
            (vec![("sec-fetch-dest", "image")], "sec-fetch-dest"),
            (vec![("origin", "https://evil.example")], "origin"),
            (vec![("origin", "null")], "origin"),
            (vec![("referer", "https://evil.example/")], "referer"),
            (vec![("host", "evil.example:8080")], "evil.example"),
            (vec![("host", "localhost.evil.example")], "localhost.evil"),
            (vec![("host", "10.0.0.1:8080")], "10.0.0.1"),
        ] {
            let reason = refused(&no).unwrap_or_else(|| panic!("{no:?} passed"));
            assert!(reason.contains(why), "{no:?}: {reason}");
        }
    }

    #[test]
    fn only_loopback_addresses_count_as_local() {
        for ok in ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(ok.parse().expect(ok)), "{ok}");
        }
        for no in [
            "10.0.0.1",
            "192.168.1.1",
            "::ffff:10.0.0.1",
            "fe80::1",
            "0.0.0.0",
        ] {
            assert!(!is_loopback(no.parse().expect(no)), "{no}");
        }
    }
}
