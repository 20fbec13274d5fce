//! Writing the catalog from the console: the operation document in a YAML editor (new, edit),
//! and the buttons that publish, deprecate and delete. Each goes through the same engine and
//! store functions as the API, so a document is refused with the same field and message, and
//! audited the same way.

use super::Write;
use crate::engine::operations as engine;
use crate::store::DbConn;
use crate::store::audit::Actor;
use crate::store::operations as store;
use crate::ui::fields::{Fields, Form};
use crate::ui::i18n::Tr;
use crate::ui::views::Chrome;
use crate::ui::{Ui, UiError};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use shared::operation::{OperationInput, OperationStatus};
use shared::{ApiError, ErrorCode};

/// What a new operation starts from in the editor.
const EXAMPLE: &str = "\
code: db.promote-standby
name: Promote the standby
description: ''
kind: plan
parameters:
- name: standby
  type: host
  required: true
do:
  action: ssh
  host: '{{ standby }}'
  command: pg_ctl
  args: [promote]
timeout_ms: 60000
";

/// Why a document was not saved.
pub struct Problem {
    /// Where in the document (`parameters[1].default`), when known.
    pub field: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "operations/form.html")]
pub struct FormPage {
    pub c: Chrome,
    pub t: Tr,
    /// The code being edited; `None` for a new operation.
    pub editing: Option<String>,
    pub document: String,
    pub problem: Option<Problem>,
}

fn form_page(ui: &Ui, editing: Option<String>, document: String, e: Option<&ApiError>) -> FormPage {
    let t = ui.tr();
    let title = match &editing {
        None => t.get("ops.new").to_string(),
        Some(code) => format!("{} {code}", t.get("ops.edit")),
    };
    FormPage {
        c: ui.chrome(title, "operations"),
        t,
        editing,
        document,
        problem: e.map(|e| Problem {
            field: e.field.clone().unwrap_or_default(),
            detail: e.detail.clone(),
        }),
    }
}

pub async fn new_form(_auth: Write, ui: Ui) -> Result<HttpResponse, UiError> {
    ui.render(&form_page(&ui, None, EXAMPLE.into(), None))
}

pub async fn edit_form(
    auth: Write,
    ui: Ui,
    code: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let code = code.into_inner();
    let lookup = code.clone();
    let input = auth
        .store
        .run(move |c| store::row(c, &lookup)?.input())
        .await
        .map_err(|e| ui.fail(e))?;
    let document = serde_yaml_ng::to_string(&input).map_err(|e| ui.fail(ApiError::internal(e)))?;
    ui.render(&form_page(&ui, Some(code), document, None))
}

/// Saves the posted document (`code` `None`: a new operation); a refusal shows the editor again
/// with the document as typed and the field at fault.
async fn save(
    auth: Write,
    Form { ui, body }: Form,
    code: Option<String>,
) -> Result<HttpResponse, UiError> {
    let document = Fields::parse(&body).get("document").to_string();
    let parsed: Result<OperationInput, ApiError> = if document.trim().is_empty() {
        Err(ApiError::invalid("document", ui.tr().get("ops.form.empty")))
    } else {
        crate::engine::from_yaml(&document).map_err(ApiError::from)
    };
    let editing = code.clone();
    let saved = match parsed {
        Err(e) => Err(e),
        Ok(input) => auth
            .run_as(move |c, actor| {
                let saved = engine::save(c, actor, editing.as_deref(), &input);
                Ok::<_, ApiError>(saved.map_err(ApiError::from))
            })
            .await
            .map_err(|e| ui.fail(e))?,
    };
    match saved {
        Ok(op) => {
            let notice = if code.is_some() { "saved" } else { "created" };
            let to = format!("/operations/{}?notice={notice}", op.input.code);
            Ok(ui.redirect(to))
        }
        Err(e) if e.code.http_status().is_client_error() && e.code.status() != 404 => {
            let page = form_page(&ui, code, document, Some(&e));
            let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
            ui.render_status(status, &page)
        }
        Err(e) => Err(ui.fail(e)),
    }
}

pub async fn create(auth: Write, form: Form) -> Result<HttpResponse, UiError> {
    save(auth, form, None).await
}

pub async fn update(
    auth: Write,
    form: Form,
    code: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    save(auth, form, Some(code.into_inner())).await
}

/// Runs a lifecycle button's change, then goes back to the operation's page with `notice`;
/// a conflict (a status that does not allow it, plans that pin it) shows the page with the
/// reason, answered 409.
async fn act(
    auth: Write,
    ui: Ui,
    code: String,
    notice: &str,
    change: impl FnOnce(&mut DbConn, &Actor, &str) -> Result<(), ApiError> + Send + 'static,
) -> Result<HttpResponse, UiError> {
    let target = code.clone();
    let done = auth
        .run_as(move |c, actor| Ok::<_, ApiError>(change(c, actor, &target)))
        .await
        .map_err(|e| ui.fail(e))?;
    match done {
        Ok(()) if notice == "deleted" => Ok(ui.redirect("/operations?notice=deleted".into())),
        Ok(()) => Ok(ui.redirect(format!("/operations/{code}?notice={notice}"))),
        Err(e) if e.code == ErrorCode::Conflict => {
            super::render_detail(&auth, &ui, code, StatusCode::CONFLICT, e.detail).await
        }
        Err(e) => Err(ui.fail(e)),
    }
}

fn set_status(
    next: OperationStatus,
) -> impl FnOnce(&mut DbConn, &Actor, &str) -> Result<(), ApiError> {
    move |c, actor, code| {
        engine::set_status(c, actor, code, next)
            .map(drop)
            .map_err(ApiError::from)
    }
}

pub async fn publish(
    auth: Write,
    Form { ui, .. }: Form,
    code: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let change = set_status(OperationStatus::Published);
    act(auth, ui, code.into_inner(), "operation_published", change).await
}

pub async fn deprecate(
    auth: Write,
    Form { ui, .. }: Form,
    code: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let change = set_status(OperationStatus::Deprecated);
    act(auth, ui, code.into_inner(), "operation_deprecated", change).await
}

/// Deletes the operation; while a plan version pins it, its page names the plans (409).
pub async fn delete(
    auth: Write,
    Form { ui, .. }: Form,
    code: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let change = |c: &mut DbConn, actor: &Actor, code: &str| {
        store::delete(c, actor, code).map_err(ApiError::from)
    };
    act(auth, ui, code.into_inner(), "deleted", change).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_document_is_a_valid_operation() {
        let input: OperationInput = crate::engine::from_yaml(EXAMPLE).expect("reads");
        input.validate().expect("valid");
    }

    #[test]
    fn a_bad_document_names_the_field_and_line() {
        let bad = EXAMPLE.replace("kind: plan", "kind: chaos");
        let e = crate::engine::from_yaml::<OperationInput>(&bad).expect_err("bad kind");
        let (field, detail) = e.parts();
        assert_eq!(field.as_deref(), Some("kind"));
        assert!(detail.contains("line 4"), "{detail}");
    }
}
