//! Real faults, injected and recovered by acmangkut's executor with the built-in fault
//! operations (`deploy/operations/faults`): over ssh on a host in a network namespace, or as
//! local commands. Latency with `tc netem` and a `tbf` bandwidth limit on that host's
//! interface, SIGSTOP of a real HTTP
//! server, a `stress-ng` CPU burn, a disk fill and its free-space guard, a kill; and the
//! target guard: a fault whose recovery never comes ends by itself at max duration + grace
//! (a pause over a local command, whose process group the executor kills; a partition that
//! cuts the controller off its own ssh session), and a recovery cancels the guard.

use has_tests::faults::{
    Faults, HOST, HttpServer, Place, Step, alive, fault_id, guard_pid, log, state_dir, stopped,
};
use serde_json::json;
use shared::action::Action;
use shared::check::{CheckOutcome, CheckStatus};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The guard's grace after the max duration (lib.sh's GRACE_SECONDS).
const GRACE: Duration = Duration::from_secs(5);
/// What the guard may take beyond max + grace: polling here, the recovery itself.
const SLACK: Duration = Duration::from_secs(2);
/// A handshake that takes longer while polling counts as none.
const POLL: Duration = Duration::from_millis(250);

fn passed(what: &str, o: &CheckOutcome) {
    assert_eq!(o.status, CheckStatus::Pass, "{what}: {}", o.evidence);
}

