//! hasinit against the real acmangkut: the first run seeds the permission metadata and an admin
//! whose printed password signs in, a second run changes nothing and says so, two runs at once
//! end consistent, a dry run writes nothing, and a wrong bootstrap token ends with exit code 4.
//!
//! hasinit runs in-process through its library (`hasinit::run`, what its `main` calls), its
//! report captured instead of printed; the exit code is the one `main` would return for the
//! error (`Error::exit`).

use ::hasinit::manifest::Manifest;
use ::hasinit::{Exit, HasinitConfig, Options};
use has_tests::{TestApp, TestDb, spawn::test_config, spawn_acmangkut, spawn_pageinspect};
use serde_json::{Value, json};
use shared::Secret;
use std::collections::BTreeMap;

/// A fresh acmangkut (its own database) with a bootstrap token; keep all three alive.
async fn start() -> (TestApp, TestDb, actix_web::dev::ServerHandle) {
    let (pageinspect, pi) = spawn_pageinspect(None).await;
    let db = TestDb::new();
    let app = spawn_acmangkut(test_config(&db, &pageinspect)).await;
    (app, db, pi)
}

fn bootstrap_token(app: &TestApp) -> String {
    let token = app.config.iam.bootstrap_token.as_ref();
    token
        .expect("test acmangkut has a bootstrap token")
        .expose()
        .to_string()
}

/// hasinit's configuration for `app`, presenting `token`.
fn config_for(app: &TestApp, token: &str) -> HasinitConfig {
    let mut c = HasinitConfig::defaults();
    c.acmangkut.url = app.address.clone();
    c.acmangkut.token = Some(Secret::new(token));
    c.wait.max_seconds = 10;
    c.log.stdout = false;
    c.validate().expect("valid hasinit config");
    c
}

/// One hasinit run: its result and everything it printed.
async fn run_hasinit(
    config: &HasinitConfig,
    dry_run: bool,
) -> (Result<(), ::hasinit::Error>, String) {
    let options = Options {
        manifest: None,
        dry_run,
    };
    let mut out = Vec::new();
    let result = ::hasinit::run(config, &options, &mut out).await;
    (result, String::from_utf8(out).expect("utf-8 report"))
}

/// Runs hasinit and expects exit code 0.
async fn hasinit_ok(app: &TestApp, dry_run: bool) -> String {
    let (result, out) = run_hasinit(&config_for(app, &bootstrap_token(app)), dry_run).await;
    if let Err(e) = result {
        panic!(
            "hasinit failed with exit code {}: {e}\n{out}",
            e.exit().code()
        );
    }
    out
}

/// `GET path` with the bootstrap token.
async fn get(app: &TestApp, path: &str) -> Value {
    let r = reqwest::Client::new()
        .get(app.url(path))
        .bearer_auth(bootstrap_token(app))
        .send()
        .await
        .expect("GET");
    assert!(r.status().is_success(), "GET {path}: {}", r.status());
    r.json().await.expect("json")
}

/// The IAM state hasinit may change: permissions, roles, users, bindings.
async fn iam_state(app: &TestApp) -> Value {
    json!({
        "permissions": get(app, "/api/v1/iam/permissions").await,
        "roles": get(app, "/api/v1/iam/roles").await,
        "users": get(app, "/api/v1/iam/users").await,
        "bindings": get(app, "/api/v1/iam/bindings").await,
    })
}

/// Role name → its sorted permissions, as acmangkut lists them.
async fn roles(app: &TestApp) -> BTreeMap<String, Vec<String>> {
    let list = get(app, "/api/v1/iam/roles").await;
    let list = list.get("items").unwrap_or(&list).as_array().cloned();
    list.expect("a list of roles")
        .iter()
        .map(|r| {
            let mut perms: Vec<String> = r["permissions"]
                .as_array()
                .expect("permissions")
                .iter()
                .map(|p| p.as_str().expect("name").to_string())
                .collect();
            perms.sort();
            (r["name"].as_str().expect("name").to_string(), perms)
        })
        .collect()
}

/// Usernames holding the admin role.
async fn admins(app: &TestApp) -> Vec<String> {
    let list = get(app, "/api/v1/iam/users?role=admin").await;
    let list = list.get("items").unwrap_or(&list).as_array().cloned();
    list.expect("a list of users")
        .iter()
        .map(|u| u["username"].as_str().expect("username").to_string())
        .collect()
}

/// The default manifest's roles, as [`roles`] returns them.
fn manifest_roles() -> BTreeMap<String, Vec<String>> {
    let m = Manifest::default_manifest();
    m.roles
        .into_iter()
        .map(|r| {
            let mut perms = r.permissions;
            perms.sort();
            (r.name, perms)
        })
        .collect()
}

fn entries() -> usize {
    Manifest::default_manifest().len()
}

/// `(created, updated, unchanged)` from the summary line starting with `prefix`.
fn counts(out: &str, prefix: &str) -> (u64, u64, u64) {
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{out}"));
    let n: Vec<u64> = line
        .split(", ")
        .map(|part| {
            let number = part.split(' ').next().expect("a count");
            number.parse().expect("a number")
        })
        .collect();
    (n[0], n[1], n[2])
}

