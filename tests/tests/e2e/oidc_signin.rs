//! Signing in to acmangkut through the real OpenID Connect provider (oidc-provider under node):
//! the console in headless Chromium, and bearer access tokens on the API, with the provider's
//! groups mapped to roles by bindings.

use has_tests::browser::{TestBrowser, dom, sign_in_with_provider};
use has_tests::oidc::{OidcOptions, OidcProvider, WEB_CLIENT};
use has_tests::spawn::{TestApp, bearer_client, test_config};
use has_tests::{TestDb, spawn_acmangkut};
use serde_json::{Value, json};
use std::time::Duration;

/// acmangkut with `iam.oidc` on the provider's web client, accepting access tokens whose
/// `aud` is `acmangkut`, roles from the `groups` claim; group `sre` bound to `operator`.
async fn acmangkut_on(
    p: &OidcProvider,
    db: &TestDb,
    tweak: impl FnOnce(&mut acmangkut::Config),
) -> TestApp {
    let mut config = test_config(db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    let mut oidc = p.config_for(WEB_CLIENT, "acmangkut");
    oidc.roles_claim = "groups".into();
    config.iam.oidc = Some(oidc);
    has_tests::oidc::with_public_url(&mut config);
    tweak(&mut config);
    let app = spawn_acmangkut(config).await;
    let r = app
        .post_json(
            "/api/v1/iam/bindings",
            &json!({"subject_kind": "group", "subject": "sre", "role": "operator"}),
        )
        .await;
    assert_eq!(r.status(), 201, "bind sre → operator: {:?}", r.text().await);
    app
}

async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    app.get_json(&format!("/api/v1/audit?{query}")).await["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_user_signs_in_to_the_console_and_gets_the_role_of_their_group() {
    let mut p = OidcProvider::start(OidcOptions::default()).await;
    let db = TestDb::new();
    let app = acmangkut_on(&p, &db, |_| {}).await;
    p.allow_redirect_uri(&app.url("/auth/oidc/callback")).await;
    let browser = TestBrowser::launch().await;

    let tab = browser.open(&app.url("/monitors?lang=en")).await;
    let html = dom(&tab).await;
    assert!(
        html.contains("id=\"sso\"") && html.contains("Sign in with the identity provider"),
        "the 401 page offers the identity provider: {}",
        &html[..html.len().min(2000)]
    );
    sign_in_with_provider(&tab, &app.address, "alice").await;

    let url = tab.url().await.expect("url").unwrap_or_default();
    assert!(
        url.starts_with(&app.url("/monitors")),
        "back where the sign-in started: {url}"
    );
    let html = dom(&tab).await;
    assert!(
        !html.contains("id=\"sso\""),
        "signed in: no sign-in page any more"
    );
    tab.goto(app.url("/monitors/new?lang=en"))
        .await
        .expect("navigate");
    let html = dom(&tab).await;
    assert!(
        html.contains("name=\"name\"") && !html.contains("id=\"sso\""),
        "an operator (group sre) may open the new-monitor form: {}",
        &html[..html.len().min(2000)]
    );

    let events = audit(&app, "action=auth.sign_in_oidc").await;
    let event = events.first().expect("the sign-in is audited");
    assert_eq!(
        (event["actor"].as_str(), event["outcome"].as_str()),
        (Some("alice"), Some("success")),
        "{event}"
    );
    assert!(
        event["detail"].as_str().unwrap_or("").contains("sre"),
        "the audit row names the groups: {event}"
    );
    app.handle.stop().await;
}

/// `detail` of a problem answer, asserting its status.
async fn problem(r: reqwest::Response, status: u16) -> String {
    assert_eq!(r.status().as_u16(), status);
    let body: Value = r.json().await.expect("problem json");
    body["detail"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_access_tokens_work_on_the_api_via_group_mapping_and_bad_ones_are_401_with_why() {
    // Short-lived tokens and no leeway, so that expiry can be shown within the test.
    let (mut p, stranger) = tokio::join!(
        OidcProvider::start(OidcOptions {
            access_token_ttl: Duration::from_secs(3),
            ..Default::default()
        }),
        OidcProvider::start(OidcOptions::default())
    );
    let db = TestDb::new();
    let app = acmangkut_on(&p, &db, |c| {
        if let Some(o) = c.iam.oidc.as_mut() {
            o.leeway_seconds = 0;
            o.jwks_min_refresh_seconds = 1;
        }
    })
    .await;
    let monitor = json!({"name": "by alice", "interval_seconds": 60,
                         "probe": {"kind": "tcp", "target": "127.0.0.1:9"}});
    let as_user = |token: &str| (bearer_client(token), app.url("/api/v1/monitors"));

    // alice (group sre → operator) may write monitors; bob (group viewers, unbound) may not.
    let (alice, url) = as_user(&p.user_token("alice", "acmangkut").await);
    let r = alice.post(&url).json(&monitor).send().await.expect("POST");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let me: Value = (alice.get(app.url("/api/v1/auth/me")).send().await)
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (me["username"].as_str(), me["roles"].clone()),
        (Some("alice"), json!(["operator"]))
    );
    let (bob, _) = as_user(&p.user_token("bob", "acmangkut").await);
    let detail = problem(
        bob.post(&url).json(&monitor).send().await.expect("POST"),
        403,
    )
    .await;
    assert!(detail.contains("monitors:write"), "{detail}");

    // Refused tokens, each for its reason.
    let foreign = stranger.user_token("alice", "acmangkut").await;
    let other_audience = p.user_token("alice", "pageinspect").await;
    let soon_expired = p.user_token("alice", "acmangkut").await;
    for (token, reason, why) in [
        (&foreign, "wrong_issuer", "another provider's token"),
        (&other_audience, "wrong_audience", "a token for pageinspect"),
    ] {
        let (client, url) = as_user(token);
        let detail = problem(client.get(&url).send().await.expect("GET"), 401).await;
        assert!(detail.contains(reason), "{why}: {detail}");
    }
    tokio::time::sleep(Duration::from_millis(4_200)).await;
    let (client, url) = as_user(&soon_expired);
    let detail = problem(client.get(&url).send().await.expect("GET"), 401).await;
    assert!(detail.contains("expired"), "an expired token: {detail}");

    // After the provider rotates its keys, a token signed by the old key is refused and a new
    // one verifies (after one refetch of the keys).
    let old_key = p.user_token("alice", "acmangkut").await;
    let (client, url) = as_user(&old_key);
    assert_eq!(client.get(&url).send().await.expect("GET").status(), 200);
    p.restart_with_new_keys().await;
    let new_key = p.user_token("alice", "acmangkut").await;
    let (client, url) = as_user(&new_key);
    assert_eq!(client.get(&url).send().await.expect("GET").status(), 200);
    let (client, url) = as_user(&old_key);
    let detail = problem(client.get(&url).send().await.expect("GET"), 401).await;
    assert!(
        detail.contains("unknown_key"),
        "a rotated-away key: {detail}"
    );
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acmangkut_with_oidc_and_no_public_url_refuses_to_start_naming_the_key() {
    let p = OidcProvider::start(OidcOptions::default()).await;
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.iam.oidc = Some(p.config_for(WEB_CLIENT, "acmangkut"));

    let refused = acmangkut::Application::build(config).await.err();

    let e = refused
        .expect("no start without iam.public_url")
        .to_string();
    assert!(
        e.contains("`iam.public_url`") && e.contains("iam.oidc"),
        "{e}"
    );
}
