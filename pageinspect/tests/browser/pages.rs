use crate::helpers::{Chromium, PASSWORD, assert_png, metric, spawn_app, spawn_app_on, spawn_site};
use serde_json::json;
use shared::probe::FailureReason;

each_chromium!(
    a_healthy_page_passes_its_checks,
    a_page_that_throws_fails_with_the_error_and_a_screenshot,
    a_login_form_guards_a_page_and_the_secret_is_never_reported,
    failed_same_origin_requests_are_counted_and_others_are_not,
    page_loads_are_seen_from_their_devtools_events_without_the_fallback_wait,
);

/// Loads of a page, and of the page a form posts to, are taken from their DevTools events: the
/// page-state fallback (asked after 1 s without a load event) is never needed. The full
/// `chromium` used to start each page's navigation before pageinspect could see it, so every
/// probe waited 1 s for the fallback (`has_browser_load_fallbacks_total`).
async fn page_loads_are_seen_from_their_devtools_events_without_the_fallback_wait(
    chromium: Chromium,
) {
    let site = spawn_site().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = spawn_app_on(chromium, dir.path()).await;
    let healthy = json!({
        "kind": "browser", "target": site.url("/healthy"), "timeout_ms": 15000,
        "network_idle_quiet_ms": 0,
        "conditions": ["[STATUS] == 200", "[DOM_TEXT].#app == Ready"],
    });
    let login = json!({
        "kind": "browser", "target": site.url("/login"), "timeout_ms": 15000,
        "network_idle_quiet_ms": 0,
        "steps": [
            { "action": "fill", "selector": "#user", "value": "nobody" },
            { "action": "click", "selector": "#submit" },
            { "action": "wait_for_navigation" },
        ],
        "conditions": ["[STATUS] == 200"],
    });

    let mut durations = Vec::new();
    for spec in [&healthy, &healthy, &healthy, &login] {
        let r = app.probe(spec).await;
        assert!(r.success, "{r:#?}");
        durations.push(r.duration_seconds);
    }

    let text = app.metrics().await;
    assert_eq!(
        metric(&text, "has_browser_load_fallbacks_total"),
        Some(0.0),
        "every load from its event ({durations:?} s): {text}"
    );
    // The browser started during the first; a trivial page takes well under the 1 s wait.
    let fastest = durations.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(fastest < 1.0, "{durations:?}");
}

async fn a_healthy_page_passes_its_checks(chromium: Chromium) {
    let site = spawn_site().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = spawn_app_on(chromium, dir.path()).await;

    let r = app
        .probe(&json!({
            "kind": "browser",
            "target": site.url("/healthy"),
            "timeout_ms": 15000,
            "conditions": [
                "[STATUS] == 200",
                "[TITLE] == Healthy shop",
                "[DOM].#app .ready == true",
                "[DOM_VISIBLE].#app .ready == true",
                "[DOM_TEXT].#app == Ready",
                "[JS_ERRORS] == 0",
                "[LOAD_TIME] < 5000",
                "[NETWORK_IDLE_TIME] < 10000",
            ],
        }))
        .await;

    assert!(r.success, "{r:#?}");
    assert_eq!(r.status_code, Some(200));
    let b = r.browser.expect("a browser report");
    assert_eq!(b.title.as_deref(), Some("Healthy shop"));
    assert!(
        b.load_time_ms.is_some_and(|t| t > 0.0 && t < 5000.0),
        "{b:?}"
    );
    assert!(b.network_idle_ms.is_some_and(|t| t >= 500.0), "{b:?}");
    assert!(
        r.screenshot_png_base64.is_none(),
        "no screenshot on success"
    );
}

async fn a_page_that_throws_fails_with_the_error_and_a_screenshot(chromium: Chromium) {
    let site = spawn_site().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = spawn_app_on(chromium, dir.path()).await;

    let r = app
        .probe(&json!({
            "kind": "browser", "target": site.url("/throws"), "timeout_ms": 15000,
        }))
        .await;

    assert!(!r.success);
    assert_eq!(
        r.failure_reason,
        Some(FailureReason::ConditionFailed),
        "{r:?}"
    );
    let b = r.browser.as_ref().expect("a browser report");
    assert_eq!(b.js_errors.len(), 1, "{b:?}");
    assert!(b.js_errors[0].contains("checkout widget exploded"), "{b:?}");
    assert!(
        r.error
            .as_deref()
            .unwrap_or_default()
            .contains("JavaScript"),
        "{r:?}"
    );
    assert_png(
        r.screenshot_png_base64
            .as_deref()
            .unwrap_or_else(|| panic!("a screenshot: {r:#?}")),
    );
}

