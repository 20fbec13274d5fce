//! Create, edit and delete forms for the inspection center's definitions, written once for
//! all four ([`Definition`]): a form's fields are named by the API's JSON paths, what the
//! browser sends becomes the API's JSON body, is parsed as the API parses it, and is stored by
//! the same engine function the API calls (`engine::inspection::save`), so every refusal reads
//! as the API's, beside the field it names, and the audit log gets the same rows.
//!
//! - [`field`]: fields and their conversions.
//! - [`plugins`], [`rules`], [`tasks`], [`channels`]: what each form holds.

pub mod channels;
pub mod field;
pub mod plugins;
pub mod rules;
pub mod tasks;

use super::{Write, id_of};
use crate::engine::Error;
use crate::engine::checks::Checker;
use crate::store::DbConn;
use crate::store::audit::Actor;
use crate::ui::fields::{Fields, Form};
use crate::ui::i18n::Tr;
use crate::ui::views::Chrome;
use crate::ui::{Ui, UiError};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use field::Field;
use serde_json::Value;
use shared::{ApiError, ErrorCode};

/// A box of text beside the form: the plugin's template variables, a schedule's next slots.
pub struct Note {
    pub id: &'static str,
    pub title: String,
    pub lines: Vec<String>,
    /// Lines are code (a schema), shown as preformatted text.
    pub pre: bool,
}

/// One kind of definition as a form.
pub trait Definition: 'static {
    /// The API's input, parsed from the form's JSON exactly as the API parses its body.
    type Input: serde::de::DeserializeOwned + Send + 'static;
    /// What the fields need from the store: choices, the chosen plugin's schema.
    type Ctx: Send + 'static;
    /// `plugin`, `rule`, … (for "no such …").
    const NOUN: &'static str;
    /// New at `{BASE}/new`, edit at `{BASE}/{id}/edit`, delete at `{BASE}/{id}/delete`.
    const BASE: &'static str;
    /// Where the browser goes after a delete.
    const LIST: &'static str;
    /// Catalog keys of the titles: new, edit.
    const TITLES: [&'static str; 2];
    /// Catalog key of a button that shows the form again without saving ("" for none).
    const REFRESH: &'static str = "";

    /// The context, and the stored definition as the API's JSON when `id` is given; `posted`
    /// is what the browser sent (it may choose what the fields are, as a rule's plugin does).
    fn load(
        c: &mut DbConn,
        id: Option<i64>,
        posted: Option<&Fields>,
    ) -> Result<(Self::Ctx, Option<Value>), Error>;

    fn fields(t: Tr, ctx: &Self::Ctx) -> Vec<Field>;

    fn notes(_t: Tr, _ctx: &Self::Ctx, _fields: &[Field]) -> Vec<Note> {
        Vec::new()
    }

    /// Turns the stored JSON into what the fields show (default: as it is).
    fn from_api(_stored: &mut Value) {}

    /// Turns the fields' JSON into the API's body; an error names its field.
    fn to_api(_body: &mut Value) -> Result<(), (String, String)> {
        Ok(())
    }

    /// Stores it through the engine; the id.
    fn save(
        c: &mut DbConn,
        checker: &Checker,
        actor: &Actor,
        id: Option<i64>,
        input: Self::Input,
    ) -> Result<i64, Error>;

    fn delete(c: &mut DbConn, actor: &Actor, id: i64) -> Result<(), Error>;

    /// Where a saved one is shown, with `notice`.
    fn shown_at(id: i64, notice: &str) -> String;
}

#[derive(Template)]
#[template(path = "inspection/form.html")]
pub struct FormPage {
    pub c: Chrome,
    pub t: Tr,
    pub action: String,
    pub cancel: String,
    pub fields: Vec<Field>,
    pub general: Vec<String>,
    pub editing: bool,
    /// Label of the refresh button ("" for none).
    pub refresh: &'static str,
    pub notes: Vec<Note>,
    /// The delete page of the one being edited ("" when new).
    pub delete: String,
}

impl FormPage {
    fn has_errors(&self) -> bool {
        !self.general.is_empty() || self.fields.iter().any(|f| !f.error.is_empty())
    }
}

#[derive(Template)]
#[template(path = "inspection/confirm_delete.html")]
pub struct ConfirmPage {
    pub c: Chrome,
    pub t: Tr,
    pub name: String,
    pub action: String,
    pub cancel: String,
    /// Why the last attempt was refused ("" before one).
    pub error: String,
}

fn page<D: Definition>(
    ui: &Ui,
    ctx: &D::Ctx,
    mut fields: Vec<Field>,
    general: Vec<String>,
    id: Option<i64>,
) -> FormPage {
    let t = ui.tr();
    fields.iter_mut().for_each(Field::sync_selection);
    let (title, action, delete) = match id {
        None => (D::TITLES[0], format!("{}/new", D::BASE), String::new()),
        Some(id) => (
            D::TITLES[1],
            format!("{}/{id}/edit", D::BASE),
            format!("{}/{id}/delete", D::BASE),
        ),
    };
    FormPage {
        c: ui.chrome(t.get(title), "inspection"),
        t,
        action,
        cancel: id.map_or_else(|| D::LIST.to_string(), |id| D::shown_at(id, "")),
        notes: D::notes(t, ctx, &fields),
        fields,
        general,
        editing: id.is_some(),
        refresh: if D::REFRESH.is_empty() {
            ""
        } else {
            t.get(D::REFRESH)
        },
        delete,
    }
}

fn the_id<D: Definition>(ui: &Ui, raw: &str) -> Result<i64, UiError> {
    id_of(ui, raw, D::NOUN)
}

