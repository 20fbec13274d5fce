//! A plan's executions on its page: the form that starts one (the plan's typed parameters and a
//! comment, resolved and started as `POST /api/v1/plans/{id}/executions` does), the latest
//! executions, and their measured RTO charted against the plan's `rto_objective`.

use super::{Problem, id_of, problem};
use crate::engine::plans::executions::operate;
use crate::engine::plans::resolve;
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::plans as plans_store;
use crate::store::plans::execution_reads as reads;
use crate::ui::charts::{self, LatencyChart};
use crate::ui::fields::{Fields, Form};
use crate::ui::i18n::Tr;
use crate::ui::{Ui, UiError, when};
use actix_web::{HttpResponse, web};
use shared::ApiError;
use shared::execution::{ExecutionState, ExecutionSummary};
use shared::plan::PlanDocument;

pub type Run = Authorized<perm::PlansRun>;

/// The executions listed (newest first) and charted on a plan's page.
pub const SHOWN: i64 = 50;
const CHART: (f64, f64) = (640.0, 200.0);

/// A parameter's input in the start form.
pub struct ParamField {
    pub name: String,
    pub kind: &'static str,
    pub required: bool,
    pub description: String,
    /// The default, shown as the placeholder.
    pub default: String,
    /// What was typed (given back when starting failed).
    pub value: String,
}

pub struct ExecutionRow {
    pub id: i64,
    pub version: i32,
    pub state: &'static str,
    pub state_label: &'static str,
    pub started_by: String,
    pub started: String,
    pub ended: String,
    pub rto: String,
    /// Over the plan's objective.
    pub late: bool,
}

/// The executions section of a plan's page.
pub struct Runs {
    pub params: Vec<ParamField>,
    pub comment: String,
    pub problem: Option<Problem>,
    pub rows: Vec<ExecutionRow>,
    pub total: i64,
    pub chart: LatencyChart,
    /// The objective's line on the chart, and its text.
    pub objective_y: Option<f64>,
    pub objective: String,
}

/// What was typed into the start form.
#[derive(Debug, Clone, Default)]
pub struct Typed {
    pub params: Vec<(String, String)>,
    pub comment: String,
}

impl Typed {
    fn of(f: &Fields, doc: &PlanDocument) -> Self {
        Self {
            params: doc
                .parameters
                .iter()
                .map(|p| {
                    (
                        p.name.clone(),
                        f.get(&format!("param.{}", p.name)).to_string(),
                    )
                })
                .collect(),
            comment: f.get("comment").to_string(),
        }
    }

    /// The values given (an empty input leaves the default), as text: the parameter's type
    /// reads it (`3` for an integer) when the plan resolves.
    fn values(&self) -> serde_json::Map<String, serde_json::Value> {
        self.params
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.trim().to_string())))
            .collect()
    }
}

/// `1 min 5 s`, `850 ms`: a recovery time.
pub fn duration(t: Tr, ms: i64) -> String {
    let (s, unit_s, unit_min) = (ms / 1000, t.get("unit.s"), t.get("unit.min"));
    match ms {
        ms if ms < 1000 => format!("{ms} ms"),
        _ if s < 60 => format!("{s} {unit_s}"),
        _ if s % 60 == 0 => format!("{} {unit_min}", s / 60),
        _ => format!("{} {unit_min} {} {unit_s}", s / 60, s % 60),
    }
}

/// The catalog's label of an execution state.
pub fn state_label(t: Tr, s: ExecutionState) -> &'static str {
    t.get(&format!("exec.state.{}", s.as_str()))
}

/// The section, from the plan's latest document and its executions (newest first).
pub fn runs(
    ui: &Ui,
    doc: &PlanDocument,
    list: &shared::page::Page<ExecutionSummary>,
    typed: Option<Typed>,
    problem: Option<Problem>,
) -> Runs {
    let t = ui.tr();
    let typed = typed.unwrap_or_default();
    let objective_ms = doc.rto_objective.map(|d| d.as_millis() as i64);
    let late = |rto: Option<i64>| matches!((rto, objective_ms), (Some(r), Some(o)) if r > o);
    let rows = list
        .items
        .iter()
        .map(|e| ExecutionRow {
            id: e.id,
            version: e.version,
            state: e.state.as_str(),
            state_label: state_label(t, e.state),
            started_by: e.started_by.clone(),
            started: when(ui, e.started_at.or(Some(e.created_at))),
            ended: e.ended_at.map(|at| when(ui, Some(at))).unwrap_or_default(),
            rto: e.rto_ms.map(|ms| duration(t, ms)).unwrap_or_default(),
            late: late(e.rto_ms),
        })
        .collect();
    // Oldest first; seconds on the y axis, the objective always on it.
    let series: Vec<(i64, f64, bool)> = list
        .items
        .iter()
        .rev()
        .filter_map(|e| {
            let at = e.started_at.unwrap_or(e.created_at).timestamp_millis();
            e.rto_ms.map(|ms| (at, ms as f64 / 1000.0, !late(Some(ms))))
        })
        .collect();
    let objective_s = objective_ms.map(|ms| ms as f64 / 1000.0);
    let chart = charts::line_chart(&series, CHART, t.get("unit.s"), objective_s.unwrap_or(0.0));
    Runs {
        params: doc
            .parameters
            .iter()
            .map(|p| ParamField {
                name: p.name.clone(),
                kind: p.kind.as_str(),
                required: p.required,
                description: p.description.clone(),
                default: p.default.as_ref().map(text).unwrap_or_default(),
                value: typed
                    .params
                    .iter()
                    .find(|(k, _)| *k == p.name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
            })
            .collect(),
        comment: typed.comment,
        problem,
        rows,
        total: list.total,
        objective_y: objective_s.map(|s| chart.y_of(s)),
        objective: doc.rto_objective.map(|d| d.to_string()).unwrap_or_default(),
        chart,
    }
}

fn text(v: &serde_json::Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// The plan's executions, newest first (at most [`SHOWN`]).
pub fn latest(
    c: &mut crate::store::DbConn,
    plan: &str,
) -> Result<shared::page::Page<ExecutionSummary>, crate::store::StoreError> {
    reads::list(c, plan, (SHOWN, 0))
}

/// Starts an execution of the plan's latest version with the form's parameters and comment,
/// then shows it; a refusal (a parameter of the wrong type, another execution active) shows
/// the plan's page again with the field and what was typed, nothing started.
pub async fn start(
    auth: Run,
    id: web::Path<String>,
    Form { ui, body }: Form,
) -> Result<HttpResponse, UiError> {
    let id = id_of(&ui, &id)?;
    let fields = Fields::parse(&body);
    let (typed, started) = auth
        .run_as(move |c, actor| {
            let row = plans_store::row(c, id)?;
            let doc = row.document()?;
            let typed = Typed::of(&fields, &doc);
            let started = resolve::resolve(c, (id, row.version), &doc, &typed.values())
                .and_then(|(plan, params)| {
                    operate::start_in(c, actor, &plan, &params, &typed.comment)
                })
                .map_err(ApiError::from);
            Ok::<_, crate::engine::Error>((typed, started))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    match started {
        Ok(execution) => {
            let to = format!("/executions/{execution}?notice=execution_started");
            Ok(ui.redirect(to))
        }
        Err(e) if e.code.http_status().is_client_error() => {
            let status = e.code.http_status();
            let form = Some((typed, problem(&e)));
            super::render_plan(&auth, &ui, id, form, status).await
        }
        Err(e) => Err(ui.fail(e)),
    }
}
