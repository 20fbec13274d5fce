//! API tokens: each user's own, with an expiry and a subset of the owner's permissions, the
//! secret answered once and stored only as a hash, never more than the owner has now, refused
//! once revoked or expired, and their last use recorded.

use acmangkut::store::schema::iam_api_tokens;
use diesel::prelude::*;
use has_tests::spawn::{Session, bearer_client, test_config};
use has_tests::{TestApp, TestDb, eventually, spawn_acmangkut};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const PASSWORD: &str = "token-tests-password";

async fn start() -> (TestApp, TestDb) {
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    (spawn_acmangkut(config).await, db)
}

/// A user with `roles`, signed in; and its user id.
async fn user(app: &TestApp, name: &str, roles: &[&str]) -> (Session, i64) {
    let u = app.create_user(name, PASSWORD, roles).await;
    (
        app.sign_in(name, PASSWORD).await,
        u["id"].as_i64().expect("id"),
    )
}

fn secret(token: &Value) -> &str {
    token["secret"].as_str().expect("secret")
}

fn monitor(name: &str) -> Value {
    json!({"name": name, "interval_seconds": 3600,
           "probe": {"kind": "tcp", "target": "127.0.0.1:9"}})
}

/// The status of `GET /api/v1/monitors` and of creating a monitor with `token`.
async fn read_and_write(app: &TestApp, token: &str, name: &str) -> (u16, u16) {
    let c = bearer_client(token);
    let read = c
        .get(app.url("/api/v1/monitors"))
        .send()
        .await
        .expect("GET");
    let write = c
        .post(app.url("/api/v1/monitors"))
        .json(&monitor(name))
        .send()
        .await
        .expect("POST");
    (read.status().as_u16(), write.status().as_u16())
}