/// Polls `done` every 50 ms until it holds or `within` passes; the time it took.
async fn until(within: Duration, what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

/// Nothing of fault `id` is left: no state, no guard process.
fn nothing_left(id: &str) {
    assert!(!state_dir(id).exists(), "{id}: state left\n{}", log(id));
    assert_eq!(guard_pid(id), None, "{id}: a guard is left\n{}", log(id));
}

/// The guard of fault `id` ends its recovery: its process is gone, and its state with it.
async fn guard_finished(id: &str) {
    until(Duration::from_secs(2), "the guard's recovery ends", || {
        guard_pid(id).is_none() && !state_dir(id).exists()
    })
    .await;
}

/// The values of a process fault `id` on `server` (named by its pid file), for at most `max`.
fn on_server(server: &HttpServer, id: &str, max: &str) -> serde_json::Value {
    json!({"fault_id": id, "max_duration": max, "target": server.pid_file.display().to_string()})
}

/// One TCP handshake to `addr`: its time, or `None` when it does not complete in `within`.
fn handshake(addr: SocketAddr, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    TcpStream::connect_timeout(&addr, within).ok()?;
    Some(started.elapsed())
}

/// The fastest of three handshakes (the added latency, without scheduling noise).
fn rtt(addr: SocketAddr) -> Duration {
    (0..3)
        .map(|_| handshake(addr, Duration::from_secs(2)).expect("the host answers"))
        .min()
        .expect("three")
}

/// Whether this kernel has netem (probed in the test host's namespace, on its loopback).
fn kernel_has_netem(f: &Faults) -> Result<(), String> {
    let ns = &f.sshd.ns;
    ns.run(
        "tc",
        &["qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
    )?;
    ns.run("tc", &["qdisc", "del", "dev", "lo", "root"])
        .map(drop)
}

fn root_qdisc(f: &Faults) -> String {
    let link = &f.sshd.ns.peer_link;
    f.sshd
        .ns
        .run("tc", &["qdisc", "show", "dev", link, "root"])
        .expect("tc qdisc show")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_netem_latency_on_a_namespaced_host_is_seen_and_gone_after_recovery() {
    let f = Faults::start();
    let id = fault_id("netem");
    let addr = SocketAddr::from((f.sshd.ns.peer, 22));
    let values = |max: &str| {
        json!({"fault_id": id, "max_duration": max, "dev": f.sshd.ns.peer_link,
            "latency": "200ms"})
    };
    if let Err(why) = kernel_has_netem(&f) {
        // The injection says so plainly and leaves nothing; the latency cannot be measured.
        let refused = f
            .run(
                "fault.net.latency",
                Step::Inject,
                Place::Host,
                values("30s"),
            )
            .await;
        assert_eq!(refused.status, CheckStatus::Fail, "{}", refused.evidence);
        assert!(
            refused.evidence.contains("this kernel has no such qdisc"),
            "{}",
            refused.evidence
        );
        nothing_left(&id);
        eprintln!(
            "NOT MEASURED: this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM unset, no \
             sch_netem module): {}; only the refusal was checked",
            why.trim()
        );
        return;
    }
    let before = rtt(addr);
    let injected = f
        .run(
            "fault.net.latency",
            Step::Inject,
            Place::Host,
            values("30s"),
        )
        .await;
    passed("inject", &injected);
    assert!(root_qdisc(&f).contains("netem"), "{}", root_qdisc(&f));
    let during = rtt(addr);
    eprintln!("netem: handshake {before:?} before, {during:?} with 200ms latency");
    assert!(during >= Duration::from_millis(190), "{during:?}");
    let recovered = f
        .run(
            "fault.net.latency",
            Step::Recover,
            Place::Host,
            values("30s"),
        )
        .await;
    passed("recover", &recovered);
    assert!(!root_qdisc(&f).contains("netem"), "{}", root_qdisc(&f));
    assert!(rtt(addr) < Duration::from_millis(100));
    nothing_left(&id);

    // The guard: injected for at most 2 s and never recovered, the qdisc goes by itself.
    let injected = f
        .run("fault.net.latency", Step::Inject, Place::Host, values("2s"))
        .await;
    passed("inject 2s", &injected);
    let max = Duration::from_secs(2);
    let gone = until(max + GRACE + SLACK, "the guard removes netem", || {
        !root_qdisc(&f).contains("netem")
    })
    .await;
    eprintln!(
        "guard: netem removed {} ms after the injection (max 2000 ms + grace {} ms)",
        gone.as_millis(),
        GRACE.as_millis()
    );
    assert!(gone >= max, "not before the max duration: {gone:?}");
    guard_finished(&id).await;
}

/// The time the test host takes to send `bytes` to the executor over ssh.
async fn transfer(f: &Faults, bytes: usize) -> Duration {
    let action: Action = serde_json::from_value(json!({"action": "ssh", "host": HOST,
        "command": "sh", "args": ["-c", format!("head -c {bytes} /dev/zero")]}))
    .expect("an action");
    let started = Instant::now();
    let done = f.executor.run(&action, &Default::default()).await;
    passed("transfer", &done);
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_bandwidth_limit_on_a_namespaced_host_slows_a_transfer_until_recovered() {
    let f = Faults::start();
    let id = fault_id("bandwidth");
    // 256 KiB at 1 Mbit/s: about 2 s (less the bucket's 16 KiB).
    let bytes = 256 * 1024;
    let values = |max: &str| {
        json!({"fault_id": id, "max_duration": max, "dev": f.sshd.ns.peer_link,
            "rate": "1mbit"})
    };
    let before = transfer(&f, bytes).await;
    passed(
        "inject",
        &f.run(
            "fault.net.bandwidth",
            Step::Inject,
            Place::Host,
            values("1m"),
        )
        .await,
    );
    assert!(root_qdisc(&f).contains("tbf"), "{}", root_qdisc(&f));
    let during = transfer(&f, bytes).await;
    passed(
        "recover",
        &f.run(
            "fault.net.bandwidth",
            Step::Recover,
            Place::Host,
            values("1m"),
        )
        .await,
    );
    assert!(!root_qdisc(&f).contains("tbf"), "{}", root_qdisc(&f));
    nothing_left(&id);
    let after = transfer(&f, bytes).await;
    eprintln!("bandwidth: 256 KiB in {before:?} before, {during:?} at 1 Mbit/s, {after:?} after");
    assert!(during >= Duration::from_millis(1_500), "{during:?}");
    assert!(
        during >= before + Duration::from_secs(1),
        "{before:?} -> {during:?}"
    );
    assert!(after < during / 2, "{after:?} after {during:?}");

    // The guard: limited for at most 2 s and never recovered, the qdisc goes by itself.
    let started = Instant::now();
    passed(
        "inject 2s",
        &f.run(
            "fault.net.bandwidth",
            Step::Inject,
            Place::Host,
            values("2s"),
        )
        .await,
    );
    let max = Duration::from_secs(2);
    until(max + GRACE + SLACK, "the guard removes the limit", || {
        !root_qdisc(&f).contains("tbf")
    })
    .await;
    let gone = started.elapsed();
    eprintln!(
        "guard: the tbf qdisc was removed {} ms after the injection started (max 2000 ms + \
         grace {} ms)\n{}",
        gone.as_millis(),
        GRACE.as_millis(),
        log(&id)
    );
    assert!(gone >= max + GRACE, "not before max + grace: {gone:?}");
    guard_finished(&id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_sigstop_of_a_real_http_server_times_requests_out_until_sigcont() {
    let f = Faults::start();
    let server = HttpServer::start().await;
    let id = fault_id("pause");
    let values = || on_server(&server, &id, "1m");
    let injected = f
        .run("fault.process.pause", Step::Inject, Place::Host, values())
        .await;
    passed("inject", &injected);
    assert!(stopped(server.pid), "SIGSTOP");
    assert!(
        !server.answers(Duration::from_secs(1)).await,
        "a paused server does not answer"
    );
    assert!(guard_pid(&id).is_some(), "a guard is armed\n{}", log(&id));
    // Injected twice is injected once: the same guard, the same deadline.
    let again = f
        .run("fault.process.pause", Step::Inject, Place::Host, values())
        .await;
    passed("inject again", &again);
    assert!(
        again.evidence.contains("guard already armed"),
        "{}",
        again.evidence
    );

    let started = Instant::now();
    let recovered = f
        .run("fault.process.pause", Step::Recover, Place::Host, values())
        .await;
    passed("recover", &recovered);
    assert!(server.answers(Duration::from_secs(2)).await, "SIGCONT");
    eprintln!(
        "pause: recovery to the first answer {} ms",
        started.elapsed().as_millis()
    );
    nothing_left(&id);
    let twice = f
        .run("fault.process.pause", Step::Recover, Place::Host, values())
        .await;
    passed("recovered twice is recovered", &twice);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_a_kill_ends_the_process_its_pid_file_names() {
    let f = Faults::start();
    let server = HttpServer::start().await;
    let id = fault_id("kill");
    let mut term = on_server(&server, &id, "1m");
    term["signal"] = json!("TERM");
    let values = || term.clone();
    passed(
        "inject",
        &f.run("fault.process.kill", Step::Inject, Place::Host, values())
            .await,
    );
    until(Duration::from_secs(5), "SIGTERM ends the server", || {
        !alive(server.pid)
    })
    .await;
    // Repeated (acmangkut retrying after a crash): the process is gone already, which is fine.
    passed(
        "inject again",
        &f.run("fault.process.kill", Step::Inject, Place::Host, values())
            .await,
    );
    let recovered = f
        .run("fault.process.kill", Step::Recover, Place::Host, values())
        .await;
    passed("recover", &recovered);
    assert!(
        recovered.evidence.contains("now: none"),
        "{}",
        recovered.evidence
    );
    nothing_left(&id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_stress_ng_cpu_burn_runs_and_leaves_no_process_after_recovery() {
    let f = Faults::start();
    let id = fault_id("cpu");
    let values = || json!({"fault_id": id, "max_duration": "1m", "workers": 1, "load": 50});
    let injected = f
        .run("fault.resource.cpu", Step::Inject, Place::Host, values())
        .await;
    passed("inject", &injected);
    let group: u32 = std::fs::read_to_string(state_dir(&id).join("stress.pid"))
        .expect("the stress-ng group")
        .trim()
        .parse()
        .expect("a pid");
    let members = || {
        std::process::Command::new("pgrep")
            .args(["-g", &group.to_string()])
            .output()
            .map(|o| {
                let pids = String::from_utf8_lossy(&o.stdout).to_string();
                let live = pids.lines().filter_map(|p| p.trim().parse().ok());
                live.filter(|p| alive(*p)).count()
            })
            .unwrap_or(0)
    };
    // stress-ng and its worker (a busy loop at 50 %).
    until(Duration::from_secs(5), "stress-ng's worker runs", || {
        members() >= 2
    })
    .await;
    let recovered = f
        .run("fault.resource.cpu", Step::Recover, Place::Host, values())
        .await;
    passed("recover", &recovered);
    assert_eq!(members(), 0, "no process of the burn is left");
    nothing_left(&id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_disk_fill_takes_space_and_refuses_to_go_below_min_free() {
    let f = Faults::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().display().to_string();
    let id = fault_id("fill");
    let values = |size: &str, min_free: &str| {
        json!({"fault_id": id, "max_duration": "1m", "path": path, "size": size,
            "min_free": min_free})
    };
    let file = dir.path().join(format!("has-fault-{id}.fill"));
    passed(
        "inject 1M",
        &f.run(
            "fault.disk.fill",
            Step::Inject,
            Place::Host,
            values("1M", "1M"),
        )
        .await,
    );
    let len = std::fs::metadata(&file).expect("the fill file").len();
    assert_eq!(len, 1 << 20);
    passed(
        "recover",
        &f.run(
            "fault.disk.fill",
            Step::Recover,
            Place::Host,
            values("1M", "1M"),
        )
        .await,
    );
    assert!(!file.exists());
    nothing_left(&id);

    // No file system here keeps 1000 TiB free: both are refused, nothing is written.
    for (size, min_free, why) in [
        ("auto", "1000T", "not above MIN_FREE"),
        ("1000T", "1M", "under MIN_FREE"),
    ] {
        let refused = f
            .run(
                "fault.disk.fill",
                Step::Inject,
                Place::Host,
                values(size, min_free),
            )
            .await;
        assert_eq!(refused.status, CheckStatus::Fail, "{}", refused.evidence);
        assert!(refused.evidence.contains("refused"), "{}", refused.evidence);
        assert!(refused.evidence.contains(why), "{}", refused.evidence);
        assert!(!file.exists());
        nothing_left(&id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_guard_resumes_a_paused_server_by_itself_when_recovery_never_comes() {
    let f = Faults::start();
    let server = HttpServer::start().await;
    let id = fault_id("guard-pause");
    // A local command: once it returns, the executor kills its whole process group.
    let values = on_server(&server, &id, "2s");
    let started = Instant::now();
    let injected = f
        .run("fault.process.pause", Step::Inject, Place::Local, values)
        .await;
    passed("inject", &injected);
    let injected_in = started.elapsed();
    assert!(stopped(server.pid));
    assert!(
        guard_pid(&id).is_some(),
        "the guard outlived the command's process group\n{}",
        log(&id)
    );
    let max = Duration::from_secs(2);
    until(max + GRACE + SLACK, "the guard resumes the server", || {
        !stopped(server.pid)
    })
    .await;
    let resumed = started.elapsed();
    assert!(
        server.answers(Duration::from_secs(2)).await,
        "answers again"
    );
    let late = resumed.saturating_sub(max + GRACE);
    eprintln!(
        "guard: the server resumed {} ms after the injection started (it took {} ms; max \
         2000 ms + grace {} ms): at most {} ms after the deadline\n{}",
        resumed.as_millis(),
        injected_in.as_millis(),
        GRACE.as_millis(),
        late.as_millis(),
        log(&id)
    );
    assert!(
        resumed >= max + GRACE,
        "not before max + grace: {resumed:?}"
    );
    guard_finished(&id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_recovery_cancels_the_guard() {
    let f = Faults::start();
    let server = HttpServer::start().await;
    let id = fault_id("cancel");
    let values = || on_server(&server, &id, "10m");
    passed(
        "inject",
        &f.run("fault.process.pause", Step::Inject, Place::Local, values())
            .await,
    );
    let guard = guard_pid(&id).expect("a guard");
    passed(
        "recover",
        &f.run("fault.process.pause", Step::Recover, Place::Local, values())
            .await,
    );
    assert!(!alive(guard), "the guard {guard} is ended");
    nothing_left(&id);
    assert!(server.answers(Duration::from_secs(2)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_guard_ends_a_partition_that_cut_the_controller_off() {
    let f = Faults::start();
    let id = fault_id("partition");
    let addr = SocketAddr::from((f.sshd.ns.peer, 22));
    // The host cuts itself off from the controller (this host's end of the pair): the
    // injection's own ssh session can no longer answer, so only the guard can recover.
    let values = json!({"fault_id": id, "max_duration": "2s",
        "peer": f.sshd.ns.host.to_string()});
    let (mut action, vars) = f.prepare("fault.net.partition", Step::Inject, Place::Host, values);
    if let Action::Ssh(c) = &mut action {
        c.timeout_ms = 3_000;
    }
    let started = Instant::now();
    let cut = f.run_action("inject", &action, &vars).await;
    assert_eq!(cut.status, CheckStatus::Error, "{}", cut.evidence);
    assert!(handshake(addr, POLL).is_none(), "partitioned\n{}", log(&id));
    let max = Duration::from_secs(2);
    until(max + GRACE + SLACK, "the guard ends the partition", || {
        handshake(addr, POLL).is_some()
    })
    .await;
    let healed = started.elapsed();
    eprintln!(
        "guard: the partition from the controller ended {} ms after the injection started \
         (max 2000 ms + grace {} ms)\n{}",
        healed.as_millis(),
        GRACE.as_millis(),
        log(&id)
    );
    assert!(healed >= max + GRACE, "{healed:?}");
    guard_finished(&id).await;
    // Recovering after the guard did is harmless: nothing is in place.
    let (action, vars) = f.prepare(
        "fault.net.partition",
        Step::Recover,
        Place::Host,
        json!({"fault_id": id, "max_duration": "2s", "peer": f.sshd.ns.host.to_string()}),
    );
    passed(
        "recover after the guard",
        &f.run_action("recover", &action, &vars).await,
    );
}
