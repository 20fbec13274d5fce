//! No secret reaches acmangkut's log files, at debug level, through a whole round of sign-ins
//! (right and wrong passwords, API and console), sessions, API tokens, the bootstrap token and
//! users created and changed with passwords.
//!
//! Why a test binary of its own: `shared::telemetry::init` installs the process-wide tracing
//! subscriber and fails once one is installed, and the e2e binary's tests install the test
//! subscriber (`spawn_acmangkut`). Here the one test of this process starts telemetry exactly as
//! `main` does (`init(&config.log)` first, then `Application::build`), so the files are the ones
//! an operator would read. That holds under `cargo nextest` (a process per test) and under
//! `cargo test` (a process per test binary) alike, and needs no prebuilt `acmangkut` binary.
//! The test's own HTTP client logs into the same subscriber; it is checked along with the app.

mod iam_secrets_in_logs {
    use has_tests::TestDb;
    use has_tests::logged::start_logging_to_files;
    use has_tests::spawn::{BOOTSTRAP_TOKEN, TestApp, bearer_client, cookie_value};
    use reqwest::Method;
    use serde_json::{Value, json};

    const FIRST_PASSWORD: &str = "first-Password-4f9c2a";
    const SECOND_PASSWORD: &str = "second-Password-8d1e7b";
    const WRONG_PASSWORD: &str = "wrong-Password-c3b5a1";
    const UNKNOWN_USER_PASSWORD: &str = "ghost-Password-6e2f90";
    const BOGUS_TOKEN: &str = "has_bogusTokenThatWasNeverIssued0123456789abc";

    async fn status(r: reqwest::RequestBuilder) -> u16 {
        r.send().await.expect("request").status().as_u16()
    }

    fn monitor(name: &str) -> Value {
        json!({"name": name, "interval_seconds": 3600,
               "probe": {"kind": "tcp", "target": "127.0.0.1:9"}})
    }

    /// Signs in through the console's form (its CSRF cookie first); the session cookie.
    async fn console_sign_in(app: &TestApp, password: &str) -> String {
        let page = app
            .anonymous
            .get(app.url("/login"))
            .send()
            .await
            .expect("GET /login");
        let csrf = page
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| cookie_value(v, "has_login_csrf").map(str::to_string))
            .expect("the sign-in page sets its CSRF cookie");
        let r = app
            .anonymous
            .post(app.url("/login"))
            .header(reqwest::header::COOKIE, format!("has_login_csrf={csrf}"))
            .form(&[
                ("username", "lena"),
                ("password", password),
                ("_csrf", csrf.as_str()),
            ])
            .send()
            .await
            .expect("POST /login");
        assert_eq!(r.status(), 303, "console sign-in");
        r.headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| cookie_value(v, "has_session").map(str::to_string))
            .expect("session cookie")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passwords_tokens_and_session_cookies_never_reach_the_log_files() {
        // Arrange: telemetry at debug level into a temp folder, before anything else logs.
        let db = TestDb::new();
        let (logs, guard, app) = start_logging_to_files(&db, |_| {}).await;
        let mut secrets: Vec<(String, &str)> = vec![
            (BOOTSTRAP_TOKEN.into(), "bootstrap token"),
            (FIRST_PASSWORD.into(), "password at creation"),
            (SECOND_PASSWORD.into(), "changed password"),
            (WRONG_PASSWORD.into(), "wrong password"),
            (UNKNOWN_USER_PASSWORD.into(), "password of an unknown user"),
            (BOGUS_TOKEN.into(), "a token that was never issued"),
        ];

        // Act: the bootstrap token reads and creates a user with a password.
        assert_eq!(app.get_json("/api/v1/auth/me").await["via"], "bootstrap");
        let lena = app.create_user("lena", FIRST_PASSWORD, &["operator"]).await;
        // Wrong passwords, an unknown user, then the right password.
        let login = |username: &'static str, password: &'static str| {
            app.anonymous
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({"username": username, "password": password}))
        };
        assert_eq!(status(login("lena", WRONG_PASSWORD)).await, 401);
        assert_eq!(status(login("ghost", UNKNOWN_USER_PASSWORD)).await, 401);
        let session = app.sign_in("lena", FIRST_PASSWORD).await;
        secrets.push((session.cookie.clone(), "session cookie"));
        secrets.push((session.csrf.clone(), "CSRF token"));
        // The session reads and changes; an API token is created and used.
        assert_eq!(session.get("/api/v1/monitors").await.status(), 200);
        assert_eq!(
            session
                .post_json("/api/v1/monitors", &monitor("by-session"))
                .await
                .status(),
            201
        );
        let token = session.create_token("ci", 1, &[]).await;
        let secret = token["secret"].as_str().expect("secret").to_string();
        secrets.push((secret.clone(), "API token"));
        let script = bearer_client(&secret);
        assert_eq!(status(script.get(app.url("/api/v1/monitors"))).await, 200);
        assert_eq!(
            status(
                script
                    .post(app.url("/api/v1/monitors"))
                    .json(&monitor("by-token"))
            )
            .await,
            201
        );
        assert_eq!(
            status(bearer_client(BOGUS_TOKEN).get(app.url("/api/v1/monitors"))).await,
            401
        );
        // The password changes; the new one signs in through the API and the console.
        let r = app
            .http
            .put(app.url(&format!("/api/v1/iam/users/{}", lena["id"])))
            .json(&json!({"password": SECOND_PASSWORD}))
            .send()
            .await
            .expect("PUT user");
        assert_eq!(r.status(), 200);
        let second = app.sign_in("lena", SECOND_PASSWORD).await;
        secrets.push((second.cookie.clone(), "second session cookie"));
        let console = console_sign_in(&app, SECOND_PASSWORD).await;
        secrets.push((console.clone(), "console session cookie"));
        assert_eq!(
            status(
                app.anonymous
                    .get(app.url("/"))
                    .header(reqwest::header::COOKIE, format!("has_session={console}"))
            )
            .await,
            200
        );
        let out = session
            .request(Method::POST, "/api/v1/auth/logout")
            .send()
            .await;
        assert_eq!(out.expect("logout").status(), 204);
        assert_eq!(
            session.get("/api/v1/auth/me").await.status(),
            401,
            "signed out"
        );
        // Stop the app, then flush the log writers.
        app.handle.stop().await;
        drop(guard);

        // Assert: the logs were written at debug level, and hold none of the secrets.
        let read = |name: &str| std::fs::read_to_string(logs.path().join(name)).unwrap_or_default();
        let (default_log, error_log) = (read("app-default.log"), read("common-error.log"));
        assert!(default_log.contains("acmangkut listening"), "{default_log}");
        assert!(
            default_log.contains("DEBUG") && default_log.contains("/api/v1/auth/login"),
            "requests are logged at debug level:\n{default_log}"
        );
        for (log, name) in [
            (&default_log, "app-default.log"),
            (&error_log, "common-error.log"),
        ] {
            for (secret, what) in &secrets {
                assert!(!secret.is_empty(), "{what}");
                assert!(!log.contains(secret.as_str()), "{name} holds the {what}");
            }
        }
    }
}