#[tokio::test]
async fn a_page_waiting_on_a_slow_api_fails_in_a_short_timeout_and_passes_in_a_long_one() {
    let site = spawn_site().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = spawn_app(dir.path()).await;
    let spec = |timeout_ms: u64| {
        json!({
            "kind": "browser", "target": site.url("/spinner"), "timeout_ms": timeout_ms,
            "conditions": ["[DOM_TEXT].#content == loaded"],
        })
    };

    // The browser starts on first use; start it so the short probe is all page.
    let warm = app
        .probe(&json!({ "kind": "browser", "target": site.url("/healthy"), "timeout_ms": 15000 }))
        .await;
    assert!(warm.success, "{warm:?}");

    let short = app.probe(&spec(3000)).await;
    assert!(!short.success, "{short:?}");
    assert!(
        short.duration_seconds < 3.5,
        "bounded by its timeout: {short:?}"
    );
    let shot = short.screenshot_png_base64.as_deref();
    assert_png(shot.unwrap_or_else(|| panic!("a screenshot of the spinner: {short:?}")));

    let long = app.probe(&spec(15000)).await;
    assert!(long.success, "{long:#?}");
    let idle = long
        .browser
        .and_then(|b| b.network_idle_ms)
        .expect("network idle reached");
    assert!(idle >= 5000.0, "idle only after the API answered: {idle}");
}

async fn a_login_form_guards_a_page_and_the_secret_is_never_reported(chromium: Chromium) {
    let site = spawn_site().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("shop-password"), format!("{PASSWORD}\n")).expect("write");
    std::fs::write(dir.path().join("wrong-password"), "not-it\n").expect("write");
    for name in ["shop-password", "wrong-password"] {
        let origins = format!("# the shop\n{}/\n", site.origin());
        std::fs::write(dir.path().join(format!("{name}.origins")), origins).expect("write");
    }
    let app = spawn_app_on(chromium, dir.path()).await;
    let spec = |secret: &str| {
        json!({
            "kind": "browser", "target": site.url("/login"), "timeout_ms": 15000,
            "steps": [
                { "action": "fill", "selector": "#user", "value": "alice" },
                { "action": "fill", "selector": "#password", "secret": secret },
                { "action": "click", "selector": "#submit" },
                { "action": "wait_for_navigation" },
            ],
            "conditions": ["[DOM_TEXT].h1 == pat(Welcome*)"],
        })
    };

    let ok = app.probe(&spec("shop-password")).await;
    assert!(ok.success, "{ok:#?}");
    let steps = &ok.browser.as_ref().expect("report").steps;
    assert_eq!(steps.len(), 4);
    assert!(steps.iter().all(|s| s.success), "{steps:?}");
    assert_eq!(steps[1].step, "fill #password with secret:shop-password");

    let wrong = app.probe(&spec("wrong-password")).await;
    assert!(!wrong.success, "{wrong:?}");
    assert!(wrong.screenshot_png_base64.is_some());

    for r in [&ok, &wrong] {
        let text = serde_json::to_string(r).expect("json");
        assert!(!text.contains(PASSWORD), "the secret leaked into {text}");
        assert!(!text.contains("not-it"), "the secret leaked into {text}");
    }
}

#[tokio::test]
async fn a_missing_secret_fails_the_step_naming_it() {
    let site = spawn_site().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = spawn_app(dir.path()).await;

    let r = app
        .probe(&json!({
            "kind": "browser", "target": site.url("/login"), "timeout_ms": 15000,
            "steps": [
                { "action": "fill", "selector": "#user", "value": "alice" },
                { "action": "fill", "selector": "#password", "secret": "nowhere" },
            ],
        }))
        .await;

    assert_eq!(r.failure_reason, Some(FailureReason::StepFailed), "{r:?}");
    let error = r.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("steps[1]") && error.contains("nowhere"),
        "{error}"
    );
    let steps = &r.browser.as_ref().expect("report").steps;
    assert_eq!(
        steps.iter().map(|s| s.success).collect::<Vec<_>>(),
        [true, false]
    );
}

async fn failed_same_origin_requests_are_counted_and_others_are_not(chromium: Chromium) {
    let site = spawn_site().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = spawn_app_on(chromium, dir.path()).await;

    let r = app
        .probe(&json!({
            "kind": "browser", "target": site.url("/broken-parts"), "timeout_ms": 15000,
            "conditions": ["[FAILED_REQUESTS] == 0"],
        }))
        .await;

    assert!(!r.success);
    let failed = &r.browser.as_ref().expect("report").failed_requests;
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed
            .iter()
            .any(|f| f.contains("/missing.png") && f.contains("404")),
        "{failed:?}"
    );
    assert!(failed.iter().any(|f| f.contains("/api/gone")), "{failed:?}");
    assert!(
        !failed.iter().any(|f| f.contains("elsewhere")),
        "{failed:?}"
    );
}

