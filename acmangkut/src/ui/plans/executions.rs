//! `/executions/{id}`: an execution of a plan. Its header, a timeline (a Gantt-like chart of
//! the steps' attempts, the step table with every attempt, the event log) that
//! `/static/timeline.js` refreshes from `/executions/{id}/timeline` every two seconds until the
//! execution ends, and the operators' forms: those the state allows and the caller may use.
//!
//! Everything is read in one store call: the snapshot (execution and steps), the attempts of
//! its actions in one range read, the events; no read per step.

use super::runs::{duration, state_label};
use super::{Problem, id_of, problem};
use crate::engine::plans::executions::operate::{self, Op, RETRYABLE, SKIPPABLE, UNDO_SKIPPABLE};
use crate::iam::perm;
use crate::iam::permissions::Needs;
use crate::state::{AppState, Authorized};
use crate::store::actions::ActionRun;
use crate::store::plans as plans_store;
use crate::store::plans::execution_reads as reads;
use crate::store::plans::executions::{self as store, Snapshot};
use crate::ui::charts::gantt::{self, Gantt, Lane, Span};
use crate::ui::fields::{Fields, Form};
use crate::ui::i18n::Tr;
use crate::ui::views::Chrome;
use crate::ui::{Ui, UiError, assets, when};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use shared::ApiError;
use shared::execution::{EventView, ExecutionState as Ex, StepKind, StepState};
use shared::permissions::Permission;
use std::collections::HashMap;

pub type Read = Authorized<perm::PlansRead>;
pub type Run = Authorized<perm::PlansRun>;
pub type Approve = Authorized<perm::PlansApprove>;

const WIDTH: f64 = 900.0;
/// An attempt's evidence is shown up to this many characters.
const EXCERPT: usize = 300;

pub struct Header {
    pub plan: String,
    /// The plan's page, when the plan still exists.
    pub plan_id: Option<i64>,
    pub version: i32,
    pub state: &'static str,
    pub state_label: &'static str,
    pub rollback: bool,
    pub started_by: String,
    pub comment: String,
    pub created: String,
    pub started: String,
    pub ended: String,
    pub rto: String,
    pub detail: String,
}

pub struct AttemptRow {
    pub attempt: i32,
    pub undo: bool,
    pub start: String,
    pub end: String,
    pub outcome: String,
    pub evidence: String,
}

pub struct StepRow {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub stage: String,
    pub state: &'static str,
    pub state_label: &'static str,
    pub started: String,
    pub ended: String,
    pub error: String,
    pub attempts: Vec<AttemptRow>,
}

/// The part of the page the script refreshes.
#[derive(Template)]
#[template(path = "plans/timeline.html")]
pub struct Timeline {
    pub t: Tr,
    pub id: i64,
    /// Not ended: the script keeps polling.
    pub live: bool,
    pub h: Header,
    pub gantt: Gantt,
    pub steps: Vec<StepRow>,
    pub events: Vec<EventView>,
}

/// A step an action form names.
pub struct StepChoice {
    pub id: String,
    pub name: String,
}

/// The forms the caller may use in the execution's state (the handlers check again).
#[derive(Default)]
pub struct Actions {
    pub pause: bool,
    pub resume: bool,
    pub abort: bool,
    pub abort_rollback: bool,
    pub skip: Vec<StepChoice>,
    pub retry: Vec<StepChoice>,
    /// Approvals this caller may answer.
    pub answer: Vec<StepChoice>,
}

impl Actions {
    pub fn any(&self) -> bool {
        self.pause
            || self.resume
            || self.abort
            || !self.skip.is_empty()
            || !self.retry.is_empty()
            || !self.answer.is_empty()
    }
}

#[derive(Template)]
#[template(path = "plans/execution.html")]
pub struct ExecutionPage {
    pub c: Chrome,
    pub t: Tr,
    pub id: i64,
    /// The rendered [`Timeline`].
    pub timeline: String,
    pub actions: Actions,
    pub problem: Option<Problem>,
    pub script: &'static str,
}

/// What one store call reads for the page.
struct Loaded {
    snap: Snapshot,
    attempts: Vec<ActionRun>,
    events: Vec<EventView>,
    plan_id: Option<i64>,
}

