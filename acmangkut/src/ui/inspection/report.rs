//! `/inspection/runs/{id}`: a run's report (summary by level, score, changes, every finding with
//! failures first, each rule's governance suggestion as it was when the run used it, the
//! notifications sent) and `/inspection/runs/{id}/print`, the same for paper.
//!
//! The report is loaded with a fixed number of queries (the run, its findings, the rule versions
//! they name, the deliveries and their attempts) and laid out in one pass: a run of a thousand
//! findings renders in milliseconds.

use super::overview::trigger_label;
use super::{Read, Words, id_of, run_badge, score_class, score_text, shorten};
use crate::engine::inspection::report::assemble as load_report;
use crate::store::inspection::channels::{self, Delivery};
use crate::ui::charts::{Bar, state_bars};
use crate::ui::i18n::Tr;
use crate::ui::views::Chrome;
use crate::ui::{Ui, UiError, when};
use actix_web::{HttpResponse, web};
use askama::Template;
use shared::check::CheckStatus;
use shared::inspection::{Level, Report};
use std::collections::HashMap;

/// Evidence shown per finding (the whole text is in the JSON and CSV exports).
const EVIDENCE_CHARS: usize = 300;
const SUBJECT_CHARS: usize = 160;
/// Deliveries listed (a run notifies a handful of channels).
const DELIVERIES: i64 = 100;
const CHANGE_BAR_WIDTH: f64 = 300.0;
const CHANGE_ROW: f64 = 28.0;

pub struct FindingView {
    pub rule_id: i64,
    pub rule_name: String,
    pub rule_version: i32,
    pub target: String,
    pub level: &'static str,
    pub level_label: &'static str,
    pub status: &'static str,
    pub status_label: &'static str,
    /// `new`, `fixed`, `still_failing` or "".
    pub change: &'static str,
    pub change_label: &'static str,
    pub value: String,
    pub evidence: String,
    pub subject: String,
    pub duration_ms: i64,
}

pub struct LevelRow {
    pub level: &'static str,
    pub label: &'static str,
    pub total: i64,
    pub passed: i64,
    pub failed: i64,
    pub errors: i64,
}

/// A rule (at the version the run used) with its suggestion and how it fared.
pub struct RuleAdvice {
    pub rule_id: i64,
    pub version: i32,
    pub name: String,
    pub plugin: String,
    pub level: &'static str,
    pub level_label: &'static str,
    pub description: String,
    pub suggestion: String,
    /// Findings of the rule that did not pass, and all of them.
    pub failing: usize,
    pub total: usize,
}

pub struct AttemptView {
    pub attempt: i32,
    pub at: String,
    pub ok: bool,
    pub status: String,
    pub error: String,
    pub duration_ms: i64,
}

pub struct DeliveryView {
    pub run_id: Option<i64>,
    pub channel: String,
    pub kind: String,
    pub state: String,
    pub state_label: &'static str,
    pub attempts: i32,
    pub created: String,
    pub finished: String,
    pub last_error: String,
    pub attempt_log: Vec<AttemptView>,
}

/// Everything the report shows, formatted.
pub struct ReportView {
    pub id: i64,
    pub task_id: i64,
    pub task_name: String,
    pub trigger: &'static str,
    pub actor: String,
    pub state_class: &'static str,
    pub state: &'static str,
    pub queued: String,
    pub started: String,
    pub finished: String,
    pub score: String,
    pub score_class: &'static str,
    pub total: i64,
    pub passed: i64,
    pub failed: i64,
    pub errors: i64,
    /// Why the run ended early, if it did.
    pub detail: String,
    pub previous_run_id: Option<i64>,
    pub levels: Vec<LevelRow>,
    pub change_bars: Vec<Bar>,
    pub change_height: f64,
    /// "New: 2, fixed: 1, still failing: 4" (the chart's text).
    pub change_text: String,
    pub findings: Vec<FindingView>,
    pub advice: Vec<RuleAdvice>,
    pub gone: Vec<String>,
    pub deliveries: Vec<DeliveryView>,
    pub json_url: String,
    pub csv_url: String,
}

#[derive(Template)]
#[template(path = "inspection/run.html")]
pub struct RunPage {
    pub c: Chrome,
    pub t: Tr,
    pub r: ReportView,
}

#[derive(Template)]
#[template(path = "inspection/print.html")]
pub struct PrintPage {
    pub c: Chrome,
    pub t: Tr,
    pub r: ReportView,
}

/// Failures first, then errors, then passes; the most severe first within each; otherwise in
/// the order the run checked them.
fn status_rank(s: CheckStatus) -> u8 {
    match s {
        CheckStatus::Fail => 0,
        CheckStatus::Error => 1,
        CheckStatus::Pass => 2,
    }
}

