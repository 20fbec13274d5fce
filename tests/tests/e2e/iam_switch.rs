//! The IAM emergency procedure of the original operations guide, on two acmangkut instances
//! sharing one PostgreSQL database, with the real OpenID Connect provider stopped mid-run:
//! `curl localhost:PORT/api/common/closeIam` on every instance degrades the dependency on IAM
//! (break-glass accounts, cached keys, existing sessions and tokens), `openiam` rolls back.
//! Also the cluster-wide switch (`PUT /api/v1/settings/iam`) and the loopback-only rule.
//!
//! Always on PostgreSQL (`HAS_TEST_DATABASE_URL`, else the local server), as the replica test.

use has_tests::oidc::{OidcOptions, OidcProvider, WEB_CLIENT};
use has_tests::spawn::{TestApp, bearer_client, test_config};
use has_tests::{TestDb, eventually, spawn_acmangkut};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const GLASS: (&str, &str) = ("glass", "break-glass-password-1");
const OPERATOR: (&str, &str) = ("op1", "operator-password-1");

/// One acmangkut instance of the pair: scheduler off (nothing to probe), `listen` as given.
async fn instance(db: &TestDb, listen: &str, oidc: Option<shared::oidc::OidcConfig>) -> TestApp {
    let mut c = test_config(db, "http://127.0.0.1:9");
    c.scheduler.enabled = false;
    c.server.listen = listen.into();
    if oidc.is_some() {
        has_tests::oidc::with_public_url(&mut c);
    }
    c.iam.oidc = oidc;
    spawn_acmangkut(c).await
}

fn port_of(app: &TestApp) -> u16 {
    let port = app.address.rsplit(':').next().expect("port");
    port.parse().expect("a port number")
}

fn plain() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Runs the documented command, `curl localhost:PORT/<path>`, as a real `curl` process when
/// there is one (else the same GET with reqwest to 127.0.0.1). Status and body.
async fn curl(port: u16, path: &str) -> (u16, Value) {
    let url = format!("localhost:{port}{path}");
    let out = tokio::process::Command::new("curl")
        .args(["-s", "--max-time", "10", "-w", "\n%{http_code}", &url])
        .output()
        .await;
    let (status, body) = match out {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let (body, code) = text.rsplit_once('\n').expect("curl wrote the status");
            (code.trim().parse().expect("status"), body.to_string())
        }
        Err(e) => {
            eprintln!("no curl ({e}); sending the same GET with reqwest");
            let r = plain()
                .get(format!("http://127.0.0.1:{port}{path}"))
                .send()
                .await
                .expect("GET");
            (r.status().as_u16(), r.text().await.expect("body"))
        }
    };
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

/// Signs a built-in account in with `POST /api/v1/auth/login`: the status and the session
/// cookie, if one was set.
async fn login(app: &TestApp, (user, password): (&str, &str)) -> (StatusCode, Option<String>) {
    let r = plain()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .expect("POST login");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok())
        .filter_map(|c| c.split(';').next()?.strip_prefix("has_session="))
        .find(|v| !v.is_empty())
        .map(String::from);
    (r.status(), cookie)
}

/// `GET path` with the session cookie.
async fn with_session(app: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    plain()
        .get(app.url(path))
        .header("cookie", format!("has_session={cookie}"))
        .send()
        .await
        .expect("GET")
}

async fn with_bearer(app: &TestApp, token: &str, path: &str) -> StatusCode {
    let r = bearer_client(token).get(app.url(path)).send().await;
    r.expect("GET").status()
}

