//! The fault operations of `deploy/operations/faults` run for real by acmangkut's executor:
//! the catalog (`operations.yaml`), its scripts, and the allow-list they need
//! (`commands.toml`, its paths pointed at this checkout). [`Faults`] runs an operation's
//! injection or recovery over ssh on a [`TestSshd`] host (a network namespace: as the catalog
//! writes them) or as a `command` where the test runs; [`HttpServer`] is a real process to
//! pause; [`state_dir`] and [`guard_pid`] look at what a fault left on the host.

use crate::sshd::TestSshd;
use acmangkut::config::{AllowedCommand, ExecutorConfig};
use acmangkut::engine::executor::Executor;
use serde_json::Value;
use shared::action::Action;
use shared::check::CheckOutcome;
use shared::operation::{OperationInput, template_vars};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The name of the test host in `executor.hosts`.
pub const HOST: &str = "target";
/// Where the scripts keep each fault's state (`<id>/`), lock and log.
pub const STATE_ROOT: &str = "/run/has-faults";

/// `deploy/operations/faults`.
pub fn faults_dir() -> PathBuf {
    crate::failover::operations_dir().join("faults")
}

fn read(name: &str) -> String {
    let path = faults_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The built-in fault operations, by code.
pub fn catalog() -> BTreeMap<String, OperationInput> {
    let list: Vec<OperationInput> =
        serde_yaml_ng::from_str(&read("operations.yaml")).expect("operations.yaml");
    list.into_iter().map(|o| (o.code.clone(), o)).collect()
}

/// `commands.toml` with each script's path in this checkout.
pub fn allowed_commands() -> BTreeMap<String, AllowedCommand> {
    let dir = faults_dir()
        .canonicalize()
        .expect("deploy/operations/faults exists");
    let mut list: BTreeMap<String, AllowedCommand> =
        toml::from_str(&read("commands.toml")).expect("commands.toml");
    for c in list.values_mut() {
        if let AllowedCommand::Restricted(r) = c {
            r.path = dir.join(r.path.file_name().expect("a script"));
        }
    }
    list
}

/// Injection (`do`) or recovery (`undo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Inject,
    Recover,
}

/// Where an operation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Over ssh on the namespaced test host, as the catalog writes it.
    Host,
    /// As a `command` where acmangkut (the test) runs: the executor kills the command's whole
    /// process group when it returns, which the guard must survive.
    Local,
}

pub struct Faults {
    pub sshd: TestSshd,
    pub executor: Executor,
    pub catalog: BTreeMap<String, OperationInput>,
}

impl Faults {
    /// The test host with the faults' allow-list (and the test host's `echo` and `sh`), and
    /// an executor that reaches it (and runs the same scripts locally).
    pub fn start() -> Self {
        let sshd = TestSshd::start();
        let mut host = sshd.host(&sshd.host_key, 4);
        host.commands.extend(allowed_commands());
        let config = ExecutorConfig {
            hosts: [(HOST.to_string(), host)].into(),
            ..Default::default()
        };
        let mut inspection = acmangkut::Config::default().inspection;
        inspection.commands = allowed_commands();
        let executor = Executor::new(&inspection, &config, &crate::outbound()).expect("executor");
        Self {
            sshd,
            executor,
            catalog: catalog(),
        }
    }

    /// Operation `code`'s action for `step` at `place`, and its variables from `values`
    /// (checked against the operation's parameters; `host` is added).
    pub fn prepare(
        &self,
        code: &str,
        step: Step,
        place: Place,
        values: Value,
    ) -> (Action, BTreeMap<String, String>) {
        let op = self
            .catalog
            .get(code)
            .unwrap_or_else(|| panic!("operations.yaml has no {code}"));
        let mut values = values.as_object().cloned().expect("values are an object");
        if op.parameters.iter().any(|p| p.name == "host") {
            values.insert("host".into(), HOST.into());
        }
        let checked = op
            .check_values(&values, "parameters.")
            .unwrap_or_else(|e| panic!("{code}: {}: {}", e.field.unwrap_or_default(), e.detail));
        let action = match step {
            Step::Inject => op.do_action.clone(),
            Step::Recover => op.undo.clone().expect("a fault has an undo"),
        };
        let action = match (place, action) {
            (Place::Local, Action::Ssh(mut c)) => {
                c.host = None;
                Action::Command(c)
            }
            (_, a) => a,
        };
        (action, template_vars(&op.parameters, &checked))
    }

    /// Runs `code`'s `step` at `place` with `values`; logs and returns the outcome.
    pub async fn run(&self, code: &str, step: Step, place: Place, values: Value) -> CheckOutcome {
        let (action, vars) = self.prepare(code, step, place, values);
        self.run_action(code, &action, &vars).await
    }

    pub async fn run_action(
        &self,
        what: &str,
        action: &Action,
        vars: &BTreeMap<String, String>,
    ) -> CheckOutcome {
        let outcome = self.executor.run(action, vars).await;
        eprintln!(
            "{what} ({}): {:?} in {} ms: {}",
            action.summary(),
            outcome.status,
            outcome.duration_ms,
            outcome.evidence
        );
        outcome
    }
}

/// A fault id of this test process: `t<pid>-<name>`.
pub fn fault_id(name: &str) -> String {
    format!("t{}-{name}", std::process::id())
}

/// The state directory of fault `id` (there while it is injected).
pub fn state_dir(id: &str) -> PathBuf {
    PathBuf::from(STATE_ROOT).join(id)
}

/// The fault's log: what the scripts and the guard did, with times.
pub fn log(id: &str) -> String {
    std::fs::read_to_string(PathBuf::from(STATE_ROOT).join(format!("{id}.log"))).unwrap_or_default()
}

/// Whether process `pid` runs (it exists and is not a zombie waiting for its reaper).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

/// Whether process `pid` is stopped (SIGSTOP): state `T`.
pub fn stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('T'))
    })
}

/// The live guard process of fault `id`, found by its command line (`… guard <id> …`), not
/// by its pid file: a guard left behind would show here.
pub fn guard_pid(id: &str) -> Option<u32> {
    let needle = format!(" guard {id} ");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let line = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        (line.contains(&needle) && alive(pid)).then_some(pid)
    })
}

/// A real HTTP server in a process of its own (Python's `http.server` on a loopback port),
/// its pid in `pid_file`: something to pause and kill.
pub struct HttpServer {
    child: Child,
    pub pid: u32,
    pub pid_file: PathBuf,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl HttpServer {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("index.html"), "up\n").expect("index");
        let port = crate::free_port();
        // Debian's interpreter (scripts/test makes sure it is there).
        let python = std::env::var("HAS_TEST_PYTHON").unwrap_or("/usr/bin/python3".into());
        let child = Command::new(python)
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("/usr/bin/python3 runs");
        let pid = child.id();
        let pid_file = dir.path().join("server.pid");
        std::fs::write(&pid_file, format!("{pid}\n")).expect("pid file");
        let server = Self {
            child,
            pid,
            pid_file,
            url: format!("http://127.0.0.1:{port}/"),
            _dir: dir,
        };
        crate::eventually(Duration::from_secs(10), "the HTTP server to answer", || {
            let ok = server.answers(Duration::from_secs(1));
            async move { ok.await.then_some(()) }
        })
        .await;
        server
    }

    /// Whether a GET answers 200 within `timeout`.
    pub async fn answers(&self, timeout: Duration) -> bool {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("client");
        let got = client.get(&self.url).send().await;
        got.is_ok_and(|r| r.status().is_success())
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
