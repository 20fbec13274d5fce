//! The inspection center's forms in headless Chromium, as a new user would use them: a custom
//! plugin, a rule on it (its parameters drawn from the plugin's schema), a channel with a
//! write-only secret, and a task with the rule whose schedule is previewed; then an edit, a
//! refused input showing the API's own message beside its field, deletes, and the Chinese form.

use chromiumoxide::page::Page;
use has_tests::browser::{TestBrowser, click, sign_in, type_into};
use has_tests::{TestDb, eventually, spawn::test_config, spawn_acmangkut};
use serde_json::{Value, json};
use std::time::Duration;

/// Sets field `name` to `value` the way a person picking from a list or pasting does.
async fn set(page: &Page, name: &str, value: &str) {
    let script = format!(
        "(() => {{ const e = document.querySelector({}); e.value = {}; return e.value; }})()",
        serde_json::to_string(&format!("[name='{name}']")).expect("json"),
        serde_json::to_string(value).expect("json"),
    );
    let set: String = page
        .evaluate(script)
        .await
        .unwrap_or_else(|e| panic!("set {name}: {e}"))
        .into_value()
        .expect("a string");
    assert_eq!(set, value, "{name} takes {value}");
}

/// Clicks `selector` (a submit button) and waits until the next page has replaced this one.
async fn press(page: &Page, selector: &str, what: &str) {
    page.evaluate("window.__before_submit = 1")
        .await
        .expect("mark the page");
    click(page, selector, what).await;
    eventually(Duration::from_secs(20), what, || async {
        let script = "window.__before_submit === undefined && document.readyState === 'complete'";
        let replaced: bool = page.evaluate(script).await.ok()?.into_value().ok()?;
        replaced.then_some(())
    })
    .await;
}

/// Clicks the form's main button and waits until the page's URL contains `then`.
async fn save(page: &Page, then: &str) -> String {
    press(page, "form button.primary", "the form's main button").await;
    eventually(Duration::from_secs(20), then, || async {
        let url = page.url().await.ok()??;
        url.contains(then).then_some(url)
    })
    .await
}

/// Waits until the DOM contains `text`, and returns it.
async fn shows(page: &Page, text: &str) -> String {
    eventually(Duration::from_secs(20), text, || async {
        let html = page.content().await.ok()?;
        html.contains(text).then_some(html)
    })
    .await
}

