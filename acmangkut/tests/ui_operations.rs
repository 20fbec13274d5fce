//! The atomic operations console, driven over HTTP against the real application (port 0, a
//! fresh database): the list with its columns and filters and the detail page with versions and
//! references, in English and 简体中文; the YAML editor creates and changes an operation (a bad
//! document is shown again naming the field); publish, deprecate and a refused delete; a viewer
//! reads but cannot write.

mod console;

use console::*;
use reqwest::StatusCode;
use reqwest::header::LOCATION;

const DOC: &str = "\
code: db.promote-standby
name: Promote the standby
description: pg_ctl promote on <the> standby
kind: plan
parameters:
- name: standby
  type: host
  required: true
- name: wait
  type: duration
  default: 30s
do:
  action: ssh
  host: '{{ standby }}'
  command: pg_ctl
  args: [promote]
";

fn location(r: &reqwest::Response) -> String {
    let to = r
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().expect("ascii"));
    to.unwrap_or_default().to_string()
}

#[tokio::test]
async fn the_operations_console_lists_shows_edits_publishes_and_deprecates_in_both_languages() {
    let app = spawn_app().await;
    app.user("ada", &["admin"]).await;
    app.user("vic", &["viewer"]).await;
    let b = app.signed_in("ada").await;

    let (s, html) = b.get("/operations?lang=en").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("href=\"/operations\"") && html.contains(">Atomic operations<"),
        "nav"
    );
    assert!(html.contains("No operations match."), "{html}");

    // A bad document comes back as typed, naming the field; nothing is written.
    let bad = DOC.replace("type: duration", "type: interval");
    let r = b
        .post_from("/operations/new", "/operations/new", &[("document", &bad)])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.expect("page");
    assert!(page.contains("data-field=\"parameters[1].type\""), "{page}");
    assert!(page.contains("type: interval"), "the document as typed");
    assert_eq!(app.api_get("/operations").await, serde_json::json!([]));

    let r = b
        .post_from("/operations/new", "/operations/new", &[("document", DOC)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&r),
        "/operations/db.promote-standby?notice=created"
    );
    let edited = DOC.replace("[promote]", "[promote, -w]");
    let page = "/operations/db.promote-standby/edit";
    let r = b.post_from(page, page, &[("document", &edited)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", location(&r));

    // The list: name, operation code, date added, status, reference count; filters.
    let (_, html) = b.get("/operations?lang=en").await;
    for column in [
        "Name",
        "Operation code",
        "Date added",
        "Status",
        "References",
    ] {
        assert!(html.contains(&format!(">{column}</th>")), "{column}");
    }
    assert!(html.contains("<code>db.promote-standby</code>"), "{html}");
    assert!(
        html.contains(">Draft</span>") && html.contains(">v2<"),
        "{html}"
    );
    let (_, html) = b.get("/operations?status=published&lang=en").await;
    assert!(
        html.contains("No operations match."),
        "a draft is filtered out"
    );
    let (_, html) = b.get("/operations?kind=plan&q=PROMOTE&lang=en").await;
    assert!(
        html.contains("id=\"op-db.promote-standby\""),
        "kind and text match"
    );
    let (_, html) = b.get("/operations?status=live&lang=en").await;
    assert!(
        html.contains("role=\"alert\""),
        "an unreadable filter is said so"
    );

    // Publish and deprecate through the buttons; the page shows who and when.
    let detail = "/operations/db.promote-standby";
    let r = b.post_from(detail, &format!("{detail}/publish"), &[]).await;
    assert_eq!(location(&r), format!("{detail}?notice=operation_published"));
    let (s, html) = b
        .get(&format!("{detail}?lang=en&notice=operation_published"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("data-status=\"published\""), "{html}");
    assert!(html.contains("id=\"version-2\"") && html.contains("id=\"version-1\""));
    assert!(
        html.contains("pg_ctl promote on ") && !html.contains("<the>"),
        "the description, escaped"
    );
    assert!(
        html.contains("No plan references this operation."),
        "{html}"
    );
    assert!(
        html.contains("<code>standby</code>") && html.contains("30s"),
        "parameters"
    );

    // A plan version pins it: the delete is refused, naming the plan, on the page itself.
    let url = app._db.url.clone();
    let store = tokio::task::spawn_blocking(move || acmangkut::store::Store::open(&url, 1, 5000))
        .await
        .expect("join")
        .expect("store");
    store
        .run(|c| {
            let pins = [("db.promote-standby".to_string(), 2)];
            acmangkut::store::operations::add_references(c, "failover-east", 4, &pins)
        })
        .await
        .expect("a reference");
    let r = b.post_from(detail, &format!("{detail}/delete"), &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.expect("page");
    assert!(
        html.contains("id=\"refused\"") && html.contains("failover-east"),
        "{html}"
    );

    let r = b
        .post_from(detail, &format!("{detail}/deprecate"), &[])
        .await;
    assert_eq!(
        location(&r),
        format!("{detail}?notice=operation_deprecated")
    );

    // 简体中文: the same pages, the catalog's words.
    let (s, html) = b.get("/operations?lang=zh-CN").await;
    assert_eq!(s, StatusCode::OK);
    for word in ["原子操作", "操作编码", "添加日期", "引用次数", "已废弃"] {
        assert!(html.contains(word), "{word}: {html}");
    }
    let (s, html) = b.get(&format!("{detail}?lang=zh-CN")).await;
    assert_eq!(s, StatusCode::OK);
    for word in ["版本历史", "引用方", "failover-east", "参数"] {
        assert!(html.contains(word), "{word}");
    }
    assert!(
        !html.contains(">编辑<"),
        "a deprecated operation has no edit button"
    );

    // A viewer reads; the write buttons are not shown and the forms are refused.
    let v = app.signed_in("vic").await;
    let (s, html) = v.get(&format!("{detail}?lang=en")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        !html.contains("/publish") && !html.contains("/delete\""),
        "{html}"
    );
    let (s, _) = v.get("/operations/new").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
