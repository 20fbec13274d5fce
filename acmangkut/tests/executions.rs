//! Plan executions run by the execution engine on the suite's database (`has_test_db`), with
//! real commands through the executor's allow-list (`/bin/sh`, `/bin/false`): stages in order
//! and steps in parallel, rollback in reverse order of completion, approvals with four eyes,
//! the operator's pause / resume / skip / retry, and a replica that dies mid-step taken over by
//! another without anything running twice silently; `batches` steps batch by batch, pausing
//! after the first, rolled back member by member, and taken over without rerunning a member.
//! Steps append to files in a temp dir, so what ran, how often and in which order is read from
//! the files.

use acmangkut::config::AllowedCommand;
use acmangkut::engine::Error;
use acmangkut::engine::checks::Checker;
use acmangkut::engine::executor::Executor;
use acmangkut::engine::notify::Sender;
use acmangkut::engine::plans::executions::operate::{self, Op};
use acmangkut::engine::plans::executions::{Driver, Settings, subject};
use acmangkut::metrics::Metrics;
use acmangkut::store::audit::Actor;
use acmangkut::store::plans::executions as rows;
use acmangkut::store::{Store, StoreError, actions};
use has_test_db::TestDb;
use serde_json::{Value, json};
use shared::ErrorCode;
use shared::execution::{ExecutionState, ExecutionView, ResolvedPlan, StepState};
use shared::outbound::{Outbound, OutboundConfig};
use shared::pageinspect_client::PageinspectClient;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Rig {
    db: TestDb,
    store: Store,
    dir: tempfile::TempDir,
    engines: (Arc<Executor>, Arc<Checker>, Sender),
}

impl Rig {
    fn new() -> Self {
        let db = TestDb::new();
        let store = Store::open(&db.url, 4, 5_000).expect("store");
        let mut inspection = acmangkut::Config::default().inspection;
        inspection.commands = [
            ("sh".to_string(), AllowedCommand::from("/bin/sh")),
            ("false".to_string(), AllowedCommand::from("/bin/false")),
        ]
        .into();
        let outbound = Outbound::new("acmangkut", &OutboundConfig::default());
        let executor = Executor::new(&inspection, &Default::default(), &outbound).expect("exec");
        let executor = Arc::new(executor);
        let pageinspect =
            PageinspectClient::new("http://127.0.0.1:9", None, &outbound).expect("client");
        let checker = Checker::new(&inspection, pageinspect, &outbound, Arc::clone(&executor))
            .expect("checker");
        Self {
            db,
            store,
            dir: tempfile::tempdir().expect("temp dir"),
            engines: (
                executor,
                Arc::new(checker),
                Sender::new(&outbound).expect("sender"),
            ),
        }
    }

    fn driver(&self, owner: &str, lease_ms: i64) -> Arc<Driver> {
        let settings = Settings {
            lease_ms,
            tick_ms: 40,
            max_executions: 8,
            sole_replica: false,
        };
        let engines = (
            Arc::clone(&self.engines.0),
            Arc::clone(&self.engines.1),
            self.engines.2.clone(),
        );
        Arc::new(Driver::new(
            self.store.clone(),
            engines,
            Metrics::new(),
            owner.into(),
            settings,
        ))
    }

