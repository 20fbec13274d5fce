//! `/monitors/new` and `/monitors/{id}/edit`: the form, its errors, and saving it.

use super::Write;
use super::form::{FieldError, MonitorForm};
use super::monitor_id;
use super::views::{FormPage, LocationBox};
use crate::state::AppState;
use crate::store::monitors as store;
use crate::ui::fields::Form;
use crate::ui::views::Opt;
use crate::ui::{Ui, UiError};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use shared::{ApiError, ErrorCode};
use std::collections::BTreeMap;

/// The locations pageinspect is configured for, `default` first.
fn known_locations(state: &AppState) -> Vec<String> {
    state
        .config
        .pageinspect
        .endpoints()
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

fn form_page(
    ui: &Ui,
    f: MonitorForm,
    errors: &[FieldError],
    editing: Option<i64>,
    known: &[String],
) -> FormPage {
    let t = ui.tr();
    // Every configured location, then any the monitor names that is not (still) configured,
    // so saving the form never drops one silently.
    let ticked = f.location_names();
    let mut locations: Vec<LocationBox> = known
        .iter()
        .map(|name| LocationBox {
            name: name.clone(),
            checked: ticked.contains(&name.as_str()),
            configured: true,
        })
        .collect();
    for name in &ticked {
        if !known.iter().any(|k| k == name) && !locations.iter().any(|l| l.name == *name) {
            locations.push(LocationBox {
                name: (*name).to_string(),
                checked: true,
                configured: false,
            });
        }
    }
    let mut by_field: BTreeMap<String, String> = BTreeMap::new();
    let mut general = Vec::new();
    for e in errors {
        let text = e.render(ui.lang);
        if e.field.is_empty() {
            general.push(text);
        } else {
            by_field
                .entry(e.field.clone())
                .and_modify(|m| {
                    m.push_str("; ");
                    m.push_str(&text);
                })
                .or_insert(text);
        }
    }
    let opts = |values: &[&'static str], current: &str| -> Vec<Opt> {
        values
            .iter()
            .map(|v| Opt {
                value: v,
                label: v.to_string(),
                selected: *v == current.trim(),
            })
            .collect()
    };
    let (title, action, cancel_url) = match editing {
        Some(id) => (
            "form.edit_title",
            format!("/monitors/{id}/edit"),
            format!("/monitors/{id}"),
        ),
        None => ("form.new_title", "/monitors".into(), "/monitors".into()),
    };
    let active = if editing.is_some() { "monitors" } else { "new" };
    FormPage {
        c: ui.chrome(t.get(title), active),
        t,
        kinds: opts(&["http", "tcp", "dns", "tls", "browser"], &f.kind),
        locations,
        ip_preferences: opts(&["any", "ipv4", "ipv6"], &f.ip_preference),
        f,
        errors: by_field,
        general,
        action,
        editing: editing.is_some(),
        cancel_url,
    }
}

pub async fn new_form(state: Write, ui: Ui) -> Result<HttpResponse, UiError> {
    ui.render(&form_page(
        &ui,
        MonitorForm::blank(),
        &[],
        None,
        &known_locations(&state),
    ))
}

pub async fn edit_form(
    state: Write,
    ui: Ui,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let id = monitor_id(&ui, &id)?;
    let m = state
        .store
        .run(move |c| store::get(c, id))
        .await
        .map_err(|e| ui.fail(e))?;
    ui.render(&form_page(
        &ui,
        MonitorForm::from_monitor(&m),
        &[],
        Some(id),
        &known_locations(&state),
    ))
}

/// Parses and validates; on success stores through `save`, else re-renders the form (422)
/// with each error beside its field. A duplicate name is shown on the name field.
async fn submit<F>(
    state: &AppState,
    ui: &Ui,
    body: &[u8],
    editing: Option<i64>,
    save: F,
) -> Result<HttpResponse, UiError>
where
    F: FnOnce(
            &mut crate::store::DbConn,
            &shared::monitor::MonitorInput,
        ) -> diesel::QueryResult<shared::monitor::Monitor>
        + Send
        + 'static,
{
    let f = MonitorForm::from_urlencoded(body);
    let input = match f.check() {
        Ok(input) => input,
        Err(errors) => return invalid(state, ui, f, &errors, editing),
    };
    match state
        .store
        .run(move |c| save(c, &input))
        .await
        .map_err(ApiError::from)
    {
        Ok(m) => {
            let notice = if editing.is_some() {
                "saved"
            } else {
                "created"
            };
            Ok(ui.redirect(format!("/monitors/{}?notice={notice}", m.id)))
        }
        Err(e) if e.code == ErrorCode::Conflict => {
            let fe = f.field_error(&ApiError::invalid("name", ui.lang.t("err.duplicate_name")));
            invalid(state, ui, f, &[fe], editing)
        }
        Err(e) => Err(ui.fail(e)),
    }
}

fn invalid(
    state: &AppState,
    ui: &Ui,
    f: MonitorForm,
    errors: &[FieldError],
    editing: Option<i64>,
) -> Result<HttpResponse, UiError> {
    ui.render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &form_page(ui, f, errors, editing, &known_locations(state)),
    )
}

pub async fn create(state: Write, Form { ui, body }: Form) -> Result<HttpResponse, UiError> {
    let actor = state.actor();
    let r = submit(&state, &ui, &body, None, move |c, input| {
        store::create(c, &actor, input)
    })
    .await;
    if let Ok(resp) = &r
        && resp.status() == StatusCode::SEE_OTHER
    {
        tracing::info!("monitor created from the console");
    }
    r
}

pub async fn update(
    state: Write,
    Form { ui, body }: Form,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let id = monitor_id(&ui, &id)?;
    let actor = state.actor();
    submit(&state, &ui, &body, Some(id), move |c, input| {
        store::update(c, &actor, id, input)
    })
    .await
}
