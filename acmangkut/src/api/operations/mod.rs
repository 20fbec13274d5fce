//! `/api/v1/operations/…`: the atomic operations catalog (原子操作), addressed by code. Reading
//! needs `plans:read`; creating, changing, publishing, deprecating and deleting `plans:write`
//! (plans are what operations serve; drills will read `kind: fault` ones the same way).
//!
//! Each OpenAPI operation has an id of its own (`get_operation`, not the handler's name `get`,
//! which other resources' handlers have too): clients and tools resolve links by it.

use crate::engine::operations as engine;
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::operations::{self as store, OperationFilter};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shared::operation::{
    Operation, OperationInput, OperationKind, OperationReference, OperationStatus, OperationVersion,
};
use shared::{ApiError, ErrorCode};

type Read = Authorized<perm::PlansRead>;
type Write = Authorized<perm::PlansWrite>;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OperationQuery {
    /// `draft`, `published` or `deprecated`.
    #[param(pattern = "^(draft|published|deprecated)?$")]
    pub status: Option<String>,
    /// `plan` or `fault`.
    #[param(pattern = "^(plan|fault)?$")]
    pub kind: Option<String>,
    /// Substring of the name, code or description (any case).
    pub q: Option<String>,
}

/// A query parameter that names one of an enum's values, or is empty (no filter).
fn one_of<T>(
    value: Option<&str>,
    field: &str,
    parse: impl Fn(&str) -> Option<T>,
    allowed: &str,
) -> Result<Option<T>, ApiError> {
    match value.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(v) => parse(v).map(Some).ok_or_else(|| {
            ApiError::field(ErrorCode::InvalidQuery, field, format!("must be {allowed}"))
        }),
    }
}

impl OperationQuery {
    pub fn filter(self) -> Result<OperationFilter, ApiError> {
        Ok(OperationFilter {
            status: one_of(
                self.status.as_deref(),
                "status",
                OperationStatus::parse,
                "draft, published or deprecated",
            )?,
            kind: one_of(
                self.kind.as_deref(),
                "kind",
                OperationKind::parse,
                "plan or fault",
            )?,
            search: self.q.filter(|q| !q.trim().is_empty()),
        })
    }
}

/// The catalog, newest first, with each operation's status and reference count.
#[utoipa::path(
    operation_id = "list_operations",
    get,
    path = "/api/v1/operations",
    params(OperationQuery),
    responses((status = 200, body = Vec<Operation>))
)]
pub async fn list(
    state: Read,
    query: web::Query<OperationQuery>,
) -> Result<web::Json<Vec<Operation>>, ApiError> {
    let filter = query.into_inner().filter()?;
    Ok(web::Json(
        state.store.run(move |c| store::list(c, &filter)).await?,
    ))
}

/// Create an operation: a draft at version 1.
#[utoipa::path(
    operation_id = "create_operation",
    post,
    path = "/api/v1/operations",
    request_body = OperationInput,
    responses(
        (status = 201, body = Operation),
        (status = 400, body = shared::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = shared::problem::Problem)
    )
)]
pub async fn create(
    state: Write,
    body: shared::extract::Json<OperationInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    let made = state
        .run_as(move |c, actor| engine::save(c, actor, None, &input))
        .await?;
    let location = format!("/api/v1/operations/{}", made.input.code);
    Ok(crate::api::created(location, &made))
}

#[utoipa::path(
    operation_id = "get_operation",
    get,
    path = "/api/v1/operations/{code}",
    params(("code" = String, Path, description = "The operation's code")),
    responses(
        (status = 200, body = Operation),
        (status = 404, body = shared::problem::Problem)
    )
)]
pub async fn get(state: Read, code: web::Path<String>) -> Result<web::Json<Operation>, ApiError> {
    let code = code.into_inner();
    Ok(web::Json(
        state.store.run(move |c| store::get(c, &code)).await?,
    ))
}

/// Change an operation: a change adds a version (plan versions keep the one they pinned); a
/// deprecated operation no longer changes (409). The code cannot change.
#[utoipa::path(
    operation_id = "update_operation",
    put,
    path = "/api/v1/operations/{code}",
    params(("code" = String, Path, description = "The operation's code")),
    request_body = OperationInput,
    responses(
        (status = 200, body = Operation),
        (status = 400, body = shared::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = shared::problem::Problem),
        (status = 409, body = shared::problem::Problem)
    )
)]
pub async fn update(
    state: Write,
    code: web::Path<String>,
    body: shared::extract::Json<OperationInput>,
) -> Result<web::Json<Operation>, ApiError> {
    let (code, input) = (code.into_inner(), body.into_inner());
    Ok(web::Json(
        state
            .run_as(move |c, actor| engine::save(c, actor, Some(&code), &input))
            .await?,
    ))
}

