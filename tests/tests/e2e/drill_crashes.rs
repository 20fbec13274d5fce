//! Crashes of the real `acmangkut` binary in the middle of fault drills (docs/drills.md,
//! "Guarantees: what survives what"): `kill -9` while faults are injected and a restart on the
//! same database; no restart at all (the guard on the target recovers); two replicas on
//! PostgreSQL, one killed, its runs taken over once their leases expire. The faults are real:
//! the http switch of a recording server, and SIGSTOP of a real HTTP server process (the
//! built-in `fault.process.pause`, published as a local `command` operation).

use crate::drills::{calls, drill_of, exists, marker, uuid_ish};
use acmangkut::config::AllowedCommand;
use acmangkut::store::schema::drill_runs;
use diesel::prelude::*;
use has_tests::faults::{HttpServer, allowed_commands, catalog, stopped};
use has_tests::process::Process;
use has_tests::webhook::WebhookReceiver;
use has_tests::{TestDb, eventually};
use serde_json::{Value, json};
use shared::action::Action;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The guard's grace past `max_duration` (`GRACE_SECONDS` of the fault scripts).
const GRACE: Duration = Duration::from_secs(5);
/// The code this suite publishes `fault.process.pause` under, as a local `command`.
const PAUSE: &str = "local.process.pause";
/// `drills.lease_seconds` of every process here (the smallest the config allows).
const LEASE: Duration = Duration::from_secs(2);

/// A drill process: its settings, config file and log, in a temporary directory.
struct Setup {
    db: TestDb,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Setup {
    /// A config file allowing `test` (the steady state's check) and this checkout's fault
    /// scripts as local commands (no environment variable can say that).
    fn new(db: TestDb) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut commands: BTreeMap<String, AllowedCommand> = allowed_commands();
        commands.insert("test".into(), AllowedCommand::from("/usr/bin/test"));
        let doc = json!({"inspection": {"commands": commands}});
        let config = dir.path().join("acmangkut.toml");
        std::fs::write(&config, toml::to_string(&doc).expect("toml")).expect("write config");
        Self { db, dir, config }
    }

    /// Starts replica `replica` (log `<replica>.log`, appended to by a restart) with
    /// `extra` settings.
    async fn start(&self, replica: &str, extra: &[(&str, String)]) -> Process {
        let mut env = vec![
            ("HAS_SCHEDULER__ENABLED", "false".to_string()),
            ("HAS_INSPECTION__ENABLED", "false".into()),
            ("HAS_SCHEDULER__REPLICA_ID", replica.into()),
            ("HAS_PLANS__BUILTIN_FAULTS", "true".into()),
            ("HAS_DRILLS__TICK_MS", "50".into()),
            ("HAS_DRILLS__LEASE_SECONDS", LEASE.as_secs().to_string()),
        ];
        env.extend(extra.iter().cloned());
        let log = self.dir.path().join(format!("{replica}.log"));
        Process::start_with(&self.db.url, Some(&self.config), &env, &log).await
    }
}

/// `action` run where acmangkut runs: an `ssh` action as a `command`.
fn local(action: Action) -> Action {
    match action {
        Action::Ssh(mut c) => {
            c.host = None;
            Action::Command(c)
        }
        a => a,
    }
}

/// Publishes the built-in `fault.process.pause` as [`PAUSE`]: a `command` where acmangkut
/// runs (no `host`), as the faults' README says to run one locally.
async fn publish_local_pause(p: &Process) {
    let mut op = catalog()
        .remove("fault.process.pause")
        .expect("in operations.yaml");
    op.code = PAUSE.into();
    op.parameters.retain(|p| p.name != "host");
    op.do_action = local(op.do_action);
    op.undo = op.undo.map(local);
    let body = serde_json::to_value(&op).expect("operation json");
    p.post("/api/v1/operations", &body, 201).await;
    p.post(
        &format!("/api/v1/operations/{PAUSE}/publish"),
        &Value::Null,
        200,
    )
    .await;
}

/// A drill pausing `server` (one target, `web`) for at most `max_duration`, observed as long
/// (a fault may not end before its drill).
fn pause_drill(server: &HttpServer, file: &Path, max_duration: &str) -> Value {
    let pid_file = server.pid_file.to_str().expect("utf-8");
    json!({
        "name": format!("pause drill {}", uuid_ish()),
        "targets": [{"name": "web", "vars": {"pid_file": pid_file}}],
        "blast_radius": "all",
        "steady_state": [exists(file)],
        "stop_conditions": {"checks": [exists(file)], "interval": "200ms"},
        "faults": [{"operation": PAUSE, "parameters": {"target": "{{ pid_file }}"},
                    "max_duration": max_duration}],
        "observe": max_duration
    })
}

/// Creates drill `doc` and starts a run of it; the run's id.
async fn start_run(p: &Process, doc: &Value) -> i64 {
    let drill = p.post("/api/v1/drills", doc, 201).await["id"]
        .as_i64()
        .expect("drill id");
    p.post(&format!("/api/v1/drills/{drill}/runs"), &json!({}), 201)
        .await["id"]
        .as_i64()
        .expect("run id")
}

