//! `/api/v1/executions/{id}/…`: a plan execution, its timeline, and what operators do to it.
//! Reading needs `plans:read`; pausing, resuming, skipping, retrying and aborting `plans:run`;
//! approving and rejecting `plans:approve` (and one of the step's roles, and not being the
//! person who started it). Each action answers the execution as it is after it; the replica
//! driving it acts on the change at its next look.
//!
//! Starting an execution (`POST /api/v1/plans/{name}/executions`) comes with plans: it resolves
//! a plan version for its parameters first.

use crate::engine::Error;
use crate::engine::plans::executions::operate::{self, Op};
use crate::engine::plans::resolve;
use crate::iam::perm;
use crate::iam::permissions::Needs;
use crate::state::Authorized;
use crate::store::plans::execution_reads as reads;
use crate::store::plans::executions as store;
use actix_web::{HttpResponse, web};
use shared::ApiError;
use shared::execution::actions as a;
use shared::execution::{EventView, ExecutionSummary, ExecutionView};
use shared::extract::Json;
use shared::page::{Page, PageQuery};

type Run = Authorized<perm::PlansRun>;
type Approve = Authorized<perm::PlansApprove>;

/// Start an execution of a plan version (none: the latest) with parameter values and a
/// comment; 409 while the plan has an active execution.
#[utoipa::path(
    operation_id = "start_execution",
    post,
    path = "/api/v1/plans/{id}/executions",
    params(("id" = i64, Path, description = "The plan's id")),
    request_body = a::Start,
    responses(
        (status = 201, body = ExecutionView),
        (status = 400, body = shared::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = shared::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = shared::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn start(
    state: Run,
    id: web::Path<i64>,
    body: Json<a::Start>,
) -> Result<HttpResponse, ApiError> {
    let (plan_id, b) = (id.into_inner(), body.into_inner());
    let view = state
        .run_as(move |c, actor| {
            let (version, doc) = crate::api::plans::saved(c, plan_id, b.version)?;
            let (plan, params) = resolve::resolve(c, (plan_id, version), &doc, &b.params)?;
            let id = operate::start_in(c, actor, &plan, &params, &b.comment)?;
            Ok::<_, Error>(store::view(c, id)?)
        })
        .await?;
    let location = format!("/api/v1/executions/{}", view.id);
    Ok(crate::api::created(location, &view))
}

/// The plan's executions, newest first, without their steps.
#[utoipa::path(
    operation_id = "list_plan_executions",
    get,
    path = "/api/v1/plans/{id}/executions",
    params(("id" = i64, Path, description = "The plan's id"), PageQuery),
    responses(
        (status = 200, body = Page<ExecutionSummary>),
        (status = 400, body = shared::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = shared::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn list(
    state: Authorized<perm::PlansRead>,
    id: web::Path<i64>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<ExecutionSummary>>, ApiError> {
    let (id, page) = (id.into_inner(), query.limit_offset()?);
    let list = state
        .store
        .run(move |c| {
            let plan = crate::store::plans::row(c, id)?;
            reads::list(c, &plan.name, page)
        })
        .await?;
    Ok(web::Json(list))
}

/// An execution with its steps (state, attempts, order of completion, error).
#[utoipa::path(
    operation_id = "get_execution",
    get,
    path = "/api/v1/executions/{id}",
    params(("id" = i64, Path, description = "The execution's id")),
    responses(
        (status = 200, body = ExecutionView),
        (status = 404, body = shared::problem::Problem)
    )
)]
pub async fn get(
    state: Authorized<perm::PlansRead>,
    id: web::Path<i64>,
) -> Result<web::Json<ExecutionView>, ApiError> {
    let id = id.into_inner();
    Ok(web::Json(
        state.store.run(move |c| store::view(c, id)).await?,
    ))
}

/// The execution's timeline, oldest first: who did what, when, and why.
#[utoipa::path(
    operation_id = "list_execution_events",
    get,
    path = "/api/v1/executions/{id}/events",
    params(("id" = i64, Path, description = "The execution's id")),
    responses(
        (status = 200, body = Vec<EventView>),
        (status = 404, body = shared::problem::Problem)
    )
)]
pub async fn events(
    state: Authorized<perm::PlansRead>,
    id: web::Path<i64>,
) -> Result<web::Json<Vec<EventView>>, ApiError> {
    let id = id.into_inner();
    let events = state
        .store
        .run(move |c| {
            store::snapshot(c, id)?;
            store::events(c, id)
        })
        .await?;
    Ok(web::Json(events))
}

/// Applies `op` as the caller and answers the execution after it.
async fn act<P: Needs>(
    state: Authorized<P>,
    id: i64,
    op: Op,
    comment: String,
) -> Result<web::Json<ExecutionView>, ApiError> {
    let view = state
        .run_as(move |c, actor| {
            operate::operate_in(c, actor, id, &op, &comment)?;
            Ok::<_, Error>(store::view(c, id)?)
        })
        .await?;
    Ok(web::Json(view))
}

macro_rules! action {
    ($(#[doc = $doc:tt])* $name:ident, $id:literal, $path:literal, $state:ty, $body:ty,
        |$b:ident, $roles:ident| $op:expr) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            operation_id = $id,
            post,
            path = $path,
            params(("id" = i64, Path, description = "The execution's id")),
            request_body = $body,
            responses(
                (status = 200, body = ExecutionView),
                (status = 400, body = shared::problem::Problem,
                    content_type = "application/problem+json"),
                (status = 403, body = shared::problem::Problem,
                    content_type = "application/problem+json"),
                (status = 404, body = shared::problem::Problem,
                    content_type = "application/problem+json"),
                (status = 409, body = shared::problem::Problem,
                    content_type = "application/problem+json")
            )
        )]
        pub async fn $name(
            state: $state,
            id: web::Path<i64>,
            body: Json<$body>,
        ) -> Result<web::Json<ExecutionView>, ApiError> {
            let $b = body.into_inner();
            let $roles = state.principal.roles.clone();
            let op = $op;
            act(state, id.into_inner(), op, $b.comment).await
        }
    };
}

