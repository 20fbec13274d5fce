//! The executor runs real actions: commands on this machine and requests to a local HTTP
//! server, with secrets read by name and never shown or stored. (`ssh` actions, against a real
//! OpenSSH server in a network namespace: the e2e suite's `executor_ssh`.)

use acmangkut::config::{AllowedCommand, ExecutorConfig};
use acmangkut::engine::executor::Executor;
use acmangkut::store::{Store, actions};
use shared::Secret;
use shared::action::Action;
use shared::check::CheckStatus;
use shared::outbound::{Outbound, OutboundConfig};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn action(v: serde_json::Value) -> Action {
    serde_json::from_value(v).expect("an action")
}

/// Runs the action written as `json`, with no variables.
async fn run(ex: &Executor, json: serde_json::Value) -> shared::check::CheckOutcome {
    ex.run(&action(json), &BTreeMap::new()).await
}

/// The action did not run: an error whose evidence says `says`.
fn not_run(o: &shared::check::CheckOutcome, says: &str) {
    assert_eq!(o.status, CheckStatus::Error, "{}", o.evidence);
    assert!(o.evidence.contains(says), "{}", o.evidence);
}

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn executor(config: ExecutorConfig) -> Executor {
    let mut inspection = acmangkut::Config::default().inspection;
    inspection.commands = [
        ("echo".to_string(), AllowedCommand::from("/bin/echo")),
        ("sh".to_string(), AllowedCommand::from("/bin/sh")),
    ]
    .into();
    let outbound = Outbound::new("acmangkut", &OutboundConfig::default());
    Executor::new(&inspection, &config, &outbound).expect("executor")
}

#[tokio::test]
async fn a_command_runs_rendered_and_its_exit_code_decides() {
    let ex = executor(ExecutorConfig::default());
    let done = ex
        .run(
            &action(serde_json::json!({"action": "command", "command": "echo",
                "args": ["promote", "{{ node }}"]})),
            &vars(&[("node", "db-2")]),
        )
        .await;
    assert_eq!(done.status, CheckStatus::Pass, "{}", done.evidence);
    assert!(done.evidence.contains("promote db-2"), "{}", done.evidence);
    let failed = run(
        &ex,
        serde_json::json!({"action": "command", "command": "sh",
                "args": ["-c", "echo no >&2; exit 3"]}),
    )
    .await;
    assert_eq!(
        (failed.status, failed.value.as_deref()),
        (CheckStatus::Fail, Some("3"))
    );
    assert!(
        failed
            .evidence
            .starts_with("exit code 3, expected exit code 0")
    );
    assert!(
        failed.evidence.contains("stderr:\nno"),
        "{}",
        failed.evidence
    );
    let unknown = run(
        &ex,
        serde_json::json!({"action": "command", "command": "rm", "args": ["-rf"]}),
    )
    .await;
    not_run(&unknown, "not in inspection.commands");
    let unset = run(
        &ex,
        serde_json::json!({"action": "command", "command": "echo",
                "args": ["{{ missing }}"]}),
    )
    .await;
    not_run(&unset, "args[0]");
}

fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Serves one request per connection: the answer for each path (the query left out), and
/// records each request with the time it arrived (Unix ms).
fn http_server(
    answers: Vec<(&'static str, u16, &'static str)>,
) -> (String, std::sync::mpsc::Receiver<(String, i64)>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut buf = vec![0u8; 65536];
            let n = s.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let target = request.split_whitespace().nth(1).unwrap_or("");
            let path = target.split('?').next().unwrap_or("").to_string();
            let (status, body) = answers
                .iter()
                .find(|(p, _, _)| *p == path)
                .map(|(_, s, b)| (*s, *b))
                .unwrap_or((404, "{}"));
            let _ = tx.send((request, now_ms()));
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, rx)
}

