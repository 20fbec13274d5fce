//! `/tokens`: the caller's own API tokens; creating one (its secret shown on the answer page,
//! once) and revoking. Tokens are checked and built by [`crate::iam::tokens::prepare`], as the
//! API does.

use crate::iam::tokens::{NewTokenInput, own_user, prepare};
use crate::iam::{Principal, perm};
use crate::state::Authorized;
use crate::store::iam::tokens::{self as store, ApiToken};
use crate::ui::fields::{Fields, Form};
use crate::ui::i18n::{Lang, Tr};
use crate::ui::views::Chrome;
use crate::ui::{Ui, UiError, when};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use shared::permissions::Permission;
use shared::{ApiError, ErrorCode};

const DEFAULT_DAYS: &str = "30";

pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub permissions: Vec<&'static str>,
    pub created: String,
    pub expires: String,
    pub last_used: String,
    pub status: &'static str,
    pub status_class: &'static str,
    /// Not revoked or expired yet: it can be revoked.
    pub live: bool,
}

/// A permission checkbox of the create form.
pub struct PermBox {
    pub name: &'static str,
    pub description: &'static str,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "iam/tokens.html")]
pub struct TokensPage {
    pub c: Chrome,
    pub t: Tr,
    /// The caller has a user account (the bootstrap token and provider tokens have none).
    pub account: bool,
    pub tokens: Vec<TokenView>,
    pub name: String,
    pub days: String,
    pub max_days: u64,
    pub perms: Vec<PermBox>,
    /// `(field, message)`: `name`, `expires_in_days` or `permissions`.
    pub errors: Vec<(&'static str, String)>,
    /// The token just created and its secret: shown on this answer only.
    pub created: Option<(String, String)>,
}

impl TokensPage {
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
}

/// A permission's description in `lang` (the catalog's defaults).
pub fn describe(lang: Lang, p: Permission) -> &'static str {
    let (en, zh) = p.description();
    match lang {
        Lang::En => en,
        Lang::ZhCn => zh,
    }
}

fn token_view(ui: &Ui, tok: ApiToken) -> TokenView {
    let t = ui.tr();
    let now = chrono::Utc::now();
    let (status, status_class) = match (tok.revoked_at, tok.expires_at <= now) {
        (Some(_), _) => (t.get("tokens.revoked"), "s-paused"),
        (None, true) => (t.get("tokens.expired"), "s-pending"),
        (None, false) => (t.get("tokens.active"), "s-up"),
    };
    TokenView {
        id: tok.id,
        permissions: tok
            .permissions
            .iter()
            .filter_map(|p| Permission::parse(p))
            .map(Permission::as_str)
            .collect(),
        created: when(ui, Some(tok.created_at)),
        expires: when(ui, Some(tok.expires_at)),
        last_used: when(ui, tok.last_used_at),
        live: status_class == "s-up",
        status,
        status_class,
        name: tok.name,
    }
}

struct Typed {
    name: String,
    days: String,
    permissions: Vec<String>,
}

/// Lists the caller's tokens and fills the form (blank, or as typed with its errors).
async fn page(
    ui: &Ui,
    auth: &Authorized<impl crate::iam::permissions::Needs>,
    typed: Typed,
    errors: Vec<(&'static str, String)>,
    created: Option<(String, String)>,
) -> Result<TokensPage, UiError> {
    let t = ui.tr();
    let p: &Principal = &auth.principal;
    let tokens = match p.user_id {
        Some(user) => auth
            .store
            .run(move |c| store::list_for(c, user))
            .await
            .map_err(|e| ui.fail(e))?,
        None => Vec::new(),
    };
    Ok(TokensPage {
        c: ui.chrome(t.get("tokens.title"), "tokens"),
        t,
        account: p.user_id.is_some(),
        tokens: tokens.into_iter().map(|tok| token_view(ui, tok)).collect(),
        perms: p
            .permissions
            .iter()
            .map(|perm| PermBox {
                name: perm.as_str(),
                description: describe(ui.lang, perm),
                checked: typed.permissions.iter().any(|n| n == perm.as_str()),
            })
            .collect(),
        name: typed.name,
        days: typed.days,
        max_days: auth.iam.config().token_max_days,
        errors,
        created,
    })
}

pub async fn show(auth: Authorized<perm::TokensRead>, ui: Ui) -> Result<HttpResponse, UiError> {
    let blank = Typed {
        name: String::new(),
        days: DEFAULT_DAYS.into(),
        permissions: Vec::new(),
    };
    ui.render(&page(&ui, &auth, blank, Vec::new(), None).await?)
}

/// The form's error in the catalog's words, on the field the shared check named.
fn form_error(t: Tr, max_days: u64, e: &ApiError) -> (&'static str, String) {
    match e.field.as_deref() {
        Some("name") => ("name", t.get("tokens.err_name").to_string()),
        Some("expires_in_days") => (
            "expires_in_days",
            t.get("tokens.err_days")
                .replace("{max}", &max_days.to_string()),
        ),
        _ => ("permissions", t.get("tokens.err_permission").to_string()),
    }
}

pub async fn create(
    auth: Authorized<perm::TokensWrite>,
    Form { ui, body }: Form,
) -> Result<HttpResponse, UiError> {
    let t = ui.tr();
    let fields = Fields::parse(&body);
    let typed = Typed {
        name: fields.get("name").trim().to_string(),
        days: fields.get("expires_in_days").trim().to_string(),
        permissions: fields.all("permissions"),
    };
    let max_days = auth.iam.config().token_max_days;
    let Ok(days) = typed.days.parse::<u64>() else {
        let e = ApiError::field(ErrorCode::InvalidField, "expires_in_days", "not a number");
        let errors = vec![form_error(t, max_days, &e)];
        let p = page(&ui, &auth, typed, errors, None).await?;
        return ui.render_status(StatusCode::UNPROCESSABLE_ENTITY, &p);
    };
    let input = NewTokenInput {
        name: typed.name.clone(),
        expires_in_days: days,
        permissions: typed.permissions.clone(),
    };
    let (row, secret) = match prepare(&auth.principal, max_days, &input) {
        Ok(v) => v,
        Err(e) if e.code == ErrorCode::Forbidden => return Err(ui.fail(e)),
        Err(e) => {
            let errors = vec![form_error(t, max_days, &e)];
            let p = page(&ui, &auth, typed, errors, None).await?;
            return ui.render_status(StatusCode::UNPROCESSABLE_ENTITY, &p);
        }
    };
    let actor = auth.actor();
    let token = auth
        .store
        .run(move |c| store::create(c, &actor, &row))
        .await
        .map_err(|e| ui.fail(e))?;
    tracing::info!(token.id = token.id, "API token created from the console");
    let blank = Typed {
        name: String::new(),
        days: DEFAULT_DAYS.into(),
        permissions: Vec::new(),
    };
    // The secret goes into this page only: never a redirect's URL, a log line or the list.
    let p = page(&ui, &auth, blank, Vec::new(), Some((token.name, secret))).await?;
    ui.render(&p)
}

pub async fn revoke(
    auth: Authorized<perm::TokensWrite>,
    Form { ui, .. }: Form,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let id = id
        .parse::<i64>()
        .map_err(|_| ui.fail(ApiError::not_found("no such token")))?;
    let user = own_user(&auth.principal).map_err(|e| ui.fail(e))?;
    let actor = auth.actor();
    auth.store
        .run(move |c| store::revoke(c, &actor, user, id))
        .await
        .map_err(|e| ui.fail(e))?;
    auth.iam.invalidate_access();
    Ok(ui.redirect("/tokens?notice=token_revoked".into()))
}
