//! Disaster-recovery plans (容灾预案) in the console: the list, a plan's page (its latest
//! version as YAML, evaluation, every version and the line diff of two), the YAML editor
//! (create, and save a new version) and the preview (a dry run). Saves go through the same
//! engine function as `POST /api/v1/plans`, so a document is refused with the same field.

use crate::engine::plans::{self as engine, evaluate, preview as dry_run};
use crate::iam::perm;
use crate::state::{AppState, Authorized};
use crate::store::plans as store;
use crate::ui::fields::{Fields, Form};
use crate::ui::i18n::Tr;
use crate::ui::views::Chrome;
use crate::ui::{Ui, UiError, when};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use shared::ApiError;
pub mod approvals;
pub mod executions;
pub mod runs;

use shared::plan::{DiffTag, Evaluation, PlanDocument, PlanSummary, PlanVersion, Preview};

/// Reading and previewing need `plans:read`; saving `plans:write`.
pub type Read = Authorized<perm::PlansRead>;
pub type Write = Authorized<perm::PlansWrite>;

/// What a new plan's editor starts with.
const SKELETON: &str = "name: my plan\ndescription: ''\nrto_objective: 15m\nparameters: []\n\
targets: []\nstages:\n  - name: check\n    steps:\n      - name: approve\n        approval:\n\
          roles: [admin]\n";

fn id_of(ui: &Ui, raw: &str) -> Result<i64, UiError> {
    crate::ui::inspection::id_of(ui, raw, "plan")
}

/// A problem as the pages show it: the field (when known) and what is wrong.
pub struct Problem {
    pub field: String,
    pub detail: String,
}

pub fn problem(e: &ApiError) -> Problem {
    Problem {
        field: e.field.clone().unwrap_or_default(),
        detail: e.detail.clone(),
    }
}

pub struct Row {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub version: i32,
    pub stages: usize,
    pub steps: usize,
    pub rto: String,
    pub updated: String,
    pub updated_by: String,
}

fn row(ui: &Ui, p: PlanSummary) -> Row {
    Row {
        id: p.id,
        name: p.name,
        description: p.description,
        version: p.version,
        stages: p.stages,
        steps: p.steps,
        rto: p.rto_objective.map(|d| d.to_string()).unwrap_or_default(),
        updated: when(ui, Some(p.updated_at)),
        updated_by: p.updated_by,
    }
}

#[derive(Template)]
#[template(path = "plans/list.html")]
pub struct ListPage {
    pub c: Chrome,
    pub t: Tr,
    pub plans: Vec<Row>,
}

pub async fn list(auth: Read, ui: Ui) -> Result<HttpResponse, UiError> {
    let plans = auth.store.run(store::list).await.map_err(|e| ui.fail(e))?;
    let t = ui.tr();
    ui.render(&ListPage {
        c: ui.chrome(t.get("plan.title"), "plans"),
        t,
        plans: plans.into_iter().map(|p| row(&ui, p)).collect(),
    })
}

pub struct VersionRow {
    pub version: i32,
    pub created: String,
    pub created_by: String,
    pub shown: bool,
}

pub struct DiffRow {
    /// `eq`, `del` or `ins`.
    pub class: &'static str,
    pub sign: &'static str,
    pub old: String,
    pub new: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "plans/plan.html")]
pub struct PlanPage {
    pub c: Chrome,
    pub t: Tr,
    pub id: i64,
    pub name: String,
    pub description: String,
    pub rto: String,
    pub latest: i32,
    /// The version shown and its YAML.
    pub version: i32,
    pub yaml: String,
    pub versions: Vec<VersionRow>,
    pub problems: Vec<Problem>,
    pub from: i32,
    pub to: i32,
    pub diff: Vec<DiffRow>,
    /// The executions, their RTO chart and the start form.
    pub runs: runs::Runs,
}

/// `?version=`, `?from=`, `?to=`: a version number, when given and readable.
fn number(ui: &Ui, key: &str) -> Option<i32> {
    ui.param(key).and_then(|v| v.parse().ok())
}

pub async fn show(auth: Read, ui: Ui, id: web::Path<String>) -> Result<HttpResponse, UiError> {
    let id = id_of(&ui, &id)?;
    render_plan(&auth, &ui, id, None, StatusCode::OK).await
}