/// Deliveries with their attempts, as the report and the channels page list them.
pub fn delivery_views<'a>(
    ui: &Ui,
    deliveries: impl IntoIterator<Item = &'a Delivery>,
) -> Vec<DeliveryView> {
    deliveries
        .into_iter()
        .map(|d| delivery_view(ui, d))
        .collect()
}

fn delivery_view(ui: &Ui, d: &Delivery) -> DeliveryView {
    let t = ui.tr();
    DeliveryView {
        run_id: d.run_id,
        channel: d.channel.clone(),
        kind: d.channel_kind.clone(),
        state_label: match d.state.as_str() {
            "sent" => t.get("insp.delivery.sent"),
            "failed" => t.get("insp.delivery.failed"),
            _ => t.get("insp.delivery.pending"),
        },
        state: d.state.clone(),
        attempts: d.attempts,
        created: when(ui, Some(d.created_at)),
        finished: d.finished_at.map(|f| when(ui, Some(f))).unwrap_or_default(),
        last_error: d.last_error.clone().unwrap_or_default(),
        attempt_log: d
            .attempt_log
            .iter()
            .map(|a| AttemptView {
                attempt: a.attempt,
                at: when(ui, Some(a.at)),
                ok: a.ok,
                status: a.status_code.map(|s| s.to_string()).unwrap_or_default(),
                error: a.error.clone().unwrap_or_default(),
                duration_ms: a.duration_ms,
            })
            .collect(),
    }
}