    /// A replica's engine, running until the handle is aborted (a crash) or the sender drops.
    fn replica(&self, owner: &str, lease_ms: i64) -> Replica {
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(self.driver(owner, lease_ms).run(shutdown));
        Replica { task, _stop: stop }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `sh -c 'echo <line> >> <file>'` and then `then` (more shell).
    fn append(&self, file: &str, line: &str, then: &str) -> Value {
        let path = self.file(file);
        json!({"action": "command", "command": "sh",
            "args": ["-c", format!("echo {line} >> {}{then}", path.display())]})
    }

    async fn start(&self, by: &str, plan: Value) -> Result<i64, Error> {
        let plan: ResolvedPlan = serde_json::from_value(plan).expect("a resolved plan");
        let comment = "practice run".to_string();
        operate::start(&self.store, actor(by), plan, json!({}), comment).await
    }

    async fn view(&self, id: i64) -> ExecutionView {
        self.store
            .run(move |c| rows::view(c, id))
            .await
            .expect("view")
    }

    /// Waits (at most 20 s) until the execution is `state`.
    async fn until(&self, id: i64, state: ExecutionState) -> ExecutionView {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let view = self.view(id).await;
            if view.state == state {
                return view;
            }
            assert!(
                Instant::now() < deadline,
                "execution {id} never became {}: {view:#?}",
                state.as_str()
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    async fn op(&self, id: i64, by: &str, op: Op, comment: &str) -> Result<(), Error> {
        operate::operate(&self.store, actor(by), id, op, comment.into()).await
    }

    async fn events(&self, id: i64) -> Vec<(String, String, Option<String>, String)> {
        let list = self.store.run(move |c| rows::events(c, id)).await;
        list.expect("events")
            .into_iter()
            .map(|e| (e.what, e.actor, e.step, e.comment))
            .collect()
    }
}

struct Replica {
    task: tokio::task::JoinHandle<()>,
    _stop: tokio::sync::watch::Sender<bool>,
}

fn actor(name: &str) -> Actor {
    Actor {
        name: name.into(),
        kind: "user",
        peer: "127.0.0.1".into(),
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn step<'a>(view: &'a ExecutionView, id: &str) -> &'a shared::execution::StepView {
    view.steps.iter().find(|s| s.id == id).expect("the step")
}

fn action_step(id: &str, run: Value, undo: Option<Value>) -> Value {
    let mut kind = json!({"type": "action", "do": run});
    if let Some(undo) = undo {
        kind["undo"] = undo;
    }
    json!({"id": id, "name": id, "kind": kind, "backoff_ms": 50})
}

fn plan(name: &str, stages: Vec<Vec<Value>>) -> Value {
    let stages: Vec<Value> = stages
        .into_iter()
        .enumerate()
        .map(|(i, steps)| json!({"name": format!("stage {i}"), "steps": steps}))
        .collect();
    json!({"plan": name, "version": 1, "stages": stages})
}

#[tokio::test]
async fn stages_run_in_order_and_the_steps_of_a_stage_in_parallel() {
    let rig = Rig::new();
    let _replica = rig.replica("r1", 10_000);
    let parallel = |n: &str| {
        let run = rig.append("log", &format!("start-{n}"), "; sleep 0.4");
        let mut done = run.clone();
        done["args"][1] = json!(format!(
            "{}; echo end-{n} >> {}",
            run["args"][1].as_str().expect("text"),
            rig.file("log").display()
        ));
        action_step(&format!("s1.{n}"), done, None)
    };
    let stages = vec![
        vec![parallel("a"), parallel("b"), parallel("c")],
        vec![
            action_step("s2.after", rig.append("log", "after", ""), None),
            json!({"id": "s2.settle", "name": "settle", "kind": {"type": "wait", "ms": 200}}),
            json!({"id": "s2.gate", "name": "passes on its second try", "timeout_ms": 5000,
                "kind": {"type": "check", "retry_interval_ms": 100, "check": {
                    "check": "command", "command": "sh", "args": ["-c", format!(
                        "echo try >> {0}; [ $(wc -l < {0}) -ge 2 ]",
                        rig.file("gate").display())]}}}),
        ],
    ];
    let started = Instant::now();
    let id = rig
        .start("alice", plan("parallel", stages))
        .await
        .expect("start");
    let view = rig.until(id, ExecutionState::Succeeded).await;
    let took = started.elapsed();

    let log = lines(&rig.file("log"));
    assert_eq!(log.len(), 7, "{log:?}");
    let starts: Vec<usize> = (0..3).collect();
    assert!(
        starts.iter().all(|i| log[*i].starts_with("start-")),
        "the three steps of stage 0 all start before any ends: {log:?}"
    );
    assert_eq!(log[6], "after", "stage 1 runs after stage 0: {log:?}");
    assert!(
        took < Duration::from_millis(3000),
        "three 0.4 s steps side by side, then a 0.2 s wait: {took:?}"
    );
    let rto = view.rto_ms.expect("an RTO");
    assert!((600..3000).contains(&rto), "RTO {rto} ms");
    let mut order: Vec<i32> = view.steps.iter().filter_map(|s| s.completed).collect();
    order.sort_unstable();
    assert_eq!(
        order,
        [1, 2, 3, 4, 5, 6],
        "every step has its place in the order"
    );
    assert_eq!(
        step(&view, "s2.gate").attempts,
        2,
        "the gate is tried until it passes"
    );
    assert!(view.steps.iter().all(|s| s.state == StepState::Succeeded));
    assert_eq!(step(&view, "s1.a").attempts, 1);
    let events = rig.events(id).await;
    let whats: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(whats.first(), Some(&"created"));
    assert_eq!(whats.get(1), Some(&"started"));
    assert_eq!(whats.last(), Some(&"succeeded"));
    assert_eq!(whats.iter().filter(|w| **w == "step.succeeded").count(), 6);
}

#[tokio::test]
async fn a_failed_step_rolls_back_completed_steps_in_reverse_order_of_completion() {
    let rig = Rig::new();
    let _replica = rig.replica("r1", 10_000);
    let undo = |n: &str| Some(rig.append("undo", &format!("undo-{n}"), ""));
    let mut failing = action_step(
        "s2.fail",
        json!({"action": "command", "command": "false"}),
        undo("fail"),
    );
    failing["retries"] = json!(1);
    failing["on_failure"] = json!("rollback");
    let stages = vec![
        vec![
            action_step("s1.first", rig.append("do", "first", ""), undo("first")),
            action_step(
                "s1.second",
                rig.append("do", "second", "; sleep 0.3"),
                undo("second"),
            ),
            json!({"id": "s1.wait", "name": "wait", "kind": {"type": "wait", "ms": 100}}),
        ],
        vec![action_step(
            "s2.third",
            rig.append("do", "third", ""),
            undo("third"),
        )],
        vec![failing],
    ];
    let id = rig
        .start("alice", plan("rollback", stages))
        .await
        .expect("start");
    let view = rig.until(id, ExecutionState::RolledBack).await;

    assert_eq!(
        lines(&rig.file("undo")),
        ["undo-third", "undo-second", "undo-first"],
        "undone last completed first; the failed step, never completed, is not undone"
    );
    for s in ["s1.first", "s1.second", "s2.third"] {
        assert_eq!(step(&view, s).state, StepState::RolledBack, "{s}");
    }
    assert_eq!(
        step(&view, "s1.wait").state,
        StepState::Succeeded,
        "nothing to undo"
    );
    let failed = step(&view, "s2.fail");
    assert_eq!(failed.state, StepState::Failed);
    assert_eq!(failed.attempts, 2, "the first attempt and one retry");
    assert!(view.ended_at.is_some() && view.rto_ms.is_none());
    let store = rig.store.clone();
    let attempts = store
        .run(move |c| actions::attempts(c, &subject(id, "s2.third", true)))
        .await
        .expect("attempts");
    assert_eq!(
        attempts.len(),
        1,
        "each undo recorded once as intent and outcome"
    );
    assert_eq!(attempts[0].status.as_deref(), Some("pass"));
}

fn approval_plan(rig: &Rig) -> Value {
    plan(
        "approve",
        vec![
            vec![
                json!({"id": "s1.ok", "name": "go ahead?", "kind": {"type": "approval",
                "roles": ["approver"]}}),
            ],
            vec![action_step("s2.do", rig.append("do", "done", ""), None)],
        ],
    )
}

fn code(r: Result<(), Error>) -> (ErrorCode, Option<String>) {
    match r {
        Err(Error::Refused(e)) => (e.code, e.field),
        Err(Error::Invalid { field, .. }) => (ErrorCode::InvalidField, field),
        Err(Error::Store(StoreError::Conflict(_))) => (ErrorCode::Conflict, None),
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test]
async fn approvals_need_four_eyes_a_matching_role_and_a_comment() {
    let rig = Rig::new();
    let _replica = rig.replica("r1", 10_000);
    let id = rig
        .start("alice", approval_plan(&rig))
        .await
        .expect("start");
    rig.until(id, ExecutionState::WaitingApproval).await;

    let again = rig.start("carol", approval_plan(&rig)).await;
    let Err(Error::Store(StoreError::Conflict(why))) = again else {
        panic!("a second active execution of a plan: {again:?}");
    };
    assert!(why.contains("active execution"), "{why}");

    let approve = |roles: &[&str]| Op::Approve {
        step: None,
        roles: roles.iter().map(|r| r.to_string()).collect(),
    };
    let refusals = [
        (
            "alice",
            approve(&["approver"]),
            "ok",
            "the starter: four eyes",
        ),
        ("bob", approve(&["viewer"]), "ok", "no approver role"),
        ("bob", approve(&["approver"]), "  ", "no comment"),
    ];
    let expected = [
        (ErrorCode::Forbidden, None),
        (ErrorCode::Forbidden, None),
        (ErrorCode::InvalidField, Some("comment".to_string())),
    ];
    for ((by, op, comment, why), want) in refusals.into_iter().zip(expected) {
        assert_eq!(code(rig.op(id, by, op, comment).await), want, "{why}");
    }
    assert!(
        lines(&rig.file("do")).is_empty(),
        "nothing ran past the gate"
    );
    rig.op(id, "bob", approve(&["viewer", "approver"]), "lag is 0, go")
        .await
        .expect("a second person approves");
    let view = rig.until(id, ExecutionState::Succeeded).await;
    assert_eq!(lines(&rig.file("do")), ["done"]);
    assert_eq!(step(&view, "s1.ok").state, StepState::Succeeded);
    let events = rig.events(id).await;
    assert!(
        events.contains(&(
            "approve".into(),
            "bob".into(),
            Some("s1.ok".into()),
            "lag is 0, go".into()
        )),
        "{events:?}"
    );

    // A rejection fails the gate; its on_failure (pause) applies.
    let id = rig
        .start("alice", approval_plan(&rig))
        .await
        .expect("start again");
    rig.until(id, ExecutionState::WaitingApproval).await;
    let reject = Op::Reject {
        step: Some("s1.ok".into()),
        roles: vec!["approver".into()],
    };
    rig.op(id, "bob", reject, "not now").await.expect("reject");
    let view = rig.until(id, ExecutionState::Paused).await;
    let ok = step(&view, "s1.ok");
    assert_eq!(ok.state, StepState::Failed);
    assert_eq!(ok.error.as_deref(), Some("rejected by bob: not now"));
    rig.op(id, "alice", Op::Abort { rollback: false }, "")
        .await
        .expect("abort");
    rig.until(id, ExecutionState::Aborted).await;
    assert_eq!(
        lines(&rig.file("do")),
        ["done"],
        "the rejected run did nothing"
    );
}

#[tokio::test]
async fn operators_pause_resume_skip_and_retry() {
    let rig = Rig::new();
    let _replica = rig.replica("r1", 10_000);
    let flag = rig.file("flag");
    let gate = json!({"action": "command", "command": "sh",
        "args": ["-c", format!("test -f {}", flag.display())]});
    let stages = |name: &str| {
        plan(
            name,
            vec![
                vec![
                    action_step("s1.gate", gate.clone(), None),
                    action_step("s1.slow", rig.append("log", "slow", "; sleep 0.5"), None),
                ],
                vec![action_step("s2.last", rig.append("log", "last", ""), None)],
            ],
        )
    };

    // Retry: the gate fails (on_failure: pause), is fixed, retried, and the run resumed.
    let id = rig.start("alice", stages("retry")).await.expect("start");
    let view = rig.until(id, ExecutionState::Paused).await;
    assert!(
        view.detail
            .as_deref()
            .is_some_and(|d| d.contains("s1.gate")),
        "{view:?}"
    );
    let resume = rig.op(id, "alice", Op::Resume, "").await;
    assert_eq!(
        code(resume).0,
        ErrorCode::Conflict,
        "a failed step holds the pause"
    );
    std::fs::write(&flag, "").expect("flag");
    let retry = Op::Retry {
        step: "s1.gate".into(),
    };
    rig.op(id, "alice", retry, "").await.expect("retry");
    rig.op(id, "alice", Op::Resume, "").await.expect("resume");
    let view = rig.until(id, ExecutionState::Succeeded).await;
    assert_eq!(step(&view, "s1.gate").attempts, 2);
    assert_eq!(lines(&rig.file("log")), ["slow", "last"]);

    // Skip: needs a comment; then the run carries on without the step.
    std::fs::remove_file(&flag).expect("unflag");
    let id = rig.start("alice", stages("skip")).await.expect("start");
    rig.until(id, ExecutionState::Paused).await;
    let skip = || Op::Skip {
        step: "s1.gate".into(),
    };
    let no_comment = rig.op(id, "alice", skip(), "").await;
    assert_eq!(
        code(no_comment),
        (ErrorCode::InvalidField, Some("comment".into()))
    );
    rig.op(id, "alice", skip(), "checked by hand")
        .await
        .expect("skip");
    rig.op(id, "alice", Op::Resume, "").await.expect("resume");
    let view = rig.until(id, ExecutionState::Succeeded).await;
    assert_eq!(step(&view, "s1.gate").state, StepState::Skipped);

    // Pause: the step in flight finishes; nothing new starts until resumed.
    std::fs::write(&flag, "").expect("flag");
    let id = rig.start("alice", stages("pause")).await.expect("start");
    rig.until(id, ExecutionState::Running).await;
    rig.op(id, "alice", Op::Pause, "hold on")
        .await
        .expect("pause");
    let view = rig.until(id, ExecutionState::Paused).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let view_later = rig.view(id).await;
    assert_eq!(view_later.state, ExecutionState::Paused, "{view:?}");
    assert_eq!(step(&view_later, "s2.last").state, StepState::Pending);
    assert_eq!(
        lines(&rig.file("log")).len(),
        5,
        "slow ran to its end; last did not start"
    );
    rig.op(id, "bob", Op::Resume, "go on")
        .await
        .expect("resume");
    rig.until(id, ExecutionState::Succeeded).await;
    assert_eq!(lines(&rig.file("log")).len(), 6);
    let done = rig.op(id, "bob", Op::Pause, "").await;
    assert_eq!(
        code(done).0,
        ErrorCode::Conflict,
        "an ended execution takes no more"
    );
}

/// Stage 0 appends to `count`; stage 1 appends to `crash` and sleeps 5 s the first time only.
fn crash_plan(rig: &Rig, idempotent: bool) -> Value {
    let crash = rig.file("crash");
    let mut slow = json!({"action": "command", "command": "sh", "idempotent": idempotent,
        "args": ["-c", format!("echo x >> {0}; [ $(wc -l < {0}) -ge 2 ] || sleep 5",
            crash.display())]});
    slow["timeout_ms"] = json!(20_000);
    plan(
        "crash",
        vec![
            vec![action_step(
                "s1.once",
                rig.append("count", "once", ""),
                None,
            )],
            vec![action_step("s2.slow", slow, None)],
        ],
    )
}

/// Starts the crash plan on a replica with a short lease, kills that replica while the slow
/// step runs (its intent recorded, no outcome), and starts a second replica.
async fn crash_mid_step(rig: &Rig, idempotent: bool) -> (i64, Replica) {
    let first = rig.replica("doomed", 500);
    let id = rig
        .start("alice", crash_plan(rig, idempotent))
        .await
        .expect("start");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let store = rig.store.clone();
        let open = store
            .run(move |c| actions::unfinished(c, &format!("execution:{id}:s2.slow")))
            .await
            .expect("intents");
        // The intent is committed, and the command is under way.
        if !open.is_empty() && lines(&rig.file("crash")).len() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the slow step never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.task.abort();
    let _ = first.task.await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    (id, rig.replica("survivor", 10_000))
}

#[tokio::test]
async fn a_replica_dying_mid_step_leaves_a_non_idempotent_step_to_the_operator() {
    let rig = Rig::new();
    let (id, _survivor) = crash_mid_step(&rig, false).await;
    let view = rig.until(id, ExecutionState::Paused).await;
    let slow = step(&view, "s2.slow");
    assert_eq!(slow.state, StepState::OutcomeUnknown, "{view:#?}");
    assert!(
        slow.error
            .as_deref()
            .is_some_and(|e| e.contains("not idempotent"))
    );
    assert_eq!(
        lines(&rig.file("count")),
        ["once"],
        "the completed step did not run again"
    );
    assert_eq!(
        lines(&rig.file("crash")).len(),
        1,
        "nor did the interrupted one, silently"
    );

    let retry = Op::Retry {
        step: "s2.slow".into(),
    };
    rig.op(id, "bob", retry, "the primary says it did not happen")
        .await
        .expect("retry");
    rig.op(id, "bob", Op::Resume, "").await.expect("resume");
    let view = rig.until(id, ExecutionState::Succeeded).await;
    assert_eq!(step(&view, "s2.slow").attempts, 2);
    assert_eq!(lines(&rig.file("count")), ["once"]);
    assert_eq!(lines(&rig.file("crash")).len(), 2);
}

#[tokio::test]
async fn a_replica_dying_mid_step_has_an_idempotent_step_run_again_by_the_next() {
    let rig = Rig::new();
    let (id, _survivor) = crash_mid_step(&rig, true).await;
    let view = rig.until(id, ExecutionState::Succeeded).await;
    assert_eq!(
        lines(&rig.file("count")),
        ["once"],
        "the completed step did not run again"
    );
    assert_eq!(
        lines(&rig.file("crash")).len(),
        2,
        "the interrupted step ran once more"
    );
    let store = rig.store.clone();
    let attempts = store
        .run(move |c| actions::attempts(c, &subject(id, "s2.slow", false)))
        .await
        .expect("attempts");
    let seen: Vec<(String, Option<String>)> = attempts
        .iter()
        .map(|a| (a.owner.clone(), a.status.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            ("doomed".into(), Some("error".into())),
            ("survivor".into(), Some("pass".into()))
        ],
        "the interrupted attempt is closed as such, the rerun recorded"
    );
    assert_eq!(step(&view, "s2.slow").state, StepState::Succeeded);
    let events = rig.events(id).await;
    let by_survivor = events
        .iter()
        .any(|e| e.0 == "step.succeeded" && e.1 == "survivor");
    assert!(by_survivor, "{events:?}");
}

fn abortable(rig: &Rig, name: &str) -> Value {
    let undo = |n: &str| Some(rig.append("undo", &format!("undo-{n}"), ""));
    plan(
        name,
        vec![
            vec![
                action_step("s1.a", rig.append("do", "a", ""), undo("a")),
                action_step("s1.b", rig.append("do", "b", "; sleep 0.6"), undo("b")),
            ],
            vec![action_step("s2.c", rig.append("do", "c", ""), undo("c"))],
        ],
    )
}

/// Waits until step `id` of the execution is `state`.
async fn until_step(rig: &Rig, execution: i64, id: &str, state: StepState) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while step(&rig.view(execution).await, id).state != state {
        assert!(
            Instant::now() < deadline,
            "{id} never became {}",
            state.as_str()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_abort_ends_the_plan_and_an_abort_with_rollback_undoes_what_completed() {
    let rig = Rig::new();
    let _replica = rig.replica("r1", 10_000);
    let id = rig
        .start("alice", abortable(&rig, "abort"))
        .await
        .expect("start");
    until_step(&rig, id, "s1.a", StepState::Succeeded).await;
    rig.op(id, "bob", Op::Abort { rollback: false }, "wrong plan")
        .await
        .expect("abort");
    let view = rig.until(id, ExecutionState::Aborted).await;
    assert!(view.ended_at.is_some() && view.rto_ms.is_none());
    until_step(&rig, id, "s1.b", StepState::Succeeded).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let view = rig.view(id).await;
    assert_eq!(
        step(&view, "s2.c").state,
        StepState::Pending,
        "nothing starts after"
    );
    let mut ran = lines(&rig.file("do"));
    ran.sort();
    assert_eq!(ran, ["a", "b"], "the step in flight ran to its end");
    assert!(lines(&rig.file("undo")).is_empty());

    // The plan is free again; this time the abort undoes what completed, the step in flight
    // included once it has.
    let id = rig
        .start("alice", abortable(&rig, "abort"))
        .await
        .expect("again");
    until_step(&rig, id, "s1.a", StepState::Succeeded).await;
    rig.op(id, "bob", Op::Abort { rollback: true }, "undo it")
        .await
        .expect("abort with rollback");
    let view = rig.until(id, ExecutionState::RolledBack).await;
    assert_eq!(lines(&rig.file("undo")), ["undo-b", "undo-a"]);
    assert_eq!(step(&view, "s2.c").state, StepState::Pending);
}

#[tokio::test]
async fn an_approval_left_unanswered_expires_and_pauses_the_execution() {
    let rig = Rig::new();
    let _replica = rig.replica("r1", 10_000);
    let gate = json!({"id": "s1.ok", "name": "go?", "kind": {"type": "approval",
        "roles": ["approver"], "expires_after_ms": 300}});
    let id = rig
        .start("alice", plan("expiry", vec![vec![gate]]))
        .await
        .expect("start");
    let view = rig.until(id, ExecutionState::Paused).await;
    let ok = step(&view, "s1.ok");
    assert_eq!(ok.state, StepState::Failed);
    assert_eq!(ok.error.as_deref(), Some("the approval expired"));
}

#[tokio::test]
async fn two_replicas_share_executions_and_run_every_step_once() {
    let rig = Rig::new();
    let _one = rig.replica("r1", 10_000);
    let _two = rig.replica("r2", 10_000);
    let mut ids = Vec::new();
    for n in 0..6 {
        let file = format!("plan-{n}");
        let steps = (0..3)
            .map(|s| {
                action_step(
                    &format!("s{s}"),
                    rig.append(&file, &format!("{s}"), ""),
                    None,
                )
            })
            .collect();
        let name = format!("shared-{n}");
        ids.push(
            rig.start("alice", plan(&name, vec![steps]))
                .await
                .expect("start"),
        );
    }
    for (n, id) in ids.into_iter().enumerate() {
        rig.until(id, ExecutionState::Succeeded).await;
        let mut ran = lines(&rig.file(&format!("plan-{n}")));
        ran.sort();
        assert_eq!(ran, ["0", "1", "2"], "plan {n}: each step once");
    }
}

/// A real acmangkut process named `replica` on the rig's database, with `sh` allow-listed and
/// only the execution engine running (a 2 s lease, a 50 ms tick).
fn acmangkut_process(rig: &Rig, replica: &str) -> std::process::Child {
    let config = rig.file("acmangkut.toml");
    std::fs::write(&config, "[inspection.commands]\nsh = \"/bin/sh\"\n").expect("config");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_acmangkut"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("HAS_")) {
        command.env_remove(k);
    }
    command
        .arg("--config")
        .arg(&config)
        .current_dir(rig.dir.path())
        .env("HAS_DATABASE__URL", &rig.db.url)
        .env("HAS_SERVER__LISTEN", "127.0.0.1:0")
        .env("HAS_LOG__DIR", "")
        .env("HAS_METRIC_LOG__DIR", "")
        .env("HAS_SCHEDULER__ENABLED", "false")
        .env("HAS_SCHEDULER__REPLICA_ID", replica)
        .env("HAS_INSPECTION__ENABLED", "false")
        .env("HAS_PLANS__TICK_MS", "50")
        .env("HAS_PLANS__LEASE_SECONDS", "2")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("acmangkut starts")
}

/// kill -9 of the acmangkut process running the slow step (idempotent): on SQLite the process
/// started again continues at once; on PostgreSQL the second replica takes over after the
/// lease. The completed step never runs again; the interrupted one runs once more.
#[tokio::test]
async fn a_killed_acmangkut_process_is_taken_over_and_its_execution_continues() {
    let rig = Rig::new();
    let postgres = TestDb::is_postgres();
    let mut first = Guard(acmangkut_process(&rig, "first"));
    let mut second = postgres.then(|| Guard(acmangkut_process(&rig, "second")));
    let id = rig
        .start("alice", crash_plan(&rig, true))
        .await
        .expect("start");
    let deadline = Instant::now() + Duration::from_secs(30);
    let owner = loop {
        let store = rig.store.clone();
        let open = store
            .run(move |c| actions::unfinished(c, &format!("execution:{id}:s2.slow")))
            .await
            .expect("intents");
        if let Some(run) = open.first()
            && lines(&rig.file("crash")).len() == 1
        {
            break run.owner.clone();
        }
        assert!(Instant::now() < deadline, "the slow step never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let killed = Instant::now();
    let _survivor = match second.take() {
        Some(other) if owner == "first" => {
            first.kill();
            other
        }
        Some(mut other) => {
            other.kill();
            first
        }
        None => {
            first.kill();
            Guard(acmangkut_process(&rig, "restarted"))
        }
    };
    let view = rig.until(id, ExecutionState::Succeeded).await;
    let took = killed.elapsed();
    // The figure for the notes: `--nocapture` shows it.
    eprintln!("kill -9 to success: {took:?} ({})", rig.db.backend());
    assert_eq!(
        lines(&rig.file("count")),
        ["once"],
        "the completed step did not run again"
    );
    assert_eq!(
        lines(&rig.file("crash")).len(),
        2,
        "the interrupted step ran once more"
    );
    assert_eq!(step(&view, "s2.slow").attempts, 2);
}

/// Kills the process (SIGKILL) when the test ends, however it ends.
struct Guard(std::process::Child);

impl Guard {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The engine's own time between steps: from one step's outcome recorded to the next step's
/// intent, over 20 stages of one quick command each. Printed for the notes (`--nocapture`).
#[tokio::test]
async fn the_engine_moves_from_one_step_to_the_next_in_milliseconds() {
    let rig = Rig::new();
    let _replica = rig.replica("r1", 10_000);
    let quick = json!({"action": "command", "command": "sh", "args": ["-c", "true"]});
    let stages = (0..20)
        .map(|i| vec![action_step(&format!("s{i}"), quick.clone(), None)])
        .collect();
    let id = rig
        .start("alice", plan("quick", stages))
        .await
        .expect("start");
    rig.until(id, ExecutionState::Succeeded).await;
    let store = rig.store.clone();
    let runs = store
        .run(move |c| {
            (0..20)
                .map(|i| actions::attempts(c, &subject(id, &format!("s{i}"), false)))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .expect("attempts");
    let spans: Vec<(i64, i64)> = runs
        .iter()
        .map(|r| {
            assert_eq!(r.len(), 1, "each step ran once");
            (r[0].started_at, r[0].finished_at.expect("an outcome"))
        })
        .collect();
    let mut gaps: Vec<i64> = spans.windows(2).map(|w| w[1].0 - w[0].1).collect();
    gaps.sort_unstable();
    let (median, max) = (gaps[gaps.len() / 2], gaps[gaps.len() - 1]);
    eprintln!(
        "between steps ({}): median {median} ms, max {max} ms",
        rig.db.backend()
    );
    assert!(max < 1000, "the engine lingers between steps: {gaps:?}");
}

/// Member `m` of batches step `of` (batch `n` of `count`): appends `m` to `do` (then `then`),
/// and its undo `undo-m` to `undo`.
fn batch_member(rig: &Rig, of: &str, m: &str, (n, count): (u32, u32), pause: bool) -> Value {
    let undo = rig.append("undo", &format!("undo-{m}"), "");
    let mut s = action_step(&format!("{of}.{m}"), rig.append("do", m, ""), Some(undo));
    s["phases"] = json!([{"of": of, "n": n, "count": count, "kind": "batch",
        "pause_after": pause}]);
    s
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn a_batches_step_pauses_after_its_first_batch_and_runs_each_member_once() {
    let rig = Rig::new();
    let _replica = rig.replica("r1", 10_000);
    let members = [("m1", 1), ("m2", 1), ("m3", 2), ("m4", 2), ("m5", 3)];
    let batches = members
        .iter()
        .map(|(m, n)| batch_member(&rig, "s1.1", m, (*n, 3), *n == 1))
        .collect();
    let after = action_step("s2.after", rig.append("do", "after", ""), None);
    let id = rig
        .start("alice", plan("canary", vec![batches, vec![after]]))
        .await
        .expect("start");
    let view = rig.until(id, ExecutionState::Paused).await;
    assert!(
        view.detail
            .as_deref()
            .is_some_and(|d| d.contains("batch 1 of 3 of s1.1")),
        "{view:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sorted(lines(&rig.file("do"))),
        ["m1", "m2"],
        "only the first batch ran before the pause"
    );
    assert_eq!(
        step(&rig.view(id).await, "s1.1.m3").state,
        StepState::Pending
    );
    let events = rig.events(id).await;
    let pause = events
        .iter()
        .find(|e| e.0 == "batch.paused")
        .expect("the pause is on the timeline");
    assert_eq!(pause.2.as_deref(), Some("s1.1"));
    assert!(pause.3.contains("batch 1 of 3"), "{pause:?}");

    rig.op(id, "bob", Op::Resume, "the canary batch looks fine")
        .await
        .expect("resume");
    let view = rig.until(id, ExecutionState::Succeeded).await;
    let log = lines(&rig.file("do"));
    assert_eq!(log.len(), 6, "{log:?}");
    assert_eq!(sorted(log[0..2].to_vec()), ["m1", "m2"]);
    assert_eq!(sorted(log[2..4].to_vec()), ["m3", "m4"], "batch 2 after 1");
    assert_eq!(log[4..], ["m5", "after"], "batch 3, then the next stage");
    for (m, _) in members {
        assert_eq!(step(&view, &format!("s1.1.{m}")).attempts, 1, "{m} once");
    }
    let pauses = rig.events(id).await;
    let pauses = pauses.iter().filter(|e| e.0 == "batch.paused").count();
    assert_eq!(pauses, 1, "after the first batch only");
}

#[tokio::test]
async fn rolling_back_a_partly_done_batches_step_undoes_only_the_members_done_in_reverse() {
    let rig = Rig::new();
    let _replica = rig.replica("r1", 10_000);
    let mut steps: Vec<Value> = ["m1", "m2", "m3", "m4"]
        .iter()
        .zip(1..)
        .map(|(m, n)| batch_member(&rig, "s1.1", m, (n, 4), false))
        .collect();
    steps[2]["kind"]["do"] = json!({"action": "command", "command": "false"});
    steps[2]["on_failure"] = json!("rollback");
    let id = rig
        .start("alice", plan("switch", vec![steps]))
        .await
        .expect("start");
    let view = rig.until(id, ExecutionState::RolledBack).await;
    assert_eq!(lines(&rig.file("do")), ["m1", "m2"]);
    assert_eq!(
        lines(&rig.file("undo")),
        ["undo-m2", "undo-m1"],
        "the members done, last first"
    );
    assert_eq!(step(&view, "s1.1.m3").state, StepState::Failed);
    assert_eq!(step(&view, "s1.1.m4").state, StepState::Pending);
}

/// A batches step of three one-member batches, pausing after the first: `b1` and `b3` append
/// to `count`; `b2` appends to `crash` and sleeps 5 s the first time only (idempotent).
fn crash_batches_plan(rig: &Rig) -> Value {
    let crash = rig.file("crash");
    let mut b2 = batch_member(rig, "s1.1", "b2", (2, 3), false);
    b2["kind"]["do"] = json!({"action": "command", "command": "sh", "idempotent": true,
        "timeout_ms": 20_000,
        "args": ["-c", format!("echo x >> {0}; [ $(wc -l < {0}) -ge 2 ] || sleep 5",
            crash.display())]});
    let mut steps = vec![
        batch_member(rig, "s1.1", "b1", (1, 3), true),
        b2,
        batch_member(rig, "s1.1", "b3", (3, 3), false),
    ];
    for s in [0, 2] {
        let m = steps[s]["id"]
            .as_str()
            .unwrap_or_default()
            .replace("s1.1.", "");
        steps[s]["kind"]["do"] = rig.append("count", &m, "");
    }
    plan("batches-crash", vec![steps])
}

/// kill -9 of the process while the second batch runs, after the operator resumed past the
/// first: the process taking over neither pauses again nor runs the first batch again.
#[tokio::test]
async fn a_killed_process_resumes_a_batches_step_without_rerunning_done_members() {
    let rig = Rig::new();
    let postgres = TestDb::is_postgres();
    let mut first = Guard(acmangkut_process(&rig, "first"));
    let id = rig
        .start("alice", crash_batches_plan(&rig))
        .await
        .expect("start");
    rig.until(id, ExecutionState::Paused).await;
    assert_eq!(lines(&rig.file("count")), ["b1"]);
    rig.op(id, "bob", Op::Resume, "go on")
        .await
        .expect("resume");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let store = rig.store.clone();
        let open = store
            .run(move |c| actions::unfinished(c, &format!("execution:{id}:s1.1.b2")))
            .await
            .expect("intents");
        if !open.is_empty() && lines(&rig.file("crash")).len() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the second batch never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill();
    let _next = Guard(acmangkut_process(
        &rig,
        if postgres { "second" } else { "restarted" },
    ));
    let view = rig.until(id, ExecutionState::Succeeded).await;
    assert_eq!(
        lines(&rig.file("count")),
        ["b1", "b3"],
        "the first batch did not run again"
    );
    assert_eq!(lines(&rig.file("crash")).len(), 2, "b2 ran once more");
    assert_eq!(step(&view, "s1.1.b1").attempts, 1);
    let pauses = rig.events(id).await;
    let pauses = pauses.iter().filter(|e| e.0 == "batch.paused").count();
    assert_eq!(pauses, 1, "no second pause after the takeover");
}
