//! `/api/v1/iam/permissions` and `/api/v1/iam/roles`: the catalog, and roles made of it.

use crate::api::standard::list_all;
use crate::iam::perm;
use crate::state::AppState;
use crate::state::Authorized;
use crate::store::iam::access::{self, PermissionInfo, Role};
use crate::store::iam::manifest;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shared::extract::Json;
use shared::permissions::{PermSet, is_builtin_role};
use shared::{ApiError, ErrorCode};

list_all!(
    list_permissions: "/api/v1/iam/permissions", RolesRead => (Vec<PermissionInfo>),
    access::permissions
);

list_all!(list_roles: "/api/v1/iam/roles", RolesRead => (Vec<Role>), access::roles);

#[utoipa::path(
    get,
    path = "/api/v1/iam/roles/{name}",
    responses((status = 200, body = Role), (status = 404, body = shared::problem::Problem))
)]
pub async fn get_role(
    auth: Authorized<perm::RolesRead>,
    name: web::Path<String>,
) -> Result<web::Json<Role>, ApiError> {
    let name = name.into_inner();
    Ok(web::Json(
        auth.store.run(move |c| access::role(c, &name)).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    #[serde(default)]
    pub description: String,
    pub permissions: Vec<String>,
}

/// Creates or replaces a role from catalog permissions.
#[utoipa::path(
    put,
    path = "/api/v1/iam/roles/{name}",
    request_body = RoleInput,
    responses(
        (status = 200, body = Role),
        (status = 201, body = Role),
        (status = 400, body = shared::problem::Problem)
    )
)]
pub async fn put_role(
    auth: Authorized<perm::RolesWrite>,
    name: web::Path<String>,
    body: Json<RoleInput>,
) -> Result<HttpResponse, ApiError> {
    let (name, input) = (name.into_inner(), body.into_inner());
    if !manifest::valid_name(&name) {
        return Err(ApiError::field(
            ErrorCode::InvalidField,
            "name",
            "must be 1-64 letters, digits, `-`, `_` or `.`",
        ));
    }
    for (i, p) in input.permissions.iter().enumerate() {
        PermSet::parse([p.as_str()]).map_err(|e| {
            ApiError::field(ErrorCode::InvalidField, format!("permissions[{i}]"), e)
        })?;
    }
    let mut perms = input.permissions.clone();
    perms.sort();
    perms.dedup();
    let role = Role {
        builtin: is_builtin_role(&name),
        name,
        description: input.description,
        permissions: perms,
    };
    let actor = auth.actor();
    let r = role.clone();
    let created = auth
        .store
        .run(move |c| access::put_role(c, &actor, &r))
        .await?;
    auth.iam.invalidate_access();
    Ok(if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    }
    .json(role))
}

/// Deletes a custom role and its bindings; built-in roles stay (409).
#[utoipa::path(
    delete,
    path = "/api/v1/iam/roles/{name}",
    responses((status = 204), (status = 409, body = shared::problem::Problem))
)]
pub async fn delete_role(
    auth: Authorized<perm::RolesWrite>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    if is_builtin_role(&name) {
        return Err(ApiError::field(
            ErrorCode::Conflict,
            "name",
            "built-in roles cannot be deleted",
        ));
    }
    let actor = auth.actor();
    auth.store
        .run(move |c| access::delete_role(c, &actor, &name))
        .await?;
    auth.iam.invalidate_access();
    Ok(HttpResponse::NoContent().finish())
}

/// Every role in `roles` exists; errors name the field (`roles[i]`).
pub(super) async fn check_roles(auth: &AppState, roles: &[String]) -> Result<(), ApiError> {
    let known = auth.store.run(access::roles).await?;
    for (i, r) in roles.iter().enumerate() {
        if !known.iter().any(|k| &k.name == r) {
            return Err(ApiError::field(
                ErrorCode::InvalidField,
                format!("roles[{i}]"),
                format!("no role `{r}`"),
            ));
        }
    }
    Ok(())
}