/// Lays the report out: one pass over the findings, labels looked up once.
pub fn report_view(ui: &Ui, r: &Report, deliveries: &[Delivery]) -> ReportView {
    let t = ui.tr();
    let w = Words::new(t);
    let run = &r.run;
    let mut order: Vec<usize> = (0..r.findings.len()).collect();
    order.sort_by_key(|&i| {
        let f = &r.findings[i];
        (status_rank(f.status), f.level)
    });
    let mut tally: HashMap<(i64, i32), (usize, usize)> = HashMap::new();
    for f in &r.findings {
        let e = tally.entry((f.rule_id, f.rule_version)).or_default();
        e.1 += 1;
        if f.status != CheckStatus::Pass {
            e.0 += 1;
        }
    }
    let findings = order
        .into_iter()
        .map(|i| {
            let f = &r.findings[i];
            FindingView {
                rule_id: f.rule_id,
                rule_name: f.rule_name.clone(),
                rule_version: f.rule_version,
                target: f.target.clone(),
                level: f.level.as_str(),
                level_label: w.level(f.level),
                status: f.status.as_str(),
                status_label: w.status(f.status),
                change: f.change.map_or("", |c| c.as_str()),
                change_label: f.change.map_or("", |c| w.change(c)),
                value: f.value.clone().unwrap_or_default(),
                evidence: shorten(&f.evidence, EVIDENCE_CHARS),
                subject: shorten(&f.subject, SUBJECT_CHARS),
                duration_ms: f.duration_ms,
            }
        })
        .collect();
    let mut advice: Vec<RuleAdvice> = r
        .rules
        .iter()
        .map(|v| {
            let (failing, total) = tally
                .get(&(v.rule_id, v.version))
                .copied()
                .unwrap_or_default();
            RuleAdvice {
                rule_id: v.rule_id,
                version: v.version,
                name: v.rule.name.clone(),
                plugin: v.rule.plugin.clone(),
                level: v.rule.level.as_str(),
                level_label: w.level(v.rule.level),
                description: v.rule.description.clone(),
                suggestion: v.rule.suggestion.clone(),
                failing,
                total,
            }
        })
        .collect();
    // Rules with failing findings first, the most severe first, then by name.
    advice.sort_by(|a, b| {
        (a.failing == 0, Level::parse(a.level))
            .cmp(&(b.failing == 0, Level::parse(b.level)))
            .then_with(|| a.name.cmp(&b.name))
    });
    let s = &run.summary;
    let changes = [
        ("new", w.change(shared::inspection::Change::New), s.new),
        (
            "fixed",
            w.change(shared::inspection::Change::Fixed),
            s.fixed,
        ),
        (
            "still_failing",
            w.change(shared::inspection::Change::StillFailing),
            s.still_failing,
        ),
    ];
    let change_text = changes
        .iter()
        .map(|(_, label, n)| format!("{label}: {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let counts: Vec<(&'static str, String, i64)> = changes
        .iter()
        .map(|(k, label, n)| (*k, (*label).to_string(), *n))
        .collect();
    let (state_class, state) = run_badge(&w, run.state);
    ReportView {
        id: run.id,
        task_id: run.task_id,
        task_name: run.task_name.clone(),
        trigger: trigger_label(t, &run.trigger),
        actor: run.actor.clone(),
        state_class,
        state,
        queued: when(ui, Some(run.queued_at)),
        started: when(ui, run.started_at),
        finished: when(ui, run.finished_at),
        score: score_text(run.score),
        score_class: score_class(run.score),
        total: run.total,
        passed: run.passed,
        failed: run.failed,
        errors: run.errors,
        detail: run.detail.clone().unwrap_or_default(),
        previous_run_id: run.previous_run_id,
        levels: Level::ALL
            .into_iter()
            .map(|l| {
                let c = s.level(l);
                LevelRow {
                    level: l.as_str(),
                    label: w.level(l),
                    total: c.total,
                    passed: c.passed,
                    failed: c.failed,
                    errors: c.errors,
                }
            })
            .collect(),
        change_bars: state_bars(&counts, CHANGE_BAR_WIDTH, CHANGE_ROW),
        change_height: CHANGE_ROW * counts.len() as f64,
        change_text,
        findings,
        advice,
        gone: r.gone.clone(),
        deliveries: delivery_views(ui, deliveries),
        json_url: format!("/api/v1/inspection/runs/{}/report?format=json", run.id),
        csv_url: format!("/api/v1/inspection/runs/{}/report?format=csv", run.id),
    }
}

async fn load(auth: &Read, ui: &Ui, raw: &str) -> Result<ReportView, UiError> {
    let id = id_of(ui, raw, "run")?;
    let started = std::time::Instant::now();
    let (report, deliveries) = auth
        .store
        .run(move |c| {
            let report = load_report(c, id)?;
            let deliveries = channels::history(c, Some(id), None, DELIVERIES)?;
            Ok::<_, shared::ApiError>((report, deliveries))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let view = report_view(ui, &report, &deliveries);
    tracing::debug!(
        run.id = id,
        findings = report.findings.len(),
        duration_ms = started.elapsed().as_millis() as u64,
        "inspection report laid out"
    );
    Ok(view)
}

pub async fn show(auth: Read, ui: Ui, id: web::Path<String>) -> Result<HttpResponse, UiError> {
    let r = load(&auth, &ui, &id).await?;
    let t = ui.tr();
    let title = format!("{} #{} · {}", t.get("insp.report"), r.id, r.task_name);
    ui.render(&RunPage {
        c: ui.chrome(title, "inspection"),
        t,
        r,
    })
}

pub async fn print(auth: Read, ui: Ui, id: web::Path<String>) -> Result<HttpResponse, UiError> {
    let r = load(&auth, &ui, &id).await?;
    let t = ui.tr();
    let title = format!("{} #{} · {}", t.get("insp.report"), r.id, r.task_name);
    ui.render(&PrintPage {
        c: ui.chrome(title, "inspection"),
        t,
        r,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::Actor;
    use crate::store::inspection::{plugins, rules, runs, tasks};
    use crate::store::schema::inspection_runs;
    use crate::store::{DbConn, Store};
    use diesel::prelude::*;
    use shared::inspection::{RuleInput, TaskInput};

    fn actor() -> Actor {
        Actor {
            name: "tester".into(),
            kind: "user",
            peer: "127.0.0.1".into(),
        }
    }

    fn ui() -> Ui {
        let req = actix_web::test::TestRequest::with_uri("/inspection/runs/1?lang=zh-CN")
            .to_http_request();
        Ui::of(&req)
    }

    /// A migrated store (the suite's backend) holding one task of 10 rules whose run has `n`
    /// findings (passes, failures and errors mixed, long evidence); keep the database alive
    /// with the store.
    async fn store_with_run(n: usize) -> (has_test_db::TestDb, Store, i64) {
        let db = has_test_db::TestDb::new();
        let store = Store::open(&db.url, 2, 5000).expect("open");
        let id = store
            .run(move |c| Ok::<_, shared::ApiError>(seed_run(c, n)))
            .await
            .expect("seed");
        (db, store, id)
    }

    fn seed_run(c: &mut DbConn, n: usize) -> i64 {
        plugins::seed_builtins(c).expect("builtins");
        let tcp = plugins::row_by_name(c, "tcp")
            .expect("query")
            .expect("tcp plugin")
            .id;
        let levels = ["high", "medium", "low"];
        let mut rule_ids = Vec::new();
        let mut names = Vec::new();
        for i in 0..10 {
            let input: RuleInput = serde_json::from_value(serde_json::json!({
                "name": format!("rule-{i}"),
                "plugin": "tcp",
                "params": {"target": "{{ target }}:5432"},
                "level": levels[i % 3],
                "suggestion": format!("Restart the listener <{i}> & check the firewall."),
            }))
            .expect("rule");
            rule_ids.push(rules::create(c, &actor(), &input, tcp).expect("rule").id);
            names.push(input.name);
        }
        let task: TaskInput =
            serde_json::from_value(serde_json::json!({"name": "nightly", "rules": names}))
                .expect("task");
        let task = tasks::create(c, &actor(), &task, &rule_ids, None).expect("task");
        let run = runs::enqueue_manual(c, &actor(), task.id, "nightly").expect("run");
        crate::db!(c, |conn| diesel::update(
            inspection_runs::table.find(run.id)
        )
        .set((
            inspection_runs::state.eq("running"),
            inspection_runs::lease_owner.eq("me"),
            inspection_runs::started_at.eq(crate::store::now_ms()),
        ))
        .execute(conn))
        .expect("start");
        let statuses = ["pass", "fail", "pass", "error", "pass"];
        let evidence = "connection refused ".repeat(100);
        let rows: Vec<runs::NewFinding> = (0..n)
            .map(|i| runs::NewFinding {
                run_id: run.id,
                seq: i32::try_from(i).expect("seq"),
                rule_id: rule_ids[i % 10],
                rule_version: 1,
                rule_name: format!("rule-{}", i % 10),
                target: format!("db-{}.example:5432", i / 10),
                level: levels[(i % 10) % 3].into(),
                status: statuses[i % statuses.len()].into(),
                value: Some(format!("{i}")),
                evidence: evidence.clone(),
                subject: format!("tcp db-{}.example:5432", i / 10),
                duration_ms: 12,
                checked_at: crate::store::now_ms(),
            })
            .collect();
        runs::add_findings(c, "me", run.id, &rows).expect("findings");
        run.id
    }

    #[tokio::test]
    async fn a_report_of_a_thousand_findings_loads_and_renders_fast() {
        let (_db, store, id) = store_with_run(1000).await;
        let ui = ui();
        let started = std::time::Instant::now();
        let (report, deliveries) = store
            .run(move |c| {
                let report = load_report(c, id)?;
                let deliveries = channels::history(c, Some(id), None, DELIVERIES)?;
                Ok::<_, shared::ApiError>((report, deliveries))
            })
            .await
            .expect("report");
        let view = report_view(&ui, &report, &deliveries);
        let html = askama::Template::render(&RunPage {
            c: ui.chrome("report", "inspection"),
            t: ui.tr(),
            r: view,
        })
        .expect("renders");
        let took = started.elapsed();
        // The budget is 200 ms server time in a release build; a debug build is slower, so
        // this asserts a generous bound that still catches per-row queries or quadratic work.
        assert!(took.as_millis() < 1000, "took {took:?}");
        assert_eq!(html.matches("<tr class=\"st-").count(), 1000);
        let first_fail = html.find("st-fail").expect("a failure");
        let first_pass = html.find("<tr class=\"st-pass\"").expect("a pass");
        assert!(first_fail < first_pass, "failures come first");
        assert!(
            html.contains("Restart the listener &#60;0&#62; &#38; check the firewall.")
                || html.contains("Restart the listener &lt;0&gt; &amp; check the firewall."),
            "suggestions are shown, escaped"
        );
        assert!(html.contains("/api/v1/inspection/runs/1/report?format=csv"));
        assert!(html.contains("治理建议"), "in the request's language");
    }

    #[tokio::test]
    async fn findings_sort_failures_then_errors_then_passes_by_level() {
        let (_db, store, id) = store_with_run(30).await;
        let report = store
            .run(move |c| load_report(c, id))
            .await
            .expect("report");
        let v = report_view(&ui(), &report, &[]);
        let statuses: Vec<&str> = v.findings.iter().map(|f| f.status).collect();
        let first_error = statuses.iter().position(|s| *s == "error").expect("error");
        let first_pass = statuses.iter().position(|s| *s == "pass").expect("pass");
        assert!(statuses[..first_error].iter().all(|s| *s == "fail"));
        assert!(
            statuses[first_error..first_pass]
                .iter()
                .all(|s| *s == "error")
        );
        let fail_levels: Vec<&str> = v.findings[..first_error].iter().map(|f| f.level).collect();
        let mut sorted = fail_levels.clone();
        sorted.sort_by_key(|l| Level::parse(l));
        assert_eq!(fail_levels, sorted, "most severe first");
        assert!(
            v.findings
                .iter()
                .all(|f| f.evidence.chars().count() <= EVIDENCE_CHARS + 1)
        );
        let advice_failing: Vec<usize> = v.advice.iter().map(|a| a.failing).collect();
        assert_eq!(v.advice.len(), 10);
        assert_eq!(advice_failing.iter().sum::<usize>(), 12);
        assert_eq!(v.levels.len(), 3);
        assert_eq!(v.change_bars.len(), 3);
    }
}