async fn go(page: &Page, url: String) {
    page.goto(url).await.expect("navigate");
    let _ = page.wait_for_navigation().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_defines_plugin_rule_channel_and_task_in_chromium() {
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config
        .inspection
        .commands
        .insert("echo".into(), "/bin/echo".into());
    let app = spawn_acmangkut(config).await;
    app.create_user("ines", "inspector-password-1", &["admin"])
        .await;
    let browser = TestBrowser::launch().await;
    let tab = browser
        .open(&app.url("/inspection/plugins/new?lang=en"))
        .await;
    sign_in(&tab, "ines", "inspector-password-1").await;
    go(&tab, app.url("/inspection/plugins/new")).await;
    shows(&tab, "New plugin").await;
    type_into(&tab, "[name='name']", "plugin name", "echo-check").await;
    set(&tab, "kind", "command").await;
    set(&tab, "defaults", r#"{"command": "echo"}"#).await;
    save(&tab, "/inspection/plugins?notice=created").await;
    shows(&tab, "echo-check").await;

    go(&tab, app.url("/inspection/rules/new")).await;
    set(&tab, "plugin", "echo-check").await;
    press(&tab, "button[name='_refresh']", "Load parameters").await;
    shows(&tab, r#"name="params.stdout_contains""#).await;
    type_into(&tab, "[name='name']", "rule name", "greets").await;
    set(&tab, "params.args", "hello {{ target }}").await;
    type_into(
        &tab,
        "[name='params.stdout_contains']",
        "stdout_contains",
        "hello",
    )
    .await;
    let rule_url = save(&tab, "notice=created").await;
    assert!(rule_url.contains("/inspection/rules/"), "{rule_url}");
    shows(&tab, "greets").await;

    go(&tab, app.url("/inspection/channels/new")).await;
    type_into(&tab, "[name='name']", "channel name", "ops").await;
    type_into(&tab, "[name='spec.url']", "url", "http://127.0.0.1:9/hook").await;
    type_into(&tab, "[name='spec.secret']", "secret", "s3cret-signing-key").await;
    save(&tab, "/inspection/channels?notice=created").await;
    let html = shows(&tab, "ops").await;
    assert!(
        !html.contains("s3cret-signing-key"),
        "the secret is never shown"
    );

    go(&tab, app.url("/inspection/tasks/new")).await;
    type_into(&tab, "[name='name']", "task name", "daily").await;
    click(
        &tab,
        "input[name='rules'][value='greets']",
        "the rule's box",
    )
    .await;
    set(&tab, "targets", "db1\ndb2").await;
    type_into(&tab, "[name='schedule']", "schedule", "0 8 * * *").await;
    set(&tab, "timezone", "Asia/Shanghai").await;
    set(&tab, "notify", "ops high").await;
    press(&tab, "button[name='_refresh']", "Preview the schedule").await;
    let html = shows(&tab, "08:00:00").await;
    let preview = html
        .split("id=\"schedule-preview\"")
        .nth(1)
        .expect("a preview");
    let preview = preview.split("</section>").next().unwrap_or_default();
    assert_eq!(
        preview.matches("08:00:00").count(),
        5,
        "five slots: {preview}"
    );
    assert!(preview.contains("(CST)"), "in the task's zone: {preview}");
    let task_url = save(&tab, "notice=created").await;
    let task_id: i64 = task_url
        .split("/inspection/tasks/")
        .nth(1)
        .and_then(|s| s.split('?').next())
        .and_then(|s| s.parse().ok())
        .expect("the task's page");
    let task = app
        .get_json(&format!("/api/v1/inspection/tasks/{task_id}"))
        .await;
    assert_eq!(task["rules"], json!(["greets"]));
    assert_eq!(
        task["targets"],
        json!([{"name": "db1", "vars": {}}, {"name": "db2", "vars": {}}])
    );
    assert_eq!(task["notify"][0]["channel"], "ops");

    press(&tab, "a[href$='/edit']", "the task's Edit link").await;
    shows(&tab, "Edit task").await;
    set(&tab, "concurrency", "2").await;
    save(&tab, "notice=saved").await;
    let task = app
        .get_json(&format!("/api/v1/inspection/tasks/{task_id}"))
        .await;
    assert_eq!(task["concurrency"], 2);

    // A refused input: the API's message beside the field it names.
    let r = app
        .post_json(
            "/api/v1/inspection/rules",
            &json!({"name": "bad", "plugin": "command", "level": "high",
                    "params": {"command": "rm"}}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let problem: Value = r.json().await.expect("json");
    assert_eq!(problem["field"], "params.command");
    go(&tab, app.url("/inspection/rules/new")).await;
    set(&tab, "plugin", "command").await;
    press(&tab, "button[name='_refresh']", "Load parameters").await;
    shows(&tab, r#"name="params.command""#).await;
    type_into(&tab, "[name='name']", "rule name", "bad").await;
    type_into(&tab, "[name='params.command']", "command", "rm").await;
    press(&tab, "form button.primary", "Create").await;
    let html = shows(&tab, r#"data-field="params.command""#).await;
    let shown = html
        .split(r#"data-field="params.command">"#)
        .nth(1)
        .and_then(|s| s.split("</p>").next())
        .expect("the field's error");
    let shown = shown
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    assert_eq!(shown, problem["detail"].as_str().expect("detail"));

    // Deletes: the task first (it holds the rule and the channel), then the rest.
    go(
        &tab,
        app.url(&format!("/inspection/tasks/{task_id}/delete")),
    )
    .await;
    press(&tab, "form button.danger", "Delete").await;
    eventually(Duration::from_secs(20), "back on the overview", || async {
        let url = tab.url().await.ok()??;
        url.contains("/inspection?notice=deleted").then_some(())
    })
    .await;
    assert_eq!(app.get_json("/api/v1/inspection/tasks").await, json!([]));

    go(&tab, app.url("/inspection/rules/new?lang=zh-CN")).await;
    let zh = shows(&tab, "新建规则").await;
    for words in ["插件", "级别", "模板变量", "加载插件参数", "治理建议"] {
        assert!(zh.contains(words), "{words} in the Chinese form");
    }
    app.handle.stop().await;
}