action!(
    /// Pause: the steps in flight finish; nothing new starts until resumed.
    pause, "pause_execution", "/api/v1/executions/{id}/pause", Run, a::Comment,
    |b, _roles| Op::Pause
);
action!(
    /// Resume a paused execution (forward, or its rollback); 409 while a step waits for a
    /// retry or a skip.
    resume, "resume_execution", "/api/v1/executions/{id}/resume", Run, a::Comment,
    |b, _roles| Op::Resume
);
action!(
    /// Skip a step (pending, failed, outcome unknown, waiting for approval; in a rollback, a
    /// completed step's undo), saying why.
    skip, "skip_execution_step", "/api/v1/executions/{id}/skip", Run, a::Skip,
    |b, _roles| Op::Skip { step: b.step.clone() }
);
action!(
    /// Run a failed step (or one whose outcome is unknown) again; in a rollback, its undo.
    retry, "retry_execution_step", "/api/v1/executions/{id}/retry", Run, a::Retry,
    |b, _roles| Op::Retry { step: b.step.clone() }
);
action!(
    /// Approve the step waiting for approval: one of its roles, not the starter, a comment.
    approve, "approve_execution", "/api/v1/executions/{id}/approve", Approve, a::Answer,
    |b, roles| Op::Approve { step: b.step.clone(), roles }
);
action!(
    /// Reject it: the step fails and its `on_failure` applies; a comment is required.
    reject, "reject_execution", "/api/v1/executions/{id}/reject", Approve, a::Answer,
    |b, roles| Op::Reject { step: b.step.clone(), roles }
);
action!(
    /// Abort; with `rollback`, after undoing the completed steps in reverse order.
    abort, "abort_execution", "/api/v1/executions/{id}/abort", Run, a::Abort,
    |b, _roles| Op::Abort { rollback: b.rollback }
);
