//! Chaos Toolkit conformance: the real `chaos run` (PyPI chaostoolkit, pinned in
//! `tests/chaostoolkit/requirements.txt`; `scripts/test` makes its venv) runs every
//! experiment of `tests/chaostoolkit/experiments/` against local servers only, and must end
//! as `tests/chaostoolkit/expected.txt` says (status, deviated, the steady state before and
//! after, activities recorded, exit code). HAS's format layer (`shared::chaostoolkit`) must
//! read each experiment and each real journal, and its tolerance evaluator must reach the
//! verdict chaostoolkit-lib wrote (`tolerance_met`) for every hypothesis probe.

use has_tests::Targets;
use serde_json::{Value, json};
use shared::chaostoolkit::{
    ActivityFailed, Experiment, Journal, Provider, SteadyState, Tolerance, Vars, substitute,
    within_tolerance,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("chaostoolkit")
}

/// One row of `expected.txt`.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    experiment: String,
    status: String,
    deviated: String,
    before: String,
    after: String,
    runs: String,
    rollbacks: String,
    exit: String,
}

fn table() -> Vec<Row> {
    let text = std::fs::read_to_string(dir().join("expected.txt")).expect("expected.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(c.len(), 8, "a row has 8 columns: {l}");
            let s = |i: usize| c[i].to_string();
            Row {
                experiment: s(0),
                status: s(1),
                deviated: s(2),
                before: s(3),
                after: s(4),
                runs: s(5),
                rollbacks: s(6),
                exit: s(7),
            }
        })
        .collect()
}

fn met(state: &Option<SteadyState>) -> String {
    match state.as_ref().map(|s| s.steady_state_met) {
        None => "-".into(),
        Some(Some(true)) => "met".into(),
        Some(_) => "not-met".into(),
    }
}

/// The row a journal (and chaos's exit code) makes.
fn observed(experiment: &str, journal: &Journal, exit: Option<i32>) -> Row {
    let status = serde_json::to_value(journal.status).expect("status");
    Row {
        experiment: experiment.to_string(),
        status: status.as_str().unwrap_or("").to_string(),
        deviated: journal.deviated.to_string(),
        before: met(&journal.steady_states.before),
        after: met(&journal.steady_states.after),
        runs: journal.run.len().to_string(),
        rollbacks: journal.rollbacks.len().to_string(),
        exit: exit.map_or("signal".into(), |c| c.to_string()),
    }
}

/// A probe tolerance's probe as the library runs it, for the http providers the
/// experiments use: its output is a map (always true in Python), so the verdict is whether
/// it connects.
fn run_judge(
    activity: &shared::chaostoolkit::Activity,
    vars: &Vars,
) -> Result<Value, ActivityFailed> {
    let Some(Provider::Http(h)) = &activity.provider else {
        panic!("the experiments' probe tolerances use http providers");
    };
    let url = substitute(&json!(h.url), vars);
    let url = url::Url::parse(url.as_str().unwrap_or("")).expect("a url");
    let addr = format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port().unwrap_or(80)
    );
    std::net::TcpStream::connect(addr)
        .map(|_| json!({"status": 200}))
        .map_err(|e| ActivityFailed(e.to_string()))
}