async fn run(p: &Process, id: i64) -> Value {
    p.get_json(&format!("/api/v1/drill-runs/{id}")).await
}

/// Waits until every target of run `id` is observed injected.
async fn until_injected(p: &Process, id: i64) {
    eventually(
        Duration::from_secs(15),
        &format!("every target of run {id} injected"),
        || async {
            let r = run(p, id).await;
            r["targets"]
                .as_array()
                .is_some_and(|t| !t.is_empty() && t.iter().all(|t| t["observed"] == "injected"))
                .then_some(())
        },
    )
    .await;
}

/// Waits until run `id` ended; asserts it failed as an interruption with every target
/// recovered (docs/drills.md: "a run found `running` by a process that did not start it").
async fn assert_interrupted(p: &Process, id: i64) {
    let r = eventually(
        Duration::from_secs(10),
        &format!("run {id} ended"),
        || async {
            let r = run(p, id).await;
            (r["state"] == "failed").then_some(r)
        },
    )
    .await;
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|s| s.contains("interrupted")),
        "{r}"
    );
    for t in r["targets"].as_array().expect("targets") {
        assert_eq!(t["observed"], "recovered", "{t}");
        assert_eq!(t["injects"], 1, "injected once, never again: {t}");
    }
}

/// Whether `p` answers `/readyz`.
async fn ready(p: &Process) -> bool {
    let r = p.http.get(p.url("/readyz")).send().await;
    r.is_ok_and(|r| r.status().is_success())
}

