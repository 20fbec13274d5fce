//! The executor's `ssh` actions against a real OpenSSH server on a host of the test's own (a
//! network namespace reached over a veth pair, `has_tests::sshd`): the argv arrives as given,
//! both output streams are kept as evidence, an unknown host or a changed host key is refused,
//! a host's concurrency limit holds, and each attempt is an intent row before and an outcome
//! row after.

use acmangkut::config::{ExecutorConfig, SshHost};
use acmangkut::engine::executor::Executor;
use acmangkut::store::{Store, actions};
use has_tests::sshd::{TestSshd, keygen};
use has_tests::{TestDb, eventually};
use serde_json::json;
use shared::action::Action;
use shared::check::{CheckOutcome, CheckStatus};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

fn executor(hosts: &[(&str, SshHost)]) -> Executor {
    let config = ExecutorConfig {
        hosts: hosts
            .iter()
            .map(|(n, h)| (n.to_string(), h.clone()))
            .collect(),
        ..Default::default()
    };
    let inspection = acmangkut::Config::default().inspection;
    Executor::new(&inspection, &config, &has_tests::outbound()).expect("executor")
}

fn action(v: serde_json::Value) -> Action {
    serde_json::from_value(v).expect("an action")
}

async fn run(ex: &Executor, v: serde_json::Value) -> CheckOutcome {
    ex.run(&action(v), &BTreeMap::new()).await
}

/// The action did not run: an error whose evidence says `says`.
fn not_run(o: &CheckOutcome, says: &str) {
    assert_eq!(o.status, CheckStatus::Error, "{}", o.evidence);
    assert!(o.evidence.contains(says), "{}", o.evidence);
}

/// The millisecond stamps (`date +%s%3N`) a remote command printed, in order.
fn stamps(o: &CheckOutcome) -> Vec<i64> {
    o.evidence
        .lines()
        .filter_map(|l| l.trim().parse::<i64>().ok())
        .filter(|n| *n > 1_000_000_000_000)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_action_runs_on_the_namespaced_host_and_only_with_its_pinned_key() {
    let server = TestSshd::start();
    let other = keygen(&server.dir.path().join("other_key"));
    let ex = executor(&[
        ("db-1", server.host(&server.host_key, 2)),
        ("db-1-changed", server.host(&other, 2)),
    ]);

    // An argument with spaces and quotes reaches the remote program as one argument; stdout
    // and stderr are both kept; the server saw the client on the other end of the pair.
    let script = "printf '%s|' \"$@\"; echo; echo \"from $SSH_CONNECTION\" >&2; exit 4";
    let done = ex
        .run(
            &action(json!({"action": "ssh", "host": "db-1", "command": "sh",
                "args": ["-c", script, "x", "{{ arg }}", "it's"], "expect_exit_code": 4})),
            &[("arg".to_string(), "two words".to_string())].into(),
        )
        .await;
    assert_eq!(done.status, CheckStatus::Pass, "{}", done.evidence);
    assert!(
        done.evidence.contains("stdout:\ntwo words|it's|"),
        "{}",
        done.evidence
    );
    let (client, host) = (server.ns.host, server.ns.peer);
    assert!(
        done.evidence.contains(&format!("stderr:\nfrom {client} "))
            && done.evidence.contains(&format!(" {host} 22")),
        "{}",
        done.evidence
    );

    let changed = run(
        &ex,
        json!({"action": "ssh", "host": "db-1-changed", "command": "echo",
               "args": ["should not run"]}),
    )
    .await;
    not_run(&changed, "did not present the pinned host key");
    assert!(!changed.evidence.contains("should not run"));

    let unknown = run(
        &ex,
        json!({"action": "ssh", "host": "db-9", "command": "echo", "args": ["x"]}),
    )
    .await;
    not_run(&unknown, "`db-9` is not in executor.hosts");

    let unlisted = run(
        &ex,
        json!({"action": "ssh", "host": "db-1", "command": "rm", "args": ["-rf"]}),
    )
    .await;
    not_run(&unlisted, "not in executor.hosts.db-1.commands");
}

/// Two one-second commands at once on a host that takes one at a time run one after the
/// other: the second starts, by the host's own clock, after the first ended. On a host that
/// takes two (the same server under another name, so only the limit differs) they run at
/// once: each waits for the other to have started, which only two at once can both do.
/// (Stamps rather than wall-clock bounds: a login here took 0.6 to 8 s on a loaded machine.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosts_concurrency_limit_makes_its_actions_wait_their_turn() {
    let server = TestSshd::start();
    let ex = executor(&[
        ("one-at-a-time", server.host(&server.host_key, 1)),
        ("two-at-a-time", server.host(&server.host_key, 2)),
    ]);
    let none = BTreeMap::new();

    let timed = action(
        json!({"action": "ssh", "host": "one-at-a-time", "command": "sh",
        "args": ["-c", "date +%s%3N; sleep 1; date +%s%3N"]}),
    );
    let (x, y) = tokio::join!(ex.run(&timed, &none), ex.run(&timed, &none));
    let mut spans: Vec<(i64, i64)> = [&x, &y]
        .iter()
        .map(|o| match stamps(o)[..] {
            [start, end] => (start, end),
            _ => panic!("two stamps in {}", o.evidence),
        })
        .collect();
    spans.sort();
    let (first, second) = (spans[0], spans[1]);
    eprintln!(
        "max_concurrent 1: the first ran 0..{} ms, the second {}..{} ms",
        first.1 - first.0,
        second.0 - first.0,
        second.1 - first.0
    );
    assert!(
        second.0 >= first.1,
        "the second started before the first ended: {spans:?}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let meet = |me: &str, other: &str| {
        let wait = "touch \"$0/$1\"; i=0; \
            while [ ! -e \"$0/$2\" ] && [ $i -lt 250 ]; do sleep 0.1; i=$((i+1)); done; \
            test -e \"$0/$2\"";
        action(
            json!({"action": "ssh", "host": "two-at-a-time", "command": "sh",
            "args": ["-c", wait, dir.path(), me, other]}),
        )
    };
    let (ab, ba) = (meet("a", "b"), meet("b", "a"));
    let (a, b) = tokio::join!(ex.run(&ab, &none), ex.run(&ba, &none));
    for o in [a, b] {
        assert_eq!(o.status, CheckStatus::Pass, "they met: {}", o.evidence);
    }
}

