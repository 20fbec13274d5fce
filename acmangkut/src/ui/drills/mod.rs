//! Fault drills (故障演练) in the console: the list, a drill's page (its document as YAML, its
//! versions and runs, a dry run and the start form), a run's page ([`runs`]) and the safety
//! lever shown on each of them ([`lever`]). Starting, dry runs, stops and the lever go through
//! the same engine functions as `/api/v1/drills…`, so a refusal names the same field.

pub mod lever;
pub mod runs;

use crate::engine::drills::runs as engine;
use crate::iam::perm;
use crate::state::{AppState, Authorized};
use crate::store::drills::{self as store, runs as runs_store};
use crate::ui::fields::{Fields, Form};
use crate::ui::i18n::Tr;
use crate::ui::plans::{Problem, problem};
use crate::ui::views::Chrome;
use crate::ui::{Ui, UiError, when};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use shared::ApiError;
use shared::drill::{BlastRadius, DrillDocument, Preview, RunState, RunSummary};

/// Reading and dry runs need `drills:read`; starting, stopping and the lever `drills:run`.
pub type Read = Authorized<perm::DrillsRead>;
pub type Run = Authorized<perm::DrillsRun>;

fn id_of(ui: &Ui, raw: &str) -> Result<i64, UiError> {
    crate::ui::inspection::id_of(ui, raw, "drill")
}

/// The catalog's label of a run state (`drill.state.running`).
pub fn state_label(t: Tr, s: RunState) -> &'static str {
    t.get(&format!("drill.state.{}", s.as_str()))
}

/// `all · 3/3`, `percent 50 · 2/3`: the rule and how many targets it hits.
fn blast(t: Tr, doc: &DrillDocument) -> String {
    let rule = match doc.blast_radius {
        BlastRadius::One => t.get("drill.blast.one").to_string(),
        BlastRadius::All => t.get("drill.blast.all").to_string(),
        BlastRadius::Fixed(n) => format!("{} {n}", t.get("drill.blast.fixed")),
        BlastRadius::Percent(p) => format!("{} {p}%", t.get("drill.blast.percent")),
    };
    format!("{rule} · {}/{}", doc.selected().len(), doc.targets.len())
}

/// A run as the lists show it.
pub struct RunRow {
    pub id: i64,
    pub version: i32,
    pub state: &'static str,
    pub state_label: &'static str,
    pub stage_label: &'static str,
    pub started_by: String,
    pub started: String,
    pub ended: String,
    pub reason: String,
}

pub fn run_row(ui: &Ui, r: &RunSummary) -> RunRow {
    let t = ui.tr();
    RunRow {
        id: r.id,
        version: r.version,
        state: r.state.as_str(),
        state_label: state_label(t, r.state),
        stage_label: t.get(&format!("drill.stage.{}", r.stage.as_str())),
        started_by: r.started_by.clone(),
        started: when(ui, Some(r.created_at)),
        ended: r.ended_at.map(|at| when(ui, Some(at))).unwrap_or_default(),
        reason: r.reason.clone(),
    }
}

pub struct Row {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub version: i32,
    pub targets: usize,
    pub blast: String,
    pub last_run: Option<RunRow>,
}

#[derive(Template)]
#[template(path = "drills/list.html")]
pub struct ListPage {
    pub c: Chrome,
    pub t: Tr,
    pub lever: lever::LeverView,
    pub drills: Vec<Row>,
}

