//! pageinspect accepts only authenticated callers: its static service token, or a
//! client-credentials access token that the real OpenID Connect provider issued for
//! pageinspect's audience. acmangkut's scheduler gets such a token (`pageinspect.oidc_resource`)
//! and probes through it, also while IAM is degraded and the provider is down.

use has_tests::oidc::{OidcOptions, OidcProvider};
use has_tests::spawn::test_config;
use has_tests::{TestDb, eventually, spawn_acmangkut, spawn_pageinspect_with};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A local page that counts the requests it gets: a probe that ran is a hit.
struct Counted {
    url: String,
    hits: Arc<AtomicUsize>,
    _server: actix_web::dev::ServerHandle,
}

impl Counted {
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn counted_page() -> Counted {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let server = actix_web::HttpServer::new(move || {
        let counter = counter.clone();
        actix_web::App::new().default_service(actix_web::web::to(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { actix_web::HttpResponse::Ok().body("ok") }
        }))
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Counted {
        url,
        hits,
        _server: handle,
    }
}

/// pageinspect that verifies access tokens of `p` with audience `pageinspect`, and nothing else.
async fn pageinspect_on(p: &OidcProvider) -> (String, actix_web::dev::ServerHandle) {
    let oidc = p.config_for("pageinspect", "pageinspect");
    spawn_pageinspect_with(None, |c| {
        c.auth.oidc = Some(oidc);
        c.auth.allow_anonymous = false;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pageinspect_runs_probes_only_for_callers_with_a_token_for_its_audience() {
    let p = OidcProvider::start(OidcOptions::default()).await;
    let (pi, _h) = pageinspect_on(&p).await;
    let page = counted_page();
    let probe = json!({"kind": "http", "target": page.url});
    let call = |token: Option<String>| {
        let req = reqwest::Client::new()
            .post(format!("{pi}/api/v1/probe"))
            .json(&probe);
        async move {
            let r = match token {
                Some(t) => req.bearer_auth(t),
                None => req,
            };
            let r = r.send().await.expect("pageinspect answers");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.expect("json"))
        }
    };

    let right = p.token_for("acmangkut", "pageinspect").await;
    let other_audience = p.token_for("acmangkut", "acmangkut").await;
    let cases = [
        (None, 401, "", "no credential"),
        (Some("guess".to_string()), 401, "not valid", "a wrong token"),
        (
            Some(other_audience),
            401,
            "wrong_audience",
            "a token for acmangkut",
        ),
    ];
    for (token, status, reason, why) in cases {
        let (got, body) = call(token).await;
        assert_eq!(got, status, "{why}: {body}");
        assert!(
            body["detail"].as_str().unwrap_or("").contains(reason),
            "{why}: {body}"
        );
    }
    assert_eq!(page.hits(), 0, "no probe ran for a refused caller");

    let (status, result) = call(Some(right)).await;
    assert_eq!(
        (status, result["success"].as_bool()),
        (200, Some(true)),
        "{result}"
    );
    assert_eq!(page.hits(), 1, "the authenticated probe ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acmangkuts_scheduler_probes_with_a_client_credentials_token_also_while_iam_is_degraded() {
    let mut p = OidcProvider::start(OidcOptions::default()).await;
    let (pi, _h) = pageinspect_on(&p).await;
    let page = counted_page();
    let db = TestDb::new();
    let mut config = test_config(&db, &pi);
    // The `acmangkut` client may use the client-credentials grant at this provider.
    config.iam.oidc = Some(p.config_for("acmangkut", "acmangkut"));
    has_tests::oidc::with_public_url(&mut config);
    config.pageinspect.oidc_resource = Some("urn:has:pageinspect".into());
    let app = spawn_acmangkut(config).await;
    let id = app
        .create_monitor(json!({"name": "through oidc", "interval_seconds": 1,
                               "probe": {"kind": "http", "target": page.url}}))
        .await["id"]
        .as_i64()
        .expect("id");
    app.wait_for_state(id, "up").await;
    assert!(page.hits() >= 1);

    // The provider goes down and IAM is degraded: the cached token keeps probing, with no call
    // to the provider (pageinspect verifies it with the keys it already has).
    p.stop().await;
    let port = app.address.rsplit(':').next().expect("port");
    let r = reqwest::get(format!("http://127.0.0.1:{port}/api/common/closeIam"))
        .await
        .expect("closeIam");
    assert_eq!(r.status(), 200);
    let before = app.results(id).await.len();
    let results = eventually(Duration::from_secs(15), "three more results", || async {
        let r = app.results(id).await;
        (r.len() >= before + 3).then_some(r)
    })
    .await;
    assert!(
        results[..3].iter().all(|r| r["success"] == true),
        "still probing while degraded: {:?}",
        &results[..3]
    );
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acmangkut_with_the_wrong_service_token_gets_no_probe_run_and_says_why() {
    let page = counted_page();
    let (pi, _h) = spawn_pageinspect_with(Some("the-right-token"), |_| {}).await;
    let db = TestDb::new();
    let mut config = test_config(&db, &pi);
    config.pageinspect.token = Some(shared::Secret::new("a-wrong-token"));
    let app = spawn_acmangkut(config).await;
    let id = app
        .create_monitor(json!({"name": "refused", "interval_seconds": 1,
                               "probe": {"kind": "http", "target": page.url}}))
        .await["id"]
        .as_i64()
        .expect("id");

    let results = eventually(Duration::from_secs(15), "two results", || async {
        let r = app.results(id).await;
        (r.len() >= 2).then_some(r)
    })
    .await;
    for r in &results {
        assert_eq!(r["failure_reason"], "executor_unavailable", "{r}");
        assert!(
            r["error"].to_string().contains("401"),
            "names the refusal: {r}"
        );
    }
    assert_eq!(page.hits(), 0, "pageinspect ran nothing for it");
    app.handle.stop().await;
}
