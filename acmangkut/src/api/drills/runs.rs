//! Drill runs: `POST /api/v1/drills/{id}/runs` starts one (or, with `dry_run`, answers the
//! preview), `/api/v1/drill-runs/{id}…` reads, stops and deletes one and force-cleans a
//! target. Reading needs `drills:read`, the rest `drills:run`; every change is audited.

use crate::engine::Error;
use crate::engine::drills::runs as engine;
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::drills::runs as store;
use actix_web::{HttpResponse, web};
use shared::ApiError;
use shared::drill::{Comment, RunSummary, RunView, StartRun};
use shared::extract::Json;

type Run = Authorized<perm::DrillsRun>;

/// Start a run of a drill version (none: the latest); 409 naming `lever` while the safety
/// lever is engaged. With `dry_run`: 200 with the preview, nothing written or injected.
#[utoipa::path(
    operation_id = "start_drill_run",
    post,
    path = "/api/v1/drills/{id}/runs",
    params(("id" = i64, Path, description = "The drill's id")),
    request_body = StartRun,
    responses(
        (status = 201, body = RunView),
        (status = 200, body = shared::drill::Preview),
        (status = 400, body = shared::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = shared::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = shared::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn start(
    state: Run,
    id: web::Path<i64>,
    body: Json<StartRun>,
) -> Result<HttpResponse, ApiError> {
    let (drill, b) = (id.into_inner(), body.into_inner());
    if b.dry_run {
        let p = super::dry_run(&state, drill, b.version).await?;
        return Ok(HttpResponse::Ok().json(p));
    }
    let view = state
        .run_as(move |c, actor| {
            let id = engine::start(c, actor, drill, b.version)?;
            Ok::<_, Error>(store::view(c, id)?)
        })
        .await?;
    let location = format!("/api/v1/drill-runs/{}", view.summary.id);
    Ok(crate::api::created(location, &view))
}

/// The drill's runs, newest first (at most 100), without their targets.
#[utoipa::path(
    operation_id = "list_drill_runs",
    get,
    path = "/api/v1/drills/{id}/runs",
    params(("id" = i64, Path, description = "The drill's id")),
    responses(
        (status = 200, body = Vec<RunSummary>),
        (status = 404, body = shared::problem::Problem)
    )
)]
pub async fn list(
    state: Authorized<perm::DrillsRead>,
    id: web::Path<i64>,
) -> Result<web::Json<Vec<RunSummary>>, ApiError> {
    let id = id.into_inner();
    let list = state
        .store
        .run(move |c| {
            crate::store::drills::row(c, id)?;
            store::list(c, id)
        })
        .await?;
    Ok(web::Json(list))
}

/// A run with its per-target records (desired and observed phase, counts) and its events.
#[utoipa::path(
    operation_id = "get_drill_run",
    get,
    path = "/api/v1/drill-runs/{id}",
    params(("id" = i64, Path, description = "The run's id")),
    responses((status = 200, body = RunView), (status = 404, body = shared::problem::Problem))
)]
pub async fn get(
    state: Authorized<perm::DrillsRead>,
    id: web::Path<i64>,
) -> Result<web::Json<RunView>, ApiError> {
    let id = id.into_inner();
    Ok(web::Json(
        state.store.run(move |c| store::view(c, id)).await?,
    ))
}

/// Stop a run: every target's desired phase becomes `recovered` (committed) and the reconcile
/// loop recovers them; the run ends `stopped` (`cancelled` before anything was injected).
#[utoipa::path(
    operation_id = "stop_drill_run",
    post,
    path = "/api/v1/drill-runs/{id}/stop",
    params(("id" = i64, Path, description = "The run's id")),
    request_body = Comment,
    responses(
        (status = 200, body = RunView),
        (status = 404, body = shared::problem::Problem),
        (status = 409, body = shared::problem::Problem)
    )
)]
pub async fn stop(
    state: Run,
    id: web::Path<i64>,
    body: Json<Comment>,
) -> Result<web::Json<RunView>, ApiError> {
    let (id, comment) = (id.into_inner(), body.into_inner().comment);
    let view = state
        .run_as(move |c, actor| {
            engine::stop(c, actor, id, &comment)?;
            Ok::<_, Error>(store::view(c, id)?)
        })
        .await?;
    Ok(web::Json(view))
}

/// Delete an ended run; 409 while any target is not recovered.
#[utoipa::path(
    operation_id = "delete_drill_run",
    delete,
    path = "/api/v1/drill-runs/{id}",
    params(("id" = i64, Path, description = "The run's id")),
    responses((status = 204), (status = 409, body = shared::problem::Problem))
)]
pub async fn delete(state: Run, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state
        .run_as(move |c, actor| store::delete(c, actor, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Mark a target recovered without recovering it (it is gone): audited with the comment.
#[utoipa::path(
    operation_id = "force_cleanup_drill_target",
    post,
    path = "/api/v1/drill-runs/{id}/targets/{target}/cleanup",
    params(
        ("id" = i64, Path, description = "The run's id"),
        ("target" = String, Path, description = "The target's name")
    ),
    request_body = Comment,
    responses((status = 200, body = RunView), (status = 404, body = shared::problem::Problem))
)]
pub async fn cleanup(
    state: Run,
    path: web::Path<(i64, String)>,
    body: Json<Comment>,
) -> Result<web::Json<RunView>, ApiError> {
    let ((id, target), comment) = (path.into_inner(), body.into_inner().comment);
    let view = state
        .run_as(move |c, actor| {
            store::force_cleanup(c, actor, id, &target, &comment)?;
            store::view(c, id)
        })
        .await?;
    Ok(web::Json(view))
}

/// An ended run as a Chaos Toolkit journal (the format `chaos run --journal-path` writes;
/// `docs/drills.md` says how a run maps onto it); 409 naming `state` while it runs.
#[utoipa::path(
    operation_id = "drill_run_journal",
    get,
    path = "/api/v1/drill-runs/{id}/journal",
    params(("id" = i64, Path, description = "The run's id")),
    responses(
        (status = 200, body = Object, description = "A Chaos Toolkit journal"),
        (status = 404, body = shared::problem::Problem),
        (status = 409, body = shared::problem::Problem)
    )
)]
pub async fn journal(
    state: Authorized<perm::DrillsRead>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (doc, view) = state
        .store
        .run(move |c| Ok::<_, Error>((store::row(c, id)?.document()?, store::view(c, id)?)))
        .await?;
    let journal = crate::engine::drills::journal::journal(&doc, &view).ok_or_else(|| {
        ApiError::field(
            shared::ErrorCode::Conflict,
            "state",
            format!(
                "run {id} is {}: its journal is written once it has ended",
                view.summary.state.as_str()
            ),
        )
    })?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(journal.to_json()))
}