/// Delete an operation and its versions; 409 naming the plans while any plan version pins it.
#[utoipa::path(
    operation_id = "delete_operation",
    delete,
    path = "/api/v1/operations/{code}",
    params(("code" = String, Path, description = "The operation's code")),
    responses(
        (status = 204),
        (status = 404, body = shared::problem::Problem),
        (status = 409, body = shared::problem::Problem)
    )
)]
pub async fn delete(state: Write, code: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let code = code.into_inner();
    state
        .run_as(move |c, actor| store::delete(c, actor, &code))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Moves the operation in the path to `next`.
async fn set_status(
    state: Write,
    code: web::Path<String>,
    next: OperationStatus,
) -> Result<web::Json<Operation>, ApiError> {
    let code = code.into_inner();
    Ok(web::Json(
        state
            .run_as(move |c, actor| engine::set_status(c, actor, &code, next))
            .await?,
    ))
}

/// Publish a draft: new plan versions may then pin it. 409 unless it is a draft.
#[utoipa::path(
    operation_id = "publish_operation",
    post,
    path = "/api/v1/operations/{code}/publish",
    params(("code" = String, Path, description = "The operation's code")),
    responses(
        (status = 200, body = Operation),
        (status = 404, body = shared::problem::Problem),
        (status = 409, body = shared::problem::Problem)
    )
)]
pub async fn publish(
    state: Write,
    code: web::Path<String>,
) -> Result<web::Json<Operation>, ApiError> {
    set_status(state, code, OperationStatus::Published).await
}

/// Deprecate a published operation: no new references, no changes; plan versions that pin it
/// keep it. 409 unless it is published.
#[utoipa::path(
    operation_id = "deprecate_operation",
    post,
    path = "/api/v1/operations/{code}/deprecate",
    params(("code" = String, Path, description = "The operation's code")),
    responses(
        (status = 200, body = Operation),
        (status = 404, body = shared::problem::Problem),
        (status = 409, body = shared::problem::Problem)
    )
)]
pub async fn deprecate(
    state: Write,
    code: web::Path<String>,
) -> Result<web::Json<Operation>, ApiError> {
    set_status(state, code, OperationStatus::Deprecated).await
}

/// Every version of an operation, newest first.
#[utoipa::path(
    operation_id = "list_operation_versions",
    get,
    path = "/api/v1/operations/{code}/versions",
    params(("code" = String, Path, description = "The operation's code")),
    responses(
        (status = 200, body = Vec<OperationVersion>),
        (status = 404, body = shared::problem::Problem)
    )
)]
pub async fn versions(
    state: Read,
    code: web::Path<String>,
) -> Result<web::Json<Vec<OperationVersion>>, ApiError> {
    let code = code.into_inner();
    Ok(web::Json(
        state.store.run(move |c| store::versions(c, &code)).await?,
    ))
}

/// One version of an operation, whatever its status now.
#[utoipa::path(
    operation_id = "get_operation_version",
    get,
    path = "/api/v1/operations/{code}/versions/{version}",
    params(
        ("code" = String, Path, description = "The operation's code"),
        ("version" = i32, Path, description = "A version number, from 1")
    ),
    responses(
        (status = 200, body = OperationVersion),
        (status = 404, body = shared::problem::Problem)
    )
)]
pub async fn version(
    state: Read,
    path: web::Path<(String, i32)>,
) -> Result<web::Json<OperationVersion>, ApiError> {
    let (code, version) = path.into_inner();
    Ok(web::Json(
        state
            .store
            .run(move |c| store::version(c, &code, Some(version)).map(|(v, _)| v))
            .await?,
    ))
}

/// The plan versions that pin a version of the operation.
#[utoipa::path(
    operation_id = "list_operation_references",
    get,
    path = "/api/v1/operations/{code}/references",
    params(("code" = String, Path, description = "The operation's code")),
    responses(
        (status = 200, body = Vec<OperationReference>),
        (status = 404, body = shared::problem::Problem)
    )
)]
pub async fn references(
    state: Read,
    code: web::Path<String>,
) -> Result<web::Json<Vec<OperationReference>>, ApiError> {
    let code = code.into_inner();
    Ok(web::Json(
        state
            .store
            .run(move |c| store::references(c, &code))
            .await?,
    ))
}
