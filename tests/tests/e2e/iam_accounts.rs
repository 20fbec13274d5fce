//! Built-in accounts: the session cookie, wrong passwords, rate limits, sign-out, disabled and
//! break-glass accounts, CSRF on cookie-authenticated changes, and the bootstrap token.

use has_tests::spawn::{cookie_value, test_config};
use has_tests::{TestApp, TestDb, spawn_acmangkut};
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

async fn start(tweak: impl FnOnce(&mut acmangkut::Config)) -> (TestApp, TestDb) {
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    tweak(&mut config);
    (spawn_acmangkut(config).await, db)
}

/// `POST /api/v1/auth/login` without any credential.
async fn login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.anonymous
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("POST login")
}

async fn problem(r: reqwest::Response) -> Value {
    let ctype = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(ctype.starts_with("application/problem+json"), "{ctype}");
    r.json().await.expect("problem+json")
}

/// Audit rows of `action` (bootstrap token, newest first).
async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    app.get_json(&format!("/api/v1/audit?per_page=500&{query}"))
        .await["items"]
        .as_array()
        .cloned()
        .expect("items")
}

async fn switch(app: &TestApp, action: &str) -> Value {
    let r = app
        .anonymous
        .get(app.url(&format!("/api/common/{action}")))
        .send()
        .await
        .expect("switch");
    assert_eq!(r.status(), 200, "{action} from loopback");
    r.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_sets_an_http_only_lax_session_cookie_that_is_not_secure_over_http() {
    let (app, _db) = start(|c| c.iam.session_hours = 2).await;
    app.create_user("alice", PASSWORD, &["viewer"]).await;

    let session = app.sign_in("alice", PASSWORD).await;

    let attrs: Vec<String> = session
        .set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(attrs.contains(&"httponly".into()), "{}", session.set_cookie);
    assert!(
        attrs.contains(&"samesite=lax".into()),
        "{}",
        session.set_cookie
    );
    assert!(attrs.contains(&"path=/".into()), "{}", session.set_cookie);
    assert!(
        attrs.contains(&"max-age=7200".into()),
        "iam.session_hours: {}",
        session.set_cookie
    );
    assert!(
        !attrs.contains(&"secure".into()),
        "plain http: {}",
        session.set_cookie
    );
    assert_eq!(session.cookie.len(), 43, "256 random bits, URL-safe base64");
    let me: Value = session
        .get("/api/v1/auth/me")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (me["username"].as_str(), me["via"].as_str()),
        (Some("alice"), Some("user"))
    );
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_and_an_unknown_user_get_the_same_401() {
    let (app, _db) = start(|_| {}).await;
    app.create_user("alice", PASSWORD, &["viewer"]).await;

    let wrong = login(&app, "alice", "not the password at all").await;
    let unknown = login(&app, "nobody", PASSWORD).await;

    for (r, why) in [(wrong, "wrong password"), (unknown, "unknown user")] {
        assert_eq!(r.status(), 401, "{why}");
        assert!(
            r.headers().get(reqwest::header::SET_COOKIE).is_none(),
            "{why}: no cookie"
        );
        let body = problem(r).await;
        assert_eq!(body["detail"], "wrong username or password", "{why}");
    }
    let failures = audit(&app, "action=auth.sign_in&outcome=failure").await;
    let actors: Vec<&str> = failures
        .iter()
        .filter_map(|e| e["actor"].as_str())
        .collect();
    assert_eq!(actors, ["nobody", "alice"], "each failure is audited");
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_limited_per_account_with_retry_after() {
    let (app, _db) = start(|c| {
        c.iam.sign_in_per_account_per_minute = 3;
        c.iam.sign_in_per_address_per_minute = 100;
    })
    .await;
    app.create_user("alice", PASSWORD, &["viewer"]).await;
    app.create_user("bob", PASSWORD, &["viewer"]).await;
    for _ in 0..3 {
        assert_eq!(
            login(&app, "alice", "guess-guess-guess").await.status(),
            401
        );
    }

    // The right password does not help once the account's attempts are used up.
    let limited = login(&app, "alice", PASSWORD).await;
    let other_account = login(&app, "bob", PASSWORD).await;

    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(limited.headers().get(reqwest::header::SET_COOKIE).is_none());
    assert_eq!(problem(limited).await["status"], 429);
    assert_eq!(
        other_account.status(),
        200,
        "other accounts are not limited"
    );
    assert_eq!(audit(&app, "outcome=rate_limited").await.len(), 1);
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_limited_per_address_across_accounts() {
    let (app, _db) = start(|c| {
        c.iam.sign_in_per_account_per_minute = 100;
        // Two a minute: a slot comes back every 30 s, far more than two refused sign-ins take
        // even on a loaded machine (with 4, one came back after 15 s of password hashing).
        c.iam.sign_in_per_address_per_minute = 2;
    })
    .await;
    app.create_user("alice", PASSWORD, &["viewer"]).await;
    for name in ["u1", "u2"] {
        assert_eq!(login(&app, name, "guess-guess-guess").await.status(), 401);
    }

    let limited = login(&app, "alice", PASSWORD).await;

    assert_eq!(
        limited.status(),
        429,
        "a fresh account from an exhausted address"
    );
    assert!(limited.headers().contains_key("retry-after"));
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_ends_the_session_on_the_server() {
    let (app, _db) = start(|_| {}).await;
    app.create_user("alice", PASSWORD, &["viewer"]).await;
    let session = app.sign_in("alice", PASSWORD).await;

    let out = session
        .request(Method::POST, "/api/v1/auth/logout")
        .send()
        .await
        .expect("logout");

    assert_eq!(out.status(), 204);
    let cleared = out
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| cookie_value(v, "has_session").map(str::to_string));
    assert_eq!(
        cleared.as_deref(),
        Some(""),
        "the browser's copy is cleared"
    );
    // The old cookie, replayed as if the browser had kept it, is refused.
    let replay = session.get("/api/v1/auth/me").await;
    assert_eq!(replay.status(), 401);
    assert_eq!(problem(replay).await["status"], 401);
    assert_eq!(audit(&app, "action=auth.sign_out").await.len(), 1);
    app.handle.stop().await;
}

/// The server compares a session's stored expiry with its clock on every request, so moving
/// it into the past is the same as `iam.session_hours` running out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_refused() {
    use acmangkut::store::schema::iam_sessions;
    use diesel::prelude::*;
    let (app, _db) = start(|_| {}).await;
    let alice = app.create_user("alice", PASSWORD, &["viewer"]).await;
    let session = app.sign_in("alice", PASSWORD).await;
    assert_eq!(session.get("/api/v1/auth/me").await.status(), 200);
    let user_id = alice["id"].as_i64().expect("id");

    let past = chrono::Utc::now().timestamp_millis() - 1_000;
    let expired = app
        .open_store()
        .await
        .run(move |c| {
            acmangkut::db!(c, |c| diesel::update(
                iam_sessions::table.filter(iam_sessions::user_id.eq(user_id))
            )
            .set(iam_sessions::expires_at.eq(past))
            .execute(c))
        })
        .await
        .expect("expire the session");
    let r = session.get("/api/v1/auth/me").await;

    assert_eq!(expired, 1);
    assert_eq!(r.status(), 401);
    assert_eq!(problem(r).await["status"], 401);
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_cannot_sign_in_and_their_live_session_stops_working() {
    let (app, _db) = start(|_| {}).await;
    let alice = app.create_user("alice", PASSWORD, &["operator"]).await;
    let session = app.sign_in("alice", PASSWORD).await;
    let token = session.create_token("script", 1, &[]).await;
    let script = has_tests::spawn::bearer_client(token["secret"].as_str().expect("secret"));

    let r = app
        .http
        .put(app.url(&format!("/api/v1/iam/users/{}", alice["id"])))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .expect("PUT user");
    assert_eq!(r.status(), 200);

    let again = login(&app, "alice", PASSWORD).await;
    assert_eq!(again.status(), 401);
    assert_eq!(problem(again).await["detail"], "wrong username or password");
    assert_eq!(
        session.get("/api/v1/auth/me").await.status(),
        401,
        "live session"
    );
    let by_token = script
        .get(app.url("/api/v1/monitors"))
        .send()
        .await
        .expect("GET");
    assert_eq!(by_token.status(), 401, "their API token");
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_break_glass_account_signs_in_only_while_iam_is_degraded() {
    let (app, _db) = start(|_| {}).await;
    let r = app
        .post_json(
            "/api/v1/iam/users",
            &json!({"username": "breakglass", "password": PASSWORD, "roles": ["admin"],
                    "break_glass": true}),
        )
        .await;
    assert_eq!(r.status(), 201);

    let before = login(&app, "breakglass", PASSWORD).await;
    assert_eq!(
        before.status(),
        401,
        "IAM is up: break-glass accounts are off"
    );
    assert_eq!(
        problem(before).await["detail"],
        "wrong username or password"
    );

    let closed = switch(&app, "closeIam").await;
    assert_eq!(closed["degraded"], true);
    let session = app.sign_in("breakglass", PASSWORD).await;
    let me: Value = session
        .get("/api/v1/auth/me")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (me["break_glass"].as_bool(), me["iam_degraded"].as_bool()),
        (Some(true), Some(true))
    );

    let opened = switch(&app, "openiam").await;
    assert_eq!(opened["degraded"], false);
    assert_eq!(
        session.get("/api/v1/auth/me").await.status(),
        401,
        "its session ends with the degradation"
    );
    assert_eq!(login(&app, "breakglass", PASSWORD).await.status(), 401);
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_authenticated_change_needs_the_csrf_token() {
    let (app, _db) = start(|_| {}).await;
    app.create_user("olga", PASSWORD, &["operator"]).await;
    let session = app.sign_in("olga", PASSWORD).await;
    let monitor = |name: &str| {
        json!({"name": name, "interval_seconds": 3600,
               "probe": {"kind": "tcp", "target": "127.0.0.1:9"}})
    };

    let without = session
        .request_without_csrf(Method::POST, "/api/v1/monitors")
        .json(&monitor("forged"))
        .send()
        .await
        .expect("POST");
    let wrong = session
        .request_without_csrf(Method::POST, "/api/v1/monitors")
        .header("X-CSRF-Token", "not-the-token")
        .json(&monitor("forged"))
        .send()
        .await
        .expect("POST");
    let with = session
        .post_json("/api/v1/monitors", &monitor("real"))
        .await;
    let read = session
        .request_without_csrf(Method::GET, "/api/v1/monitors")
        .send()
        .await
        .expect("GET");

    for (r, why) in [(without, "no token"), (wrong, "wrong token")] {
        assert_eq!(r.status(), 403, "{why}");
        assert_eq!(problem(r).await["field"], "_csrf", "{why}");
    }
    assert_eq!(with.status(), 201);
    assert_eq!(read.status(), 200, "reads need no CSRF token");
    assert_eq!(
        app.monitor_count().await,
        1,
        "the forged requests changed nothing"
    );
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_token_works_and_its_use_is_audited() {
    let (app, _db) = start(|_| {}).await;

    let me = app.get_json("/api/v1/auth/me").await;
    let created = app
        .create_monitor(json!({"name": "by-bootstrap", "interval_seconds": 3600,
                               "probe": {"kind": "tcp", "target": "127.0.0.1:9"}}))
        .await;
    let impostor = has_tests::spawn::bearer_client("test-bootstrap-token-0123456780")
        .get(app.url("/api/v1/auth/me"))
        .send()
        .await
        .expect("GET");

    assert_eq!(
        (me["username"].as_str(), me["via"].as_str()),
        (Some("bootstrap"), Some("bootstrap"))
    );
    assert_eq!(
        me["permissions"].as_array().map(Vec::len),
        Some(shared::permissions::Permission::ALL.len()),
        "every permission"
    );
    assert_eq!(impostor.status(), 401, "a near miss is no bootstrap token");
    let reads = audit(&app, "action=bootstrap.read").await;
    assert_eq!(
        reads.len(),
        1,
        "reads are audited once a minute per address: {reads:?}"
    );
    assert_eq!(reads[0]["actor_kind"], "bootstrap");
    assert_eq!(reads[0]["peer"], "127.0.0.1");
    assert!(
        reads[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("GET /api/v1/auth/me")),
        "{}",
        reads[0]
    );
    let change = audit(&app, "action=monitor.create").await;
    assert_eq!(change.len(), 1);
    assert_eq!(
        (
            change[0]["actor"].as_str(),
            change[0]["actor_kind"].as_str()
        ),
        (Some("bootstrap"), Some("bootstrap"))
    );
    assert_eq!(change[0]["resource_id"], created["id"].to_string());
    app.handle.stop().await;
}

/// Whichever way it is tried (unbinding, changing its roles, disabling, deleting), the last
/// enabled account holding `admin` stays: 409 saying why, nothing written. With a second
/// admin, the first can go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_admin_cannot_be_removed_in_any_way() {
    let (app, _db) = start(|_| {}).await;
    let root = app.create_user("root", PASSWORD, &["admin"]).await;
    let root_path = format!("/api/v1/iam/users/{}", root["id"]);
    let bindings = app.get_json("/api/v1/iam/bindings").await;
    let binding = bindings
        .as_array()
        .expect("bindings")
        .iter()
        .find(|b| b["subject"] == "root" && b["role"] == "admin")
        .expect("root's admin binding")
        .clone();
    let binding_path = format!("/api/v1/iam/bindings/{}", binding["id"]);

    let attempts = [
        (Method::DELETE, binding_path.clone(), None),
        (
            Method::PUT,
            root_path.clone(),
            Some(json!({"roles": ["viewer"]})),
        ),
        (
            Method::PUT,
            root_path.clone(),
            Some(json!({"disabled": true})),
        ),
        (Method::DELETE, root_path.clone(), None),
    ];
    for (method, path, body) in &attempts {
        let mut req = app.http.request(method.clone(), app.url(path));
        if let Some(body) = body {
            req = req.json(body);
        }
        let r = req.send().await.expect("request");
        assert_eq!(r.status(), 409, "{method} {path} {body:?}");
        let p = problem(r).await;
        assert!(
            p["detail"].as_str().unwrap_or("").contains("`admin`"),
            "{method} {path}: {p}"
        );
    }
    let still = app.get_json(&root_path).await;
    assert_eq!(
        (&still["roles"], &still["disabled"]),
        (&json!(["admin"]), &json!(false))
    );
    assert!(
        audit(&app, "action=user.delete").await.is_empty(),
        "nothing was written"
    );

    app.create_user("second", PASSWORD, &["admin"]).await;
    let r = app
        .http
        .delete(app.url(&root_path))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204, "with another admin the first can go");
    app.handle.stop().await;
}