async fn read(state: &AppState, ui: &Ui, id: i64) -> Result<Loaded, UiError> {
    state
        .store
        .run(move |c| {
            let snap = store::snapshot(c, id)?;
            let attempts = reads::attempts(c, id)?;
            let events = store::events(c, id)?;
            let plan_id = plans_store::row_by_name(c, &snap.execution.plan)?.map(|r| r.id);
            Ok::<_, crate::store::StoreError>(Loaded {
                snap,
                attempts,
                events,
                plan_id,
            })
        })
        .await
        .map_err(|e| ui.fail(e))
}

fn bar_class(step: StepState) -> &'static str {
    match step {
        StepState::Succeeded | StepState::RolledBack => "bar-ok",
        StepState::Failed => "bar-failed",
        StepState::Running | StepState::RollingBack => "bar-running",
        StepState::WaitingApproval => "bar-waiting",
        StepState::Skipped => "bar-skipped",
        StepState::OutcomeUnknown => "bar-unknown",
        StepState::Pending => "bar-pending",
    }
}

fn attempt_class(run: &ActionRun, undo: bool) -> &'static str {
    match (run.status.as_deref(), run.finished_at, undo) {
        (Some("pass"), _, false) => "bar-ok",
        (Some("pass"), _, true) => "bar-undo-ok",
        (_, None, false) => "bar-running",
        (_, None, true) => "bar-undo-running",
        (_, _, false) => "bar-failed",
        (_, _, true) => "bar-undo-failed",
    }
}

/// The step and whether it is an undo, from a run's subject (`execution:7:s1.fence:undo`).
fn step_of(subject: &str) -> Option<(&str, bool)> {
    let rest = subject.splitn(3, ':').nth(2)?;
    Some(match rest.strip_suffix(":undo") {
        Some(step) => (step, true),
        None => (rest, false),
    })
}

