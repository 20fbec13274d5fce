//! `/api/v1/iam`: permissions, roles, users, bindings, and the manifest hasinit applies.

use crate::iam::{Authorized, accounts, perm};
use crate::store::iam::access::{self, Binding, PermissionInfo, Role};
use crate::store::iam::manifest::{self, ApplyReport, Manifest};
use crate::store::iam::users::{self, NewUser, User, UserChanges};
use crate::store::now_ms;
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::Deserialize;
use shared::extract::Json;
use shared::permissions::{PermSet, is_builtin_role};
use shared::{ApiError, ErrorCode};

#[utoipa::path(context_path = "/api/v1", responses((status = 200, body = [PermissionInfo])), security(("bearer" = ["roles:read"])))]
#[get("/iam/permissions")]
pub async fn list_permissions(
    auth: Authorized<perm::RolesRead>,
) -> Result<web::Json<Vec<PermissionInfo>>, ApiError> {
    Ok(web::Json(auth.store.run(access::permissions).await?))
}

#[utoipa::path(context_path = "/api/v1", responses((status = 200, body = [Role])), security(("bearer" = ["roles:read"])))]
#[get("/iam/roles")]
pub async fn list_roles(
    auth: Authorized<perm::RolesRead>,
) -> Result<web::Json<Vec<Role>>, ApiError> {
    Ok(web::Json(auth.store.run(access::roles).await?))
}

#[utoipa::path(context_path = "/api/v1", responses((status = 200, body = Role), (status = 404, body = shared::problem::Problem)), security(("bearer" = ["roles:read"])))]
#[get("/iam/roles/{name}")]
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
#[utoipa::path(context_path = "/api/v1", request_body = RoleInput, responses((status = 200, body = Role), (status = 201, body = Role), (status = 400, body = shared::problem::Problem)), security(("bearer" = ["roles:write"])))]
#[put("/iam/roles/{name}")]
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
#[utoipa::path(context_path = "/api/v1", responses((status = 204), (status = 409, body = shared::problem::Problem)), security(("bearer" = ["roles:write"])))]
#[delete("/iam/roles/{name}")]
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UsersQuery {
    /// Only users bound to this role.
    pub role: Option<String>,
}

#[utoipa::path(context_path = "/api/v1", params(UsersQuery), responses((status = 200, body = [User])), security(("bearer" = ["users:read"])))]
#[get("/iam/users")]
pub async fn list_users(
    auth: Authorized<perm::UsersRead>,
    q: web::Query<UsersQuery>,
) -> Result<web::Json<Vec<User>>, ApiError> {
    let role = q.into_inner().role;
    Ok(web::Json(
        auth.store
            .run(move |c| users::list(c, role.as_deref()))
            .await?,
    ))
}

