//! The IAM emergency switch of the original operations guide: on every acmangkut instance,
//! `curl localhost:8080/api/common/closeIam` degrades the dependency on IAM and
//! `curl localhost:8080/api/common/openiam` rolls back. Answered only when the TCP peer is
//! loopback (forwarded-for headers are never read here); every flip is audited with the peer.
//! The HTTP handler is `api::iam::switch::common`.

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
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Runs the switch `action` (`closeiam`, `openiam` or `iamstatus`, lower case) for a caller at
/// `peer`. Refused, and the refusal audited, unless the caller is `loopback`; a flip is audited
/// before it happens.
pub async fn run(
    iam: &Iam,
    action: &str,
    peer: String,
    loopback: bool,
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
    if !loopback {
        let ev = actor
            .event(&format!("iam.switch.{action}"), "iam-switch", None)
            .outcome("denied")
            .detail("the switch answers loopback callers only");
        iam.store().run(move |c| audit::record(c, &ev)).await?;
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "the IAM switch answers only on the instance itself: \
             run the curl inside the container (localhost)",
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