#[tokio::test]
async fn an_http_action_sends_what_it_says_and_judges_status_and_conditions() {
    let (url, requests) = http_server(vec![
        ("/promote", 200, r#"{"state":"promoted"}"#),
        ("/fence", 503, r#"{"state":"busy"}"#),
    ]);
    let ex = executor(ExecutorConfig::default());
    let done = ex
        .run(
            &action(serde_json::json!({"action": "http", "method": "POST",
                "url": "{{ base }}/promote", "headers": {"X-Token": "{{ token }}"},
                "body": "{\"node\":\"{{ node }}\"}", "conditions": ["[BODY].state == promoted"]})),
            &vars(&[("base", &url), ("token", "t0k"), ("node", "db-2")]),
        )
        .await;
    assert_eq!(done.status, CheckStatus::Pass, "{}", done.evidence);
    let (sent, _) = requests
        .recv_timeout(Duration::from_secs(5))
        .expect("a request");
    assert!(sent.starts_with("POST /promote HTTP/1.1"), "{sent}");
    assert!(sent.to_lowercase().contains("x-token: t0k"), "{sent}");
    assert!(
        sent.to_lowercase().contains("x-has-origin: acmangkut"),
        "{sent}"
    );
    assert!(sent.ends_with(r#"{"node":"db-2"}"#), "{sent}");
    let refused = run(
        &ex,
        serde_json::json!({"action": "http", "method": "POST",
                "url": format!("{url}/fence"), "conditions": ["[BODY].state == fenced"]}),
    )
    .await;
    assert_eq!(
        (refused.status, refused.value.as_deref()),
        (CheckStatus::Fail, Some("503"))
    );
    assert!(
        refused.evidence.starts_with(
            "status 503, expected 2xx; `[BODY].state == fenced` does not hold (saw busy)"
        ),
        "{}",
        refused.evidence
    );
}

/// Each attempt is an intent committed before the action and an outcome after; an attempt a
/// crash left open is found, and re-run only when its action is idempotent. On the suite's
/// backend (`has_test_db`).
#[tokio::test]
async fn every_attempt_is_an_intent_before_and_an_outcome_after() {
    use acmangkut::engine::executor::{Interrupted, after_crash};
    let db = has_test_db::TestDb::new();
    let store = Store::open(&db.url, 2, 5_000).expect("store");
    let ex = executor(ExecutorConfig::default());
    let dir = tempfile::tempdir().expect("temp dir");
    let marker = dir.path().join("ran");
    // A side effect the test can see: the command leaves a file.
    let fence = action(serde_json::json!({"action": "command", "command": "sh",
        "args": ["-c", "touch \"$0\"", marker.to_string_lossy()]}));
    let subject = "plan-execution:1/step:fence";
    let (intent, outcome) = ex
        .run_recorded(&store, (subject, "replica-a"), &fence, &BTreeMap::new())
        .await
        .expect("recorded");
    assert_eq!(outcome.status, CheckStatus::Pass, "{}", outcome.evidence);
    assert!(marker.exists());
    assert_eq!((intent.attempt, intent.finished_at), (1, None));
    let (second, _) = ex
        .run_recorded(&store, (subject, "replica-a"), &fence, &BTreeMap::new())
        .await
        .expect("recorded");
    assert_eq!(second.attempt, 2);
    let rows = store
        .run(move |c| actions::attempts(c, subject))
        .await
        .expect("read");
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row.status.as_deref(), Some("pass"));
        assert!(row.finished_at.is_some_and(|f| f >= row.started_at));
        assert_eq!(row.owner, "replica-a");
        assert!(row.summary.starts_with("sh -c"), "{}", row.summary);
    }
    // Two intents with no outcome, as a replica killed mid-action leaves them.
    let open = store
        .run(|c| {
            actions::intend(
                c,
                "plan-execution:2/step:promote",
                "pg_ctl promote",
                false,
                "b",
            )?;
            actions::intend(c, "plan-execution:2/step:check", "GET /health", true, "b")?;
            actions::intend(c, "plan-execution:20/step:x", "other execution", true, "b")?;
            actions::unfinished(c, "plan-execution:2/")
        })
        .await
        .expect("intents");
    let seen: Vec<(&str, Interrupted)> = open
        .iter()
        .map(|r| (r.subject.as_str(), after_crash(r)))
        .collect();
    assert_eq!(
        seen,
        [
            ("plan-execution:2/step:promote", Interrupted::Ask),
            ("plan-execution:2/step:check", Interrupted::Rerun),
        ]
    );
}

const PASSWORD: &str = "pa ss/w0rd!";
const TOKEN: &str = "cfg-T0ken";

/// An executor with secret `api-token` in config and whatever files `dir` holds.
fn with_secrets(dir: &Path) -> Executor {
    executor(ExecutorConfig {
        secrets_dir: dir.to_path_buf(),
        secrets: [("api-token".to_string(), Secret::new(TOKEN))].into(),
        ..Default::default()
    })
}

/// A login whose URL, header and body carry secrets, answered 401 by a server that echoes
/// them back: the kind of evidence that would show them.
fn login(base: &str) -> Action {
    action(serde_json::json!({"action": "http", "method": "POST",
        "url": format!("{base}/login?key={{{{ secret.db-password }}}}"),
        "headers": {"Authorization": "Bearer {{ secret.api-token }}"},
        "body": "{\"password\": \"{{ secret.db-password }}\"}"}))
}

#[track_caller]
fn shows_no_secret(text: &str) {
    for value in [PASSWORD, "pa%20ss", "pa+ss", TOKEN, "n3w-pass"] {
        assert!(!text.contains(value), "{value} shown in: {text}");
    }
}

#[tokio::test]
async fn secrets_are_sent_by_name_and_never_shown() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("db-password"), format!("{PASSWORD}\n")).expect("secret");
    let (url, requests) = http_server(vec![(
        "/login",
        401,
        r#"{"error": "bad password pa ss/w0rd! for cfg-T0ken"}"#,
    )]);
    let ex = with_secrets(dir.path());

    // A caller's variable named like a secret does not stand in for it.
    let forged = vars(&[("secret.api-token", "forged")]);
    let refused = ex.run(&login(&url), &forged).await;
    let (sent, _) = requests.recv_timeout(Duration::from_secs(5)).expect("sent");

    assert!(sent.contains("/login?key=pa%20ss/w0rd!"), "{sent}");
    assert!(sent.contains(&format!("Bearer {TOKEN}")), "{sent}");
    assert!(
        sent.ends_with(&format!(r#"{{"password": "{PASSWORD}"}}"#)),
        "{sent}"
    );
    assert_eq!(refused.status, CheckStatus::Fail, "{}", refused.evidence);
    assert!(
        refused.evidence.contains("bad password ****** for ******"),
        "{}",
        refused.evidence
    );
    shows_no_secret(&refused.evidence);

    // A file is read at each run: a rotated secret is used from the next run on.
    std::fs::write(dir.path().join("db-password"), "n3w-pass").expect("rotate");
    ex.run(&login(&url), &BTreeMap::new()).await;
    let (sent, _) = requests.recv_timeout(Duration::from_secs(5)).expect("sent");
    assert!(sent.contains("/login?key=n3w-pass"), "{sent}");

    // Unreachable: the client's error names the URL, secret and all.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port");
    let down = ex
        .run(&login(&format!("http://{closed}")), &BTreeMap::new())
        .await;
    not_run(&down, "/login?key=******");
    shows_no_secret(&down.evidence);
}

#[tokio::test]
async fn a_missing_secret_is_named_and_nothing_is_sent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, requests) = http_server(vec![("/login", 200, "{}")]);
    let ex = with_secrets(dir.path());
    let a = action(serde_json::json!({"action": "http",
        "url": format!("{url}/login?key={{{{ secret.db-password }}}}"),
        "headers": {"Authorization": "Bearer {{ secret.api-token }}"}}));

    let checked = ex.check_secrets(&a, "stages[0].steps[1].do.");
    let missing = ex.run(&a, &BTreeMap::new()).await;

    let e = shared::ApiError::from(checked.expect_err("db-password is missing"));
    assert_eq!(e.field.as_deref(), Some("stages[0].steps[1].do.url"));
    assert!(
        e.detail.starts_with("secret `db-password` is missing"),
        "{}",
        e.detail
    );
    assert_eq!(missing.status, CheckStatus::Error);
    assert!(
        missing
            .evidence
            .starts_with("url: secret `db-password` is missing"),
        "{}",
        missing.evidence
    );
    assert!(
        requests.recv_timeout(Duration::from_millis(300)).is_err(),
        "nothing sent"
    );
    std::fs::write(dir.path().join("db-password"), PASSWORD).expect("secret");
    ex.check_secrets(&a, "do.").expect("present now");

    // Never in an argv, where every user of the host can read it.
    let argv = action(serde_json::json!({"action": "command", "command": "echo",
        "args": ["{{ secret.api-token }}"]}));
    let e = shared::ApiError::from(ex.validate(&argv, "do.").expect_err("refused"));
    assert_eq!(e.field.as_deref(), Some("do.args[0]"));
    let refused = ex.run(&argv, &BTreeMap::new()).await;
    not_run(&refused, "never passed in an argv");
}

