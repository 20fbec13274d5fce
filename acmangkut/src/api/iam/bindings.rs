//! `/api/v1/iam/bindings`: who (a user or an IdP group) holds which role.

use super::roles::check_roles;
use crate::api::standard::list_all;
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::iam::access::{self, Binding};
use crate::store::iam::manifest::{self, Manifest};
use actix_web::{HttpResponse, web};
use shared::extract::Json;
use shared::{ApiError, ErrorCode};

list_all!(list_bindings: "/api/v1/iam/bindings", RolesRead => (Vec<Binding>), access::bindings);

/// Binds a user (by username) or an IdP group to a role.
#[utoipa::path(
    post,
    path = "/api/v1/iam/bindings",
    request_body = Binding,
    responses((status = 201, body = Binding), (status = 409, body = shared::problem::Problem))
)]
pub async fn create_binding(
    auth: Authorized<perm::RolesWrite>,
    body: Json<Binding>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let m = Manifest {
        bindings: vec![b.clone()],
        ..Default::default()
    };
    manifest::validate(&m).map_err(|(f, d)| {
        ApiError::field(ErrorCode::InvalidField, f.replace("bindings[0].", ""), d)
    })?;
    check_roles(auth.app(), std::slice::from_ref(&b.role))
        .await
        .map_err(|e| ApiError::field(ErrorCode::InvalidField, "role", e.detail))?;
    let created = auth
        .run_as(move |c, actor| access::create_binding(c, actor, &b))
        .await?;
    auth.iam.invalidate_access();
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(
    delete,
    path = "/api/v1/iam/bindings/{id}",
    responses((status = 204), (status = 404, body = shared::problem::Problem))
)]
pub async fn delete_binding(
    auth: Authorized<perm::RolesWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (id, actor) = (id.into_inner(), auth.actor());
    auth.store
        .run(move |c| access::delete_binding(c, &actor, id))
        .await?;
    auth.iam.invalidate_access();
    Ok(HttpResponse::NoContent().finish())
}