/// The list page; `lever` says why a lever change was refused (then answered with `status`).
async fn render_list(
    state: &AppState,
    ui: &Ui,
    refused: Option<Problem>,
    status: StatusCode,
) -> Result<HttpResponse, UiError> {
    let (lever_now, drills) = state
        .store
        .run(|c| {
            let mut out = Vec::new();
            for d in store::list(c)? {
                let doc = store::get(c, d.id)?.document;
                let last = runs_store::list(c, d.id)?.into_iter().next();
                out.push((d, doc, last));
            }
            Ok::<_, crate::store::StoreError>((store::lever::get(c)?, out))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let t = ui.tr();
    let drills = drills
        .into_iter()
        .map(|(d, doc, last)| Row {
            id: d.id,
            name: d.name,
            description: d.description,
            version: d.version,
            targets: d.targets,
            blast: blast(t, &doc),
            last_run: last.as_ref().map(|r| run_row(ui, r)),
        })
        .collect();
    let page = ListPage {
        c: ui.chrome(t.get("drill.title"), "drills"),
        t,
        lever: lever::view(ui, &lever_now, "/drills", refused),
        drills,
    };
    ui.render_status(status, &page)
}

pub async fn list(auth: Read, ui: Ui) -> Result<HttpResponse, UiError> {
    render_list(&auth, &ui, None, StatusCode::OK).await
}

pub struct VersionRow {
    pub version: i32,
    pub created: String,
    pub created_by: String,
    pub shown: bool,
}

pub struct TargetRow {
    pub name: String,
    pub vars: String,
    pub selected: bool,
}

pub struct CheckRow {
    pub subject: String,
    pub status: &'static str,
    pub evidence: String,
}

pub struct PreviewRow {
    pub target: String,
    pub fault_id: String,
    pub operation: String,
    pub inject: String,
    pub recover: String,
}

/// A dry run's answer as the page shows it.
pub struct PreviewView {
    pub version: i32,
    pub rows: Vec<PreviewRow>,
    pub not_selected: String,
    pub checks: Vec<CheckRow>,
    pub holds: bool,
}

fn preview_view(p: &Preview) -> PreviewView {
    PreviewView {
        version: p.version,
        rows: p
            .selected
            .iter()
            .flat_map(|t| {
                t.faults.iter().map(|f| PreviewRow {
                    target: t.target.clone(),
                    fault_id: t.fault_id.clone(),
                    operation: format!("{} v{}", f.operation, f.version),
                    inject: f.inject.clone(),
                    recover: f.recover.clone(),
                })
            })
            .collect(),
        not_selected: p.not_selected.join(", "),
        checks: p
            .steady_state
            .iter()
            .map(|c| CheckRow {
                subject: c.subject.clone(),
                status: c.outcome.status.as_str(),
                evidence: c.outcome.evidence.clone(),
            })
            .collect(),
        holds: p.steady_state_holds,
    }
}

#[derive(Template)]
#[template(path = "drills/drill.html")]
pub struct DrillPage {
    pub c: Chrome,
    pub t: Tr,
    pub lever: lever::LeverView,
    pub id: i64,
    pub name: String,
    pub description: String,
    pub latest: i32,
    /// The version shown (and started by the start form), its YAML and facts.
    pub version: i32,
    pub yaml: String,
    pub blast: String,
    pub observe: String,
    pub interval: String,
    pub targets: Vec<TargetRow>,
    pub versions: Vec<VersionRow>,
    pub runs: Vec<RunRow>,
    pub preview: Option<PreviewView>,
    /// Why a start or dry run was refused.
    pub problem: Option<Problem>,
}

/// What a form post adds to the drill's page.
#[derive(Default)]
struct Extra {
    version: Option<i32>,
    preview: Option<Preview>,
    problem: Option<Problem>,
}

pub async fn show(auth: Read, ui: Ui, id: web::Path<String>) -> Result<HttpResponse, UiError> {
    let id = id_of(&ui, &id)?;
    let version = ui.param("version").and_then(|v| v.parse().ok());
    let extra = Extra {
        version,
        ..Extra::default()
    };
    render_drill(&auth, &ui, id, extra, StatusCode::OK).await
}

async fn render_drill(
    state: &AppState,
    ui: &Ui,
    id: i64,
    extra: Extra,
    status: StatusCode,
) -> Result<HttpResponse, UiError> {
    let (row, versions, list, lever_now) = state
        .store
        .run(move |c| {
            let row = store::get(c, id)?;
            let versions = store::versions(c, id)?;
            let list = runs_store::list(c, id)?;
            Ok::<_, crate::store::StoreError>((row, versions, list, store::lever::get(c)?))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let shown = versions
        .iter()
        .find(|v| Some(v.version) == extra.version)
        .or(versions.first())
        .cloned()
        .ok_or_else(|| ui.fail(ApiError::not_found("the drill has no versions")))?;
    let (t, doc) = (ui.tr(), &shown.document);
    let hit = doc.selected().len();
    let page = DrillPage {
        c: ui.chrome(row.document.name.clone(), "drills"),
        t,
        lever: lever::view(ui, &lever_now, &format!("/drills/{id}"), None),
        id,
        name: row.document.name.clone(),
        description: doc.description.clone(),
        latest: row.version,
        version: shown.version,
        yaml: doc.to_yaml(),
        blast: blast(t, doc),
        observe: doc.observe.to_string(),
        interval: doc.stop_conditions.interval.to_string(),
        targets: doc
            .targets
            .iter()
            .enumerate()
            .map(|(i, target)| TargetRow {
                name: target.name.clone(),
                vars: target
                    .vars
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                selected: i < hit,
            })
            .collect(),
        versions: versions
            .iter()
            .map(|v| VersionRow {
                version: v.version,
                created: when(ui, Some(v.created_at)),
                created_by: v.created_by.clone(),
                shown: v.version == shown.version,
            })
            .collect(),
        runs: list.iter().map(|r| run_row(ui, r)).collect(),
        preview: extra.preview.as_ref().map(preview_view),
        problem: extra.problem,
    };
    ui.render_status(status, &page)
}

/// The version a form names (`version`), when it is a number.
fn form_version(f: &Fields) -> Option<i32> {
    f.get("version").trim().parse().ok()
}

/// A dry run, shown on the drill's page: nothing is injected or written.
pub async fn dry_run(
    auth: Read,
    id: web::Path<String>,
    Form { ui, body }: Form,
) -> Result<HttpResponse, UiError> {
    let id = id_of(&ui, &id)?;
    let version = form_version(&Fields::parse(&body));
    let mut extra = Extra {
        version,
        ..Extra::default()
    };
    let status = match engine::dry_run(&auth.store, &auth.checker, id, version).await {
        Ok(p) => {
            extra.preview = Some(p);
            StatusCode::OK
        }
        Err(e) => refused(&ui, e.into(), &mut extra)?,
    };
    render_drill(&auth, &ui, id, extra, status).await
}

/// A client error goes on the page (its status returned); anything else is the error page.
fn refused(ui: &Ui, e: ApiError, extra: &mut Extra) -> Result<StatusCode, UiError> {
    if !e.code.http_status().is_client_error() || e.code == shared::ErrorCode::NotFound {
        return Err(ui.fail(e));
    }
    extra.problem = Some(problem(&e));
    Ok(e.code.http_status())
}

/// Starts a run of the form's version, then shows it; a refusal (the lever engaged, a fault
/// that does not render) shows the drill's page again naming the field, nothing started.
pub async fn start(
    auth: Run,
    id: web::Path<String>,
    Form { ui, body }: Form,
) -> Result<HttpResponse, UiError> {
    let id = id_of(&ui, &id)?;
    let version = form_version(&Fields::parse(&body));
    let started = auth
        .run_as(move |c, actor| {
            let started = engine::start(c, actor, id, version).map_err(ApiError::from);
            Ok::<_, ApiError>(started)
        })
        .await
        .map_err(|e| ui.fail(e))?;
    match started {
        Ok(run) => Ok(ui.redirect(format!("/drill-runs/{run}?notice=drill_started"))),
        Err(e) => {
            let mut extra = Extra {
                version,
                ..Extra::default()
            };
            let status = refused(&ui, e, &mut extra)?;
            render_drill(&auth, &ui, id, extra, status).await
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ui::i18n::assert_in_every_catalog;
    use shared::drill::{Phase, RunState, Stage};

    #[test]
    fn every_state_stage_and_phase_has_a_label_in_both_languages() {
        let states = RunState::ALL.map(|s| format!("drill.state.{}", s.as_str()));
        let stages = Stage::ALL.map(|s| format!("drill.stage.{}", s.as_str()));
        let phases = Phase::ALL.map(|p| format!("drill.phase.{}", p.as_str()));
        assert_in_every_catalog(states.iter().chain(&stages).chain(&phases));
    }
}
