//! `/drill-runs/{id}`: a drill run. Its state and stage, each target's record (desired and
//! observed phase, inject and recover counts), a per-target timeline of each fault from
//! injection to recovery (the plans' Gantt chart), the events with their evidence, and the
//! stop form while it runs. Stopping goes through the engine's `stop`, as the API's does.

use super::{Read, Run, id_of, lever};
use crate::engine::drills::runs as engine;
use crate::state::AppState;
use crate::store::drills::{lever as lever_store, runs as store};
use crate::ui::charts::gantt::{self, Gantt, Lane, Span};
use crate::ui::fields::{Fields, Form};
use crate::ui::i18n::Tr;
use crate::ui::plans::{Problem, problem};
use crate::ui::views::Chrome;
use crate::ui::{Ui, UiError, when};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use shared::ApiError;
use shared::drill::{RunEvent, RunState, RunView, TargetRecord};

const WIDTH: f64 = 900.0;

pub struct TargetRow {
    pub target: String,
    pub fault_id: String,
    pub desired: &'static str,
    pub desired_label: &'static str,
    pub observed: &'static str,
    pub observed_label: &'static str,
    pub injects: i32,
    pub recovers: i32,
    pub updated: String,
}

pub struct EventRow {
    pub at: String,
    pub target: String,
    pub what: String,
    pub evidence: String,
}

#[derive(Template)]
#[template(path = "drills/run.html")]
pub struct RunPage {
    pub c: Chrome,
    pub t: Tr,
    pub lever: lever::LeverView,
    pub id: i64,
    pub run: super::RunRow,
    pub drill_id: i64,
    pub drill: String,
    pub injected: String,
    pub ended: bool,
    /// Not yet ended nor stopping: the stop form is offered.
    pub stoppable: bool,
    pub targets: Vec<TargetRow>,
    pub gantt: Gantt,
    /// Faults that were injected at some point (the chart is empty without one).
    pub spans: usize,
    pub events: Vec<EventRow>,
    pub problem: Option<Problem>,
}

fn phase(t: Tr, p: shared::drill::Phase) -> (&'static str, &'static str) {
    (p.as_str(), t.get(&format!("drill.phase.{}", p.as_str())))
}

/// Each target's faults from the start of an injection to its recovery (open while it may
/// still be in place), read from the run's events.
pub fn lanes(targets: &[TargetRecord], events: &[RunEvent]) -> Vec<Lane> {
    targets
        .iter()
        .map(|rec| {
            let mut spans: Vec<Span> = Vec::new();
            let mut open: Option<i64> = None;
            let mine = events
                .iter()
                .filter(|e| e.target.as_deref() == Some(&rec.target));
            for e in mine {
                let at = e.at.timestamp_millis();
                let close = match e.what.as_str() {
                    "inject" => {
                        open = open.or(Some(at));
                        None
                    }
                    "inject failed" => Some(("bar-failed", "inject failed")),
                    "recovered" => Some(("bar-ok", "injected → recovered")),
                    "force_cleanup" => Some(("bar-undo-ok", "injected → force cleanup")),
                    _ => None,
                };
                if let (Some((class, label)), Some(start)) = (close, open) {
                    spans.push(Span {
                        start,
                        end: Some(at),
                        class,
                        label: label.into(),
                    });
                    open = None;
                }
            }
            if let Some(start) = open {
                spans.push(Span {
                    start,
                    end: None,
                    class: "bar-running",
                    label: rec.observed.as_str().into(),
                });
            }
            Lane {
                stage: 0,
                label: rec.target.clone(),
                spans,
            }
        })
        .collect()
}

pub async fn show(auth: Read, ui: Ui, id: web::Path<String>) -> Result<HttpResponse, UiError> {
    let id = id_of(&ui, &id)?;
    render(&auth, &ui, id, None, StatusCode::OK).await
}