/// The intent is committed before the command runs (it is there, open, while the remote
/// command sleeps) and the outcome after, with the remote side's stamp between the two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_action_is_an_intent_before_and_an_outcome_after() {
    let db = TestDb::new();
    let store = Store::open(&db.url, 2, 5_000).expect("store");
    let server = TestSshd::start();
    let ex = Arc::new(executor(&[("db-1", server.host(&server.host_key, 1))]));
    let promote = action(json!({"action": "ssh", "host": "db-1", "command": "sh",
        "args": ["-c", "date +%s%3N; sleep 1; echo promoted >&2"], "idempotent": true}));
    let subject = "plan-execution:7/step:promote";

    let running = tokio::spawn({
        let (ex, store, promote) = (ex.clone(), store.clone(), promote.clone());
        async move {
            ex.run_recorded(&store, (subject, "replica-a"), &promote, &BTreeMap::new())
                .await
        }
    });
    let open = eventually(Duration::from_secs(10), "the open intent", || async {
        let rows = store
            .run(|c| actions::unfinished(c, "plan-execution:7/"))
            .await
            .ok()?;
        (rows.len() == 1).then_some(rows)
    })
    .await;
    let (intent, outcome) = running.await.expect("joined").expect("recorded");

    assert_eq!(open[0].id, intent.id);
    assert_eq!(outcome.status, CheckStatus::Pass, "{}", outcome.evidence);
    let rows = store
        .run(move |c| actions::attempts(c, subject))
        .await
        .expect("read");
    let [row] = &rows[..] else {
        panic!("one attempt: {rows:?}")
    };
    assert_eq!(
        row.summary,
        "db-1: sh -c date +%s%3N; sleep 1; echo promoted >&2"
    );
    assert!(row.idempotent);
    assert_eq!(row.status.as_deref(), Some("pass"));
    let evidence = row.evidence.as_deref().unwrap_or_default();
    assert!(evidence.contains("stderr:\npromoted"), "{evidence}");
    let remote = stamps(&outcome)[0];
    let finished = row.finished_at.expect("an outcome");
    assert!(
        row.started_at <= remote && remote <= finished,
        "intent {} <= ran {remote} <= outcome {finished}",
        row.started_at
    );
}