/// An API token of the built-in operator account, created through its session.
async fn api_token_of(app: &TestApp, account: (&str, &str)) -> String {
    let (status, cookie) = login(app, account).await;
    assert_eq!(status, 200);
    let cookie = cookie.expect("session cookie");
    let me: Value = with_session(app, &cookie, "/api/v1/auth/me")
        .await
        .json()
        .await
        .expect("me");
    let r = plain()
        .post(app.url("/api/v1/tokens"))
        .header("cookie", format!("has_session={cookie}"))
        .header(
            "x-csrf-token",
            me["csrf_token"].as_str().expect("csrf token"),
        )
        .json(&json!({"name": "script", "expires_in_days": 1}))
        .send()
        .await
        .expect("POST token");
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.expect("json");
    v["secret"].as_str().expect("secret").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_down_closeiam_on_each_instance_admits_break_glass_and_keeps_credentials() {
    // Arrange: the provider, two instances on one database (A listens on every address so that
    // it can be called from a non-loopback one), bindings and accounts.
    let mut p = OidcProvider::start(OidcOptions::default()).await;
    let db = TestDb::always_postgres();
    let oidc = Some(p.config_for(WEB_CLIENT, "acmangkut"));
    let a = instance(&db, "0.0.0.0:0", oidc.clone()).await;
    let b = instance(&db, "127.0.0.1:0", oidc).await;
    for app in [&a, &b] {
        p.allow_redirect_uri(&app.url("/auth/oidc/callback")).await;
    }
    let r = a
        .post_json(
            "/api/v1/iam/bindings",
            &json!({"subject_kind": "group", "subject": "sre", "role": "operator"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = a
        .post_json(
            "/api/v1/iam/users",
            &json!({"username": GLASS.0, "display_name": "Break glass", "password": GLASS.1,
                    "roles": ["admin"], "break_glass": true}),
        )
        .await;
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    a.create_user(OPERATOR.0, OPERATOR.1, &["operator"]).await;
    let api_token = api_token_of(&a, OPERATOR).await;

    // alice (group sre) works with a bearer token and with a console session, on both.
    let bearer = p.user_token("alice", "acmangkut").await;
    let session = p.console_sign_in(&a.address, "alice").await;
    for app in [&a, &b] {
        assert_eq!(with_bearer(app, &bearer, "/api/v1/monitors").await, 200);
        let r = with_session(app, &session, "/api/v1/auth/me").await;
        assert_eq!(r.status(), 200);
        let me: Value = r.json().await.expect("me");
        assert_eq!(
            (me["username"].as_str(), me["via"].as_str()),
            (Some("alice"), Some("oidc")),
            "{me}"
        );
        let (status, _) = login(app, GLASS).await;
        assert_eq!(
            status, 401,
            "break-glass accounts are refused while IAM is up"
        );
    }

    // The provider goes down. New provider sign-ins fail at once with a clear message.
    p.stop().await;
    for app in [&a, &b] {
        let started = Instant::now();
        let r = plain()
            .get(app.url("/auth/oidc/start?next=/"))
            .send()
            .await
            .expect("GET");
        let (status, elapsed) = (r.status(), started.elapsed());
        let page = r.text().await.expect("page");
        assert_eq!(status, 503, "no redirect into a dead provider: {page}");
        assert!(elapsed < Duration::from_secs(10), "answered in {elapsed:?}");
        assert!(
            page.contains("identity provider could not be reached"),
            "the page says why: {page}"
        );
        // Nobody else gets in: no credential, no entry.
        let r = plain()
            .get(app.url("/api/v1/monitors"))
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), 401);
    }

    // The documented procedure: on EACH instance, from the instance itself.
    let (status, body) = curl(port_of(&a), "/api/common/closeIam").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["degraded"].as_bool(), body["changed"].as_bool()),
        (Some(true), Some(true)),
        "{body}"
    );
    let (status, body) = curl(port_of(&b), "/api/common/closeiam").await;
    assert_eq!(status, 200, "the path in any letter case: {body}");
    assert_eq!(body["instance_degraded"], true, "{body}");

    for app in [&a, &b] {
        let (status, cookie) = login(app, GLASS).await;
        assert_eq!(status, 200, "break-glass sign-in while degraded");
        let r = with_session(app, &cookie.expect("cookie"), "/api/v1/auth/me").await;
        let me: Value = r.json().await.expect("me");
        assert_eq!(
            (me["break_glass"].as_bool(), me["iam_degraded"].as_bool()),
            (Some(true), Some(true)),
            "{me}"
        );
        // Issued before: verified from the cached keys (the provider is stopped, so no call
        // to it could have succeeded).
        assert_eq!(with_bearer(app, &bearer, "/api/v1/monitors").await, 200);
        assert_eq!(
            with_session(app, &session, "/api/v1/monitors")
                .await
                .status(),
            200
        );
        assert_eq!(with_bearer(app, &api_token, "/api/v1/monitors").await, 200);
        assert_eq!(app.metric("has_iam_degraded").await, 1.0);
        let (status, body) = curl(port_of(app), "/api/common/iamStatus").await;
        assert_eq!(status, 200);
        assert_eq!(
            (
                body["degraded"].as_bool(),
                body["instance_degraded"].as_bool(),
                body["cluster_degraded"].as_bool()
            ),
            (Some(true), Some(true), Some(false)),
            "{body}"
        );
        let r = plain()
            .get(app.url("/auth/oidc/start"))
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), 503, "provider sign-in is off while degraded");
    }
    let (_, glass_session) = login(&a, GLASS).await;
    let glass_session = glass_session.expect("cookie");

    // The switch answers only on the instance itself: from another address it is 403, audited.
    // The other address is a network namespace of the test's own (`curl` run inside it).
    let ns = has_tests::netns::NetNs::create();
    let url = format!("http://{}:{}/api/common/openiam", ns.host, port_of(&a));
    let code = ns
        .run(
            "curl",
            &[
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-m",
                "10",
                &url,
            ],
        )
        .unwrap_or_else(|e| panic!("curl from the namespace {}: {e}", ns.name));
    assert_eq!(code, "403", "from {}", ns.peer);
    assert_eq!(
        a.metric("has_iam_degraded").await,
        1.0,
        "the switch did not move"
    );
    let events = a
        .get_json("/api/v1/audit?action=iam.switch.openiam&outcome=denied")
        .await;
    let event = &events["items"][0];
    assert_eq!(event["peer"], ns.peer.to_string(), "{events}");
    drop(ns);

    // Roll back once the provider is repaired: openiam on each instance.
    p.restart().await;
    for app in [&a, &b] {
        let (status, body) = curl(port_of(app), "/api/common/openiam").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["degraded"], false, "{body}");
        assert_eq!(app.metric("has_iam_degraded").await, 0.0);
        let session = p.console_sign_in(&app.address, "alice").await;
        assert_eq!(
            with_session(app, &session, "/api/v1/monitors")
                .await
                .status(),
            200
        );
        let (status, _) = login(app, GLASS).await;
        assert_eq!(status, 401, "break-glass sign-in is refused again");
        let r = with_session(app, &glass_session, "/api/v1/auth/me").await;
        assert_eq!(r.status(), 401, "and its session no longer works");
    }
    let flips = a
        .get_json("/api/v1/audit?resource=iam-switch&outcome=success")
        .await;
    let actions: Vec<&str> = flips["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "iam.switch.close").count(),
        2,
        "both closes audited: {actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| **a == "iam.switch.open").count(),
        2,
        "{actions:?}"
    );
    a.handle.stop().await;
    b.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_wide_switch_set_on_one_instance_degrades_the_other_within_seconds() {
    let db = TestDb::always_postgres();
    let a = instance(&db, "127.0.0.1:0", None).await;
    let b = instance(&db, "127.0.0.1:0", None).await;
    let r = a
        .post_json(
            "/api/v1/iam/users",
            &json!({
                "username": GLASS.0,
                "password": GLASS.1,
                "roles": ["admin"],
                "break_glass": true
            }),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(login(&b, GLASS).await.0, 401);

    let set = |degraded: bool| {
        a.http
            .put(a.url("/api/v1/settings/iam"))
            .json(&json!({"degraded": degraded}))
            .send()
    };
    let r = set(true).await.expect("PUT");
    assert_eq!(r.status(), 200);
    let started = Instant::now();
    eventually(
        Duration::from_secs(10),
        "B degraded by the cluster-wide switch",
        || async {
            let (_, s) = curl(port_of(&b), "/api/common/iamStatus").await;
            (s["degraded"] == true).then_some(())
        },
    )
    .await;
    eprintln!("B degraded {:?} after the PUT on A", started.elapsed());
    let (_, s) = curl(port_of(&b), "/api/common/iamStatus").await;
    assert_eq!(
        (
            s["cluster_degraded"].as_bool(),
            s["instance_degraded"].as_bool()
        ),
        (Some(true), Some(false)),
        "{s}"
    );
    assert_eq!(b.metric("has_iam_degraded").await, 1.0);
    assert_eq!(login(&b, GLASS).await.0, 200, "break-glass on B");
    let audited = a.get_json("/api/v1/audit?action=setting.set").await;
    assert!(
        audited["total"].as_i64().unwrap_or(0) >= 1,
        "the PUT is audited: {audited}"
    );

    let r = set(false).await.expect("PUT");
    assert_eq!(r.status(), 200);
    eventually(Duration::from_secs(10), "B back to normal", || async {
        let (_, s) = curl(port_of(&b), "/api/common/iamStatus").await;
        (s["degraded"] == false).then_some(())
    })
    .await;
    assert_eq!(login(&b, GLASS).await.0, 401);
    a.handle.stop().await;
    b.handle.stop().await;
}