async fn load<D: Definition>(
    state: &Write,
    ui: &Ui,
    id: Option<i64>,
    body: Option<web::Bytes>,
) -> Result<(D::Ctx, Option<Value>), UiError> {
    state
        .store
        .run(move |c| D::load(c, id, body.map(|b| Fields::parse(&b)).as_ref()))
        .await
        .map_err(|e| ui.fail(e))
}

pub async fn new_form<D: Definition>(state: Write, ui: Ui) -> Result<HttpResponse, UiError> {
    let (ctx, _) = load::<D>(&state, &ui, None, None).await?;
    let fields = D::fields(ui.tr(), &ctx);
    ui.render(&page::<D>(&ui, &ctx, fields, Vec::new(), None))
}

pub async fn edit_form<D: Definition>(
    state: Write,
    ui: Ui,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let id = the_id::<D>(&ui, &id)?;
    let (ctx, stored) = load::<D>(&state, &ui, Some(id), None).await?;
    let mut fields = D::fields(ui.tr(), &ctx);
    if let Some(mut stored) = stored {
        D::from_api(&mut stored);
        field::show_all(&mut fields, &stored);
    }
    ui.render(&page::<D>(&ui, &ctx, fields, Vec::new(), Some(id)))
}

pub async fn create<D: Definition>(
    state: Write,
    Form { ui, body }: Form,
) -> Result<HttpResponse, UiError> {
    submit::<D>(state, ui, body, None).await
}

pub async fn update<D: Definition>(
    state: Write,
    Form { ui, body }: Form,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let id = the_id::<D>(&ui, &id)?;
    submit::<D>(state, ui, body, Some(id)).await
}

/// Saves, or shows the form again: 200 when asked to refresh it, 422 with each refusal
/// beside its field.
async fn submit<D: Definition>(
    state: Write,
    ui: Ui,
    body: web::Bytes,
    id: Option<i64>,
) -> Result<HttpResponse, UiError> {
    let (ctx, _) = load::<D>(&state, &ui, id, Some(body.clone())).await?;
    let posted = Fields::parse(&body);
    let mut fields = D::fields(ui.tr(), &ctx);
    field::take_all(&mut fields, &posted);
    let mut general = Vec::new();
    if posted.has("_refresh") {
        return ui.render(&page::<D>(&ui, &ctx, fields, general, id));
    }
    let refused = match input::<D>(&mut fields) {
        Ok(input) => {
            let (checker, actor) = (state.checker.clone(), state.actor());
            let saved = state
                .store
                .run(move |c| D::save(c, &checker, &actor, id, input))
                .await
                .map_err(ApiError::from);
            match saved {
                Ok(saved) => {
                    let notice = if id.is_some() { "saved" } else { "created" };
                    return Ok(ui.redirect(D::shown_at(saved, notice)));
                }
                Err(e) if !shown_in_form(&e) => return Err(ui.fail(e)),
                Err(e) => Some(e),
            }
        }
        Err(e) => e,
    };
    if let Some(e) = refused {
        field::place(&mut fields, &mut general, e.field.as_deref(), &e.detail);
    }
    let page = page::<D>(&ui, &ctx, fields, general, id);
    ui.render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

/// The input the fields make, parsed as the API parses its body; `Err(None)`: a field's text
/// did not convert (its error is on it).
fn input<D: Definition>(fields: &mut [Field]) -> Result<D::Input, Option<ApiError>> {
    let mut body = field::to_body(fields).ok_or(None)?;
    D::to_api(&mut body).map_err(|(f, detail)| Some(ApiError::invalid(f, detail)))?;
    let bytes = serde_json::to_vec(&body).map_err(|e| Some(ApiError::internal(e)))?;
    shared::extract::parse(&bytes).map_err(Some)
}

/// Refusals of the input (400, 409) are shown in the form; a missing object, a database
/// failure or a bug is an error page.
fn shown_in_form(e: &ApiError) -> bool {
    (400..500).contains(&e.code.status()) && e.code != ErrorCode::NotFound
}

fn confirm_page<D: Definition>(ui: &Ui, id: i64, name: String, error: String) -> ConfirmPage {
    let t = ui.tr();
    ConfirmPage {
        c: ui.chrome(t.get("ifm.delete_title"), "inspection"),
        t,
        name,
        action: format!("{}/{id}/delete", D::BASE),
        cancel: D::shown_at(id, ""),
        error,
    }
}

async fn name_of<D: Definition>(state: &Write, ui: &Ui, id: i64) -> Result<String, UiError> {
    let (_, stored) = load::<D>(state, ui, Some(id), None).await?;
    Ok(stored
        .as_ref()
        .and_then(|s| s.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string())
}

pub async fn confirm_delete<D: Definition>(
    state: Write,
    ui: Ui,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let id = the_id::<D>(&ui, &id)?;
    let name = name_of::<D>(&state, &ui, id).await?;
    ui.render(&confirm_page::<D>(&ui, id, name, String::new()))
}

/// Deletes; a refusal (still in use) shows the confirmation again with the API's message.
pub async fn delete<D: Definition>(
    state: Write,
    Form { ui, .. }: Form,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let id = the_id::<D>(&ui, &id)?;
    let actor = state.actor();
    let done = state
        .store
        .run(move |c| D::delete(c, &actor, id))
        .await
        .map_err(ApiError::from);
    match done {
        Ok(()) => Ok(ui.redirect(format!("{}?notice=deleted", D::LIST))),
        Err(e) if e.code == ErrorCode::Conflict => {
            let name = name_of::<D>(&state, &ui, id).await?;
            let page = confirm_page::<D>(&ui, id, name, e.detail);
            ui.render_status(StatusCode::CONFLICT, &page)
        }
        Err(e) => Err(ui.fail(e)),
    }
}
