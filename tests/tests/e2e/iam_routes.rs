//! The route-table walks. Every operation of the OpenAPI document, and every console route of
//! `acmangkut::ui::ROUTES`, is called without credentials, as each built-in role (through a
//! session and through an API token), and with one API token per catalog permission:
//! - without credentials: 401 (problem+json for the API, the sign-in page for the console),
//!   except the public API operations;
//! - a caller without the route's declared permission (the operation's `security` scope, the
//!   console route's entry): 403 (for the API, problem+json naming the permission);
//! - a caller with it: neither 401 nor 403 (nor a 5xx).
//!
//! The single-permission tokens pin each declared permission to the one the handler really
//! enforces: a route that documents one permission while its handler checks another fails here.

use has_tests::spawn::{Session, test_config};
use has_tests::{TestApp, TestDb, spawn_acmangkut};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::permissions::{BUILTIN_ROLES, PermSet, Permission, builtin_role};

const PASSWORD: &str = "route-walk-password";
/// API operations open without credentials (docs/iam.md, "Who can call").
const PUBLIC: [&str; 4] = ["/healthz", "/readyz", "/metrics", "/api/v1/auth/login"];
const SPARE_ROLE: &str = "walk-spare-role";

/// One path × method of a route table.
#[derive(Debug)]
struct Operation {
    method: Method,
    path: String,
    /// `None`: public; `Some(None)`: any signed-in caller; `Some(Some(p))`: needs `p`.
    needs: Option<Option<Permission>>,
    /// A console route (HTML answers, form bodies) rather than an API operation.
    console: bool,
}

/// Sign-out comes last, so that the walk's sessions live until the end.
fn sign_out_last(mut ops: Vec<Operation>) -> Vec<Operation> {
    ops.sort_by_key(|o| o.path.ends_with("/logout"));
    ops
}

/// The OpenAPI document's operations, with their declared scopes checked against the catalog.
fn api_operations(doc: &Value) -> Vec<Operation> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let method: Method = method.to_uppercase().parse().expect("HTTP method");
            let needs = op.get("security").map(|sec| {
                let reqs = sec.as_array().expect("security is a list");
                assert_eq!(reqs.len(), 1, "{method} {path}: one security requirement");
                let scopes = reqs[0]["bearer"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{method} {path}: the `bearer` scheme: {sec}"));
                assert!(scopes.len() <= 1, "{method} {path}: at most one scope");
                scopes.first().map(|s| {
                    let s = s.as_str().expect("scope");
                    Permission::parse(s).unwrap_or_else(|| {
                        panic!("{method} {path}: scope `{s}` is not in the permission catalog")
                    })
                })
            });
            assert_eq!(
                needs.is_none(),
                PUBLIC.contains(&path.as_str()),
                "{method} {path}: only the public operations lack a security requirement"
            );
            let (path, console) = (path.clone(), false);
            ops.push(Operation {
                method,
                path,
                needs,
                console,
            });
        }
    }
    sign_out_last(ops)
}

/// The console's guarded routes, with their permissions checked against the catalog.
fn console_operations() -> Vec<Operation> {
    let ops = acmangkut::ui::ROUTES.iter().map(|(method, path, perm)| {
        let needs = perm.map(|p| {
            Permission::parse(p)
                .unwrap_or_else(|| panic!("{method} {path}: `{p}` is not in the catalog"))
        });
        Operation {
            method: method.parse().expect("HTTP method"),
            path: path.to_string(),
            needs: Some(needs),
            console: true,
        }
    });
    sign_out_last(ops.collect())
}

/// How a caller authenticates.
enum Credential {
    Anonymous,
    Session(Session),
    Token(reqwest::Client),
}

struct Caller {
    label: String,
    permissions: PermSet,
    credential: Credential,
}

/// What an answer was: its status, and its problem+json or HTML body.
struct Answer {
    status: StatusCode,
    problem: Value,
    html: String,
}

impl Caller {
    async fn call(&self, app: &TestApp, op: &Operation, path: &str) -> Answer {
        let (method, url) = (op.method.clone(), app.url(path));
        let request = match &self.credential {
            Credential::Anonymous => app.anonymous.request(method, url),
            Credential::Session(s) => s.request(method, path),
            Credential::Token(c) => c.request(method, url),
        };
        let request = match op.method {
            Method::POST | Method::PUT | Method::PATCH if op.console => request
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(""),
            Method::POST | Method::PUT | Method::PATCH => request.json(&json!({})),
            _ => request,
        };
        let r = request.send().await.expect("request");
        let status = r.status();
        let ctype = r.headers().get(CONTENT_TYPE).map(|v| v.as_bytes().to_vec());
        let is = |prefix: &[u8]| ctype.as_deref().is_some_and(|v| v.starts_with(prefix));
        let (problem, html) = match (is(b"application/problem+json"), is(b"text/html")) {
            (true, _) => (r.json().await.expect("problem+json body"), String::new()),
            (_, true) => (Value::Null, r.text().await.expect("HTML body")),
            _ => (Value::Null, String::new()),
        };
        Answer {
            status,
            problem,
            html,
        }
    }
}

