//! Tasks: rules × targets on a schedule; run now.

use crate::api::created;
use crate::engine::inspection::define;
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::inspection::{runs, tasks as store};
use actix_web::{HttpResponse, web};
use shared::ApiError;
use shared::extract::Json;
use shared::inspection::{Run, Task, TaskInput};

#[utoipa::path(get, path = "/api/v1/inspection/tasks", responses((status = 200, body = Vec<Task>)))]
pub async fn list(
    state: Authorized<perm::InspectionsRead>,
) -> Result<web::Json<Vec<Task>>, ApiError> {
    Ok(web::Json(state.store.run(store::list).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/inspection/tasks/{id}",
    responses((status = 200, body = Task), (status = 404, body = shared::problem::Problem))
)]
pub async fn get(
    state: Authorized<perm::InspectionsRead>,
    id: web::Path<i64>,
) -> Result<web::Json<Task>, ApiError> {
    let id = id.into_inner();
    Ok(web::Json(
        state.store.run(move |c| store::get(c, id)).await?,
    ))
}

/// Create a task; every rule is rendered for every target and checked before it is stored.
#[utoipa::path(
    post,
    path = "/api/v1/inspection/tasks",
    request_body = TaskInput,
    responses(
        (status = 201, body = Task),
        (status = 400, body = shared::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = shared::problem::Problem)
    )
)]
pub async fn create(
    state: Authorized<perm::InspectionsWrite>,
    body: Json<TaskInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    let (actor, checker) = (state.actor(), state.checker.clone());
    let task = state
        .store
        .run(move |c| {
            let (rule_ids, next) = define::task(c, &checker, &input)?;
            Ok::<_, ApiError>(store::create(c, &actor, &input, &rule_ids, next)?)
        })
        .await?;
    Ok(created(
        format!("/api/v1/inspection/tasks/{}", task.id),
        &task,
    ))
}

#[utoipa::path(
    put,
    path = "/api/v1/inspection/tasks/{id}",
    request_body = TaskInput,
    responses(
        (status = 200, body = Task),
        (status = 400, body = shared::problem::Problem),
        (status = 404, body = shared::problem::Problem)
    )
)]
pub async fn update(
    state: Authorized<perm::InspectionsWrite>,
    id: web::Path<i64>,
    body: Json<TaskInput>,
) -> Result<web::Json<Task>, ApiError> {
    let (id, input) = (id.into_inner(), body.into_inner());
    let (actor, checker) = (state.actor(), state.checker.clone());
    Ok(web::Json(
        state
            .store
            .run(move |c| {
                store::row(c, id)?;
                let (rule_ids, next) = define::task(c, &checker, &input)?;
                Ok::<_, ApiError>(store::update(c, &actor, id, &input, &rule_ids, next)?.0)
            })
            .await?,
    ))
}

/// Delete a task with its runs and reports.
#[utoipa::path(
    delete,
    path = "/api/v1/inspection/tasks/{id}",
    responses((status = 204), (status = 404, body = shared::problem::Problem))
)]
pub async fn delete(
    state: Authorized<perm::InspectionsWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state
        .run_as(move |c, actor| store::delete(c, actor, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Queue a run now (any replica's engine starts it within a tick).
#[utoipa::path(
    post,
    path = "/api/v1/inspection/tasks/{id}/run",
    responses((status = 202, body = Run), (status = 404, body = shared::problem::Problem))
)]
pub async fn run_now(
    state: Authorized<perm::InspectionsRun>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let actor = state.actor();
    let run = state
        .store
        .run(move |c| {
            let task = store::row(c, id)?;
            runs::enqueue_manual(c, &actor, task.id, &task.name)
        })
        .await?;
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/api/v1/inspection/runs/{}", run.id)))
        .json(run))
}
