//! The executor runs real actions: commands on this machine, requests to a local HTTP server,
//! and argv on a host over SSH (a real OpenSSH server this test starts on a loopback port with
//! keys it makes), with the host key pinned.

use acmangkut::config::{AllowedCommand, ExecutorConfig, SshHost};
use acmangkut::engine::executor::Executor;
use shared::action::Action;
use shared::check::CheckStatus;
use shared::outbound::{Outbound, OutboundConfig};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn action(v: serde_json::Value) -> Action {
    serde_json::from_value(v).expect("an action")
}

/// Runs the action written as `json`, with no variables.
async fn run(ex: &Executor, json: serde_json::Value) -> shared::check::CheckOutcome {
    ex.run(&action(json), &BTreeMap::new()).await
}

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn executor(hosts: BTreeMap<String, SshHost>) -> Executor {
    let mut inspection = acmangkut::Config::default().inspection;
    inspection.commands = [
        ("echo".to_string(), AllowedCommand::from("/bin/echo")),
        ("sh".to_string(), AllowedCommand::from("/bin/sh")),
    ]
    .into();
    let config = ExecutorConfig {
        ssh_program: PathBuf::new(),
        hosts,
    };
    let outbound = Outbound::new("acmangkut", &OutboundConfig::default());
    Executor::new(&inspection, &config, &outbound).expect("executor")
}

#[tokio::test]
async fn a_command_runs_rendered_and_its_exit_code_decides() {
    let ex = executor(BTreeMap::new());
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
    assert_eq!(unknown.status, CheckStatus::Error);
    assert!(unknown.evidence.contains("not in inspection.commands"));
    let unset = run(
        &ex,
        serde_json::json!({"action": "command", "command": "echo",
                "args": ["{{ missing }}"]}),
    )
    .await;
    assert_eq!(unset.status, CheckStatus::Error);
    assert!(unset.evidence.contains("args[0]"), "{}", unset.evidence);
}

/// Serves one request per connection: the answer for each path, and records the requests.
fn http_server(
    answers: Vec<(&'static str, u16, &'static str)>,
) -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut buf = vec![0u8; 65536];
            let n = s.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
            let (status, body) = answers
                .iter()
                .find(|(p, _, _)| *p == path)
                .map(|(_, s, b)| (*s, *b))
                .unwrap_or((404, "{}"));
            let _ = tx.send(request);
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
    let ex = executor(BTreeMap::new());
    let done = ex
        .run(
            &action(serde_json::json!({"action": "http", "method": "POST",
                "url": "{{ base }}/promote", "headers": {"X-Token": "{{ token }}"},
                "body": "{\"node\":\"{{ node }}\"}", "conditions": ["[BODY].state == promoted"]})),
            &vars(&[("base", &url), ("token", "t0k"), ("node", "db-2")]),
        )
        .await;
    assert_eq!(done.status, CheckStatus::Pass, "{}", done.evidence);
    let sent = requests
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

/// An OpenSSH server on a free loopback port, with its own host key and one authorized key.
struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) -> String {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "has-test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs");
    assert!(ok.success());
    let public = std::fs::read_to_string(path.with_extension("pub")).expect("public key");
    // `ssh-ed25519 AAAA… comment` → the key without its comment.
    public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn sshd() -> Sshd {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    keygen(&d.join("host_key"));
    let client_public = keygen(&d.join("client_key"));
    std::fs::write(d.join("authorized_keys"), format!("{client_public}\n")).expect("keys");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let config = format!(
        "ListenAddress 127.0.0.1\nPort {port}\nHostKey {d}/host_key\n\
         AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nUsePAM no\n\
         StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         PermitRootLogin prohibit-password\n",
        d = d.display()
    );
    std::fs::write(d.join("sshd_config"), config).expect("config");
    let child = Command::new("/usr/sbin/sshd")
        .args(["-D", "-e", "-f"])
        .arg(d.join("sshd_config"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sshd starts (scripts/test installs openssh-server)");
    // Owned at once, so that a panic below still kills it.
    let server = Sshd { child, port, dir };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("sshd did not listen on {port} (scripts/test makes /run/sshd, which it needs)");
}

fn host(server: &Sshd, host_key: String) -> SshHost {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".into());
    SshHost {
        address: "127.0.0.1".into(),
        port: server.port,
        user,
        key_file: server.dir.path().join("client_key"),
        host_key,
        max_concurrent: 2,
        commands: [
            ("echo".to_string(), AllowedCommand::from("/bin/echo")),
            ("sh".to_string(), AllowedCommand::from("/bin/sh")),
        ]
        .into(),
    }
}

#[tokio::test]
async fn an_ssh_action_runs_on_the_host_with_its_pinned_key_and_a_changed_key_is_refused() {
    let server = sshd();
    let pinned = std::fs::read_to_string(server.dir.path().join("host_key.pub"))
        .expect("host key")
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let other = keygen(&server.dir.path().join("other_key"));
    let ex = executor(
        [
            ("db-1".to_string(), host(&server, pinned)),
            ("db-1-changed".to_string(), host(&server, other)),
        ]
        .into(),
    );
    // An argument with spaces and quotes reaches the remote program as one argument.
    let done = ex
        .run(
            &action(serde_json::json!({"action": "ssh", "host": "db-1",
                "command": "sh", "args": ["-c", "printf '%s|' \"$@\"; echo; exit 4", "x",
                         "{{ arg }}", "it's"], "expect_exit_code": 4})),
            &vars(&[("arg", "two words")]),
        )
        .await;
    assert_eq!(done.status, CheckStatus::Pass, "{}", done.evidence);
    assert!(
        done.evidence.contains("two words|it's|"),
        "{}",
        done.evidence
    );
    let refused = run(
        &ex,
        serde_json::json!({"action": "ssh", "host": "db-1-changed",
                "command": "echo", "args": ["should not run"]}),
    )
    .await;
    assert_eq!(refused.status, CheckStatus::Error, "{}", refused.evidence);
    assert!(
        refused
            .evidence
            .contains("did not present the pinned host key"),
        "{}",
        refused.evidence
    );
    assert!(!refused.evidence.contains("should not run"));
    let unlisted = run(
        &ex,
        serde_json::json!({"action": "ssh", "host": "db-1", "command": "rm", "args": ["-rf"]}),
    )
    .await;
    assert_eq!(unlisted.status, CheckStatus::Error);
    assert!(
        unlisted
            .evidence
            .contains("not in executor.hosts.db-1.commands"),
        "{}",
        unlisted.evidence
    );
}

/// Each attempt is an intent committed before the action and an outcome after; an attempt a
/// crash left open is found, and re-run only when its action is idempotent. On the suite's
/// backend (`has_test_db`).
#[tokio::test]
async fn every_attempt_is_an_intent_before_and_an_outcome_after() {
    use acmangkut::engine::executor::{Interrupted, after_crash};
    use acmangkut::store::{Store, actions};
    let db = has_test_db::TestDb::new();
    let store = Store::open(&db.url, 2, 5_000).expect("store");
    let ex = executor(BTreeMap::new());
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
