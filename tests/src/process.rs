//! The real `acmangkut` binary as a child process, for tests that crash it: `kill -9` leaves
//! nothing running behind, unlike stopping a server inside the test process.
//!
//! The binary is `HAS_TEST_ACMANGKUT_BIN` when set (e.g. a release build), else the one cargo
//! builds next to this test binary (built first when missing or out of date).

use crate::spawn::{BOOTSTRAP_TOKEN, bearer_client};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// The acmangkut binary the process tests run.
pub fn acmangkut_bin() -> PathBuf {
    match std::env::var_os("HAS_TEST_ACMANGKUT_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => binary("acmangkut"),
    }
}

/// The binary of workspace package `package` (its only binary has its name), built next to
/// this test binary first when missing or out of date; once per package and test process.
pub fn binary(package: &str) -> PathBuf {
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(bin) = built.get(package) {
        return bin.clone();
    }
    // This test binary is <target>/<profile>/deps/<name>-<hash>.
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("<target>/<profile>/deps");
    let target = profile_dir.parent().expect("<target>");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    // Not the variables cargo sets for this test: a build script that watches one (ring
    // watches CARGO_MANIFEST_DIR) would rebuild, and the suite's next build again.
    for (k, _) in std::env::vars() {
        let per_package = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ];
        if per_package.iter().any(|p| k.starts_with(p))
            || matches!(
                k.as_str(),
                "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR" | "OUT_DIR"
            )
        {
            build.env_remove(k);
        }
    }
    build
        .current_dir(&workspace)
        .args(["build", "--quiet", "-p", package, "--bin", package])
        .arg("--target-dir")
        .arg(target);
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        build.arg("--release");
    }
    let status = build
        .status()
        .unwrap_or_else(|e| panic!("run cargo build for the {package} binary: {e}"));
    assert!(status.success(), "cargo build -p {package} failed");
    let bin = profile_dir.join(package);
    built.insert(package.to_string(), bin.clone());
    bin
}

/// A command for the binary of `package` with none of this process's `HAS_…` settings (the
/// suite's own `HAS_TEST_…` stay).
pub fn command(package: &str) -> Command {
    let mut cmd = Command::new(match package {
        "acmangkut" => acmangkut_bin(),
        _ => binary(package),
    });
    for (k, _) in std::env::vars() {
        if k.starts_with("HAS_") && !k.starts_with("HAS_TEST_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// The port `app` logs (JSON) in its "<app> listening" line past byte `from` of `log`, once
/// it has.
pub async fn logged_port(app: &str, log: &Path, from: u64) -> u16 {
    crate::eventually(
        Duration::from_secs(30),
        &format!("{app} to log its port"),
        || async { listening_port(app, log, from) },
    )
    .await
}

/// A running acmangkut process, its log (JSON lines on stdout, kept in a file) and a client.
pub struct Process {
    pub address: String,
    /// Authenticated with [`BOOTSTRAP_TOKEN`].
    pub http: reqwest::Client,
    pub log: PathBuf,
    child: Child,
}

impl Process {
    /// Starts acmangkut on 127.0.0.1:0 with the test bootstrap token, the database `db_url`
    /// and the settings in `env` (`HAS_…` keys, e.g. `HAS_SCHEDULER__REPLICA_ID`); its log
    /// goes to `log` (appended: a restart adds to it). Waits until it listens.
    pub async fn start(db_url: &str, env: &[(&str, String)], log: &Path) -> Self {
        Self::start_with(db_url, None, env, log).await
    }

    /// As [`Process::start`], reading the TOML file `config` first (`--config`; the `HAS_…`
    /// settings override it): for what an environment variable cannot say, such as the
    /// command allow-list.
    pub async fn start_with(
        db_url: &str,
        config: Option<&Path>,
        env: &[(&str, String)],
        log: &Path,
    ) -> Self {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open the process log");
        let mut cmd = command("acmangkut");
        if let Some(file) = config {
            cmd.arg("--config").arg(file);
        }
        cmd.env("HAS_SERVER__LISTEN", "127.0.0.1:0")
            .env("HAS_SERVER__WORKERS", "2")
            .env("HAS_DATABASE__URL", db_url)
            .env("HAS_DATABASE__POOL_SIZE", "4")
            .env("HAS_IAM__BOOTSTRAP_TOKEN", BOOTSTRAP_TOKEN)
            .env("HAS_LOG__DIR", "")
            .env("HAS_LOG__FORMAT", "json")
            .env("HAS_METRIC_LOG__DIR", "")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out);
        // Only this start's lines: a restart appends to the log of the first.
        let from = std::fs::metadata(log).map_or(0, |m| m.len());
        let child = cmd.spawn().expect("start acmangkut");
        let port = logged_port("acmangkut", log, from).await;
        Self {
            address: format!("http://127.0.0.1:{port}"),
            http: bearer_client(BOOTSTRAP_TOKEN),
            log: log.to_path_buf(),
            child,
        }
    }

    /// `kill -9`: no shutdown, no lease released, nothing flushed.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.http.get(self.url(path)).send().await.expect("GET");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.expect("json")
    }

    /// `POST path` with a JSON body that must answer `status`; returns the answer.
    pub async fn post(&self, path: &str, body: &Value, status: u16) -> Value {
        let r = self.http.post(self.url(path)).json(body).send().await;
        let r = r.expect("POST");
        let got = r.status().as_u16();
        let json: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(got, status, "POST {path}: {json}");
        json
    }

    /// The sum of the samples of metric `name` in `/metrics` (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        let r = self.http.get(self.url("/metrics")).send().await;
        crate::spawn::metric_sum(&r.expect("GET").text().await.expect("metrics"), name)
    }

    /// The log lines (JSON) whose message contains `text`, of every start so far.
    pub fn log_lines(&self, text: &str) -> Vec<Value> {
        let all = std::fs::read_to_string(&self.log).unwrap_or_default();
        all.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["message"].as_str().is_some_and(|m| m.contains(text)))
            .collect()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port in the "<app> listening" line logged past byte `from`.
fn listening_port(app: &str, log: &Path, from: u64) -> Option<u16> {
    let text = std::fs::read(log).ok()?;
    let text = String::from_utf8_lossy(text.get(usize::try_from(from).ok()?..)?).to_string();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == format!("{app} listening").as_str())
        .and_then(|l| match l["port"].as_u64() {
            Some(port) => u16::try_from(port).ok(),
            // pageinspect logs its address: `listen: "127.0.0.1:41234"`.
            None => l["listen"].as_str()?.rsplit(':').next()?.parse().ok(),
        })
}
