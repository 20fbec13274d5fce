//! Tasks: rules × targets on a schedule; run now.

use crate::api::standard::{create, delete_by_id, list_all, read_by_id, update_by_id};
use crate::engine::inspection::save;
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::inspection::{runs, tasks as store};
use actix_web::{HttpResponse, web};
use shared::ApiError;
use shared::inspection::{Run, Task, TaskInput};

list_all!(list: "/api/v1/inspection/tasks", InspectionsRead => (Vec<Task>), store::list);

read_by_id!(
    get: "/api/v1/inspection/tasks/{id}", InspectionsRead => (Task),
    |c, id| store::get(c, id)
);

create!(
    /// Create a task; every rule is rendered for every target and checked before it is stored.
    create: "/api/v1/inspection/tasks", InspectionsWrite, (TaskInput) => (Task),
    |state, input| {
        let checker = state.checker.clone();
        state
            .run_as(move |c, actor| save::task(c, &checker, actor, None, &input))
            .await?
    }
);

update_by_id!(
    update: "/api/v1/inspection/tasks/{id}", InspectionsWrite, 404, (TaskInput) => (Task),
    |state, id, input| {
        let checker = state.checker.clone();
        state
            .run_as(move |c, actor| save::task(c, &checker, actor, Some(id), &input))
            .await?
    }
);

delete_by_id!(
    /// Delete a task with its runs and reports.
    delete: "/api/v1/inspection/tasks/{id}", InspectionsWrite, 404,
    |c, actor, id| store::delete(c, actor, id)
);

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
