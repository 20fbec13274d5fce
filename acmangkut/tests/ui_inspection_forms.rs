//! The inspection center's create / edit / delete forms, driven over HTTP against the real
//! application (port 0, a fresh database): a plugin, a rule on it, a channel and a task are
//! made, previewed, edited and deleted; refusals read as the API's; cross-site posts and
//! callers without `inspections:write` are refused. (`tests/e2e/inspection_forms.rs` drives the
//! same forms in Chromium.)

mod console;

use console::*;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

async fn app() -> TestApp {
    inspection_app(|_| {}).await
}

/// Posts a form from its page (with the page's CSRF token).
async fn submit(b: &Browser, page: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    b.post_from(page, page, fields).await
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get(LOCATION)
        .map(|v| v.to_str().expect("ascii").to_string())
        .unwrap_or_default()
}

/// The id in a `Location` like `/inspection/rules/7?notice=created`.
/// A form that saved answers 303; where to.
async fn redirected(r: reqwest::Response) -> String {
    let to = location(&r);
    let status = r.status();
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap_or_default()
    );
    to
}

fn id_in(location: &str, prefix: &str) -> i64 {
    location
        .strip_prefix(prefix)
        .and_then(|rest| rest.split(['?', '#']).next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no id after {prefix} in {location}"))
}

/// The text of the error shown beside field `name`, unescaped.
fn field_error(html: &str, name: &str) -> Option<String> {
    let start = format!(r#"data-field="{name}">"#);
    let at = html.find(&start)? + start.len();
    let text = html[at..].split("</p>").next()?;
    Some(
        text.replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&#x27;", "'")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// What the API answers for `body` at `path`: status and problem detail.
async fn api_refusal(app: &TestApp, path: &str, body: &Value) -> (u16, String, String) {
    let r = app
        .api
        .post(format!("{}/api/v1{path}", app.base))
        .json(body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let p: Value = r.json().await.expect("json");
    let field = p["field"].as_str().unwrap_or_default().to_string();
    (
        status,
        field,
        p["detail"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn definitions_are_created_edited_and_deleted_through_the_forms() {
    let app = app().await;
    let b = app.signed_in("ada").await;

    let (s, html) = b.get("/inspection/plugins?lang=en").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains(r#"href="/inspection/plugins/new""#),
        "a New plugin link"
    );
    let r = submit(
        &b,
        "/inspection/plugins/new",
        &[
            ("name", "echo-check"),
            ("kind", "command"),
            ("description", "echo something"),
            ("defaults", r#"{"command": "echo"}"#),
        ],
    )
    .await;
    let plugin = redirected(r).await;
    assert!(
        plugin.starts_with("/inspection/plugins?notice=created#plugin-"),
        "{plugin}"
    );
    let plugin_id: i64 = plugin
        .rsplit('-')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let plugins = app.api_get("/inspection/plugins").await;
    let made = plugins
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["name"] == "echo-check");
    assert_eq!(
        made.expect("stored")["defaults"],
        json!({"command": "echo"})
    );

    // The rule form draws the chosen plugin's parameters; loading them saves nothing.
    let (_, html) = b.get("/inspection/rules/new").await;
    assert!(html.contains(r#"name="plugin""#) && html.contains("{{ target }}"));
    let r = submit(
        &b,
        "/inspection/rules/new",
        &[
            ("plugin", "echo-check"),
            ("name", "greets"),
            ("_refresh", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("body");
    for param in ["params.command", "params.args", "params.stdout_contains"] {
        assert!(
            html.contains(&format!(r#"name="{param}""#)),
            "{param} is a field"
        );
    }
    assert!(html.contains(r#"value="greets""#), "what was typed stays");
    assert!(html.contains("plugin default: &quot;echo&quot;") || html.contains("plugin default"));
    let r = submit(
        &b,
        "/inspection/rules/new",
        &[
            ("name", "greets"),
            ("plugin", "echo-check"),
            ("level", "medium"),
            ("params.args", "hello {{ target }}\n{{ greeting }}"),
            ("params.stdout_contains", "hello"),
            ("suggestion", "Say hello back."),
            ("labels", "team=ops"),
        ],
    )
    .await;
    let rule_id = id_in(&redirected(r).await, "/inspection/rules/");
    let rule = app.api_get(&format!("/inspection/rules/{rule_id}")).await;
    assert_eq!(
        rule["params"],
        json!({"args": ["hello {{ target }}", "{{ greeting }}"],
                                      "stdout_contains": "hello"})
    );
    assert_eq!(rule["level"], "medium");
    assert_eq!(rule["labels"], json!({"team": "ops"}));
    let (_, html) = b.get(&format!("/inspection/rules/{rule_id}/edit")).await;
    assert!(
        html.contains("{{ greeting }}"),
        "the edit form lists the variables it uses"
    );

    let r = submit(
        &b,
        "/inspection/channels/new",
        &[
            ("name", "ops"),
            ("spec.kind", "webhook"),
            ("spec.url", "http://127.0.0.1:9/hook"),
            ("spec.secret", "s3cret-signing-key"),
            ("spec.host", "ignored for a webhook"),
        ],
    )
    .await;
    let channel_id: i64 = redirected(r)
        .await
        .rsplit('-')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let (_, html) = b
        .get(&format!("/inspection/channels/{channel_id}/edit"))
        .await;
    assert!(
        !html.contains("s3cret-signing-key"),
        "a stored secret is never shown"
    );
    let r = submit(
        &b,
        &format!("/inspection/channels/{channel_id}/edit"),
        &[
            ("name", "ops"),
            ("spec.kind", "webhook"),
            ("spec.url", "http://127.0.0.1:9/hook"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let ch = app
        .api_get(&format!("/inspection/channels/{channel_id}"))
        .await;
    assert_eq!(
        ch["spec"]["secret"], "******",
        "left empty, the secret is kept: {ch}"
    );

    // The schedule preview: the next five slots in the task's zone, nothing saved.
    let task_fields = [
        ("name", "daily"),
        ("enabled", "on"),
        ("rules", "greets"),
        ("targets", "db1 greeting=hi\ndb2 greeting=yo"),
        ("schedule", "30 8 * * *"),
        ("timezone", "Asia/Shanghai"),
        ("timeout_seconds", "600"),
        ("concurrency", "4"),
        ("notify", "ops medium always"),
    ];
    let mut preview = task_fields.to_vec();
    preview.push(("_refresh", "1"));
    let r = submit(&b, "/inspection/tasks/new", &preview).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("body");
    let slots = html
        .split(r#"id="schedule-preview""#)
        .nth(1)
        .expect("a preview");
    let slots = slots.split("</section>").next().unwrap_or_default();
    assert_eq!(slots.matches("08:30:00").count(), 5, "five slots: {slots}");
    assert!(slots.contains("(CST)"), "in the task's zone: {slots}");
    assert_eq!(
        app.api_get("/inspection/tasks").await,
        json!([]),
        "a preview saves nothing"
    );

    let r = submit(&b, "/inspection/tasks/new", &task_fields).await;
    let task_id = id_in(&redirected(r).await, "/inspection/tasks/");
    let task = app.api_get(&format!("/inspection/tasks/{task_id}")).await;
    assert_eq!(
        task["targets"],
        json!([{"name": "db1", "vars": {"greeting": "hi"}},
                                       {"name": "db2", "vars": {"greeting": "yo"}}])
    );
    assert_eq!(
        task["notify"],
        json!([{"channel": "ops", "min_level": "medium",
                                       "when": "always"}])
    );
    assert_eq!(task["concurrency"], 4);
    assert!(task["next_run_at"].is_string());

    let (_, html) = b.get(&format!("/inspection/tasks/{task_id}/edit")).await;
    assert!(html.contains("db1 greeting=hi") && html.contains("ops medium always"));
    let mut edited = task_fields.to_vec();
    edited.retain(|(k, _)| *k != "enabled");
    edited.retain(|(k, _)| *k != "schedule");
    let r = submit(&b, &format!("/inspection/tasks/{task_id}/edit"), &edited).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let task = app.api_get(&format!("/inspection/tasks/{task_id}")).await;
    assert_eq!(
        (task["enabled"].clone(), task.get("schedule")),
        (json!(false), None)
    );

    // Deleting what a task still uses is refused with the API's message.
    let (s, html) = b.get(&format!("/inspection/rules/{rule_id}/delete")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("greets"));
    let r = submit(&b, &format!("/inspection/rules/{rule_id}/delete"), &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.expect("body");
    let r = app
        .api
        .delete(format!("{}/api/v1/inspection/rules/{rule_id}", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let api_says: Value = r.json().await.expect("json");
    let api_says = api_says["detail"].as_str().expect("detail");
    assert!(api_says.contains("is run by tasks (daily)"), "{api_says}");
    assert_eq!(
        field_error(&html, "").as_deref(),
        Some(api_says),
        "the API's words"
    );
    for (what, id) in [
        ("tasks", task_id),
        ("rules", rule_id),
        ("channels", channel_id),
        ("plugins", plugin_id),
    ] {
        let r = submit(&b, &format!("/inspection/{what}/{id}/delete"), &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "delete {what}");
        assert!(location(&r).ends_with("?notice=deleted"));
    }
    assert_eq!(app.api_get("/inspection/tasks").await, json!([]));
    assert_eq!(app.api_get("/inspection/channels").await, json!([]));

    // The audit log names the person, as for the API.
    let audit = app.api_get("/audit?actor=ada&per_page=100").await;
    let actions: Vec<String> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["actor"] == "ada")
        .filter_map(|e| e["action"].as_str().map(str::to_string))
        .collect();
    for a in [
        "plugin.create",
        "rule.create",
        "channel.create",
        "channel.update",
        "task.create",
        "task.update",
        "task.delete",
        "rule.delete",
        "channel.delete",
        "plugin.delete",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} audited as ada: {actions:?}"
        );
    }
}

/// API path, the field it names, the API's body, the form's fields.
type Case = (
    &'static str,
    &'static str,
    Value,
    Vec<(&'static str, &'static str)>,
);

#[tokio::test]
async fn a_refused_form_shows_the_apis_message_beside_its_field() {
    let app = app().await;
    let b = app.signed_in("ada").await;
    let rule = json!({"name": "hi", "plugin": "command", "level": "low",
                      "params": {"command": "echo"}});
    let r = app
        .api
        .post(format!("{}/api/v1/inspection/rules", app.base))
        .json(&rule)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::CREATED);
    let cases: [Case; 4] = [
        (
            "/inspection/rules",
            "params.command",
            json!({"name": "r", "plugin": "command", "level": "high",
                   "params": {"command": "rm"}}),
            vec![
                ("name", "r"),
                ("plugin", "command"),
                ("level", "high"),
                ("params.command", "rm"),
            ],
        ),
        (
            "/inspection/rules",
            "params.timeout_ms",
            json!({"name": "r", "plugin": "command", "level": "high",
                   "params": {"command": "echo", "timeout_ms": "soon"}}),
            vec![
                ("name", "r"),
                ("plugin", "command"),
                ("level", "high"),
                ("params.command", "echo"),
                ("params.timeout_ms", "soon"),
            ],
        ),
        (
            "/inspection/tasks",
            "schedule",
            json!({"name": "t", "rules": ["hi"], "schedule": "0 8 * *"}),
            vec![
                ("name", "t"),
                ("rules", "hi"),
                ("schedule", "0 8 * *"),
                ("timezone", "UTC"),
            ],
        ),
        (
            "/inspection/channels",
            "spec.url",
            json!({"name": "c", "spec": {"kind": "slack", "url": "not a url"}}),
            vec![
                ("name", "c"),
                ("spec.kind", "slack"),
                ("spec.url", "not a url"),
            ],
        ),
    ];
    for (path, field, api_body, form) in cases {
        let (status, api_field, detail) = api_refusal(&app, path, &api_body).await;
        assert_eq!(
            (status, api_field.as_str()),
            (400, field),
            "{path}: {detail}"
        );
        let r = submit(&b, &format!("{path}/new?lang=en"), &form).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        let html = r.text().await.expect("body");
        assert_eq!(
            field_error(&html, field).as_deref(),
            Some(detail.as_str()),
            "{path}"
        );
    }
    assert_eq!(app.api_get("/inspection/tasks").await, json!([]));
}

#[tokio::test]
async fn forms_posted_from_another_site_by_a_viewer_or_with_a_nul_are_refused() {
    let app = app().await;
    let ada = app.signed_in("ada").await;
    let vic = app.signed_in("vic").await;
    let posts = [
        (
            "/inspection/plugins/new",
            vec![("name", "p"), ("kind", "command")],
        ),
        (
            "/inspection/rules/new",
            vec![("name", "r"), ("plugin", "command"), ("level", "high")],
        ),
        (
            "/inspection/tasks/new",
            vec![("name", "t"), ("timezone", "UTC")],
        ),
        (
            "/inspection/channels/new",
            vec![("name", "c"), ("spec.kind", "slack")],
        ),
    ];
    for (path, fields) in &posts {
        let (_, html) = ada.get(path).await;
        let token = csrf_of(&html);
        let mut all = fields.clone();
        all.push(("_csrf", &token));
        let r = ada
            .with_cookies(ada.http.post(format!("{}{path}", ada.base)))
            .header("origin", "https://evil.example")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&all).expect("encodes"))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "cross-site {path}");
        let (s, _) = vic.get(path).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "a viewer opens {path}");
        let r = vic.post(path, fields).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "a viewer posts {path}");
        // A NUL character is refused before anything is stored (PostgreSQL's text cannot
        // hold one: it was a server error there).
        let mut nul = fields.clone();
        nul[0] = ("name", "a\u{0}b");
        let r = ada.post_from(path, path, &nul).await;
        assert_eq!(
            r.status(),
            StatusCode::BAD_REQUEST,
            "a NUL posted to {path}"
        );
        let problem: Value = r.json().await.expect("problem+json");
        assert_eq!(problem["field"], "name", "{problem}");
    }
    let (_, html) = vic.get("/inspection/plugins").await;
    assert!(
        !html.contains("/inspection/plugins/new"),
        "no New link for a viewer"
    );
    assert_eq!(app.api_get("/inspection/channels").await, json!([]));
    let plugins = app.api_get("/inspection/plugins").await;
    assert!(
        plugins
            .as_array()
            .expect("list")
            .iter()
            .all(|p| p["builtin"] == true)
    );
}

#[tokio::test]
async fn the_forms_speak_chinese() {
    let app = app().await;
    let b = app.signed_in("ada").await;
    let (_, html) = b.get("/inspection/tasks/new?lang=zh-CN").await;
    for words in [
        "新建任务",
        "计划（cron）",
        "时区",
        "预览计划",
        "接下来的执行时间",
        "创建",
    ] {
        assert!(html.contains(words), "{words}");
    }
    let (_, html) = b.get("/inspection/channels/new").await;
    assert!(html.contains("新建通知渠道") && html.contains("签名密钥"));
}
