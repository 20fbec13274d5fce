//! The console's monitor list shows each monitor's recent checks (a bar, as in Uptime Kuma)
//! and its uptime over 24 hours; a monitor page's results table stays inside its card.

use has_tests::browser::{TestBrowser, dom, sign_in};
use has_tests::{eventually, spawn::TestApp};
use serde_json::{Value, json};
use std::time::Duration;

fn monitor(name: &str, target: String, extra: Value) -> Value {
    let mut probe = json!({"kind": "http", "target": target, "timeout_ms": 2000});
    if let (Some(p), Some(e)) = (probe.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    json!({"name": name, "probe": probe, "interval_seconds": 1, "failure_threshold": 1})
}

/// Creates the monitor and waits until it has `n` results; returns its id.
async fn checked(app: &TestApp, body: Value, n: usize) -> i64 {
    let id = app.create_monitor(body).await["id"].as_i64().expect("id");
    eventually(
        Duration::from_secs(30),
        &format!("{n} results of monitor {id}"),
        || async { (app.results(id).await.len() >= n).then_some(()) },
    )
    .await;
    id
}

/// The `<tr>` of the list page that links to monitor `id`.
fn row(html: &str, id: i64) -> &str {
    let link = format!("<a href=\"/monitors/{id}\">");
    let at = html
        .find(&link)
        .unwrap_or_else(|| panic!("monitor {id} is listed: {html}"));
    let start = html[..at].rfind("<tr>").expect("its row");
    let end = at + html[at..].find("</tr>").expect("the row's end");
    &html[start..end]
}

/// The classes of a row's beats, in order (`b-up`, `b-none`, …).
fn beats(row: &str) -> Vec<&str> {
    row.split("class=\"beat ")
        .skip(1)
        .map(|s| s.split('"').next().unwrap_or(""))
        .collect()
}

fn uptime(row: &str) -> &str {
    let at = row.find("class=\"avail uptime").expect("an uptime cell");
    let text = &row[at..];
    let start = text.find('>').expect("tag end") + 1;
    &text[start..start + text[start..].find('<').expect("text end")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_list_shows_each_monitors_recent_checks_and_24h_uptime() {
    let (targets, (_pi, _h), _db, app) = has_tests::probing().await;
    let up = checked(
        &app,
        monitor("steady", targets.url("/healthy"), json!({})),
        3,
    )
    .await;
    let down = checked(&app, monitor("broken", targets.url("/500"), json!({})), 3).await;
    // Answers after 300 ms: slower than the 100 ms degraded threshold, yet a pass.
    let slow = checked(
        &app,
        monitor("slowpoke", targets.url("/slowish"), json!({}))
            .as_object()
            .map(|m| {
                let mut m = m.clone();
                m.insert("degraded_threshold_ms".into(), json!(100));
                Value::Object(m)
            })
            .expect("object"),
        3,
    )
    .await;

    app.create_user("viewer1", "viewer-password-1", &["viewer"])
        .await;
    let session = app.sign_in("viewer1", "viewer-password-1").await;
    let page = |lang: &'static str| {
        let session = session.clone();
        async move {
            let r = session.get(&format!("/monitors?lang={lang}")).await;
            assert_eq!(r.status(), 200, "the list in {lang}");
            r.text().await.expect("html")
        }
    };
    let en = page("en").await;
    assert!(
        en.contains(">Recent checks</th>") && en.contains(">Uptime (24 h)</th>"),
        "the list has the two columns"
    );
    for (id, class, figure, outcome) in [
        (up, "b-up", "100 %", " · Up · "),
        (down, "b-down", "0.00 %", " · Down · "),
        (slow, "b-degraded", "100 %", " · Degraded · "),
    ] {
        let r = row(&en, id);
        let bar = beats(r);
        assert_eq!(bar.len(), 30, "a bar of 30 beats: {r}");
        // Oldest first: the empty beats pad the left, the checks follow.
        let checks = bar.iter().skip_while(|b| **b == "b-none").count();
        assert!(checks >= 3, "at least 3 checks in the bar: {r}");
        assert!(
            bar.iter()
                .skip_while(|b| **b == "b-none")
                .all(|b| *b == class),
            "monitor {id}: every check is {class}: {bar:?}"
        );
        assert!(r.contains(outcome), "the tooltip names the outcome: {r}");
        assert_eq!(uptime(r), figure, "monitor {id}'s uptime over 24 h: {r}");
    }
    assert!(
        row(&en, down).contains(" · 500 · "),
        "a failed check's tooltip gives its status code: {}",
        row(&en, down)
    );
    // The same figure as the monitor's own 24 h summary.
    let summary = app
        .get_json(&format!("/api/v1/monitors/{up}/summary"))
        .await;
    let day = summary
        .as_array()
        .or_else(|| summary["windows"].as_array())
        .and_then(|w| w.iter().find(|w| w["window"] == "24h"))
        .cloned()
        .expect("a 24h window");
    assert_eq!(day["availability_percent"], 100.0, "{summary}");

    let zh = page("zh-CN").await;
    assert!(
        zh.contains(">近期检查</th>") && zh.contains(">24 小时可用率</th>"),
        "the columns in Chinese"
    );
    assert!(row(&zh, up).contains(" · 正常 · "), "{}", row(&zh, up));
    assert!(row(&zh, down).contains(" · 故障 · "), "{}", row(&zh, down));
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_results_table_of_a_monitor_page_stays_inside_its_card_at_800px() {
    let (targets, (_pi, _h), _db, app) = has_tests::probing().await;
    // The failure message quotes the condition: a long word that cannot wrap at a space.
    let long = format!("[BODY] == {}", "x".repeat(300));
    let id = checked(
        &app,
        monitor(
            "long failure",
            targets.url("/healthy"),
            json!({"conditions": [long]}),
        ),
        3,
    )
    .await;
    app.create_user("viewer1", "viewer-password-1", &["viewer"])
        .await;
    let browser = TestBrowser::launch().await;
    let tab = browser
        .open(&app.url(&format!("/monitors/{id}?lang=en")))
        .await;
    sign_in(&tab, "viewer1", "viewer-password-1").await;
    assert!(dom(&tab).await.contains("table class=\"results\""));
    tab.execute(
        chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams::new(
            800, 900, 1.0, false,
        ),
    )
    .await
    .expect("an 800 px wide viewport");
    let sizes: Value = eventually(Duration::from_secs(10), "the layout at 800 px", || async {
        let v: Value = tab
            .evaluate(
                "(() => { const t = document.querySelector('table.results'); \
                 const card = t.closest('.panel'); const c = card.getBoundingClientRect(); \
                 const box = t.parentElement.getBoundingClientRect(); \
                 return { viewport: document.documentElement.clientWidth, \
                 page: document.documentElement.scrollWidth, \
                 cardRight: c.right, cardScroll: card.scrollWidth, \
                 cardClient: card.clientWidth, boxRight: box.right, \
                 table: t.scrollWidth, wide: [...document.querySelectorAll('main *')] \
                 .filter(e => e.getBoundingClientRect().right > 801).slice(0, 5) \
                 .map(e => e.tagName + '.' + e.className) }; })()",
            )
            .await
            .ok()?
            .into_value()
            .ok()?;
        (v["viewport"].as_f64()? <= 800.0).then_some(v)
    })
    .await;
    let f = |k: &str| sizes[k].as_f64().expect(k);
    assert!(
        f("cardScroll") <= f("cardClient"),
        "nothing overflows the card: {sizes}"
    );
    assert!(
        f("boxRight") <= f("cardRight") + 0.5 && f("cardRight") <= f("viewport") + 0.5,
        "the table's box ends inside the card, the card inside the window: {sizes}"
    );
    assert!(
        f("page") <= f("viewport"),
        "the page does not scroll sideways: {sizes}"
    );
    app.handle.stop().await;
}