fn printed_password(out: &str) -> Option<&str> {
    out.lines().find_map(|l| l.strip_prefix("admin password: "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_run_seeds_the_roles_and_an_admin_whose_printed_password_signs_in() {
    let (app, _db, _pi) = start().await;

    let out = hasinit_ok(&app, false).await;

    let (created, updated, unchanged) = counts(&out, "manifest applied: ");
    assert_eq!(
        (created + updated + unchanged) as usize,
        entries(),
        "every manifest entry is accounted for:\n{out}"
    );
    assert_eq!(roles(&app).await, manifest_roles());
    let permissions = get(&app, "/api/v1/iam/permissions").await;
    let monitors_read = permissions
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["name"] == "monitors:read")
        .cloned()
        .expect("monitors:read");
    assert_eq!(monitors_read["description_zh"], "查看监控及其结果");
    assert_eq!(admins(&app).await, ["admin"]);

    let password = printed_password(&out).expect("the generated password is printed");
    assert!(password.len() >= 20, "{password}");
    assert_eq!(out.matches(password).count(), 1, "printed once:\n{out}");
    let login = reqwest::Client::new()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .expect("POST login");
    let status = login.status();
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().is_ok_and(|c| c.starts_with("has_session=")));
    assert!(
        status.is_success(),
        "login with the printed password: {status}"
    );
    assert!(cookie, "a session cookie is set");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_changes_nothing_and_says_so() {
    let (app, _db, _pi) = start().await;
    hasinit_ok(&app, false).await;
    let before = iam_state(&app).await;

    let out = hasinit_ok(&app, false).await;

    let summary = format!(
        "manifest applied: 0 created, 0 updated, {} unchanged",
        entries()
    );
    assert!(out.contains(&summary), "expected {summary:?} in:\n{out}");
    assert!(out.contains("none created"), "{out}");
    assert!(printed_password(&out).is_none(), "{out}");
    assert_eq!(iam_state(&app).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_at_once_end_with_one_consistent_result_and_one_admin() {
    let (app, _db, _pi) = start().await;
    let config = config_for(&app, &bootstrap_token(&app));

    let (a, b) = {
        let (ca, cb) = (config.clone(), config.clone());
        let a = tokio::spawn(async move { run_hasinit(&ca, false).await });
        let b = tokio::spawn(async move { run_hasinit(&cb, false).await });
        (a.await.expect("run a"), b.await.expect("run b"))
    };

    for (result, out) in [&a, &b] {
        if let Err(e) = result {
            panic!("exit code {}: {e}\n{out}", e.exit().code());
        }
    }
    let (out_a, out_b) = (&a.1, &b.1);
    let changed = |out: &str| {
        let (created, updated, _) = counts(out, "manifest applied: ");
        created + updated
    };
    assert_eq!(
        changed(out_a).min(changed(out_b)),
        0,
        "applies serialise: the later one finds everything in place\n{out_a}\n{out_b}"
    );
    let passwords = [out_a, out_b]
        .iter()
        .filter(|o| printed_password(o).is_some())
        .count();
    assert_eq!(
        passwords, 1,
        "exactly one run created the admin\n{out_a}\n{out_b}"
    );
    assert_eq!(admins(&app).await, ["admin"]);
    assert_eq!(roles(&app).await, manifest_roles());

    let out = hasinit_ok(&app, false).await;
    assert_eq!(counts(&out, "manifest applied: "), (0, 0, entries() as u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_prints_the_diff_and_writes_nothing() {
    let (app, _db, _pi) = start().await;
    let before = iam_state(&app).await;

    let out = hasinit_ok(&app, true).await;

    assert_eq!(iam_state(&app).await, before, "nothing written:\n{out}");
    assert!(out.contains("would create \"admin\""), "{out}");
    assert!(printed_password(&out).is_none(), "{out}");
    let predicted = counts(&out, "dry run, nothing written: ");
    let diff_lines = out
        .lines()
        .filter(|l| l.starts_with("+ ") || l.starts_with("~ "))
        .count() as u64;
    assert_eq!(
        diff_lines,
        predicted.0 + predicted.1,
        "one line per change:\n{out}"
    );

    let applied = hasinit_ok(&app, false).await;
    assert_eq!(
        counts(&applied, "manifest applied: "),
        predicted,
        "the dry run predicted the real run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_bootstrap_token_ends_with_exit_code_4_and_changes_nothing() {
    let (app, _db, _pi) = start().await;
    let before = iam_state(&app).await;

    let (result, out) = run_hasinit(&config_for(&app, "not-the-bootstrap-token-42"), false).await;

    let e = result.expect_err("a wrong token must fail");
    assert_eq!(e.exit(), Exit::Rejected, "{e}");
    assert_eq!(e.exit().code(), 4);
    assert!(!e.to_string().contains("not-the-bootstrap-token-42"), "{e}");
    assert!(!out.contains("manifest applied"), "{out}");
    assert_eq!(iam_state(&app).await, before);
}