fn excerpt(s: &str) -> String {
    match s.char_indices().nth(EXCERPT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn timeline(ui: &Ui, id: i64, r: &Loaded) -> Result<Timeline, UiError> {
    let t = ui.tr();
    let e = &r.snap.execution;
    let plan = e.plan().map_err(|err| ui.fail(err))?;
    let resolved: HashMap<&str, _> = plan.steps().map(|(_, s)| (s.id.as_str(), s)).collect();
    let mut runs: HashMap<&str, Vec<(&ActionRun, bool)>> = HashMap::new();
    for run in &r.attempts {
        if let Some((step, undo)) = step_of(&run.subject) {
            runs.entry(step).or_default().push((run, undo));
        }
    }
    let ms = |at: Option<i64>| at.map(|ms| when(ui, Some(crate::store::to_datetime(ms))));
    let stage_names: Vec<String> = plan.stages.iter().map(|s| s.name.clone()).collect();
    let (mut lanes, mut steps) = (Vec::new(), Vec::new());
    for row in &r.snap.steps {
        let step = resolved.get(row.step.as_str());
        let name = step.map_or_else(|| row.step.clone(), |s| s.name.clone());
        let state = row.state();
        let mine = runs
            .get(row.step.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let spans: Vec<Span> = if mine.is_empty() {
            row.started_at
                .map(|start| Span {
                    start,
                    end: row.ended_at,
                    class: bar_class(state),
                    label: t.get(&format!("exec.step.{}", state.as_str())).into(),
                })
                .into_iter()
                .collect()
        } else {
            mine.iter()
                .map(|(run, undo)| Span {
                    start: run.started_at,
                    end: run.finished_at,
                    class: attempt_class(run, *undo),
                    label: format!(
                        "{}{} {}: {}",
                        if *undo { "undo · " } else { "" },
                        t.get("exec.attempt"),
                        run.attempt,
                        run.status.as_deref().unwrap_or("…")
                    ),
                })
                .collect()
        };
        lanes.push(Lane {
            stage: usize::try_from(row.stage).unwrap_or(0),
            label: name.clone(),
            spans,
        });
        steps.push(StepRow {
            id: row.step.clone(),
            name,
            kind: step.map_or("", |s| s.kind.as_str()),
            stage: stage_names
                .get(usize::try_from(row.stage).unwrap_or(0))
                .cloned()
                .unwrap_or_default(),
            state: state.as_str(),
            state_label: t.get(&format!("exec.step.{}", state.as_str())),
            started: ms(row.started_at).unwrap_or_default(),
            ended: ms(row.ended_at).unwrap_or_default(),
            error: row.error.clone().unwrap_or_default(),
            attempts: mine
                .iter()
                .map(|(run, undo)| AttemptRow {
                    attempt: run.attempt,
                    undo: *undo,
                    start: ms(Some(run.started_at)).unwrap_or_default(),
                    end: ms(run.finished_at).unwrap_or_default(),
                    outcome: run.status.clone().unwrap_or_default(),
                    evidence: excerpt(run.evidence.as_deref().unwrap_or("")),
                })
                .collect(),
        });
    }
    let now = crate::store::now_ms();
    let state = e.state();
    Ok(Timeline {
        t,
        id,
        live: !state.ended(),
        h: Header {
            plan: e.plan.clone(),
            plan_id: r.plan_id,
            version: e.version,
            state: state.as_str(),
            state_label: state_label(t, state),
            rollback: e.rollback,
            started_by: e.started_by.clone(),
            comment: e.comment.clone(),
            created: when(ui, Some(crate::store::to_datetime(e.created_at))),
            started: ms(e.started_at).unwrap_or_default(),
            ended: ms(e.ended_at).unwrap_or_default(),
            rto: e.rto_ms.map(|v| duration(t, v)).unwrap_or_default(),
            detail: e.detail.clone().unwrap_or_default(),
        },
        gantt: gantt::gantt(&stage_names, &lanes, now, WIDTH),
        steps,
        events: r.events.clone(),
    })
}

/// The forms `ui`'s caller may use on the execution as read.
fn actions(ui: &Ui, r: &Loaded) -> Result<Actions, UiError> {
    let Some(me) = ui.principal() else {
        return Ok(Actions::default());
    };
    let e = &r.snap.execution;
    let state = e.state();
    if state.ended() {
        return Ok(Actions::default());
    }
    let plan = e.plan().map_err(|err| ui.fail(err))?;
    let (run, approve) = (
        me.can(Permission::PlansRun),
        me.can(Permission::PlansApprove),
    );
    let choice = |s: &store::StepRow| StepChoice {
        id: s.step.clone(),
        name: plan
            .step(&s.step)
            .map_or_else(|| s.step.clone(), |p| p.name.clone()),
    };
    let steps = |ok: &dyn Fn(&store::StepRow) -> bool| -> Vec<StepChoice> {
        r.snap.steps.iter().filter(|s| ok(s)).map(&choice).collect()
    };
    let rollback = e.rollback;
    let skippable = |s: &store::StepRow| match (rollback, s.completed.is_some()) {
        (true, true) => UNDO_SKIPPABLE.contains(&s.state()),
        (true, false) => false,
        (false, _) => SKIPPABLE.contains(&s.state()),
    };
    let may_answer = |s: &store::StepRow| {
        s.state() == StepState::WaitingApproval
            && approve
            && me.name != e.started_by
            && plan.step(&s.step).is_some_and(|p| match &p.kind {
                StepKind::Approval { roles, .. } => roles.iter().any(|r| me.roles.contains(r)),
                _ => false,
            })
    };
    Ok(Actions {
        pause: run
            && matches!(
                state,
                Ex::Pending | Ex::Running | Ex::WaitingApproval | Ex::RollingBack
            ),
        resume: run && state == Ex::Paused,
        abort: run,
        abort_rollback: run
            && matches!(
                state,
                Ex::Pending | Ex::Running | Ex::WaitingApproval | Ex::Paused
            ),
        skip: if run { steps(&skippable) } else { vec![] },
        retry: if run {
            steps(&|s| RETRYABLE.contains(&s.state()))
        } else {
            vec![]
        },
        answer: steps(&may_answer),
    })
}

async fn render(
    state: &AppState,
    ui: &Ui,
    id: i64,
    problem: Option<Problem>,
    status: StatusCode,
) -> Result<HttpResponse, UiError> {
    let r = read(state, ui, id).await?;
    let tl = timeline(ui, id, &r)?;
    let t = ui.tr();
    let title = format!("{} · {} #{id}", tl.h.plan, t.get("exec.title"));
    let page = ExecutionPage {
        c: ui.chrome(title, "plans"),
        t,
        id,
        timeline: tl.render().map_err(|e| ui.fail(ApiError::internal(e)))?,
        actions: actions(ui, &r)?,
        problem,
        script: assets::script_url(),
    };
    ui.render_status(status, &page)
}

pub async fn show(auth: Read, ui: Ui, id: web::Path<String>) -> Result<HttpResponse, UiError> {
    let id = id_of(&ui, &id)?;
    render(&auth, &ui, id, None, StatusCode::OK).await
}

/// The timeline alone (no layout), for the script to swap in.
pub async fn fragment(auth: Read, ui: Ui, id: web::Path<String>) -> Result<HttpResponse, UiError> {
    let id = id_of(&ui, &id)?;
    let r = read(&auth, &ui, id).await?;
    ui.render(&timeline(&ui, id, &r)?)
}

/// Applies the operator's action as the caller, then shows the execution (or, from the
/// approvals inbox, the inbox again); a refusal is shown on the execution's page with its
/// status and reason.
async fn act<P: Needs>(
    auth: Authorized<P>,
    id: web::Path<String>,
    Form { ui, body }: Form,
    op: impl FnOnce(&Fields, Vec<String>) -> Op,
) -> Result<HttpResponse, UiError> {
    let id = id_of(&ui, &id)?;
    let f = Fields::parse(&body);
    let (op, comment) = (
        op(&f, auth.principal.roles.clone()),
        f.get("comment").to_string(),
    );
    let done = auth
        .run_as(move |c, actor| {
            let done = operate::operate_in(c, actor, id, &op, &comment).map_err(ApiError::from);
            Ok::<_, ApiError>(done)
        })
        .await
        .map_err(|e| ui.fail(e))?;
    match done {
        Ok(()) if f.get("back") == "/approvals" => {
            Ok(ui.redirect("/approvals?notice=execution_changed".into()))
        }
        Ok(()) => Ok(ui.redirect(format!("/executions/{id}?notice=execution_changed"))),
        Err(e) if e.code.http_status().is_client_error() => {
            render(&auth, &ui, id, Some(problem(&e)), e.code.http_status()).await
        }
        Err(e) => Err(ui.fail(e)),
    }
}

fn step(f: &Fields) -> String {
    f.get("step").to_string()
}

fn named(f: &Fields) -> Option<String> {
    Some(step(f)).filter(|s| !s.is_empty())
}

pub async fn pause(a: Run, id: web::Path<String>, f: Form) -> Result<HttpResponse, UiError> {
    act(a, id, f, |_, _| Op::Pause).await
}

pub async fn resume(a: Run, id: web::Path<String>, f: Form) -> Result<HttpResponse, UiError> {
    act(a, id, f, |_, _| Op::Resume).await
}

pub async fn skip(a: Run, id: web::Path<String>, f: Form) -> Result<HttpResponse, UiError> {
    act(a, id, f, |f, _| Op::Skip { step: step(f) }).await
}

pub async fn retry(a: Run, id: web::Path<String>, f: Form) -> Result<HttpResponse, UiError> {
    act(a, id, f, |f, _| Op::Retry { step: step(f) }).await
}

pub async fn abort(a: Run, id: web::Path<String>, f: Form) -> Result<HttpResponse, UiError> {
    act(a, id, f, |f, _| Op::Abort {
        rollback: f.get("rollback") == "1",
    })
    .await
}

pub async fn approve(a: Approve, id: web::Path<String>, f: Form) -> Result<HttpResponse, UiError> {
    act(a, id, f, |f, roles| Op::Approve {
        step: named(f),
        roles,
    })
    .await
}

pub async fn reject(a: Approve, id: web::Path<String>, f: Form) -> Result<HttpResponse, UiError> {
    act(a, id, f, |f, roles| Op::Reject {
        step: named(f),
        roles,
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_names_its_step_and_whether_it_undoes_it() {
        assert_eq!(step_of("execution:7:s1.fence"), Some(("s1.fence", false)));
        assert_eq!(
            step_of("execution:7:s1.fence:undo"),
            Some(("s1.fence", true))
        );
        assert_eq!(step_of("inspection"), None);
        assert_eq!(
            excerpt(&"é".repeat(EXCERPT + 5)).chars().count(),
            EXCERPT + 1
        );
    }

    #[test]
    fn every_state_has_a_label_in_both_languages() {
        let keys = Ex::ALL
            .iter()
            .map(|s| format!("exec.state.{}", s.as_str()))
            .chain(
                StepState::ALL
                    .iter()
                    .map(|s| format!("exec.step.{}", s.as_str())),
            );
        crate::ui::i18n::assert_in_every_catalog(keys);
    }
}
