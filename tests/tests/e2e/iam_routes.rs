//! The route-table walk. Every operation of the OpenAPI document is called without
//! credentials, as each built-in role (through a session and through an API token), and with
//! one API token per catalog permission:
//! - without credentials: 401 problem+json, except the public operations;
//! - a caller without the operation's declared permission (its `security` scope): 403 naming it;
//! - a caller with it: neither 401 nor 403 (nor a 5xx).
//!
//! The single-permission tokens pin each declared scope to the permission the handler really
//! enforces: a scope that documents one permission while the handler checks another fails here.

use acmangkut::iam::permissions::{BUILTIN_ROLES, builtin_role};
use acmangkut::iam::{PermSet, Permission};
use has_tests::spawn::{Session, bearer_client, test_config};
use has_tests::{TestApp, TestDb, spawn_acmangkut};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "route-walk-password";
/// Operations open without credentials (docs/iam.md, "Who can call").
const PUBLIC: [&str; 4] = ["/healthz", "/readyz", "/metrics", "/api/v1/auth/login"];
const SPARE_ROLE: &str = "walk-spare-role";

/// One path × method of the OpenAPI document.
#[derive(Debug)]
struct Operation {
    method: Method,
    path: String,
    /// `None` without a `security` requirement (public); `Some(None)`: any signed-in caller.
    needs: Option<Option<Permission>>,
}

/// The operations, with their declared scopes checked against the permission catalog. Sign-out
/// comes last so that the walk's sessions live until the end.
fn operations(doc: &Value) -> Vec<Operation> {
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
            ops.push(Operation {
                method,
                path: path.clone(),
                needs,
            });
        }
    }
    ops.sort_by_key(|o| o.path == "/api/v1/auth/logout");
    ops
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

impl Caller {
    async fn call(&self, app: &TestApp, method: &Method, path: &str) -> (StatusCode, Value) {
        let url = app.url(path);
        let request = match &self.credential {
            Credential::Anonymous => app.anonymous.request(method.clone(), url),
            Credential::Session(s) => s.request(method.clone(), path),
            Credential::Token(c) => c.request(method.clone(), url),
        };
        let request = if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
            request.json(&json!({}))
        } else {
            request
        };
        let r = request.send().await.expect("request");
        let status = r.status();
        let problem = r
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
        let body = if problem {
            r.json().await.expect("problem+json body")
        } else {
            Value::Null
        };
        (status, body)
    }
}

/// Ids the walk puts into path templates: a monitor to read and change, and spares for the
/// deletes, so that no caller deletes something the walk still needs.
struct Ids {
    monitor: i64,
    spare_monitor: i64,
    spare_user: i64,
    spare_binding: i64,
    spare_token: i64,
}

impl Ids {
    fn fill(&self, op: &Operation) -> String {
        let id = if op.path.starts_with("/api/v1/monitors/") {
            if op.method == Method::DELETE {
                self.spare_monitor
            } else {
                self.monitor
            }
        } else if op.path.starts_with("/api/v1/iam/users/") {
            self.spare_user
        } else if op.path.starts_with("/api/v1/iam/bindings/") {
            self.spare_binding
        } else if op.path.starts_with("/api/v1/tokens/") {
            self.spare_token
        } else {
            1
        };
        let mut out = String::new();
        let mut rest = op.path.as_str();
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

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("an id in {v}"))
}

