//! `/admin/users`: user accounts (built-in and OIDC), creating a built-in account, and
//! disabling or re-enabling one.

use crate::iam::perm;
use crate::iam::permissions::Needs;
use crate::state::Authorized;
use crate::store::iam::access;
use crate::store::iam::users::{self as store, NewUser, User, UserChanges};
use crate::store::now_ms;
use crate::ui::fields::{Fields, Form};
use crate::ui::i18n::Tr;
use crate::ui::views::Chrome;
use crate::ui::{Ui, UiError, when};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use shared::{ApiError, ErrorCode};

/// The API's rule for built-in account passwords (`POST /api/v1/iam/users`).
use crate::iam::accounts::{self, MIN_PASSWORD};

pub struct UserRowView {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub source: String,
    pub roles: String,
    pub break_glass: bool,
    pub disabled: bool,
    pub last_sign_in: String,
    /// The caller's own account (which they cannot disable here).
    pub me: bool,
}

pub struct RoleBox {
    pub name: String,
    pub checked: bool,
}

/// The create form as typed (the password is never sent back).
#[derive(Default)]
pub struct NewUserForm {
    pub username: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub break_glass: bool,
}

#[derive(Template)]
#[template(path = "iam/users.html")]
pub struct UsersPage {
    pub c: Chrome,
    pub t: Tr,
    pub users: Vec<UserRowView>,
    pub roles: Vec<RoleBox>,
    pub f: NewUserForm,
    /// `(field, message)`: `username`, `password` or `roles`.
    pub errors: Vec<(&'static str, &'static str)>,
    pub min_password: usize,
}

impl UsersPage {
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| *m)
    }
}

async fn page<P: Needs>(
    ui: &Ui,
    auth: &Authorized<P>,
    f: NewUserForm,
    errors: Vec<(&'static str, &'static str)>,
) -> Result<UsersPage, UiError> {
    let t = ui.tr();
    let (users, roles) = auth
        .store
        .run(|c| diesel::QueryResult::Ok((store::list(c, None)?, access::roles(c)?)))
        .await
        .map_err(|e| ui.fail(e))?;
    let me = auth.principal.user_id;
    Ok(UsersPage {
        c: ui.chrome(t.get("users.title"), "users"),
        t,
        users: users
            .into_iter()
            .map(|u: User| UserRowView {
                me: me == Some(u.id),
                id: u.id,
                source: t
                    .get(if u.source == "oidc" {
                        "users.source_oidc"
                    } else {
                        "users.source_local"
                    })
                    .to_string(),
                roles: if u.roles.is_empty() {
                    t.get("user.no_roles").to_string()
                } else {
                    u.roles.join(", ")
                },
                break_glass: u.break_glass,
                disabled: u.disabled,
                last_sign_in: when(ui, u.last_sign_in_at),
                username: u.username,
                display_name: u.display_name,
            })
            .collect(),
        roles: roles
            .into_iter()
            .map(|r| RoleBox {
                checked: f.roles.contains(&r.name),
                name: r.name,
            })
            .collect(),
        f,
        errors,
        min_password: MIN_PASSWORD,
    })
}

pub async fn show(auth: Authorized<perm::UsersRead>, ui: Ui) -> Result<HttpResponse, UiError> {
    ui.render(&page(&ui, &auth, NewUserForm::default(), Vec::new()).await?)
}

/// What is wrong with a new account, field by field (the rules of the API's user create).
pub fn check_new_user(
    f: &NewUserForm,
    password: &str,
    known_roles: &[String],
) -> Vec<(&'static str, &'static str)> {
    let mut errors = Vec::new();
    if !accounts::valid_username(&f.username) {
        errors.push(("username", "users.err_username"));
    }
    if !accounts::valid_password(password) {
        errors.push(("password", "users.err_password"));
    }
    if f.roles.iter().any(|r| !known_roles.contains(r)) {
        errors.push(("roles", "users.err_roles"));
    }
    errors
}

