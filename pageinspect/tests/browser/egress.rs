//! Every connection a browser probe's page makes passes the egress guard: redirects,
//! sub-resources, script navigation and names resolved by the probe's own lookups.
//!
//! The deny list holds 127.0.0.2/32, served by a site these tests start (never a real metadata
//! or private address); the pages luring the browser there are served on 127.0.0.1, and a DNS
//! server on loopback answers the names.

use crate::helpers::{Chromium, TestApp, spawn_app_with};
use actix_web::{App, HttpResponse, HttpServer, web};
use hickory_server::proto::op::Message;
use hickory_server::proto::rr::rdata::A;
use hickory_server::proto::rr::{RData, Record, RecordType};
use serde_json::json;
use shared::probe::{FailureReason, ProbeResult};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What the denied site serves; never to be seen in a result.
const SECRET: &str = "LEAKED-INSTANCE-CREDENTIALS";

/// A site on the denied address 127.0.0.2 that counts every request it gets.
struct DeniedSite {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl DeniedSite {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn spawn_denied_site() -> DeniedSite {
    let listener = std::net::TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let server = HttpServer::new(move || {
        let counted = counted.clone();
        App::new().default_service(web::to(move |req: actix_web::HttpRequest| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if req.path().ends_with(".js") {
                    let js = format!("document.getElementById('leak').textContent = '{SECRET}';");
                    HttpResponse::Ok().content_type("text/javascript").body(js)
                } else {
                    HttpResponse::Ok()
                        .content_type("text/html; charset=utf-8")
                        .body(format!(
                            "<title>Metadata</title><p id=\"leak\">{SECRET}</p>"
                        ))
                }
            }
        }))
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    DeniedSite { addr, hits }
}

fn page(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!("<!doctype html><title>Lure</title>{body}"))
}

/// Pages on 127.0.0.1 that send the browser to `denied` (a URL on the denied site).
fn spawn_lure_site(denied: String) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind lure site");
    let addr = listener.local_addr().expect("addr");
    let server = HttpServer::new(move || {
        let location = denied.clone();
        let script = format!("<p id=\"leak\">nothing</p><script src=\"{denied}.js\"></script>");
        let navigate =
            format!("<p id=\"leak\">nothing</p><script>location.href = '{denied}';</script>");
        App::new()
            .route(
                "/redirect",
                web::get().to(move || {
                    let to = location.clone();
                    async move {
                        HttpResponse::Found()
                            .insert_header(("Location", to))
                            .finish()
                    }
                }),
            )
            .route(
                "/subresource",
                web::get().to(move || {
                    let body = script.clone();
                    async move { page(body) }
                }),
            )
            .route(
                "/script-navigation",
                web::get().to(move || {
                    let body = navigate.clone();
                    async move { page(body) }
                }),
            )
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    addr
}

/// A DNS server on loopback: `denied.test` is always 127.0.0.2; `rebind.test` is 127.0.0.1 the
/// first time it is asked and 127.0.0.2 after (a rebinding attack). Answers with TTL 0.
async fn spawn_dns() -> SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind dns");
    let addr = socket.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut rebind_asked = 0;
        let mut buf = vec![0u8; 1500];
        while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut answer = Message::response(query.metadata.id, query.metadata.op_code);
            answer.metadata.recursion_desired = query.metadata.recursion_desired;
            answer.metadata.recursion_available = true;
            answer.queries = query.queries.clone();
            for q in &query.queries {
                let name = q.name.to_utf8().to_lowercase();
                let ip = match name.trim_end_matches('.') {
                    _ if q.query_type != RecordType::A => continue,
                    "denied.test" => Ipv4Addr::new(127, 0, 0, 2),
                    "rebind.test" => {
                        rebind_asked += 1;
                        match rebind_asked {
                            1 => Ipv4Addr::LOCALHOST,
                            _ => Ipv4Addr::new(127, 0, 0, 2),
                        }
                    }
                    _ => continue,
                };
                answer
                    .answers
                    .push(Record::from_rdata(q.name.clone(), 0, RData::A(A(ip))));
            }
            if let Ok(bytes) = answer.to_vec() {
                let _ = socket.send_to(&bytes, peer).await;
            }
        }
    });
    addr
}

each_chromium!(
    a_redirect_to_a_denied_address_fails_the_probe,
    a_script_navigating_to_a_denied_address_fails_the_probe,
);

/// pageinspect on `chromium` denying 127.0.0.2/32 (besides the defaults), resolving with `dns`.
async fn guarded_app(chromium: Chromium, dns: Option<SocketAddr>) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = spawn_app_with(dir.path(), |c| {
        c.browser.executable = chromium.executable().into();
        c.egress.deny_cidrs.push("127.0.0.2/32".into());
        c.resolver.servers = dns.iter().map(ToString::to_string).collect();
    })
    .await;
    (app, dir)
}

/// A browser probe of `target` whose condition would pass if the secret were read (and does not
/// spell it, so that the result holds it only if it was read).
async fn probe(app: &TestApp, target: &str) -> ProbeResult {
    app.probe(&json!({
        "kind": "browser",
        "target": target,
        "timeout_ms": 15000,
        "conditions": ["[DOM_TEXT].#leak == pat(*-INSTANCE-*)"],
    }))
    .await
}

/// The probe failed `target_denied` naming `host`, nothing of the secret is in its result, and
/// the denied site got no request.
fn assert_denied(r: &ProbeResult, host: &str, denied: &DeniedSite) {
    assert!(!r.success, "{r:#?}");
    assert_eq!(
        r.failure_reason,
        Some(FailureReason::TargetDenied),
        "{r:#?}"
    );
    let error = r.error.as_deref().unwrap_or_default();
    assert!(error.contains(host), "the error names {host}: {error}");
    let text = serde_json::to_string(r).expect("json");
    assert!(!text.contains(SECRET), "the secret was read: {text}");
    assert_eq!(denied.hits(), 0, "the denied site was reached");
}

/// A probe of the lure page at `path` is denied, naming 127.0.0.2, and reads nothing.
async fn assert_lure_denied(chromium: Chromium, path: &str) {
    let denied = spawn_denied_site();
    let lure = spawn_lure_site(denied.url("/latest/meta-data"));
    let (app, _dir) = guarded_app(chromium, None).await;

    let r = probe(&app, &format!("http://{lure}{path}")).await;

    assert_denied(&r, "127.0.0.2", &denied);
}

async fn a_redirect_to_a_denied_address_fails_the_probe(chromium: Chromium) {
    assert_lure_denied(chromium, "/redirect").await;
}

#[tokio::test]
async fn a_denied_sub_resource_fails_the_probe() {
    assert_lure_denied(Chromium::HeadlessShell, "/subresource").await;
}

async fn a_script_navigating_to_a_denied_address_fails_the_probe(chromium: Chromium) {
    assert_lure_denied(chromium, "/script-navigation").await;
}

#[tokio::test]
async fn a_name_resolving_to_a_denied_address_fails_the_probe_also_after_a_first_good_answer() {
    let denied = spawn_denied_site();
    let dns = spawn_dns().await;
    let (app, _dir) = guarded_app(Chromium::HeadlessShell, Some(dns)).await;
    let port = denied.addr.port();

    let r = probe(&app, &format!("http://denied.test:{port}/")).await;
    assert_denied(&r, "denied.test", &denied);

    // The first lookup (the target check) sees 127.0.0.1; the page's own connection resolves
    // again and gets 127.0.0.2.
    let r = probe(&app, &format!("http://rebind.test:{port}/")).await;
    assert_denied(&r, "rebind.test", &denied);
}