/// An `http` action through [`Executor::run_recorded`]: its intent is committed before the
/// request arrives and its outcome after; the rows keep the template, never a secret.
#[tokio::test]
async fn an_http_action_is_an_intent_before_and_an_outcome_after_without_its_secrets() {
    let db = has_test_db::TestDb::new();
    let store = Store::open(&db.url, 2, 5_000).expect("store");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("db-password"), PASSWORD).expect("secret");
    let (url, requests) = http_server(vec![("/login", 200, r#"{"welcome": "cfg-T0ken"}"#)]);
    let ex = with_secrets(dir.path());
    let subject = "plan-execution:3/step:switch";

    let (intent, outcome) = ex
        .run_recorded(
            &store,
            (subject, "replica-a"),
            &login(&url),
            &BTreeMap::new(),
        )
        .await
        .expect("recorded");
    let (_, arrived) = requests.recv_timeout(Duration::from_secs(5)).expect("sent");

    assert_eq!(outcome.status, CheckStatus::Pass, "{}", outcome.evidence);
    let rows = store
        .run(move |c| actions::attempts(c, subject))
        .await
        .expect("read");
    let [row] = &rows[..] else {
        panic!("one attempt: {rows:?}")
    };
    assert_eq!(row.id, intent.id);
    assert_eq!(
        row.summary,
        format!("POST {url}/login?key={{{{ secret.db-password }}}}")
    );
    assert_eq!(row.status.as_deref(), Some("pass"));
    let finished = row.finished_at.expect("an outcome");
    assert!(
        row.started_at <= arrived && arrived <= finished,
        "intent {} <= request {arrived} <= outcome {finished}",
        row.started_at
    );
    let evidence = row.evidence.as_deref().unwrap_or_default();
    assert!(evidence.contains(r#"{"welcome": "******"}"#), "{evidence}");
    shows_no_secret(&format!("{row:?}"));
}