/// The plan's page with `status`; `form`: the start form as typed and why it was refused.
async fn render_plan(
    state: &AppState,
    ui: &Ui,
    id: i64,
    form: Option<(runs::Typed, Problem)>,
    status: StatusCode,
) -> Result<HttpResponse, UiError> {
    let (asked, ctx) = (number(ui, "version"), state.plan_context());
    let (from, to) = (number(ui, "from"), number(ui, "to"));
    let (row, versions, ev, diff, executions) = state
        .store
        .run(move |c| {
            let row = store::row(c, id)?;
            let versions = store::versions(c, id)?;
            let to = to.unwrap_or(row.version);
            let from = from.unwrap_or(to.saturating_sub(1).max(1));
            let pick = |v: i32| versions.iter().find(|x| x.version == v).cloned();
            let diff = match (pick(from), pick(to)) {
                (Some(a), Some(b)) if a.version != b.version => Some(engine::diff::diff(&a, &b)),
                _ => None,
            };
            let ev: Evaluation = evaluate::evaluate(c, &ctx, &row.document()?)?;
            let executions = runs::latest(c, &row.name)?;
            Ok::<_, crate::engine::Error>((row, versions, ev, diff, executions))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let latest_doc = row.document().map_err(|e| ui.fail(e))?;
    let (typed, refused) = form.map_or((None, None), |(t, p)| (Some(t), Some(p)));
    let runs = runs::runs(ui, &latest_doc, &executions, typed, refused);
    let shown: PlanVersion = versions
        .iter()
        .find(|v| Some(v.version) == asked)
        .or(versions.first())
        .cloned()
        .ok_or_else(|| ui.fail(ApiError::not_found("the plan has no versions")))?;
    let t = ui.tr();
    let doc = &shown.document;
    let page = PlanPage {
        runs,
        c: ui.chrome(row.name.clone(), "plans"),
        t,
        id,
        name: row.name.clone(),
        description: doc.description.clone(),
        rto: doc.rto_objective.map(|d| d.to_string()).unwrap_or_default(),
        latest: row.version,
        version: shown.version,
        yaml: doc.to_yaml(),
        versions: versions
            .iter()
            .map(|v| VersionRow {
                version: v.version,
                created: when(ui, Some(v.created_at)),
                created_by: v.created_by.clone(),
                shown: v.version == shown.version,
            })
            .collect(),
        problems: ev
            .problems
            .iter()
            .map(|p| Problem {
                field: p.field.clone().unwrap_or_default(),
                detail: p.detail.clone(),
            })
            .collect(),
        from: diff.as_ref().map_or(0, |d| d.from),
        to: diff.as_ref().map_or(0, |d| d.to),
        diff: diff.map(|d| diff_rows(&d)).unwrap_or_default(),
    };
    ui.render_status(status, &page)
}

fn diff_rows(d: &shared::plan::PlanDiff) -> Vec<DiffRow> {
    let n = |i: Option<usize>| i.map(|i| i.to_string()).unwrap_or_default();
    d.lines
        .iter()
        .map(|l| {
            let (class, sign) = match l.tag {
                DiffTag::Equal => ("eq", " "),
                DiffTag::Delete => ("del", "-"),
                DiffTag::Insert => ("ins", "+"),
            };
            DiffRow {
                class,
                sign,
                old: n(l.old),
                new: n(l.new),
                text: l.text.clone(),
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "plans/edit.html")]
pub struct EditPage {
    pub c: Chrome,
    pub t: Tr,
    /// None: a new plan.
    pub id: Option<i64>,
    pub yaml: String,
    pub problem: Option<Problem>,
}

fn editor(ui: &Ui, id: Option<i64>, yaml: String, problem: Option<Problem>) -> EditPage {
    let t = ui.tr();
    let title = match id {
        None => t.get("plan.new"),
        Some(_) => t.get("plan.edit"),
    };
    EditPage {
        c: ui.chrome(title, "plans"),
        t,
        id,
        yaml,
        problem,
    }
}

pub async fn new_form(_auth: Write, ui: Ui) -> Result<HttpResponse, UiError> {
    ui.render(&editor(&ui, None, SKELETON.into(), None))
}

pub async fn edit_form(
    auth: Write,
    ui: Ui,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let id = id_of(&ui, &id)?;
    let row = auth
        .store
        .run(move |c| store::row(c, id))
        .await
        .map_err(|e| ui.fail(e))?;
    let yaml = row.document().map_err(|e| ui.fail(e))?.to_yaml();
    ui.render(&editor(&ui, Some(id), yaml, None))
}

pub async fn create(auth: Write, form: Form) -> Result<HttpResponse, UiError> {
    save(auth, None, form).await
}

pub async fn update(
    auth: Write,
    id: web::Path<String>,
    form: Form,
) -> Result<HttpResponse, UiError> {
    let id = id_of(&form.ui, &id)?;
    save(auth, Some(id), form).await
}

/// Parses the YAML and saves it as the engine does for the API; a refused document is shown
/// again with the field and reason (400), nothing written.
async fn save(
    auth: Write,
    id: Option<i64>,
    Form { ui, body }: Form,
) -> Result<HttpResponse, UiError> {
    let yaml = Fields::parse(&body).get("yaml").to_string();
    let saved = match PlanDocument::from_yaml(&yaml) {
        Err(e) => Err(e),
        Ok(doc) => {
            let ctx = auth.plan_context();
            auth.run_as(move |c, actor| {
                let saved = engine::save(c, &ctx, actor, id, &doc);
                Ok::<_, ApiError>(saved.map_err(ApiError::from))
            })
            .await
            .map_err(|e| ui.fail(e))?
        }
    };
    match saved {
        Ok(plan) => Ok(ui.redirect(format!("/plans/{}?notice=saved", plan.id))),
        Err(e) if e.code.http_status().is_client_error() => {
            let page = editor(&ui, id, yaml, Some(problem(&e)));
            ui.render_status(StatusCode::BAD_REQUEST, &page)
        }
        Err(e) => Err(ui.fail(e)),
    }
}

pub struct CallRow {
    pub target: String,
    pub batch: String,
    pub operation: String,
    pub call: String,
}

pub struct StepRow {
    pub field: String,
    pub name: String,
    pub kind: String,
    pub detail: String,
    pub timeout: String,
    pub on_failure: String,
    pub calls: Vec<CallRow>,
}

pub struct StageRow {
    pub name: String,
    pub parallelism: String,
    pub steps: Vec<StepRow>,
}

#[derive(Template)]
#[template(path = "plans/preview.html")]
pub struct PreviewPage {
    pub c: Chrome,
    pub t: Tr,
    pub id: i64,
    pub name: String,
    pub version: i32,
    /// The parameters as typed (YAML), given back.
    pub params: String,
    pub problem: Option<Problem>,
    pub stages: Vec<StageRow>,
}

fn stage_rows(p: &Preview) -> Vec<StageRow> {
    p.stages
        .iter()
        .map(|s| StageRow {
            name: s.name.clone(),
            parallelism: s.max_parallelism.map(|n| n.to_string()).unwrap_or_default(),
            steps: s
                .steps
                .iter()
                .map(|st| StepRow {
                    field: st.field.clone(),
                    name: st.name.clone(),
                    kind: st.kind.clone(),
                    detail: st.detail.clone(),
                    timeout: st.timeout.map(|d| d.to_string()).unwrap_or_default(),
                    on_failure: format!("{:?}", st.on_failure).to_lowercase(),
                    calls: st
                        .calls
                        .iter()
                        .map(|c| CallRow {
                            target: c.target.clone().unwrap_or_default(),
                            batch: c.batch.map(|b| b.to_string()).unwrap_or_default(),
                            operation: c.operation.clone().unwrap_or_default(),
                            call: c.call.clone(),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

pub async fn preview(auth: Read, ui: Ui, id: web::Path<String>) -> Result<HttpResponse, UiError> {
    let id = id_of(&ui, &id)?;
    run_preview(auth, ui, id, None).await
}

pub async fn preview_post(
    auth: Read,
    id: web::Path<String>,
    Form { ui, body }: Form,
) -> Result<HttpResponse, UiError> {
    let id = id_of(&ui, &id)?;
    let params = Fields::parse(&body).get("params").to_string();
    run_preview(auth, ui, id, Some(params)).await
}

/// The preview with `params` (a YAML map; empty: the defaults). A problem is a 400 for a
/// posted form; the page as first opened says what is missing with a 200.
async fn run_preview(
    auth: Read,
    ui: Ui,
    id: i64,
    posted: Option<String>,
) -> Result<HttpResponse, UiError> {
    let refused = match posted.is_some() {
        true => StatusCode::BAD_REQUEST,
        false => StatusCode::OK,
    };
    let params = posted.unwrap_or_default();
    let given: Result<serde_json::Map<String, serde_json::Value>, ApiError> =
        match params.trim().is_empty() {
            true => Ok(Default::default()),
            false => shared::extract::parse_yaml(&params)
                .map_err(|e| ApiError::invalid("params", e.detail)),
        };
    let (row, result) = auth
        .store
        .run(move |c| {
            let row = store::row(c, id)?;
            let result = given.and_then(|g| {
                let doc = row.document()?;
                dry_run::preview(c, (id, row.version), &doc, &g).map_err(ApiError::from)
            });
            Ok::<_, crate::engine::Error>((row, result))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let t = ui.tr();
    let (status, stages, problem_view) = match result {
        Ok(p) => (StatusCode::OK, stage_rows(&p), None),
        Err(e) if e.code.http_status().is_client_error() => (refused, vec![], Some(problem(&e))),
        Err(e) => return Err(ui.fail(e)),
    };
    let page = PreviewPage {
        c: ui.chrome(format!("{} · {}", t.get("plan.preview"), row.name), "plans"),
        t,
        id,
        name: row.name,
        version: row.version,
        params,
        problem: problem_view,
        stages,
    };
    ui.render_status(status, &page)
}