/// What is wrong with `answer` to `caller` on `op`, if anything.
fn deviation(op: &Operation, caller: &Caller, answer: &Answer) -> Option<String> {
    let status = answer.status;
    let refused = status == 401 || status == 403;
    let anonymous = matches!(caller.credential, Credential::Anonymous);
    let wrong = match op.needs {
        None => refused.then(|| "a public operation refused".to_string()),
        Some(_) if anonymous && op.console => (status != 401
            || !answer.html.contains("action=\"/login\""))
        .then(|| "expected 401 with the sign-in page".into()),
        Some(_) if anonymous => (status != 401 || answer.problem["status"] != 401)
            .then(|| "expected 401 problem+json".into()),
        Some(Some(p)) if !caller.permissions.contains(p) && op.console => (status != 403
            || answer.html.is_empty())
        .then(|| format!("expected a 403 page for lacking `{}`", p.as_str())),
        Some(Some(p)) if !caller.permissions.contains(p) => {
            let named = answer.problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains(&format!("`{}`", p.as_str())));
            (status != 403 || !named)
                .then(|| format!("expected 403 problem+json naming `{}`", p.as_str()))
        }
        Some(_) => refused.then(|| "refused a caller that has the permission".into()),
    };
    wrong.or_else(|| status.is_server_error().then(|| "a server error".into()))
}

/// Ids the walk puts into path templates: a monitor to read and change, and spares for the
/// deletes, disables and revocations, so that no caller destroys what the walk still needs.
struct Ids {
    monitor: i64,
    spare_monitor: i64,
    spare_user: i64,
    spare_binding: i64,
    spare_token: i64,
}

impl Ids {
    fn fill(&self, op: &Operation) -> String {
        let p = op.path.as_str();
        let under = |prefixes: &[&str]| prefixes.iter().any(|x| p.starts_with(x));
        let id = if under(&["/api/v1/monitors/", "/monitors/"]) {
            let destroys = op.method == Method::DELETE || p.ends_with("/delete");
            if destroys {
                self.spare_monitor
            } else {
                self.monitor
            }
        } else if under(&["/api/v1/iam/users/", "/admin/users/"]) {
            self.spare_user
        } else if under(&["/api/v1/iam/bindings/"]) {
            self.spare_binding
        } else if under(&["/api/v1/tokens/", "/tokens/"]) {
            self.spare_token
        } else {
            1
        };
        let mut out = String::new();
        let mut rest = p;
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').expect("closing brace") + open;
            out.push_str(&rest[..open]);
            match &rest[open + 1..close] {
                "id" => out.push_str(&id.to_string()),
                "name" => out.push_str(SPARE_ROLE),
                _ => out.push('1'),
            }
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// A client presenting `token` that does not follow redirects: the walk judges each route's own
/// answer (a console form answers 303 to a page that may need another permission).
fn bearer_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"));
    headers.insert(reqwest::header::AUTHORIZATION, value.expect("header"));
    let builder = reqwest::Client::builder().default_headers(headers);
    let builder = builder.redirect(reqwest::redirect::Policy::none());
    builder
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client")
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("an id in {v}"))
}

/// A user per built-in role, signed in, with an API token (the auditor may not have one).
async fn role_callers(app: &TestApp) -> (Vec<Caller>, Session) {
    let mut callers = Vec::new();
    let mut admin = None;
    for role in BUILTIN_ROLES.iter().map(|r| r.name) {
        let username = format!("walk-{role}");
        app.create_user(&username, PASSWORD, &[role]).await;
        let session = app.sign_in(&username, PASSWORD).await;
        let me: Value = session
            .get("/api/v1/auth/me")
            .await
            .json()
            .await
            .expect("me");
        let expected = builtin_role(role).expect("built-in role").perm_set();
        let names = me["permissions"].as_array().expect("permissions").iter();
        let granted = PermSet::parse(names.map(|p| p.as_str().expect("name"))).expect("names");
        assert_eq!(
            granted, expected,
            "{role}: the session has the role's permissions"
        );
        if expected.contains(Permission::TokensWrite) {
            let token = session.create_token("walk", 1, &[]).await;
            let client = bearer_client(token["secret"].as_str().expect("secret"));
            callers.push(Caller {
                label: format!("{role} (API token)"),
                permissions: expected,
                credential: Credential::Token(client),
            });
        } else {
            let body = json!({"name": "walk", "expires_in_days": 1});
            let r = session.post_json("/api/v1/tokens", &body).await;
            assert_eq!(
                r.status(),
                403,
                "{role} lacks tokens:write, so has no token"
            );
        }
        if role == "admin" {
            admin = Some(session.clone());
        }
        callers.push(Caller {
            label: format!("{role} (session)"),
            permissions: expected,
            credential: Credential::Session(session),
        });
    }
    (callers, admin.expect("an admin"))
}