async fn render(
    state: &AppState,
    ui: &Ui,
    id: i64,
    refused: Option<Problem>,
    status: StatusCode,
) -> Result<HttpResponse, UiError> {
    let (view, lever_now): (RunView, _) = state
        .store
        .run(move |c| {
            let view = store::view(c, id)?;
            Ok::<_, crate::store::StoreError>((view, lever_store::get(c)?))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let t = ui.tr();
    let s = &view.summary;
    let lanes = lanes(&view.targets, &view.events);
    let now = s
        .ended_at
        .unwrap_or_else(chrono::Utc::now)
        .timestamp_millis();
    let heading = [t.get("drill.targets").to_string()];
    let page = RunPage {
        c: ui.chrome(format!("{} #{id}", s.drill), "drills"),
        t,
        lever: lever::view(ui, &lever_now, &format!("/drill-runs/{id}"), None),
        id,
        run: super::run_row(ui, s),
        drill_id: s.drill_id,
        drill: s.drill.clone(),
        injected: s
            .injected_at
            .map(|at| when(ui, Some(at)))
            .unwrap_or_default(),
        ended: s.state.ended(),
        stoppable: !s.state.ended() && s.state != RunState::Stopping,
        targets: view
            .targets
            .iter()
            .map(|r| {
                let ((desired, desired_label), (observed, observed_label)) =
                    (phase(t, r.desired), phase(t, r.observed));
                TargetRow {
                    target: r.target.clone(),
                    fault_id: r.fault_id.clone(),
                    desired,
                    desired_label,
                    observed,
                    observed_label,
                    injects: r.injects,
                    recovers: r.recovers,
                    updated: when(ui, Some(r.updated_at)),
                }
            })
            .collect(),
        spans: lanes.iter().map(|l| l.spans.len()).sum(),
        gantt: gantt::gantt(&heading, &lanes, now, WIDTH),
        events: view
            .events
            .iter()
            .map(|e| EventRow {
                at: e.at.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string(),
                target: e.target.clone().unwrap_or_default(),
                what: e.what.clone(),
                evidence: e.evidence.clone(),
            })
            .collect(),
        problem: refused,
    };
    ui.render_status(status, &page)
}

/// Stops the run (audited with the comment): every target's desired phase becomes
/// `recovered`; a run that has already ended is shown again with the 409's reason.
pub async fn stop(
    auth: Run,
    id: web::Path<String>,
    Form { ui, body }: Form,
) -> Result<HttpResponse, UiError> {
    let id = id_of(&ui, &id)?;
    let comment = Fields::parse(&body).get("comment").trim().to_string();
    let stopped = auth
        .run_as(move |c, actor| {
            let done = engine::stop(c, actor, id, &comment).map_err(ApiError::from);
            Ok::<_, ApiError>(done)
        })
        .await
        .map_err(|e| ui.fail(e))?;
    match stopped {
        Ok(()) => Ok(ui.redirect(format!("/drill-runs/{id}?notice=drill_stopping"))),
        Err(e) if e.code == shared::ErrorCode::Conflict => {
            render(&auth, &ui, id, Some(problem(&e)), StatusCode::CONFLICT).await
        }
        Err(e) => Err(ui.fail(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use shared::drill::Phase;

    fn event(ms: i64, target: &str, what: &str) -> RunEvent {
        RunEvent {
            at: Utc.timestamp_millis_opt(ms).single().expect("a time"),
            target: Some(target.into()),
            what: what.into(),
            evidence: String::new(),
        }
    }

    fn record(target: &str, observed: Phase) -> TargetRecord {
        TargetRecord {
            target: target.into(),
            fault_id: format!("drill-1-{target}"),
            desired: Phase::Recovered,
            observed,
            injects: 1,
            recovers: 1,
            vars: Default::default(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn each_fault_is_a_bar_from_its_injection_to_its_recovery() {
        let events = [
            event(1_000, "a", "inject"),
            event(1_100, "a", "injected"),
            event(1_200, "b", "inject"),
            event(1_300, "b", "injected"),
            event(5_000, "a", "recover"),
            event(5_100, "a", "recovered"),
            event(6_000, "c", "inject"),
            event(6_100, "c", "inject failed"),
        ];
        let targets = [
            record("a", Phase::Recovered),
            record("b", Phase::Injected),
            record("c", Phase::Unknown),
        ];
        let lanes = lanes(&targets, &events);
        let spans: Vec<(i64, Option<i64>, &str)> = lanes
            .iter()
            .flat_map(|l| l.spans.iter().map(|s| (s.start, s.end, s.class)))
            .collect();
        assert_eq!(
            spans,
            [
                (1_000, Some(5_100), "bar-ok"),
                (1_200, None, "bar-running"),
                (6_000, Some(6_100), "bar-failed"),
            ]
        );
    }
}
