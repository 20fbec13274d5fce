//! `/approvals`: the approvals waiting for the caller. A step is listed when the caller holds
//! `plans:approve` (the route's permission) and one of the step's approver roles, and did not
//! start the execution (four eyes); approving or rejecting posts to the execution's own forms
//! and comes back here.

use super::executions::Approve;
use crate::iam::Principal;
use crate::store::plans::execution_reads::{self as reads, Waiting};
use crate::ui::i18n::Tr;
use crate::ui::views::Chrome;
use crate::ui::{Ui, UiError, when};
use actix_web::HttpResponse;
use askama::Template;
use shared::execution::StepKind;

pub struct Row {
    pub id: i64,
    pub plan: String,
    pub version: i32,
    pub step: String,
    pub step_name: String,
    pub started_by: String,
    pub comment: String,
    pub since: String,
}

#[derive(Template)]
#[template(path = "plans/approvals.html")]
pub struct ApprovalsPage {
    pub c: Chrome,
    pub t: Tr,
    pub rows: Vec<Row>,
}

/// Whether `name` holding `roles` may answer `w`.
pub fn may_answer(w: &Waiting, name: &str, roles: &[String]) -> bool {
    let needed = match w.plan.step(&w.step).map(|s| &s.kind) {
        Some(StepKind::Approval { roles, .. }) => roles,
        _ => return false,
    };
    w.execution.started_by != name && needed.iter().any(|r| roles.contains(r))
}

/// The rows of `waiting` that `me` may answer.
pub fn rows(ui: &Ui, waiting: &[Waiting], me: &Principal) -> Vec<Row> {
    waiting
        .iter()
        .filter(|w| may_answer(w, &me.name, &me.roles))
        .map(|w| Row {
            id: w.execution.id,
            plan: w.execution.plan.clone(),
            version: w.execution.version,
            step: w.step.clone(),
            step_name: w
                .plan
                .step(&w.step)
                .map_or_else(|| w.step.clone(), |s| s.name.clone()),
            started_by: w.execution.started_by.clone(),
            comment: w.execution.comment.clone(),
            since: when(ui, w.since.map(crate::store::to_datetime)),
        })
        .collect()
}

pub async fn show(auth: Approve, ui: Ui) -> Result<HttpResponse, UiError> {
    let waiting = auth
        .store
        .run(reads::waiting)
        .await
        .map_err(|e| ui.fail(e))?;
    let rows = rows(&ui, &waiting, &auth.principal);
    let t = ui.tr();
    ui.render(&ApprovalsPage {
        c: ui.chrome(t.get("nav.approvals"), "approvals"),
        t,
        rows,
    })
}