/// A user per built-in role, signed in, with an API token (the auditor may not have one).
async fn role_callers(app: &TestApp) -> (Vec<Caller>, Session) {
    let mut callers = Vec::new();
    let mut admin = None;
    for role in BUILTIN_ROLES {
        let username = format!("walk-{role}");
        app.create_user(&username, PASSWORD, &[role]).await;
        let session = app.sign_in(&username, PASSWORD).await;
        let me: Value = session
            .get("/api/v1/auth/me")
            .await
            .json()
            .await
            .expect("me");
        let (expected, _) = builtin_role(role).expect("built-in role");
        let granted = PermSet::parse(
            me["permissions"]
                .as_array()
                .expect("permissions")
                .iter()
                .map(|p| p.as_str().expect("name")),
        )
        .expect("catalog names");
        assert_eq!(
            granted, expected,
            "{role}: the session has the role's permissions"
        );
        if expected.contains(Permission::TokensWrite) {
            let token = session.create_token("walk", 1, &[]).await;
            callers.push(Caller {
                label: format!("{role} (API token)"),
                permissions: expected,
                credential: Credential::Token(bearer_client(
                    token["secret"].as_str().expect("secret"),
                )),
            });
        } else {
            let r = session
                .post_json(
                    "/api/v1/tokens",
                    &json!({"name": "walk", "expires_in_days": 1}),
                )
                .await;
            assert_eq!(
                r.status(),
                403,
                "{role} lacks tokens:write, so has no token"
            );
        }
        if *role == "admin" {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_401_403_or_serves_as_its_declared_permission_says() {
    // Arrange: the route table, one caller per built-in role and credential, one token per
    // catalog permission, and things for the path parameters to point at.
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    let app = spawn_acmangkut(config).await;
    let doc = app.get_json("/api/openapi.json").await;
    let ops = operations(&doc);

    let stored_roles: Vec<Value> =
        serde_json::from_value(app.get_json("/api/v1/iam/roles").await).expect("roles");
    for role in BUILTIN_ROLES {
        let served = stored_roles
            .iter()
            .find(|r| r["name"] == *role)
            .unwrap_or_else(|| panic!("role {role} is listed"));
        let (perms, _) = builtin_role(role).expect("built-in");
        assert_eq!(
            served["permissions"],
            json!(perms.names()),
            "the server's {role} is the catalog's"
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
    let spare_user = app.create_user("walk-spare", PASSWORD, &["viewer"]).await;
    let ids = Ids {
        monitor: id(&app.create_monitor(monitor("walk")).await),
        spare_monitor: id(&app.create_monitor(monitor("walk-spare")).await),
        spare_user: id(&spare_user),
        spare_binding: id(&app
            .post_json(
                "/api/v1/iam/bindings",
                &json!({"subject_kind": "group", "subject": "walk-spare", "role": "viewer"}),
            )
            .await
            .json::<Value>()
            .await
            .expect("binding")),
        spare_token: id(&admin.create_token("walk-spare", 1, &[]).await),
    };
    let r = app
        .http
        .put(app.url(&format!("/api/v1/iam/roles/{SPARE_ROLE}")))
        .json(&json!({"permissions": ["monitors:read"]}))
        .send()
        .await
        .expect("PUT role");
    assert_eq!(r.status(), 201);

    // Act: every operation, as every caller.
    let mut failures = Vec::new();
    let mut checked = 0;
    for op in &ops {
        let path = ids.fill(op);
        for caller in &callers {
            let (status, body) = caller.call(&app, &op.method, &path).await;
            checked += 1;
            let anonymous = matches!(caller.credential, Credential::Anonymous);
            let wrong = match op.needs {
                None if status == 401 || status == 403 => Some("a public operation refused".into()),
                None => None,
                Some(_) if anonymous => (status != 401 || body["status"] != 401)
                    .then(|| "expected 401 problem+json without credentials".into()),
                Some(Some(p)) if !caller.permissions.contains(p) => {
                    let named = body["detail"]
                        .as_str()
                        .is_some_and(|d| d.contains(&format!("`{}`", p.as_str())));
                    (status != 403 || !named)
                        .then(|| format!("expected 403 problem+json naming `{}`", p.as_str()))
                }
                Some(_) if status == 401 || status == 403 => {
                    Some("refused a caller that has the permission".into())
                }
                Some(_) => None,
            };
            let wrong = wrong.or_else(|| {
                status
                    .is_server_error()
                    .then(|| "a server error".to_string())
            });
            if let Some(why) = wrong {
                failures.push(format!(
                    "{} {path} as {}: {status} {body}: {why}",
                    op.method, caller.label
                ));
            }
        }
    }

    // Assert: no deviation anywhere in the matrix.
    eprintln!(
        "route walk: {} operations x {} callers = {checked} requests",
        ops.len(),
        callers.len()
    );
    assert_eq!(checked, ops.len() * callers.len());
    assert!(ops.len() >= 40, "the document lists every API route");
    assert!(
        failures.is_empty(),
        "{} deviations:\n{}",
        failures.len(),
        failures.join("\n")
    );
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_itself_needs_a_signed_in_caller() {
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    let app = spawn_acmangkut(config).await;

    let anonymous = app
        .anonymous
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("GET");
    let with_token = app.get("/api/openapi.json").await;

    assert_eq!(anonymous.status(), 401);
    assert_eq!(with_token.status(), 200);
    app.handle.stop().await;
}
