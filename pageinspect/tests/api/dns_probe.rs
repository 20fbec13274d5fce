//! dns probes against a real DNS server (hickory-server) serving a small zone on loopback.

use crate::helpers::spawn_app;
use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::rr::rdata::{A, MX, SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use serde_json::json;
use shared::probe::FailureReason;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("name")
}

/// Serves `example.test.` on 127.0.0.1 UDP (a free port) until the test process ends.
async fn spawn_dns_server() -> SocketAddr {
    let origin = name("example.test.");
    let mut zone = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
        origin.clone(),
        ZoneType::Primary,
        AxfrPolicy::Deny,
    );
    let soa = SOA::new(
        name("ns.example.test."),
        name("admin.example.test."),
        1,
        3600,
        600,
        86400,
        60,
    );
    let records = [
        Record::from_rdata(origin.clone(), 60, RData::SOA(soa)),
        Record::from_rdata(
            name("www.example.test."),
            60,
            RData::A(A(Ipv4Addr::new(10, 0, 0, 1))),
        ),
        Record::from_rdata(
            name("www.example.test."),
            60,
            RData::A(A(Ipv4Addr::new(10, 0, 0, 2))),
        ),
        Record::from_rdata(
            origin.clone(),
            60,
            RData::MX(MX::new(10, name("mail.example.test."))),
        ),
        Record::from_rdata(
            origin.clone(),
            60,
            RData::TXT(TXT::new(vec!["v=spf1 -all".into()])),
        ),
    ];
    for record in records {
        assert!(zone.upsert_mut(record, 1), "record accepted");
    }
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::new(&origin), vec![Arc::new(zone)]);
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind udp");
    let addr = socket.local_addr().expect("addr");
    let mut server = Server::new(catalog);
    server.register_socket(socket);
    tokio::spawn(async move {
        let _ = server.block_until_done().await;
    });
    addr
}

#[tokio::test]
async fn an_a_query_finds_the_expected_answers() {
    let (app, dns) = (spawn_app().await, spawn_dns_server().await);
    let r = app
        .probe(&json!({
            "kind": "dns",
            "target": "www.example.test",
            "dns_server": dns.to_string(),
            "expected_answers": ["10.0.0.1", "10.0.0.2"]
        }))
        .await;
    assert!(r.success, "{r:?}");
    assert!(r.resolved_ip.is_some());
}

#[tokio::test]
async fn conditions_see_the_rcode_and_the_answers() {
    let (app, dns) = (spawn_app().await, spawn_dns_server().await);
    let r = app
        .probe(&json!({
            "kind": "dns",
            "target": "example.test",
            "record_type": "MX",
            "dns_server": dns.to_string(),
            "expected_answers": ["mail.example.test"],
            "conditions": [
                "[DNS_RCODE] == NOERROR",
                "[BODY] == pat(*10 mail.example.test*)",
                "[BODY].[0] == 10 mail.example.test"
            ]
        }))
        .await;
    assert!(r.success, "{r:?}");

    let r = app
        .probe(&json!({
            "kind": "dns",
            "target": "example.test",
            "record_type": "TXT",
            "dns_server": dns.to_string(),
            "expected_answers": ["v=spf1 -all"]
        }))
        .await;
    assert!(r.success, "{r:?}");
}

#[tokio::test]
async fn a_missing_name_is_a_dns_failure_unless_nxdomain_is_expected() {
    let (app, dns) = (spawn_app().await, spawn_dns_server().await);
    let r = app
        .probe(
            &json!({ "kind": "dns", "target": "nope.example.test", "dns_server": dns.to_string() }),
        )
        .await;
    assert_eq!(r.failure_reason, Some(FailureReason::DnsFailure), "{r:?}");
    assert!(
        r.error.as_deref().is_some_and(|e| e.contains("NXDOMAIN")),
        "{r:?}"
    );

    let r = app
        .probe(&json!({
            "kind": "dns",
            "target": "nope.example.test",
            "dns_server": dns.to_string(),
            "conditions": ["[DNS_RCODE] == NXDOMAIN"]
        }))
        .await;
    assert!(r.success, "{r:?}");
}

#[tokio::test]
async fn a_missing_expected_answer_fails_the_probe() {
    let (app, dns) = (spawn_app().await, spawn_dns_server().await);
    let r = app
        .probe(&json!({
            "kind": "dns",
            "target": "www.example.test",
            "dns_server": dns.to_string(),
            "expected_answers": ["10.0.0.9"]
        }))
        .await;
    assert_eq!(
        r.failure_reason,
        Some(FailureReason::ConditionFailed),
        "{r:?}"
    );
    assert!(
        r.error.as_deref().is_some_and(|e| e.contains("10.0.0.9")),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_silent_dns_server_times_out_within_the_probe_timeout() {
    let app = spawn_app().await;
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = silent.local_addr().expect("addr");
    let start = std::time::Instant::now();
    let r = app
        .probe(&json!({
            "kind": "dns",
            "target": "www.example.test",
            "dns_server": addr.to_string(),
            "timeout_ms": 400
        }))
        .await;
    assert_eq!(r.failure_reason, Some(FailureReason::Timeout), "{r:?}");
    assert!(start.elapsed() < std::time::Duration::from_millis(1400));
    drop(silent);
}
