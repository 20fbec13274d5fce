//! One environment for the three binaries, as a Kubernetes ConfigMap loaded with `envFrom` or
//! one `.env` file gives them: each real binary reads its own `HAS_…` keys, leaves the other
//! binaries' keys to them (logged at debug), and still refuses a misspelt key of its own.

use has_tests::TestDb;
use has_tests::process::{self, logged_port};
use has_tests::spawn::BOOTSTRAP_TOKEN;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

/// The shared environment: keys of all three binaries, side by side.
fn shared_env(db: &TestDb) -> Vec<(&'static str, String)> {
    let token = "shared-service-token-1".to_string();
    vec![
        // acmangkut
        ("HAS_DATABASE__URL", db.url.clone()),
        ("HAS_IAM__BOOTSTRAP_TOKEN", BOOTSTRAP_TOKEN.into()),
        ("HAS_PAGEINSPECT__TOKEN", token.clone()),
        ("HAS_SCHEDULER__TICK_MS", "700".into()),
        ("HAS_METRIC_LOG__DIR", String::new()),
        ("HAS_SERVER__MAX_BODY_BYTES", "2000000".into()),
        // pageinspect
        ("HAS_AUTH__SERVICE_TOKEN", token),
        ("HAS_PROBE__MAX_BATCH", "77".into()),
        ("HAS_LOCATION", "shared-env".into()),
        ("HAS_BROWSER__ENABLED", "false".into()),
        ("HAS_SERVER__MAX_REQUEST_BYTES", "3000000".into()),
        // hasinit
        ("HAS_ACMANGKUT__TOKEN", BOOTSTRAP_TOKEN.into()),
        ("HAS_WAIT__MAX_SECONDS", "30".into()),
        ("HAS_ADMIN__USERNAME", "shared-admin".into()),
        // every binary
        ("HAS_LOG__DIR", String::new()),
        ("HAS_LOG__FORMAT", "json".into()),
        ("HAS_LOG__LEVEL", "info,shared=debug".into()),
    ]
}

/// Starts `package` with `env` (plus its own `extra`), its output appended to `log`.
fn start(package: &str, env: &[(&str, String)], extra: &[(&str, String)], log: &Path) -> Child {
    let out = std::fs::File::create(log).expect("log file");
    process::command(package)
        .envs(env.iter().chain(extra).map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log handle"))
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("start {package}: {e}"))
}

/// The JSON log lines of `log` whose message contains `text`.
fn lines(log: &Path, text: &str) -> Vec<serde_json::Value> {
    let all = std::fs::read_to_string(log).unwrap_or_default();
    all.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["message"].as_str().is_some_and(|m| m.contains(text)))
        .collect()
}

/// Waits for `child` to exit (at most 60 s) and returns its exit code.
fn exit_code(child: &mut Child) -> i32 {
    for _ in 0..600 {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code().expect("exited, not signalled");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("the process did not exit within 60 s");
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_environment_starts_all_three_binaries_and_each_reads_its_own_keys() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let env = shared_env(&db);
    let listen = |addr: &str| vec![("HAS_SERVER__LISTEN", addr.to_string())];

    let pi_log = dir.path().join("pageinspect.log");
    let _pi = Killed(start("pageinspect", &env, &listen("127.0.0.1:0"), &pi_log));
    let pi_port = logged_port("pageinspect", &pi_log, 0).await;
    let started = lines(&pi_log, "pageinspect listening");
    assert_eq!(started[0]["max_batch"], 77, "pageinspect read its own key");
    assert_eq!(started[0]["location"], "shared-env");

    let ac_log = dir.path().join("acmangkut.log");
    let mut ac_extra = listen("127.0.0.1:0");
    ac_extra.push((
        "HAS_PAGEINSPECT__URL",
        format!("http://127.0.0.1:{pi_port}"),
    ));
    let _ac = Killed(start("acmangkut", &env, &ac_extra, &ac_log));
    let ac_port = logged_port("acmangkut", &ac_log, 0).await;
    let ignored = lines(&ac_log, "configuration variable ignored");
    let said: Vec<_> = ignored.iter().map(|l| l["message"].to_string()).collect();
    for expected in [
        "HAS_PROBE__MAX_BATCH: a key of pageinspect",
        "HAS_SERVER__MAX_REQUEST_BYTES: a key of pageinspect",
        "HAS_WAIT__MAX_SECONDS: a key of hasinit",
    ] {
        assert!(
            said.iter().any(|m| m.contains(expected)),
            "{expected}: {said:?}"
        );
    }
    assert!(
        !said.iter().any(|m| m.contains("HAS_DATABASE__URL")),
        "its own keys are not ignored: {said:?}"
    );

    // hasinit, the post-install job, with the same environment: it seeds IAM and exits 0.
    let init_log = dir.path().join("hasinit.log");
    let mut init_extra = listen("127.0.0.1:0");
    init_extra.push(("HAS_ACMANGKUT__URL", format!("http://127.0.0.1:{ac_port}")));
    let mut init = start("hasinit", &env, &init_extra, &init_log);
    let code = exit_code(&mut init);
    let output = std::fs::read_to_string(&init_log).unwrap_or_default();
    assert_eq!(code, 0, "hasinit exit code; its output:\n{output}");
    let users: serde_json::Value = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{ac_port}/api/v1/iam/users"))
        .bearer_auth(BOOTSTRAP_TOKEN)
        .send()
        .await
        .expect("GET users")
        .json()
        .await
        .expect("json");
    assert!(
        users.to_string().contains("shared-admin"),
        "hasinit read its own HAS_ADMIN__USERNAME: {users}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelt_key_still_stops_the_binary_it_belongs_to_and_only_that_one() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut env = shared_env(&db);
    env.push(("HAS_PROBE__MAX_BACH", "5".into()));
    env.push(("HAS_SERVER__LISTEN", "127.0.0.1:0".into()));

    let pi_log = dir.path().join("pageinspect.log");
    let mut pi = start("pageinspect", &env, &[], &pi_log);
    assert_eq!(
        exit_code(&mut pi),
        2,
        "a typo of pageinspect's own key stops it"
    );
    let said = std::fs::read_to_string(&pi_log).unwrap_or_default();
    assert!(said.contains("max_bach"), "the error names the key: {said}");

    // acmangkut leaves the `probe` section to pageinspect and starts.
    let ac_log = dir.path().join("acmangkut.log");
    let extra = vec![("HAS_PAGEINSPECT__URL", "http://127.0.0.1:9".to_string())];
    let _ac = Killed(start("acmangkut", &env, &extra, &ac_log));
    logged_port("acmangkut", &ac_log, 0).await;

    // A typo in a section nobody has stops acmangkut too.
    let mut typo = env.clone();
    typo.push(("HAS_SCHEDULAR__TICK_MS", "5".into()));
    let typo_log = dir.path().join("acmangkut-typo.log");
    let mut ac = start("acmangkut", &typo, &extra, &typo_log);
    assert_eq!(exit_code(&mut ac), 2, "an unknown section stops acmangkut");
    let said = std::fs::read_to_string(&typo_log).unwrap_or_default();
    assert!(
        said.contains("schedular"),
        "the error names the key: {said}"
    );
}
