//! The console with IAM, driven over HTTP against the real application (port 0, fresh SQLite)
//! by a "browser": a client that keeps cookies, signs in through the form and posts forms with
//! the CSRF token it finds on the page.

mod console;

use console::*;

use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::json;

/// An `href` of a page, with its HTML escapes (`&#38;`, `&amp;`) read back.
fn href_of(html: &str, id: &str) -> String {
    let at = html
        .find(&format!(r#"id="{id}" href=""#))
        .unwrap_or_else(|| panic!("no #{id}"));
    let rest = &html[at + id.len() + 12..];
    rest.split('"')
        .next()
        .expect("href")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

fn good_monitor_form(name: &str) -> Vec<(&'static str, String)> {
    [
        ("name", name),
        ("kind", "http"),
        ("target", "http://127.0.0.1:9/"),
        ("timeout_ms", "2000"),
        ("interval_seconds", "60"),
        ("failure_threshold", "1"),
        ("success_threshold", "1"),
        ("ip_preference", "any"),
        ("location_failure_threshold", "1"),
        ("retries", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

fn refs<'a>(f: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    f.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn signing_in_through_the_form_starts_a_session_with_an_http_only_same_site_lax_cookie() {
    let app = spawn_app().await;
    app.user("olga", &["operator"]).await;
    let b = app.browser();

    let r = b.sign_in("olga").await;

    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/");
    let cookie = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii").to_string())
        .find(|c| c.starts_with("has_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    let (status, home) = b.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        home.contains(r#"id="whoami""#) && home.contains("olga"),
        "{home}"
    );
    assert!(home.contains("Roles: operator"), "{home}");
    assert!(home.contains(r#"action="/logout""#), "a sign-out button");
    assert!(!csrf_of(&home).is_empty());
}

#[tokio::test]
async fn a_form_post_without_the_session_s_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    app.user("olga", &["operator"]).await;
    let id = app.monitor("shop").await;
    let b = app.signed_in("olga").await;
    let pause = format!("/monitors/{id}/pause");

    let without = b.post(&pause, &[]).await;
    let wrong = b.post(&pause, &[("_csrf", "not-the-token")]).await;
    let form = good_monitor_form("made without a token");
    let create_without = b.post("/monitors", &refs(&form)).await;

    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert_eq!(create_without.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.api_get(&format!("/monitors/{id}")).await["paused"],
        false
    );
    assert_eq!(app.api_get("/monitors").await["total"], 1);

    let with = b.post_from(&format!("/monitors/{id}"), &pause, &[]).await;
    assert_eq!(with.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.api_get(&format!("/monitors/{id}")).await["paused"],
        true
    );
    let form = good_monitor_form("made with the token");
    let created = b
        .post_from("/monitors/new", "/monitors", &refs(&form))
        .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.api_get("/monitors").await["total"], 2);
}

#[tokio::test]
async fn signing_out_ends_the_session_and_the_old_cookie_gets_the_sign_in_page() {
    let app = spawn_app().await;
    app.user("olga", &["operator"]).await;
    let b = app.signed_in("olga").await;
    let old = b.cookie("has_session").expect("a session");

    let r = b.post_from("/", "/logout", &[]).await;

    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/login");
    assert_eq!(
        b.cookie("has_session"),
        None,
        "the browser's copy is cleared"
    );
    let replay = app.browser();
    replay.set_cookie("has_session", &old);
    let (status, html) = replay.get("/monitors").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        html.contains(r#"action="/login""#),
        "the sign-in page: {html}"
    );
}

#[tokio::test]
async fn a_viewer_sees_no_buttons_that_change_monitors_and_is_refused_them() {
    let app = spawn_app().await;
    app.user("vera", &["viewer"]).await;
    let id = app.monitor("shop").await;
    let b = app.signed_in("vera").await;

    let (_, list) = b.get("/monitors").await;
    let (status, detail) = b.get(&format!("/monitors/{id}")).await;

    assert_eq!(status, StatusCode::OK);
    assert!(!list.contains(r#"href="/monitors/new""#), "{list}");
    for action in ["/pause", "/run", "/edit", "/delete"] {
        assert!(
            !detail.contains(&format!(r#"/monitors/{id}{action}""#)),
            "{action}"
        );
    }
    assert!(
        list.contains(r#"href="/tokens""#),
        "viewers have their own tokens"
    );
    for hidden in [r#"href="/audit""#, r#"href="/admin/users""#] {
        assert!(!list.contains(hidden), "{hidden} in the nav");
    }
    let form = good_monitor_form("sneaky");
    let created = b.post_from("/monitors", "/monitors", &refs(&form)).await;
    assert_eq!(created.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.api_get("/monitors").await["total"], 1);
    for page in ["/monitors/new", "/audit", "/admin/users", "/admin/roles"] {
        assert_eq!(b.get(page).await.0, StatusCode::FORBIDDEN, "{page}");
    }
}

#[tokio::test]
async fn the_audit_page_lists_the_change_just_made_and_exports_it_with_the_same_filters() {
    let app = spawn_app().await;
    app.user("ada", &["admin"]).await;
    let id = app.monitor("shop").await;
    let b = app.signed_in("ada").await;
    let r = b
        .post_from(
            &format!("/monitors/{id}"),
            &format!("/monitors/{id}/pause"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let (status, all) = b.get("/audit").await;
    let (_, filtered) = b.get("/audit?actor=ada&action=monitor.").await;

    assert_eq!(status, StatusCode::OK);
    assert!(
        all.contains("monitor.pause") && all.contains("auth.sign_in"),
        "{all}"
    );
    assert!(all.contains(r#"id="audit-chart""#) && all.contains(r#"class="bar""#));
    assert!(
        filtered.contains("<code>monitor.pause</code>"),
        "{filtered}"
    );
    assert!(
        filtered.contains("changed: state"),
        "the change in one line"
    );
    let after = filtered
        .split("<h3>After</h3><pre>")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .expect("the value after, as JSON");
    assert!(
        after.contains("state") && after.contains("paused"),
        "{after}"
    );
    assert!(
        !filtered.contains("<code>auth.sign_in</code>"),
        "filtered out"
    );
    assert!(
        !filtered.contains("<code>monitor.create</code>"),
        "by bootstrap"
    );
    let csv = href_of(&filtered, "export-csv");
    assert!(
        csv.starts_with("/api/v1/audit/export?actor=ada&action=monitor."),
        "{csv}"
    );
    assert!(csv.ends_with("format=csv"), "{csv}");
    let r = b
        .with_cookies(b.http.get(format!("{}{csv}", b.base)))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.expect("csv");
    assert_eq!(body.lines().count(), 2, "the header and the pause: {body}");
    assert!(body.contains("monitor.pause"));
}

#[tokio::test]
async fn a_new_token_s_secret_is_shown_once_and_the_list_never_shows_it() {
    let app = spawn_app().await;
    app.user("olga", &["operator"]).await;
    let b = app.signed_in("olga").await;
    let (_, form) = b.get("/tokens").await;
    assert!(form.contains(r#"value="monitors:write""#), "{form}");
    assert!(
        !form.contains(r#"value="users:write""#),
        "only her own permissions"
    );

    let r = b
        .post_from(
            "/tokens",
            "/tokens",
            &[
                ("name", "ci"),
                ("expires_in_days", "7"),
                ("permissions", "monitors:read"),
            ],
        )
        .await;

    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get(LOCATION).is_none());
    let page = r.text().await.expect("html");
    let at = page.find(r#"id="secret""#).expect("the secret is shown");
    let secret = page[at..]
        .split(r#"value=""#)
        .nth(1)
        .and_then(|v| v.split('"').next())
        .expect("value")
        .to_string();
    assert!(secret.starts_with("has_"), "{secret}");
    let (_, list) = b.get("/tokens").await;
    assert!(
        list.contains("<td>ci<br>") && list.contains("monitors:read"),
        "{list}"
    );
    assert!(!list.contains(&secret), "shown once only");
    let call = |path: &'static str| {
        let (base, secret) = (app.base.clone(), secret.clone());
        async move {
            reqwest::Client::new()
                .get(format!("{base}{path}"))
                .bearer_auth(secret)
                .send()
                .await
                .expect("request")
                .status()
        }
    };
    assert_eq!(call("/api/v1/monitors").await, StatusCode::OK);
    assert_eq!(call("/api/v1/audit").await, StatusCode::FORBIDDEN);

    let too_much = b
        .post_from(
            "/tokens",
            "/tokens",
            &[
                ("name", "x"),
                ("expires_in_days", "7"),
                ("permissions", "users:write"),
            ],
        )
        .await;
    assert_eq!(too_much.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        too_much
            .text()
            .await
            .expect("html")
            .contains(r#"data-field="permissions""#)
    );

    let token_id = list
        .split(r#"action="/tokens/"#)
        .nth(1)
        .and_then(|s| s.split('/').next())
        .expect("a revoke button")
        .to_string();
    let r = b
        .post_from("/tokens", &format!("/tokens/{token_id}/revoke"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, after) = b.get("/tokens").await;
    assert!(after.contains("Revoked"), "{after}");
    assert_eq!(call("/api/v1/monitors").await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_degraded_banner_says_which_switch_is_closed_while_iam_is_degraded() {
    let app = spawn_app().await;
    app.user("ada", &["admin"]).await;
    let b = app.signed_in("ada").await;
    assert!(!b.get("/").await.1.contains("iam-degraded"));

    app.switch("closeIam").await;
    let (_, closed) = b.get("/monitors").await;
    app.switch("openiam").await;
    let (_, open) = b.get("/monitors").await;

    assert!(
        closed.contains(r#"class="banner degraded" role="alert" id="iam-degraded""#),
        "{closed}"
    );
    assert!(
        closed.contains("This instance&#39;s switch is closed")
            || closed.contains("This instance's switch is closed"),
        "{closed}"
    );
    assert!(closed.contains("break-glass accounts can sign in"));
    assert!(!open.contains("iam-degraded"), "{open}");
    let cluster = |on: bool| {
        app.api
            .put(format!("{}/api/v1/settings/iam", app.base))
            .json(&json!({"degraded": on}))
            .send()
    };
    assert_eq!(cluster(true).await.expect("put").status(), StatusCode::OK);
    let (_, everywhere) = b.get("/").await;
    assert!(
        everywhere.contains("The cluster-wide switch is on"),
        "{everywhere}"
    );
    assert_eq!(cluster(false).await.expect("put").status(), StatusCode::OK);
}

#[tokio::test]
async fn an_admin_creates_and_disables_accounts_and_reads_the_role_grid() {
    let app = spawn_app().await;
    app.user("ada", &["admin"]).await;
    app.user("aud", &["auditor"]).await;
    let b = app.signed_in("ada").await;

    let short = b
        .post_from(
            "/admin/users",
            "/admin/users",
            &[
                ("username", "dora"),
                ("password", "short"),
                ("roles", "viewer"),
            ],
        )
        .await;
    let made = b
        .post_from(
            "/admin/users",
            "/admin/users",
            &[
                ("username", "dora"),
                ("password", PASSWORD),
                ("roles", "viewer"),
            ],
        )
        .await;

    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let short = short.text().await.expect("html");
    assert!(short.contains(r#"data-field="password""#), "{short}");
    assert!(
        short.contains(r#"value="dora""#),
        "the form keeps what was typed"
    );
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    let dora = app.signed_in("dora").await;
    assert_eq!(dora.get("/monitors").await.0, StatusCode::OK);
    let (_, users) = b.get("/admin/users").await;
    assert!(users.contains(r#"id="user-dora""#), "{users}");
    let dora_id = app
        .api_get("/iam/users")
        .await
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["username"] == "dora")
        .expect("dora")["id"]
        .as_i64()
        .expect("id");
    let r = b
        .post_from(
            "/admin/users",
            &format!("/admin/users/{dora_id}/disable"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        dora.get("/monitors").await.0,
        StatusCode::UNAUTHORIZED,
        "disabled at once"
    );

    let (status, roles) = b.get("/admin/roles").await;
    assert_eq!(status, StatusCode::OK);
    assert!(roles.contains(r#"id="role-grid""#));
    assert!(roles.contains("<code>iam-switch:write</code>"));
    assert!(
        roles.matches('✓').count() > 22,
        "admin alone ticks every permission"
    );
    assert!(roles.contains("dora"), "her binding is listed");

    let auditor = app.signed_in("aud").await;
    let (status, read_only) = auditor.get("/admin/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !read_only.contains(r#"action="/admin/users""#),
        "no create form"
    );
    assert!(!read_only.contains("/disable"), "no disable buttons");
    let refused = auditor
        .post_from(
            "/admin/users",
            "/admin/users",
            &[("username", "eve"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn chinese_pages_show_the_new_strings_in_chinese() {
    let app = spawn_app().await;
    app.user("ada", &["admin"]).await;
    let b = app.signed_in("ada").await;
    app.switch("closeIam").await;

    let (_, audit) = b.get("/audit?lang=zh-CN").await;
    let (_, tokens) = b.get("/tokens").await;
    let (_, users) = b.get("/admin/users").await;
    let (_, roles) = b.get("/admin/roles").await;

    assert_eq!(b.cookie("lang").as_deref(), Some("zh-CN"));
    for (page, html, words) in [
        (
            "audit",
            &audit,
            &[
                "审计日志",
                "最近 24 小时每小时事件数",
                "导出 CSV",
                "IAM 已降级",
                "退出登录",
            ][..],
        ),
        (
            "tokens",
            &tokens,
            &["API 令牌", "新建令牌", "有效期（天）"][..],
        ),
        ("users", &users, &["新建内置账号", "最后登录", "角色"][..]),
        (
            "roles",
            &roles,
            &["各角色的权限", "绑定", "查看监控及其结果"][..],
        ),
    ] {
        assert!(html.contains(r#"<html lang="zh-CN">"#), "{page}");
        for w in words {
            assert!(html.contains(w), "{page}: {w}");
        }
    }
}
