//! `/api/v1/plans…`: disaster-recovery plans. Reading, evaluating and previewing need
//! `plans:read`; saving (each save a new version) and deleting need `plans:write`. A save is
//! evaluated first: the first problem is a 400 naming its field, and nothing is written.
//!
//! [`executions`]: an execution, its timeline, and the operators' actions on it.

pub mod executions;

use crate::api::standard::{create, delete_by_id, list_all, read_by_id, update_by_id};
use crate::engine::plans::{self as engine, diff, evaluate, preview};
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::plans as store;
use actix_web::web;
use serde::Deserialize;
use shared::ApiError;
use shared::plan::{
    Evaluation, Plan, PlanDiff, PlanDocument, PlanSummary, PlanVersion, Preview, PreviewRequest,
};

list_all!(
    /// Every plan, by name.
    list: "/api/v1/plans", PlansRead => (Vec<PlanSummary>), store::list
);

read_by_id!(
    /// A plan: its latest version.
    get: "/api/v1/plans/{id}", PlansRead => (Plan), |c, id| store::get(c, id)
);

create!(
    /// Create a plan (version 1) after evaluating it.
    create: "/api/v1/plans", PlansWrite, (PlanDocument) => (Plan),
    |state, doc| {
        let ctx = state.plan_context();
        state
            .run_as(move |c, actor| engine::save(c, &ctx, actor, None, &doc))
            .await?
    }
);

update_by_id!(
    /// Save the next version of a plan after evaluating it (the same document adds none).
    update: "/api/v1/plans/{id}", PlansWrite, 404, (PlanDocument) => (Plan),
    |state, id, doc| {
        let ctx = state.plan_context();
        state
            .run_as(move |c, actor| engine::save(c, &ctx, actor, Some(id), &doc))
            .await?
    }
);

delete_by_id!(
    /// Delete a plan and its versions; 409 while another plan runs it as a sub-plan.
    delete: "/api/v1/plans/{id}", PlansWrite, 409,
    |c, actor, id| store::delete(c, actor, id)
);

read_by_id!(
    /// Every version of a plan, newest first.
    versions: "/api/v1/plans/{id}/versions", PlansRead => (Vec<PlanVersion>),
    |c, id| store::versions(c, id)
);

#[utoipa::path(
    get,
    path = "/api/v1/plans/{id}/versions/{version}",
    responses((status = 200, body = PlanVersion), (status = 404, body = shared::problem::Problem))
)]
pub async fn version(
    state: Authorized<perm::PlansRead>,
    path: web::Path<(i64, i32)>,
) -> Result<web::Json<PlanVersion>, ApiError> {
    let (id, v) = path.into_inner();
    Ok(web::Json(
        state.store.run(move |c| store::version(c, id, v)).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// The older version (default: the one before `to`).
    pub from: Option<i32>,
    /// The newer version (default: the latest).
    pub to: Option<i32>,
}

/// Two versions' YAML compared line by line.
#[utoipa::path(
    get,
    path = "/api/v1/plans/{id}/diff",
    params(DiffQuery),
    responses((status = 200, body = PlanDiff), (status = 404, body = shared::problem::Problem))
)]
pub async fn diff(
    state: Authorized<perm::PlansRead>,
    id: web::Path<i64>,
    query: web::Query<DiffQuery>,
) -> Result<web::Json<PlanDiff>, ApiError> {
    let (id, q) = (id.into_inner(), query.into_inner());
    let d = state
        .store
        .run(move |c| {
            let to =
                q.to.map_or_else(|| store::row(c, id).map(|r| r.version), Ok)?;
            let from = q.from.unwrap_or(to.saturating_sub(1).max(1));
            Ok::<_, crate::store::StoreError>(diff::diff(
                &store::version(c, id, from)?,
                &store::version(c, id, to)?,
            ))
        })
        .await?;
    Ok(web::Json(d))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    /// A saved version (default: the latest).
    pub version: Option<i32>,
}

/// Evaluate a saved version again (operations may have been deprecated, config changed since).
#[utoipa::path(
    post,
    path = "/api/v1/plans/{id}/evaluate",
    params(VersionQuery),
    responses((status = 200, body = Evaluation), (status = 404, body = shared::problem::Problem))
)]
pub async fn evaluate_saved(
    state: Authorized<perm::PlansRead>,
    id: web::Path<i64>,
    query: web::Query<VersionQuery>,
) -> Result<web::Json<Evaluation>, ApiError> {
    let (id, v, ctx) = (id.into_inner(), query.version, state.plan_context());
    let ev = state
        .store
        .run(move |c| {
            let doc = saved(c, id, v)?.1;
            evaluate::evaluate(c, &ctx, &doc)
        })
        .await?;
    Ok(web::Json(ev))
}

/// Evaluate a document without saving it (the editor's check): a document that is not a plan
/// (its shape, names, durations, templates) is a 400 naming the field, as a save would be.
#[utoipa::path(
    post,
    path = "/api/v1/plans:evaluate",
    request_body = PlanDocument,
    responses(
        (status = 200, body = Evaluation),
        (status = 400, body = shared::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn evaluate_document(
    state: Authorized<perm::PlansRead>,
    body: shared::extract::Json<PlanDocument>,
) -> Result<web::Json<Evaluation>, ApiError> {
    let (doc, ctx) = (body.into_inner(), state.plan_context());
    doc.validate()?;
    let ev = state
        .store
        .run(move |c| evaluate::evaluate(c, &ctx, &doc))
        .await?;
    Ok(web::Json(ev))
}

/// A dry run: every step with its parameters rendered and what it would call (method + URL,
/// host + argv); nothing is called, except, with `run_checks`, the gates that only read.
#[utoipa::path(
    post,
    path = "/api/v1/plans/{id}/preview",
    request_body = PreviewRequest,
    responses(
        (status = 200, body = Preview),
        (status = 400, body = shared::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = shared::problem::Problem)
    )
)]
pub async fn preview(
    state: Authorized<perm::PlansRead>,
    id: web::Path<i64>,
    body: shared::extract::Json<PreviewRequest>,
) -> Result<web::Json<Preview>, ApiError> {
    let (id, req) = (id.into_inner(), body.into_inner());
    let run_checks = req.run_checks;
    let mut p = state
        .store
        .run(move |c| {
            let (version, doc) = saved(c, id, req.version)?;
            preview::preview(c, (id, version), &doc, &req.params)
        })
        .await?;
    if run_checks {
        preview::run_checks(&state.plan_context().checker, &mut p).await;
    }
    Ok(web::Json(p))
}

/// Version `v` (none: the latest) of plan `id`, with its number.
pub(crate) fn saved(
    c: &mut crate::store::DbConn,
    id: i64,
    v: Option<i32>,
) -> Result<(i32, PlanDocument), crate::store::StoreError> {
    match v {
        Some(v) => Ok((v, store::version(c, id, v)?.document)),
        None => {
            let row = store::row(c, id)?;
            Ok((row.version, row.document()?))
        }
    }
}