/// The time (since `since`) at which `done` first held, polling every 5 ms for `within`.
async fn until_done(
    since: Instant,
    within: Duration,
    what: &str,
    done: impl Fn() -> bool,
) -> Duration {
    loop {
        if done() {
            return since.elapsed();
        }
        assert!(since.elapsed() < within, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drills_kill_9_while_injected_then_restart_recovers_every_target_within_5s() {
    // Arrange: two drills injected by one acmangkut process: the http switch of three
    // targets, and a real HTTP server paused (a fault that lasts until a recovery: its
    // max_duration, and so its guard, is a minute away).
    let setup = Setup::new(TestDb::new());
    let receiver = WebhookReceiver::start().await;
    let server = HttpServer::start().await;
    let (_marker, file) = marker();
    let mut p = setup.start("driller", &[]).await;
    publish_local_pause(&p).await;
    let targets = ["app-1", "app-2", "app-3"];
    let switch = start_run(&p, &drill_of(&receiver, &targets, &file, "1m")).await;
    let pause = start_run(&p, &pause_drill(&server, &file, "1m")).await;
    until_injected(&p, switch).await;
    until_injected(&p, pause).await;
    assert!(stopped(server.pid), "the server is paused");

    // Act: kill -9, then start again on the same database under the same name.
    p.kill9();
    assert!(targets.iter().all(|t| calls(&receiver, "DELETE", t) == 0));
    assert!(
        stopped(server.pid),
        "nothing recovers a fault while acmangkut is down"
    );
    let spawned = Instant::now();
    let p = setup.start("driller", &[]).await;
    let listening = spawned.elapsed();
    while !ready(&p).await {
        assert!(
            spawned.elapsed() < Duration::from_secs(30),
            "/readyz answers"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ready_at = spawned.elapsed();
    let switched = until_done(
        spawned,
        ready_at + Duration::from_secs(5),
        "http recovered",
        || targets.iter().all(|t| calls(&receiver, "DELETE", t) > 0),
    )
    .await;
    let resumed = until_done(
        spawned,
        ready_at + Duration::from_secs(5),
        "server resumed",
        || !stopped(server.pid),
    )
    .await;

    // Assert
    eprintln!(
        "drill recovery after kill -9 and a restart: listening {} ms, /readyz {} ms after the \
         spawn; the 3 http switches recovered {} ms and the paused server {} ms after it \
         ({} and {} ms after /readyz)",
        listening.as_millis(),
        ready_at.as_millis(),
        switched.as_millis(),
        resumed.as_millis(),
        switched.saturating_sub(ready_at).as_millis(),
        resumed.saturating_sub(ready_at).as_millis(),
    );
    assert!(
        server.answers(Duration::from_secs(2)).await,
        "it answers again"
    );
    for t in targets {
        assert_eq!(calls(&receiver, "POST", t), 1, "{t} injected once");
    }
    assert_interrupted(&p, switch).await;
    assert_interrupted(&p, pause).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drills_never_restarted_the_guard_on_the_target_recovers_at_max_duration_plus_grace() {
    // Arrange: a real HTTP server paused by a drill for at most 3 s.
    let setup = Setup::new(TestDb::new());
    let server = HttpServer::start().await;
    let (_marker, file) = marker();
    let mut p = setup.start("driller", &[]).await;
    publish_local_pause(&p).await;
    let max = Duration::from_secs(3);
    let started = Instant::now();
    let id = start_run(&p, &pause_drill(&server, &file, "3s")).await;
    until_injected(&p, id).await;
    let injected = started.elapsed();

    // Act: kill -9 and never start again.
    p.kill9();
    assert!(stopped(server.pid), "paused after the kill");
    let resumed = until_done(
        started,
        max + GRACE + Duration::from_secs(5),
        "guard",
        || !stopped(server.pid),
    )
    .await;

    // Assert: the guard (armed at the injection, which came after `started`) resumed it at
    // max_duration + grace, not before.
    eprintln!(
        "drill guard with acmangkut killed and never restarted: injected within {} ms of the \
         run's start; the server resumed {} ms after it (max 3000 ms + grace {} ms: {} ms past \
         the deadline at most)",
        injected.as_millis(),
        resumed.as_millis(),
        GRACE.as_millis(),
        resumed.saturating_sub(max + GRACE).as_millis()
    );
    assert!(
        resumed >= max + GRACE,
        "not before max + grace: {resumed:?}"
    );
    assert!(
        resumed <= max + GRACE + injected + Duration::from_secs(1),
        "at max + grace: {resumed:?}"
    );
    assert!(
        server.answers(Duration::from_secs(2)).await,
        "it answers again"
    );
}

/// The lease owner of each of `runs`, read behind the API's back.
async fn owners(db: &TestDb, runs: Vec<i64>) -> Vec<Option<String>> {
    let url = db.url.clone();
    let store = tokio::task::spawn_blocking(move || acmangkut::store::Store::open(&url, 1, 5_000))
        .await
        .expect("join")
        .expect("open the database");
    store
        .run(move |c| {
            acmangkut::db!(c, |c| drill_runs::table
                .filter(drill_runs::id.eq_any(runs.clone()))
                .order(drill_runs::id)
                .select(drill_runs::lease_owner)
                .load::<Option<String>>(c))
        })
        .await
        .expect("read the leases")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drills_two_replicas_each_run_owned_by_one_and_takeover_after_lease_expiry_recovers() {
    // Arrange: replica A drives at most two runs: it takes the first two, B the next two.
    let setup = Setup::new(TestDb::always_postgres());
    let receiver = WebhookReceiver::start().await;
    let (_marker, file) = marker();
    let mut a = setup
        .start("replica-a", &[("HAS_DRILLS__MAX_RUNS", "2".into())])
        .await;
    let names: Vec<Vec<String>> = (1..=4)
        .map(|r| (1..=2).map(|t| format!("r{r}-app-{t}")).collect())
        .collect();
    let targets = |r: usize| names[r].iter().map(String::as_str).collect::<Vec<&str>>();
    let mut runs = Vec::new();
    for r in 0..2 {
        runs.push(start_run(&a, &drill_of(&receiver, &targets(r), &file, "1m")).await);
    }
    for id in &runs {
        until_injected(&a, *id).await;
    }
    let b = setup.start("replica-b", &[]).await;
    for r in 2..4 {
        runs.push(start_run(&b, &drill_of(&receiver, &targets(r), &file, "1m")).await);
    }
    for id in &runs {
        until_injected(&b, *id).await;
    }
    let held = owners(&setup.db, runs.clone()).await;
    let a_b = |o: &str| Some(o.to_string());
    assert_eq!(
        held,
        [
            a_b("replica-a"),
            a_b("replica-a"),
            a_b("replica-b"),
            a_b("replica-b")
        ],
        "each run owned by one replica"
    );
    for t in names.iter().flatten() {
        assert_eq!(
            calls(&receiver, "POST", t),
            1,
            "{t} injected by one replica, once"
        );
    }

    // Act: kill -9 A while its faults are in place.
    a.kill9();
    let killed = Instant::now();
    let a_targets: Vec<&str> = (0..2).flat_map(targets).collect();
    let took = until_done(killed, LEASE + Duration::from_secs(5), "takeover", || {
        a_targets.iter().all(|t| calls(&receiver, "DELETE", t) > 0)
    })
    .await;

    // Assert: B recovered A's runs once A's leases expired, and left its own in place.
    eprintln!(
        "drill takeover on PostgreSQL: A's 4 targets recovered by B {} ms after A's kill -9 \
         (lease {} ms, tick 50 ms)",
        took.as_millis(),
        LEASE.as_millis()
    );
    // A renewed its leases every tick (50 ms) until the kill: none expired sooner.
    let expiry = LEASE - Duration::from_millis(100);
    assert!(took >= expiry, "not before A's leases expired: {took:?}");
    for id in &runs[..2] {
        assert_interrupted(&b, *id).await;
    }
    for id in &runs[2..] {
        let r = run(&b, *id).await;
        assert_eq!(r["state"], "running", "B's own runs go on: {r}");
    }
    for t in (2..4).flat_map(targets) {
        assert_eq!(calls(&receiver, "DELETE", t), 0, "{t} still injected");
    }
}
