//! `/api/v1/iam/users`: built-in accounts.

use super::roles::check_roles;
use crate::api::created;
use crate::api::standard::read_by_id;
use crate::iam::{accounts, perm};
use crate::state::Authorized;
use crate::store::iam::users::{self, NewUser, User, UserChanges};
use crate::store::now_ms;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shared::extract::Json;
use shared::{ApiError, ErrorCode};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UsersQuery {
    /// Only users bound to this role.
    pub role: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/iam/users",
    params(UsersQuery),
    responses((status = 200, body = [User]))
)]
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

read_by_id!(
    get_user: "/api/v1/iam/users/{id}", UsersRead => (User),
    |c, id| users::get(c, id)
);

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

/// Creates a built-in account (409 when the username is taken).
#[utoipa::path(
    post,
    path = "/api/v1/iam/users",
    request_body = NewUserInput,
    responses(
        (status = 201, body = User),
        (status = 400, body = shared::problem::Problem),
        (status = 409, body = shared::problem::Problem)
    )
)]
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
    Ok(created(format!("/api/v1/iam/users/{}", u.id), &u))
}

#[utoipa::path(
    put,
    path = "/api/v1/iam/users/{id}",
    request_body = UserUpdateInput,
    responses((status = 200, body = User), (status = 404, body = shared::problem::Problem))
)]
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

#[utoipa::path(
    delete,
    path = "/api/v1/iam/users/{id}",
    responses((status = 204), (status = 404, body = shared::problem::Problem))
)]
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