pub async fn create(
    auth: Authorized<perm::UsersWrite>,
    Form { ui, body }: Form,
) -> Result<HttpResponse, UiError> {
    let t = ui.tr();
    let fields = Fields::parse(&body);
    let f = NewUserForm {
        username: fields.get("username").trim().to_string(),
        display_name: fields.get("display_name").trim().to_string(),
        roles: fields.all("roles"),
        break_glass: fields.has("break_glass"),
    };
    let password = fields.get("password").to_string();
    let known: Vec<String> = auth
        .store
        .run(access::roles)
        .await
        .map_err(|e| ui.fail(e))?
        .into_iter()
        .map(|r| r.name)
        .collect();
    let errors: Vec<(&'static str, &'static str)> = check_new_user(&f, &password, &known)
        .into_iter()
        .map(|(field, key)| (field, t.get(key)))
        .collect();
    if !errors.is_empty() {
        let p = page(&ui, &auth, f, errors).await?;
        return ui.render_status(StatusCode::UNPROCESSABLE_ENTITY, &p);
    }
    let hash = accounts::hash_password(password)
        .await
        .map_err(|e| ui.fail(e))?;
    let now = now_ms();
    let new = NewUser {
        username: f.username.clone(),
        display_name: if f.display_name.is_empty() {
            f.username.clone()
        } else {
            f.display_name.clone()
        },
        password_hash: Some(hash),
        source: "local".into(),
        break_glass: f.break_glass,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    let (actor, roles) = (auth.actor(), f.roles.clone());
    match auth
        .store
        .run(move |c| store::create(c, &actor, &new, &roles))
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => {}
        Err(e) if e.code == ErrorCode::Conflict => {
            let errors = vec![("username", t.get("users.err_taken"))];
            let p = page(&ui, &auth, f, errors).await?;
            return ui.render_status(StatusCode::CONFLICT, &p);
        }
        Err(e) => return Err(ui.fail(e)),
    }
    auth.iam.invalidate_access();
    Ok(ui.redirect("/admin/users?notice=user_created".into()))
}

async fn set_disabled(
    auth: Authorized<perm::UsersWrite>,
    ui: Ui,
    id: web::Path<String>,
    disabled: bool,
) -> Result<HttpResponse, UiError> {
    let id = id
        .parse::<i64>()
        .map_err(|_| ui.fail(ApiError::not_found("no such user")))?;
    if disabled && auth.principal.user_id == Some(id) {
        return Err(ui.fail(ApiError::new(
            ErrorCode::Conflict,
            "you cannot disable your own account",
        )));
    }
    let changes = UserChanges {
        disabled: Some(disabled),
        updated_at: Some(now_ms()),
        ..UserChanges::default()
    };
    let actor = auth.actor();
    auth.store
        .run(move |c| store::update(c, &actor, id, &changes, None))
        .await
        .map_err(|e| ui.fail(e))?;
    auth.iam.invalidate_access();
    let notice = if disabled {
        "user_disabled"
    } else {
        "user_enabled"
    };
    Ok(ui.redirect(format!("/admin/users?notice={notice}")))
}

pub async fn disable(
    auth: Authorized<perm::UsersWrite>,
    Form { ui, .. }: Form,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    set_disabled(auth, ui, id, true).await
}

pub async fn enable(
    auth: Authorized<perm::UsersWrite>,
    Form { ui, .. }: Form,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    set_disabled(auth, ui, id, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_account_is_refused_for_each_rule_it_breaks() {
        let known = vec!["viewer".to_string(), "admin".to_string()];
        let form = |username: &str, roles: &[&str]| NewUserForm {
            username: username.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..NewUserForm::default()
        };
        let good = "correct horse battery";
        let cases: [(NewUserForm, &str, &[&str], &str); 6] = [
            (form("alice", &["viewer"]), good, &[], "a good account"),
            (form("", &[]), good, &["username"], "no username"),
            (form("al ice", &[]), good, &["username"], "a space"),
            (
                form("alice", &[]),
                "short",
                &["password"],
                "11 characters at most",
            ),
            (
                form("alice", &["root"]),
                good,
                &["roles"],
                "an unknown role",
            ),
            (
                form("a/b", &["x"]),
                "",
                &["username", "password", "roles"],
                "everything",
            ),
        ];
        for (f, password, want, why) in cases {
            let got: Vec<&str> = check_new_user(&f, password, &known)
                .into_iter()
                .map(|(field, _)| field)
                .collect();
            assert_eq!(got, want, "{why}");
        }
    }
}
