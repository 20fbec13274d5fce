//! Plugins: the built-in kinds of check, and custom presets of them.

use crate::api::created;
use crate::api::standard::{delete_by_id, list_all, read_by_id};
use crate::engine::inspection::define;
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::inspection::plugins as store;
use actix_web::{HttpResponse, web};
use shared::ApiError;
use shared::extract::Json;
use shared::inspection::{Plugin, PluginInput};

list_all!(list: "/api/v1/inspection/plugins", InspectionsRead => (Vec<Plugin>), store::list);

read_by_id!(
    get: "/api/v1/inspection/plugins/{id}", InspectionsRead => (Plugin),
    |c, id| store::get(c, id)
);

/// Create a custom plugin: a kind of check with default parameters for its rules.
#[utoipa::path(
    post,
    path = "/api/v1/inspection/plugins",
    request_body = PluginInput,
    responses(
        (status = 201, body = Plugin),
        (status = 400, body = shared::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = shared::problem::Problem)
    )
)]
pub async fn create(
    state: Authorized<perm::InspectionsWrite>,
    body: Json<PluginInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    define::plugin(&input)?;
    let p = state
        .run_as(move |c, actor| store::create(c, actor, &input))
        .await?;
    Ok(created(format!("/api/v1/inspection/plugins/{}", p.id), &p))
}

/// Change a custom plugin (built-in ones are read-only).
#[utoipa::path(
    put,
    path = "/api/v1/inspection/plugins/{id}",
    request_body = PluginInput,
    responses(
        (status = 200, body = Plugin),
        (status = 400, body = shared::problem::Problem),
        (status = 409, body = shared::problem::Problem)
    )
)]
pub async fn update(
    state: Authorized<perm::InspectionsWrite>,
    id: web::Path<i64>,
    body: Json<PluginInput>,
) -> Result<web::Json<Plugin>, ApiError> {
    let (id, input) = (id.into_inner(), body.into_inner());
    define::plugin(&input)?;
    Ok(web::Json(
        state
            .run_as(move |c, actor| store::update(c, actor, id, &input))
            .await?,
    ))
}

delete_by_id!(
    /// Delete a custom plugin; 409 while rules use it.
    delete: "/api/v1/inspection/plugins/{id}", InspectionsWrite, 409,
    |c, actor, id| store::delete(c, actor, id)
);
