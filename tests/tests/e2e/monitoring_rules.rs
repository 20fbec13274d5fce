//! The monitoring shipped in deploy/monitoring: the Prometheus alert rules pass `promtool check
//! rules` and their unit tests (`promtool test rules`: the controllermanager.failure alarm
//! above 200 a minute after two minutes, and the operator's next alarms), the Alertmanager
//! route passes `amtool check-config` and repeats every two minutes, and the metric-log
//! collector turns the log a real acmangkut writes into valid textfile metrics.

use has_tests::process::Process;
use has_tests::{TestDb, eventually};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn monitoring() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/monitoring")
}

/// Runs `program args` in deploy/monitoring; returns its output, asserting success.
fn run(program: &str, args: &[&str], stdin: Option<&Path>) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(monitoring());
    if let Some(file) = stdin {
        cmd.stdin(std::fs::File::open(file).expect("stdin file"));
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

#[test]
fn the_alert_rules_are_valid_and_their_unit_tests_pass() {
    let checked = run("promtool", &["check", "rules", "rules.yml"], None);
    assert!(checked.contains("SUCCESS: 7 rules found"), "{checked}");
    let tested = run("promtool", &["test", "rules", "rules.test.yml"], None);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn the_controllermanager_alarm_is_the_seeds_item_and_repeats_every_two_minutes() {
    let rules = std::fs::read_to_string(monitoring().join("rules.yml")).expect("rules");
    let rules: serde_yaml_ng::Value = serde_yaml_ng::from_str(&rules).expect("yaml");
    let group = &rules["groups"][0];
    assert_eq!(group["interval"], "1m", "evaluated every minute");
    let alarm = &group["rules"][0];
    assert_eq!(alarm["for"], "2m", "alerts after two minutes");
    let expr = alarm["expr"].as_str().expect("expr");
    assert!(
        expr.contains("has_controllermanager_failure_total") && expr.ends_with("> 200"),
        "{expr}"
    );
    let checked = run("amtool", &["check-config", "alertmanager.yml"], None);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let routes = std::fs::read_to_string(monitoring().join("alertmanager.yml")).expect("am");
    let routes: serde_yaml_ng::Value = serde_yaml_ng::from_str(&routes).expect("yaml");
    assert_eq!(routes["route"]["repeat_interval"], "2m");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_exports_the_metric_log_a_real_acmangkut_writes() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = dir.path().join("metric");
    // pageinspect is unreachable: every dispatch of the monitor is a controllermanager failure.
    let env = [
        ("HAS_METRIC_LOG__DIR", logs.display().to_string()),
        ("HAS_METRIC_LOG__INTERVAL_SECONDS", "1".to_string()),
        ("HAS_PAGEINSPECT__URL", "http://127.0.0.1:9".to_string()),
    ];
    let p = Process::start(&db.url, &env, &dir.path().join("acmangkut.log")).await;
    let body = json!({"name": "m", "interval_seconds": 1,
        "probe": {"kind": "tcp", "target": "127.0.0.1:9"}});
    p.post("/api/v1/monitors", &body, 201).await;

    let out = dir.path().join("has.prom");
    let script = monitoring().join("metric-log-textfile.sh");
    let text = eventually(
        Duration::from_secs(30),
        "a failure in the exported log",
        || {
            let (script, logs, out) = (script.clone(), logs.clone(), out.clone());
            async move {
                let args = [logs.to_str()?, out.to_str()?];
                let status = Command::new(&script).args(args).status().ok()?;
                assert!(status.success(), "the collector failed");
                let text = std::fs::read_to_string(&out).ok()?;
                let since_start = text
                    .lines()
                    .find(|l| l.starts_with("has_metric_log_since_start{"))?
                    .rsplit(' ')
                    .next()?
                    .parse::<u64>()
                    .ok()?;
                (since_start > 0).then_some(text)
            }
        },
    )
    .await;
    assert!(
        text.contains("has_metric_log_in_interval{item=\"controllermanager.failure\"}"),
        "{text}"
    );
    run("promtool", &["check", "metrics"], Some(&out));
}