#[utoipa::path(context_path = "/api/v1", responses((status = 200, body = User), (status = 404, body = shared::problem::Problem)), security(("bearer" = ["users:read"])))]
#[get("/iam/users/{id}")]
pub async fn get_user(
    auth: Authorized<perm::UsersRead>,
    id: web::Path<i64>,
) -> Result<web::Json<User>, ApiError> {
    let id = id.into_inner();
    Ok(web::Json(auth.store.run(move |c| users::get(c, id)).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserInput {
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    pub password: String,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Usable only while IAM is degraded.
    #[serde(default)]
    pub break_glass: bool,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdateInput {
    pub display_name: Option<String>,
    pub password: Option<String>,
    pub roles: Option<Vec<String>>,
    pub disabled: Option<bool>,
    pub break_glass: Option<bool>,
}

fn check_password(field: &str, p: &str) -> Result<(), ApiError> {
    if accounts::valid_password(p) {
        return Ok(());
    }
    Err(ApiError::field(
        ErrorCode::InvalidField,
        field,
        format!(
            "must be {} to {} characters",
            accounts::MIN_PASSWORD,
            accounts::MAX_PASSWORD_BYTES
        ),
    ))
}

fn check_username(u: &str) -> Result<(), ApiError> {
    if accounts::valid_username(u) {
        return Ok(());
    }
    Err(ApiError::field(
        ErrorCode::InvalidField,
        "username",
        "must be 1-64 letters, digits, `.`, `_`, `-` or `@`",
    ))
}

async fn check_roles(auth: &crate::api::AppState, roles: &[String]) -> Result<(), ApiError> {
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

/// Creates a built-in account (409 when the username is taken).
#[utoipa::path(context_path = "/api/v1", request_body = NewUserInput, responses((status = 201, body = User), (status = 400, body = shared::problem::Problem), (status = 409, body = shared::problem::Problem)), security(("bearer" = ["users:write"])))]
#[post("/iam/users")]
pub async fn create_user(
    auth: Authorized<perm::UsersWrite>,
    body: Json<NewUserInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    check_username(&input.username)?;
    check_password("password", &input.password)?;
    check_roles(auth.app(), &input.roles).await?;
    let now = now_ms();
    let new = NewUser {
        display_name: if input.display_name.is_empty() {
            input.username.clone()
        } else {
            input.display_name
        },
        username: input.username,
        password_hash: Some(accounts::hash_password(input.password).await?),
        source: "local".into(),
        break_glass: input.break_glass,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    let (actor, roles) = (auth.actor(), input.roles);
    let u = auth
        .store
        .run(move |c| users::create(c, &actor, &new, &roles))
        .await?;
    auth.iam.invalidate_access();
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/iam/users/{}", u.id)))
        .json(u))
}

#[utoipa::path(context_path = "/api/v1", request_body = UserUpdateInput, responses((status = 200, body = User), (status = 404, body = shared::problem::Problem)), security(("bearer" = ["users:write"])))]
#[put("/iam/users/{id}")]
pub async fn update_user(
    auth: Authorized<perm::UsersWrite>,
    id: web::Path<i64>,
    body: Json<UserUpdateInput>,
) -> Result<web::Json<User>, ApiError> {
    let (id, input) = (id.into_inner(), body.into_inner());
    if let Some(p) = &input.password {
        check_password("password", p)?;
    }
    if let Some(r) = &input.roles {
        check_roles(auth.app(), r).await?;
    }
    let changes = UserChanges {
        display_name: input.display_name,
        password_hash: match input.password {
            Some(p) => Some(Some(accounts::hash_password(p).await?)),
            None => None,
        },
        break_glass: input.break_glass,
        disabled: input.disabled,
        updated_at: Some(now_ms()),
    };
    let (actor, roles) = (auth.actor(), input.roles);
    let u = auth
        .store
        .run(move |c| users::update(c, &actor, id, &changes, roles.as_deref()))
        .await?;
    auth.iam.invalidate_access();
    Ok(web::Json(u))
}

#[utoipa::path(context_path = "/api/v1", responses((status = 204), (status = 404, body = shared::problem::Problem)), security(("bearer" = ["users:write"])))]
#[delete("/iam/users/{id}")]
pub async fn delete_user(
    auth: Authorized<perm::UsersWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (id, actor) = (id.into_inner(), auth.actor());
    if auth.principal.user_id == Some(id) {
        return Err(ApiError::field(
            ErrorCode::Conflict,
            "id",
            "you cannot delete your own account",
        ));
    }
    auth.store
        .run(move |c| users::delete(c, &actor, id))
        .await?;
    auth.iam.invalidate_access();
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(context_path = "/api/v1", responses((status = 200, body = [Binding])), security(("bearer" = ["roles:read"])))]
#[get("/iam/bindings")]
pub async fn list_bindings(
    auth: Authorized<perm::RolesRead>,
) -> Result<web::Json<Vec<Binding>>, ApiError> {
    Ok(web::Json(auth.store.run(access::bindings).await?))
}

/// Binds a user (by username) or an IdP group to a role.
#[utoipa::path(context_path = "/api/v1", request_body = Binding, responses((status = 201, body = Binding), (status = 409, body = shared::problem::Problem)), security(("bearer" = ["roles:write"])))]
#[post("/iam/bindings")]
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
    let actor = auth.actor();
    let created = auth
        .store
        .run(move |c| access::create_binding(c, &actor, &b))
        .await?;
    auth.iam.invalidate_access();
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(context_path = "/api/v1", responses((status = 204), (status = 404, body = shared::problem::Problem)), security(("bearer" = ["roles:write"])))]
#[delete("/iam/bindings/{id}")]
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ApplyQuery {
    /// Compare only; write nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Applies a permission manifest (what hasinit does): created / updated / unchanged.
#[utoipa::path(context_path = "/api/v1", params(ApplyQuery), request_body = Manifest, responses((status = 200, body = ApplyReport), (status = 400, body = shared::problem::Problem)), security(("bearer" = ["roles:write"])))]
#[post("/iam/manifest:apply")]
pub async fn apply_manifest(
    auth: Authorized<perm::RolesWrite>,
    q: web::Query<ApplyQuery>,
    body: Json<Manifest>,
) -> Result<web::Json<ApplyReport>, ApiError> {
    let m = body.into_inner();
    manifest::validate(&m).map_err(|(f, d)| ApiError::field(ErrorCode::InvalidField, f, d))?;
    let (actor, dry) = (auth.actor(), q.dry_run);
    let report = auth
        .store
        .run(move |c| manifest::apply(c, &actor, &m, dry))
        .await
        .map_err(ApiError::from)
        .map_err(|e| {
            if e.code == ErrorCode::NotFound {
                ApiError::field(
                    ErrorCode::InvalidField,
                    "bindings",
                    "a binding names a role that neither the manifest nor the server defines",
                )
            } else {
                e
            }
        })?;
    auth.iam.invalidate_access();
    Ok(web::Json(report))
}
