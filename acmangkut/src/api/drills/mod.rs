//! `/api/v1/drills…`: fault drills. Reading and previewing need `drills:read`; saving (each
//! save a new version) and deleting `drills:write`; the safety lever `drills:run`. A save is
//! checked first: the first problem is a 400 naming its field, and nothing is written.
//!
//! [`runs`]: starting runs (or a dry run), reading, stopping and deleting them, force-cleaning
//! a target.

pub mod runs;

use crate::api::standard::{create, delete_by_id, list_all, read_by_id, update_by_id};
use crate::engine::drills::{self as engine, runs as engine_runs};
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::drills as store;
use actix_web::web;
use shared::ApiError;
use shared::drill::{
    Drill, DrillDocument, DrillSummary, DrillVersion, Lever, LeverChange, LeverChanged, Preview,
    StartRun,
};
use shared::extract::Json;

/// The config's upper bound on a fault's `max_duration`, in ms.
fn max_fault_ms(state: &crate::state::AppState) -> u64 {
    state.config.drills.max_fault_duration.as_millis()
}

list_all!(
    /// Every drill, by name.
    list: "/api/v1/drills", DrillsRead => (Vec<DrillSummary>), store::list
);

read_by_id!(
    /// A drill: its latest version.
    get: "/api/v1/drills/{id}", DrillsRead => (Drill), |c, id| store::get(c, id)
);

create!(
    /// Create a drill (version 1) after checking it; each fault's operation version is pinned.
    create: "/api/v1/drills", DrillsWrite, (DrillDocument) => (Drill),
    |state, doc| {
        let max = max_fault_ms(&state);
        state
            .run_as(move |c, actor| engine::save(c, actor, None, &doc, max))
            .await?
    }
);

update_by_id!(
    /// Save the next version of a drill after checking it (the same document adds none).
    update: "/api/v1/drills/{id}", DrillsWrite, 404, (DrillDocument) => (Drill),
    |state, id, doc| {
        let max = max_fault_ms(&state);
        state
            .run_as(move |c, actor| engine::save(c, actor, Some(id), &doc, max))
            .await?
    }
);

delete_by_id!(
    /// Delete a drill, its versions and its ended runs; 409 while a run is in progress.
    delete: "/api/v1/drills/{id}", DrillsWrite, 409,
    |c, actor, id| store::delete(c, actor, id)
);

read_by_id!(
    /// Every version of a drill, newest first.
    versions: "/api/v1/drills/{id}/versions", DrillsRead => (Vec<DrillVersion>),
    |c, id| store::versions(c, id)
);

#[utoipa::path(
    get,
    path = "/api/v1/drills/{id}/versions/{version}",
    responses((status = 200, body = DrillVersion), (status = 404, body = shared::problem::Problem))
)]
pub async fn version(
    state: Authorized<perm::DrillsRead>,
    path: web::Path<(i64, i32)>,
) -> Result<web::Json<DrillVersion>, ApiError> {
    let (id, v) = path.into_inner();
    Ok(web::Json(
        state.store.run(move |c| store::version(c, id, v)).await?,
    ))
}

/// A dry run: the targets the blast radius selects (and leaves out), each fault rendered for
/// each of them (what its injection and recovery would call), and the steady state evaluated
/// now. Nothing is injected or written.
#[utoipa::path(
    post,
    path = "/api/v1/drills/{id}/preview",
    request_body = StartRun,
    responses(
        (status = 200, body = Preview),
        (status = 400, body = shared::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = shared::problem::Problem)
    )
)]
pub async fn preview(
    state: Authorized<perm::DrillsRead>,
    id: web::Path<i64>,
    body: Json<StartRun>,
) -> Result<web::Json<Preview>, ApiError> {
    Ok(web::Json(
        dry_run(&state, id.into_inner(), body.into_inner().version).await?,
    ))
}

/// [`preview`]'s answer, shared with a start's `dry_run`.
pub(crate) async fn dry_run(
    state: &crate::state::AppState,
    id: i64,
    version: Option<i32>,
) -> Result<Preview, ApiError> {
    Ok(engine_runs::dry_run(&state.store, &state.checker, id, version).await?)
}

/// The safety lever: while engaged, every drill run is stopped and none may start.
#[utoipa::path(
    get,
    path = "/api/v1/drills/lever",
    responses((status = 200, body = Lever))
)]
pub async fn get_lever(state: Authorized<perm::DrillsRead>) -> Result<web::Json<Lever>, ApiError> {
    Ok(web::Json(
        state.store.run(crate::store::drills::lever::get).await?,
    ))
}

/// Pull (`engaged: true`: every active run is stopped and recovered, new ones refused with a
/// 409 naming `lever`) or release the safety lever; audited.
#[utoipa::path(
    post,
    path = "/api/v1/drills/lever",
    request_body = LeverChange,
    responses(
        (status = 200, body = LeverChanged),
        (status = 400, body = shared::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn set_lever(
    state: Authorized<perm::DrillsRun>,
    body: Json<LeverChange>,
) -> Result<web::Json<LeverChanged>, ApiError> {
    let b = body.into_inner();
    let (lever, stopped) = engine_runs::pull_lever(
        &state.store,
        &state.metrics,
        state.actor(),
        b.engaged,
        b.comment,
    )
    .await?;
    Ok(web::Json(LeverChanged { lever, stopped }))
}