async fn set_roles(app: &TestApp, user_id: i64, roles: &[&str]) {
    let r = app
        .http
        .put(app.url(&format!("/api/v1/iam/users/{user_id}")))
        .json(&json!({"roles": roles}))
        .send()
        .await
        .expect("PUT user");
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_created_for_oneself_with_an_expiry_and_a_subset_of_ones_permissions() {
    let (app, _db) = start().await;
    let (olga, _) = user(&app, "olga", &["operator"]).await;

    let token = olga.create_token("read-only", 30, &["monitors:read"]).await;

    assert!(secret(&token).starts_with("has_"), "{token}");
    assert_eq!(token["permissions"], json!(["monitors:read"]));
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(token["expires_at"].clone()).expect("RFC 3339");
    let in_30_days = chrono::Utc::now() + chrono::Duration::days(30);
    assert!((expires - in_30_days).num_seconds().abs() < 60, "{expires}");
    let me: Value = bearer_client(secret(&token))
        .get(app.url("/api/v1/auth/me"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (me["username"].as_str(), me["via"].as_str()),
        (Some("olga"), Some("token"))
    );
    assert_eq!(me["permissions"], json!(["monitors:read"]));
    assert_eq!(
        read_and_write(&app, secret(&token), "m").await,
        (200, 403),
        "the token has only what it asked for"
    );
    // Lifetimes outside 1..=iam.token_max_days.
    for (days, why) in [(0, "no lifetime"), (366, "past token_max_days (365)")] {
        let r = olga
            .post_json(
                "/api/v1/tokens",
                &json!({"name": "x", "expires_in_days": days}),
            )
            .await;
        assert_eq!(r.status(), 400, "{why}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["field"], "expires_in_days", "{why}");
    }
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_is_in_the_create_answer_only_and_the_database_holds_its_hash() {
    let (app, _db) = start().await;
    let (olga, _) = user(&app, "olga", &["operator"]).await;
    let token = olga.create_token("ci", 7, &[]).await;
    let secret = secret(&token).to_string();
    let id = token["id"].as_i64().expect("id");

    let by_session = olga.get("/api/v1/tokens").await.text().await.expect("body");
    let by_token = bearer_client(&secret)
        .get(app.url("/api/v1/tokens"))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("body");
    let audit = app
        .get("/api/v1/audit/export?format=json")
        .await
        .text()
        .await
        .expect("body");
    let store = app.open_store().await;
    let (hash, name, perms): (String, String, String) = store
        .run(move |c| {
            acmangkut::db!(c, |c| iam_api_tokens::table
                .find(id)
                .select((
                    iam_api_tokens::token_hash,
                    iam_api_tokens::name,
                    iam_api_tokens::permissions
                ))
                .first(c))
        })
        .await
        .expect("the token's row");

    for (text, what) in [
        (&by_session, "list by session"),
        (&by_token, "list by token"),
    ] {
        let list: Vec<Value> = serde_json::from_str(text).expect("json");
        assert_eq!(list.len(), 1, "{what}");
        assert!(
            list[0].get("secret").is_none() && list[0].get("token_hash").is_none(),
            "{what}"
        );
        assert!(!text.contains(&secret), "{what} shows the secret");
    }
    assert!(!audit.contains(&secret), "the audit log holds the secret");
    assert_ne!(hash, secret);
    assert_eq!(
        hash,
        acmangkut::iam::secrets::sha256_hex(&secret),
        "SHA-256 of the token"
    );
    assert!(!name.contains(&secret) && !perms.contains(&secret));
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_a_permission_one_lacks_is_a_400_naming_it() {
    let (app, _db) = start().await;
    let (vera, _) = user(&app, "vera", &["viewer"]).await;
    let cases = [
        (
            json!(["monitors:read", "monitors:write"]),
            "permissions[1]",
            "a viewer lacks monitors:write",
        ),
        (
            json!(["audit:read"]),
            "permissions[0]",
            "a viewer lacks audit:read",
        ),
        (
            json!(["monitors:read", "nope:x"]),
            "permissions[1]",
            "not in the catalog",
        ),
    ];

    for (permissions, field, why) in cases {
        let r = vera
            .post_json(
                "/api/v1/tokens",
                &json!({"name": "x", "expires_in_days": 1, "permissions": permissions}),
            )
            .await;

        assert_eq!(r.status(), 400, "{why}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["field"], field, "{why}: {body}");
    }
    let list: Vec<Value> = vera.get("/api/v1/tokens").await.json().await.expect("json");
    assert!(list.is_empty(), "nothing was created: {list:?}");
    // Nor can a token mint a wider one: it has only the permissions it was given.
    let narrow = vera.create_token("narrow", 1, &["tokens:write"]).await;
    let wider = json!({"name": "wider", "expires_in_days": 1, "permissions": ["monitors:read"]});
    let r = bearer_client(secret(&narrow))
        .post(app.url("/api/v1/tokens"))
        .json(&wider)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["field"], "permissions[0]", "{body}");
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_never_exceeds_its_owners_current_permissions() {
    let (app, _db) = start().await;
    let (olga, olga_id) = user(&app, "olga", &["operator"]).await;
    // No permissions listed: all of the owner's permissions at creation.
    let token = olga.create_token("everything", 1, &[]).await;
    let secret = secret(&token).to_string();
    assert_eq!(read_and_write(&app, &secret, "m1").await, (200, 201));

    set_roles(&app, olga_id, &["viewer"]).await;
    let as_viewer = read_and_write(&app, &secret, "m2").await;
    set_roles(&app, olga_id, &[]).await;
    let without_roles = read_and_write(&app, &secret, "m3").await;
    set_roles(&app, olga_id, &["admin"]).await;
    let as_admin = read_and_write(&app, &secret, "m4").await;
    let users = bearer_client(&secret)
        .get(app.url("/api/v1/iam/users"))
        .send()
        .await
        .expect("GET");

    assert_eq!(as_viewer, (200, 403), "the owner lost monitors:write");
    assert_eq!(without_roles, (403, 403), "the owner lost everything");
    assert_eq!(as_admin, (200, 201), "the owner has its permissions back");
    assert_eq!(
        users.status(),
        403,
        "nor more than it was created with (users:read came with admin later)"
    );
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_refused_and_only_its_owner_can_revoke_it() {
    let (app, _db) = start().await;
    let (olga, _) = user(&app, "olga", &["operator"]).await;
    let (vera, _) = user(&app, "vera", &["viewer"]).await;
    let token = olga.create_token("ci", 1, &[]).await;
    let (id, secret) = (
        token["id"].as_i64().expect("id"),
        secret(&token).to_string(),
    );
    let path = format!("/api/v1/tokens/{id}");

    let by_other = vera
        .request(Method::DELETE, &path)
        .send()
        .await
        .expect("DELETE");
    let still_works = read_and_write(&app, &secret, "m1").await;
    let revoked = olga
        .request(Method::DELETE, &path)
        .send()
        .await
        .expect("DELETE");
    let after = bearer_client(&secret)
        .get(app.url("/api/v1/monitors"))
        .send()
        .await
        .expect("GET");
    let again = olga
        .request(Method::DELETE, &path)
        .send()
        .await
        .expect("DELETE");

    assert_eq!(by_other.status(), 404, "someone else's token is not found");
    assert_eq!(still_works, (200, 201));
    assert_eq!(revoked.status(), 204);
    assert_eq!(after.status(), 401);
    assert_eq!(again.status(), 404, "already revoked");
    let list: Vec<Value> = olga.get("/api/v1/tokens").await.json().await.expect("json");
    assert!(list[0]["revoked_at"].is_string(), "{list:?}");
    app.handle.stop().await;
}

/// The server compares a token's expiry with its clock on every request, also when it has the
/// token in memory: a token whose stored expiry is a moment away works until then, and is
/// refused right after (within the cache's lifetime, so from memory).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refused() {
    let (app, _db) = start().await;
    let (olga, _) = user(&app, "olga", &["operator"]).await;
    let token = olga.create_token("ci", 1, &[]).await;
    let (id, secret) = (
        token["id"].as_i64().expect("id"),
        secret(&token).to_string(),
    );
    let expires = chrono::Utc::now().timestamp_millis() + 1_000;
    app.open_store()
        .await
        .run(move |c| {
            acmangkut::db!(c, |c| diesel::update(iam_api_tokens::table.find(id))
                .set(iam_api_tokens::expires_at.eq(expires))
                .execute(c))
        })
        .await
        .expect("expire the token soon");
    assert_eq!(read_and_write(&app, &secret, "m1").await.0, 200);
    let wait = expires + 50 - chrono::Utc::now().timestamp_millis();
    tokio::time::sleep(Duration::from_millis(wait.max(0) as u64)).await;

    let r = bearer_client(&secret)
        .get(app.url("/api/v1/monitors"))
        .send()
        .await
        .expect("GET");

    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["status"], 401);
    app.handle.stop().await;
}

/// Each replica keeps the tokens it has looked up in memory for at most
/// `acmangkut::iam::ACCESS_TTL` (2 s): the replica that revokes a token refuses it at once, the
/// others within that time, as `docs/iam.md` says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_on_one_replica_is_refused_by_another_within_two_seconds() {
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    let (a, b) = (
        spawn_acmangkut(config.clone()).await,
        spawn_acmangkut(config).await,
    );
    let (olga, _) = user(&a, "olga", &["operator"]).await;
    let token = olga.create_token("ci", 1, &[]).await;
    let (id, secret) = (
        token["id"].as_i64().expect("id"),
        secret(&token).to_string(),
    );
    let list = |app: &TestApp| {
        let (c, url) = (bearer_client(&secret), app.url("/api/v1/monitors"));
        async move { c.get(url).send().await.expect("GET").status().as_u16() }
    };
    // Both replicas have the token in memory now.
    assert_eq!((list(&a).await, list(&b).await), (200, 200));

    let revoked = olga
        .request(Method::DELETE, &format!("/api/v1/tokens/{id}"))
        .send()
        .await
        .expect("DELETE");
    let at = std::time::Instant::now();
    let on_a = list(&a).await;
    let refused_after = eventually(Duration::from_secs(5), "refused by replica b", || async {
        (list(&b).await == 401).then(|| at.elapsed())
    })
    .await;

    assert_eq!(revoked.status(), 204);
    assert_eq!(on_a, 401, "the replica that revoked it refuses it at once");
    assert!(
        // The bound, plus the time of one poll and its answer on a loaded machine.
        refused_after <= acmangkut::iam::ACCESS_TTL + Duration::from_secs(1),
        "replica b refused it after {refused_after:?}"
    );
    a.handle.stop().await;
    b.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_used_at_appears_within_a_few_seconds_of_use() {
    let (app, _db) = start().await;
    let (olga, _) = user(&app, "olga", &["operator"]).await;
    let token = olga.create_token("ci", 1, &[]).await;
    assert!(token["last_used_at"].is_null(), "never used yet");
    let before = chrono::Utc::now() - chrono::Duration::milliseconds(5);

    let r = bearer_client(secret(&token))
        .get(app.url("/api/v1/monitors"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    let used: chrono::DateTime<chrono::Utc> =
        eventually(Duration::from_secs(8), "last_used_at", || async {
            let list: Vec<Value> = olga.get("/api/v1/tokens").await.json().await.ok()?;
            serde_json::from_value(list[0]["last_used_at"].clone()).ok()
        })
        .await;

    assert!(used >= before && used <= chrono::Utc::now(), "{used}");
    app.handle.stop().await;
}
