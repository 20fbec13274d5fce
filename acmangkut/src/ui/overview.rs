//! `/`: the platform overview (运行总览). Each panel is shown to a viewer who may open the page
//! it summarises, and links to it: monitors by state and their latest changes, open risk
//! events by level, the latest inspection score of each task, plan executions in flight, and
//! the approvals waiting for the viewer, drill runs active and faults injected now with the
//! safety lever at hand. One store call reads what the viewer may see.

use super::drills::lever::{self, LeverView};
use super::inspection::Words;
use super::inspection::overview::{LevelCard, RunCell, level_cards, run_cell};
use super::monitors::{dashboard, views::MonitorsPanel};
use super::plans::approvals::{self, Row as Approval};
use super::plans::runs::state_label;
use crate::iam::{Principal, perm};
use crate::state::Authorized;
use crate::store::drills::{lever as lever_store, runs as drill_runs};
use crate::store::inspection::{risks, tasks};
use crate::store::plans::execution_reads as reads;
use crate::store::{DbConn, StoreError};
use crate::ui::i18n::Tr;
use crate::ui::views::Chrome;
use crate::ui::{Ui, UiError, when};
use actix_web::HttpResponse;
use askama::Template;
use shared::drill::Lever;
use shared::execution::ExecutionSummary;
use shared::inspection::Task;
use shared::permissions::Permission;

/// Rows in each list panel; the panel links to the page with the rest.
const ROWS: usize = 8;

pub struct RisksPanel {
    pub open_total: i64,
    pub cards: Vec<LevelCard>,
}

pub struct TaskScore {
    pub id: i64,
    pub name: String,
    pub last_run: RunCell,
}

pub struct InFlight {
    pub id: i64,
    pub plan: String,
    pub state: &'static str,
    pub state_label: &'static str,
    pub started_by: String,
    pub since: String,
}

pub struct ExecutionsPanel {
    pub total: i64,
    pub rows: Vec<InFlight>,
}

pub struct DrillsPanel {
    pub active: usize,
    pub injected: i64,
    pub lever: LeverView,
}

pub struct ApprovalsPanel {
    pub total: usize,
    pub rows: Vec<Approval>,
}

#[derive(Template)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    pub c: Chrome,
    pub t: Tr,
    pub monitors: Option<MonitorsPanel>,
    pub risks: Option<RisksPanel>,
    /// The tasks that ran, with their latest run (`None`: no `inspection:read`).
    pub scores: Option<Vec<TaskScore>>,
    pub executions: Option<ExecutionsPanel>,
    pub approvals: Option<ApprovalsPanel>,
    pub drills: Option<DrillsPanel>,
}

/// Open risk events per level, and every task with its latest run.
type Inspection = (Vec<(String, i64)>, Vec<Task>);

/// What the overview read, each part only when the viewer may see it.
#[derive(Default)]
struct Read {
    monitors: Option<dashboard::Counts>,
    inspection: Option<Inspection>,
    executions: Option<(Vec<ExecutionSummary>, i64)>,
    waiting: Option<Vec<reads::Waiting>>,
    /// Runs active, targets whose fault may be in place, the lever.
    drills: Option<(usize, i64, Lever)>,
}

fn read(c: &mut DbConn, me: &Principal) -> Result<Read, StoreError> {
    let mut r = Read::default();
    if me.can(Permission::MonitorsRead) {
        r.monitors = Some(dashboard::read(c)?);
    }
    if me.can(Permission::InspectionsRead) {
        r.inspection = Some((risks::open_counts(c)?, tasks::list(c)?));
    }
    if me.can(Permission::PlansRead) {
        r.executions = Some(reads::in_flight(c, ROWS as i64)?);
    }
    if me.can(Permission::PlansApprove) {
        r.waiting = Some(reads::waiting(c)?);
    }
    if me.can(Permission::DrillsRead) {
        let active = drill_runs::active(c)?.len();
        r.drills = Some((active, drill_runs::injected_count(c)?, lever_store::get(c)?));
    }
    Ok(r)
}

pub async fn show(auth: Authorized<perm::SignedIn>, ui: Ui) -> Result<HttpResponse, UiError> {
    let me = auth.principal.clone();
    let r = auth
        .store
        .run(move |c| read(c, &me))
        .await
        .map_err(|e| ui.fail(e))?;
    let t = ui.tr();
    let w = Words::new(t);
    let (risks, scores) = match &r.inspection {
        Some((counts, tasks)) => {
            let cards = level_cards(&w, counts);
            let scores = tasks
                .iter()
                .filter_map(|task| {
                    task.last_run.as_ref().map(|run| TaskScore {
                        id: task.id,
                        name: task.input.name.clone(),
                        last_run: run_cell(&ui, &w, run),
                    })
                })
                .take(ROWS)
                .collect();
            let panel = RisksPanel {
                open_total: cards.iter().map(|c| c.count).sum(),
                cards,
            };
            (Some(panel), Some(scores))
        }
        None => (None, None),
    };
    let executions = r.executions.as_ref().map(|(rows, total)| ExecutionsPanel {
        total: *total,
        rows: rows
            .iter()
            .map(|e| InFlight {
                id: e.id,
                plan: e.plan.clone(),
                state: e.state.as_str(),
                state_label: state_label(t, e.state),
                started_by: e.started_by.clone(),
                since: when(&ui, e.started_at.or(Some(e.created_at))),
            })
            .collect(),
    });
    let approvals = r.waiting.as_ref().map(|waiting| {
        let mut rows = approvals::rows(&ui, waiting, &auth.principal);
        let total = rows.len();
        rows.truncate(ROWS);
        ApprovalsPanel { total, rows }
    });
    let drills = r.drills.as_ref().map(|(active, injected, l)| DrillsPanel {
        active: *active,
        injected: *injected,
        lever: lever::view(&ui, l, "/", None),
    });
    ui.render(&OverviewPage {
        c: ui.chrome(t.get("dash.title"), "dashboard"),
        t,
        monitors: r.monitors.as_ref().map(|m| dashboard::panel(&ui, m)),
        risks,
        scores,
        executions,
        approvals,
        drills,
    })
}