/// Checks HAS's verdict on each hypothesis probe of `state` against the library's; returns
/// how many were compared.
fn verdicts_agree(
    experiment: &Experiment,
    vars: &Vars,
    state: &SteadyState,
    wrong: &mut Vec<String>,
) -> usize {
    let probes = &experiment
        .steady_state_hypothesis
        .as_ref()
        .expect("a journal with probes comes from an experiment with a hypothesis")
        .probes;
    let mut compared = 0;
    for (run, probe) in state.probes.iter().zip(probes) {
        let (Some(theirs), Some(tolerance)) = (run.tolerance_met, &probe.tolerance) else {
            continue;
        };
        // A probe that failed is not met without a look at its tolerance.
        if run.status != Some(shared::chaostoolkit::RunStatus::Succeeded) {
            continue;
        }
        let tolerance: Tolerance = tolerance.substituted(vars);
        let ours = within_tolerance(&tolerance, &run.output, |a, _| run_judge(a, vars));
        compared += 1;
        if ours != theirs {
            wrong.push(format!(
                "{}: chaostoolkit-lib says tolerance_met={theirs}, HAS says {ours} (output {})",
                probe.label(),
                run.output
            ));
        }
    }
    compared
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaostoolkit_conformance_every_experiment_ends_as_the_table_says() {
    let chaos = dir().join(".venv/bin/chaos");
    assert!(
        chaos.exists(),
        "{} is missing: run ./scripts/test, which installs it",
        chaos.display()
    );
    let targets = Targets::start().await;
    let rows = table();
    let mut files: Vec<String> = std::fs::read_dir(dir().join("experiments"))
        .expect("experiments/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut listed: Vec<String> = rows.iter().map(|r| r.experiment.clone()).collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "every experiment has exactly one row in expected.txt"
    );
    assert!(rows.len() >= 8, "at least 8 experiments");

    let mut wrong = Vec::new();
    let mut compared = 0;
    for row in &rows {
        let work = tempfile::tempdir().expect("temp dir");
        let env: BTreeMap<&str, String> = BTreeMap::from([
            ("CTK_BASE", targets.base.clone()),
            (
                "CTK_REFUSED",
                format!("http://127.0.0.1:{}", targets.refused_port),
            ),
            ("CTK_WORK", work.path().join("w").display().to_string()),
            ("CTK_TOKEN", "s3cret".into()),
            ("CTK_TRIES", "3".into()),
        ]);
        std::fs::create_dir(work.path().join("w")).expect("work dir");
        let source = dir().join("experiments").join(&row.experiment);
        let text = std::fs::read_to_string(&source).expect("experiment");
        let experiment = Experiment::parse(&text).unwrap_or_else(|e| {
            panic!("HAS reads {}: {} ({:?})", row.experiment, e.detail, e.field)
        });
        let vars = experiment.vars(|k| env.get(k).cloned()).expect("vars");

        let journal_path = work.path().join("journal.json");
        let mut cmd = Command::new(&chaos);
        cmd.current_dir(work.path())
            .envs(&env)
            .env_remove("CTK_NOT_SET")
            .args(["--no-version-check", "--log-file"])
            .arg(work.path().join("chaostoolkit.log"))
            .arg("--settings")
            .arg(work.path().join("settings.yaml"))
            .arg("run")
            .arg("--journal-path")
            .arg(&journal_path)
            .arg(&source);
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("join")
            .expect("chaos runs");
        let journal_text = std::fs::read_to_string(&journal_path).unwrap_or_else(|e| {
            panic!(
                "{}: no journal ({e}); chaos said:\n{}",
                row.experiment,
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let journal = Journal::parse(&journal_text).unwrap_or_else(|e| {
            panic!(
                "{}: HAS reads the real journal: {} ({:?})",
                row.experiment, e.detail, e.field
            )
        });
        // HAS's journal model writes back what it read.
        let written: Value = serde_json::from_str(&journal.to_json()).expect("json");
        let original: Value = serde_json::from_str(&journal_text).expect("json");
        if written != original {
            wrong.push(format!(
                "{}: the journal does not write back as read",
                row.experiment
            ));
        }
        let seen = observed(&row.experiment, &journal, out.status.code());
        if &seen != row {
            wrong.push(format!(
                "{}: expected {row:?}\n  chaos ended {seen:?}\n{}",
                row.experiment,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        if out.status.code() != Some(journal.exit_code()) {
            wrong.push(format!(
                "{}: exit code differs from Journal::exit_code",
                row.experiment
            ));
        }
        let states = [&journal.steady_states.before, &journal.steady_states.after];
        for state in states.into_iter().flatten() {
            compared += verdicts_agree(&experiment, &vars, state, &mut wrong);
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(
        compared >= 30,
        "only {compared} tolerance verdicts compared"
    );
}