/// An app whose built-in roles are the catalog's; the walk's callers (the roles, one token per
/// catalog permission, anonymous) and the ids for path parameters. Keep the database alive.
async fn arrange() -> (TestApp, TestDb, Vec<Caller>, Ids) {
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    let app = spawn_acmangkut(config).await;
    let served: Vec<Value> =
        serde_json::from_value(app.get_json("/api/v1/iam/roles").await).expect("roles");
    for role in BUILTIN_ROLES.iter().map(|r| r.name) {
        let served = served.iter().find(|r| r["name"] == role).expect("listed");
        let perms = builtin_role(role).expect("built-in").perm_set();
        assert_eq!(
            served["permissions"],
            json!(perms.names()),
            "the server's {role}"
        );
    }

    let (mut callers, admin) = role_callers(&app).await;
    for p in Permission::ALL {
        let token = admin.create_token(p.as_str(), 1, &[p.as_str()]).await;
        callers.push(Caller {
            label: format!("token with only {}", p.as_str()),
            permissions: PermSet::from_iter([*p]),
            credential: Credential::Token(bearer_client(token["secret"].as_str().expect("secret"))),
        });
    }
    callers.push(Caller {
        label: "anonymous".into(),
        permissions: PermSet::default(),
        credential: Credential::Anonymous,
    });

    let monitor = |name: &str| {
        json!({"name": name, "interval_seconds": 3600,
               "probe": {"kind": "tcp", "target": "127.0.0.1:9"}})
    };
    let binding = json!({"subject_kind": "group", "subject": "walk-spare", "role": "viewer"});
    let binding: Value = app
        .post_json("/api/v1/iam/bindings", &binding)
        .await
        .json()
        .await
        .expect("binding");
    let ids = Ids {
        monitor: id(&app.create_monitor(monitor("walk")).await),
        spare_monitor: id(&app.create_monitor(monitor("walk-spare")).await),
        spare_user: id(&app.create_user("walk-spare", PASSWORD, &["viewer"]).await),
        spare_binding: id(&binding),
        spare_token: id(&admin.create_token("walk-spare", 1, &[]).await),
    };
    let role = app.url(&format!("/api/v1/iam/roles/{SPARE_ROLE}"));
    let r = app
        .http
        .put(role)
        .json(&json!({"permissions": ["monitors:read"]}))
        .send()
        .await;
    assert_eq!(r.expect("PUT role").status(), 201);
    (app, db, callers, ids)
}

/// The text of an HTML page's `<main>`, tags dropped, for a deviation's message.
fn excerpt(html: &str) -> String {
    let main = html.split_once("<main").map_or(html, |(_, m)| m);
    let mut text = String::new();
    let mut in_tag = false;
    for c in main.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace()
        .take(30)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Calls every operation as every caller; the number of calls and the deviations.
async fn walk(app: &TestApp, ops: &[Operation], callers: &[Caller], ids: &Ids) -> Vec<String> {
    let mut deviations = Vec::new();
    for op in ops {
        let path = ids.fill(op);
        for caller in callers {
            let answer = caller.call(app, op, &path).await;
            if let Some(why) = deviation(op, caller, &answer) {
                let status = answer.status;
                let body = match &answer.problem {
                    Value::Null => excerpt(&answer.html),
                    problem => problem.to_string(),
                };
                let label = &caller.label;
                deviations.push(format!(
                    "{} {path} as {label}: {status} {body}: {why}",
                    op.method
                ));
            }
        }
    }
    deviations
}

/// Every operation of `ops` as every caller, and no deviation anywhere in the matrix; `what`
/// names the walk, `at_least` is how many operations the table must have.
async fn walk_all(what: &str, at_least: usize, ops: impl FnOnce(&Value) -> Vec<Operation>) {
    // Arrange: the route table, the callers and things for the path parameters to point at.
    let (app, _db, callers, ids) = arrange().await;
    let ops = ops(&app.get_json("/api/openapi.json").await);

    // Act: every operation, as every caller.
    let deviations = walk(&app, &ops, &callers, &ids).await;

    // Assert: no deviation anywhere in the matrix.
    let n = ops.len() * callers.len();
    eprintln!(
        "{what} walk: {} operations x {} callers = {n} requests",
        ops.len(),
        callers.len()
    );
    assert!(ops.len() >= at_least, "the {what} table lists every route");
    assert!(
        deviations.is_empty(),
        "{} deviations:\n{}",
        deviations.len(),
        deviations.join("\n")
    );
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_route_answers_401_403_or_serves_as_its_declared_permission_says() {
    walk_all("API", 40, api_operations).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_console_route_answers_401_403_or_serves_as_its_permission_says() {
    walk_all("console", 20, |_| console_operations()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_itself_needs_a_signed_in_caller() {
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    let app = spawn_acmangkut(config).await;

    let anonymous = app.anonymous.get(app.url("/api/openapi.json")).send().await;
    let with_token = app.get("/api/openapi.json").await;

    assert_eq!(anonymous.expect("GET").status(), 401);
    assert_eq!(with_token.status(), 200);
    app.handle.stop().await;
}