#[tokio::test]
async fn console_errors_matching_the_allow_list_are_not_counted() {
    let site = spawn_site().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = spawn_app(dir.path()).await;
    let spec = |allow: Vec<&str>| {
        json!({
            "kind": "browser", "target": site.url("/console"), "timeout_ms": 15000,
            "console_error_allow": allow,
            "conditions": ["[CONSOLE_ERRORS] == 0"],
        })
    };

    let strict = app.probe(&spec(vec!["analytics:*"])).await;
    assert!(!strict.success);
    let errors = &strict.browser.as_ref().expect("report").console_errors;
    assert_eq!(errors, &["payment form failed to initialise"]);

    let lenient = app.probe(&spec(vec!["analytics:*", "payment*"])).await;
    assert!(lenient.success, "{lenient:?}");
}

#[tokio::test]
async fn the_metrics_show_the_browser_pool() {
    let site = spawn_site().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = spawn_app(dir.path()).await;
    let r = app
        .probe(&json!({ "kind": "browser", "target": site.url("/healthy"), "timeout_ms": 15000 }))
        .await;
    assert!(r.success, "{r:?}");

    // The memory gauge is sampled every 2 s.
    let mut text = app.metrics().await;
    for _ in 0..30 {
        // The page slot is freed once its context is disposed, just after the answer.
        if metric(&text, "has_browser_memory_bytes").unwrap_or(0.0) > 0.0
            && metric(&text, "has_browser_pages_in_flight") == Some(0.0)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        text = app.metrics().await;
    }
    assert_eq!(
        metric(&text, "has_browser_pool_browsers"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "has_browser_pages_in_flight"),
        Some(0.0),
        "{text}"
    );
    let memory = metric(&text, "has_browser_memory_bytes").unwrap_or(0.0);
    assert!(
        memory > 10.0 * 1024.0 * 1024.0,
        "a browser uses more than 10 MiB: {memory}"
    );
    assert!(
        text.contains("has_browser_restarts_total{reason=\"crashed\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("has_probes_total{kind=\"browser\",result=\"success\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn the_network_idle_wait_is_the_probes_own() {
    let site = spawn_site().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = spawn_app(dir.path()).await;
    let idle_after = |quiet: u64| {
        let spec = json!({
            "kind": "browser", "target": site.url("/healthy"), "timeout_ms": 15000,
            "network_idle_quiet_ms": quiet,
        });
        let app = &app;
        async move {
            let r = app.probe(&spec).await;
            assert!(r.success, "{r:#?}");
            let idle = r.browser.and_then(|b| b.network_idle_ms);
            idle.unwrap_or_else(|| panic!("network idle reached with {quiet} ms quiet"))
        }
    };

    let long = idle_after(2000).await;
    let none = idle_after(0).await;

    assert!(
        long >= 2000.0,
        "idle only after 2 s without a request: {long}"
    );
    assert!(
        none < long - 1000.0,
        "no quiet time waited: {none} (2 s: {long})"
    );
}

#[tokio::test]
async fn a_secret_is_typed_only_on_the_origins_it_declares() {
    let site = spawn_site().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("w");
    write("shop-password", PASSWORD);
    // The shop's origin is another port on the same host.
    write(
        "shop-password.origins",
        "https://shop.example.com\nhttp://127.0.0.1:1\n",
    );
    write("undeclared", PASSWORD);
    let app = spawn_app(dir.path()).await;
    let spec = |secret: &str| {
        json!({
            "kind": "browser", "target": site.url("/phish"), "timeout_ms": 15000,
            "steps": [
                { "action": "fill", "selector": "#user", "value": "alice" },
                { "action": "fill", "selector": "#password", "secret": secret },
            ],
        })
    };

    let elsewhere = app.probe(&spec("shop-password")).await;
    let undeclared = app.probe(&spec("undeclared")).await;

    for (r, says) in [
        (&elsewhere, site.origin()),
        (&undeclared, "undeclared.origins".to_string()),
    ] {
        assert_eq!(r.failure_reason, Some(FailureReason::StepFailed), "{r:#?}");
        let error = r.error.as_deref().unwrap_or_default();
        assert!(
            error.contains("steps[1]") && error.contains(&says),
            "{error}"
        );
        assert!(!serde_json::to_string(r).expect("json").contains(PASSWORD));
    }
    // The plain value was typed (and sent on by the page); the secret never reached it.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let stolen = site.stolen();
    assert!(stolen.contains(&"alice".to_string()), "{stolen:?}");
    assert!(!stolen.iter().any(|s| s.contains(PASSWORD)), "{stolen:?}");
}
