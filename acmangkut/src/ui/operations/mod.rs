//! The atomic operations catalog (原子操作) in the console: the list with the original's
//! columns (name, operation code, date added, status, reference count) and filters (status,
//! kind, text); an operation's page with its parameters, actions, versions and the plan versions
//! that pin it; the YAML editor ([`forms`]) and the lifecycle buttons.
//!
//! Reading needs `plans:read`, writing `plans:write` (as the API).

pub mod forms;

use super::i18n::Tr;
use super::views::{Chrome, Opt};
use super::{Ui, UiError, when};
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::operations::{self as store, OperationFilter};
use actix_web::{HttpResponse, web};
use askama::Template;
use shared::ApiError;
use shared::operation::{
    Operation, OperationKind, OperationReference, OperationStatus, OperationVersion,
};

pub type Read = Authorized<perm::PlansRead>;
pub type Write = Authorized<perm::PlansWrite>;

pub const STATUS_KEYS: [&str; 3] = [
    "ops.status.draft",
    "ops.status.published",
    "ops.status.deprecated",
];
pub const KIND_KEYS: [&str; 2] = ["ops.kind.plan", "ops.kind.fault"];

fn status_index(s: OperationStatus) -> usize {
    match s {
        OperationStatus::Draft => 0,
        OperationStatus::Published => 1,
        OperationStatus::Deprecated => 2,
    }
}

fn kind_index(k: OperationKind) -> usize {
    match k {
        OperationKind::Plan => 0,
        OperationKind::Fault => 1,
    }
}

/// A status as a badge: CSS class and label.
fn status_badge(t: Tr, s: OperationStatus) -> (&'static str, &'static str) {
    let class = match s {
        OperationStatus::Draft => "s-pending",
        OperationStatus::Published => "s-up",
        OperationStatus::Deprecated => "s-paused",
    };
    (class, t.get(STATUS_KEYS[status_index(s)]))
}

/// One operation as the list (and the top of its page) shows it.
pub struct RowView {
    pub code: String,
    pub name: String,
    pub kind: &'static str,
    pub kind_label: &'static str,
    pub status: &'static str,
    pub status_class: &'static str,
    pub status_label: &'static str,
    pub version: i32,
    pub references: i64,
    /// Date added.
    pub created: String,
}

fn row_view(ui: &Ui, op: &Operation) -> RowView {
    let t = ui.tr();
    let (status_class, status_label) = status_badge(t, op.status);
    RowView {
        code: op.input.code.clone(),
        name: op.input.name.clone(),
        kind: op.input.kind.as_str(),
        kind_label: t.get(KIND_KEYS[kind_index(op.input.kind)]),
        status: op.status.as_str(),
        status_class,
        status_label,
        version: op.version,
        references: op.references,
        created: when(ui, Some(op.created_at)),
    }
}

#[derive(Template)]
#[template(path = "operations/list.html")]
pub struct ListPage {
    pub c: Chrome,
    pub t: Tr,
    pub rows: Vec<RowView>,
    pub statuses: Vec<Opt>,
    pub kinds: Vec<Opt>,
    pub q: String,
    pub filter_error: bool,
}

/// A `<select>`: "any" first, then each value.
fn options<T: Copy + PartialEq>(
    t: Tr,
    any: &'static str,
    all: &[T],
    chosen: Option<T>,
    value: impl Fn(T) -> (&'static str, &'static str),
) -> Vec<Opt> {
    let first = Opt {
        value: "",
        label: t.get(any).into(),
        selected: chosen.is_none(),
    };
    let rest = all.iter().map(|x| {
        let (value, key) = value(*x);
        Opt {
            value,
            label: t.get(key).into(),
            selected: chosen == Some(*x),
        }
    });
    std::iter::once(first).chain(rest).collect()
}

/// A filter parameter: `(value, whether it was given but unreadable)`.
fn filter_param<T>(ui: &Ui, key: &str, parse: impl Fn(&str) -> Option<T>) -> (Option<T>, bool) {
    let raw = ui.param(key).unwrap_or("").trim();
    let value = parse(raw);
    let bad = !raw.is_empty() && value.is_none();
    (value, bad)
}

pub async fn list(auth: Read, ui: Ui) -> Result<HttpResponse, UiError> {
    let t = ui.tr();
    let (status, bad_status) = filter_param(&ui, "status", OperationStatus::parse);
    let (kind, bad_kind) = filter_param(&ui, "kind", OperationKind::parse);
    let q = ui.param("q").unwrap_or("").trim().to_string();
    let filter = OperationFilter {
        status,
        kind,
        search: (!q.is_empty()).then(|| q.clone()),
    };
    let found = auth
        .store
        .run(move |c| store::list(c, &filter))
        .await
        .map_err(|e| ui.fail(e))?;
    let statuses = options(t, "ops.any_status", &OperationStatus::ALL, status, |s| {
        (s.as_str(), STATUS_KEYS[status_index(s)])
    });
    let kinds = options(t, "ops.any_kind", &OperationKind::ALL, kind, |k| {
        (k.as_str(), KIND_KEYS[kind_index(k)])
    });
    ui.render(&ListPage {
        c: ui.chrome(t.get("ops.title"), "operations"),
        t,
        rows: found.iter().map(|op| row_view(&ui, op)).collect(),
        statuses,
        kinds,
        q,
        filter_error: bad_status || bad_kind,
    })
}

pub struct ParamView {
    pub name: String,
    pub kind: &'static str,
    pub required: bool,
    /// The default as JSON, or "".
    pub default: String,
    pub description: String,
}

pub struct VersionView {
    pub version: i32,
    pub created: String,
    pub created_by: String,
    pub definition: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "operations/detail.html")]
pub struct DetailPage {
    pub c: Chrome,
    pub t: Tr,
    pub op: RowView,
    pub description: String,
    pub timeout_ms: u64,
    pub params: Vec<ParamView>,
    pub do_summary: String,
    pub undo_summary: String,
    pub schema: String,
    pub created_by: String,
    /// `when, by whom`, or "".
    pub published: String,
    pub deprecated: String,
    pub versions: Vec<VersionView>,
    pub references: Vec<OperationReference>,
    pub can_publish: bool,
    pub can_deprecate: bool,
    pub can_edit: bool,
    /// Why the last button was refused (a delete while plans pin it), or "".
    pub error: String,
}

/// Pretty JSON for a `<pre>`.
fn pretty(v: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn by(ui: &Ui, at: Option<chrono::DateTime<chrono::Utc>>, who: &Option<String>) -> String {
    match (at, who) {
        (Some(_), Some(who)) => format!("{}, {who}", when(ui, at)),
        _ => String::new(),
    }
}

fn detail_page(
    ui: &Ui,
    op: &Operation,
    versions: &[OperationVersion],
    references: Vec<OperationReference>,
) -> DetailPage {
    let t = ui.tr();
    let input = &op.input;
    DetailPage {
        c: ui.chrome(input.name.clone(), "operations"),
        t,
        op: row_view(ui, op),
        description: input.description.clone(),
        timeout_ms: input.timeout_ms,
        params: input
            .parameters
            .iter()
            .map(|p| ParamView {
                name: p.name.clone(),
                kind: p.kind.as_str(),
                required: p.required,
                default: p
                    .default
                    .as_ref()
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                description: p.description.clone(),
            })
            .collect(),
        do_summary: input.do_action.summary(),
        undo_summary: input.undo.as_ref().map(|u| u.summary()).unwrap_or_default(),
        schema: pretty(&op.parameters_schema),
        created_by: op.created_by.clone(),
        published: by(ui, op.published_at, &op.published_by),
        deprecated: by(ui, op.deprecated_at, &op.deprecated_by),
        versions: versions
            .iter()
            .map(|v| VersionView {
                version: v.version,
                created: when(ui, Some(v.created_at)),
                created_by: v.created_by.clone(),
                definition: pretty(&v.operation),
                current: v.version == op.version,
            })
            .collect(),
        references,
        can_publish: op.status.can_become(OperationStatus::Published),
        can_deprecate: op.status.can_become(OperationStatus::Deprecated),
        can_edit: op.status.editable(),
        error: String::new(),
    }
}

/// The operation's page, with `error` (why a button was refused) shown above it.
async fn render_detail(
    auth: &Authorized<impl crate::iam::permissions::Needs>,
    ui: &Ui,
    code: String,
    status: actix_web::http::StatusCode,
    error: String,
) -> Result<HttpResponse, UiError> {
    let (op, versions, references) = auth
        .store
        .run(move |c| {
            let op = store::get(c, &code)?;
            let versions = store::versions(c, &code)?;
            let references = store::references(c, &code)?;
            Ok::<_, ApiError>((op, versions, references))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let mut page = detail_page(ui, &op, &versions, references);
    page.error = error;
    ui.render_status(status, &page)
}

pub async fn show(auth: Read, ui: Ui, code: web::Path<String>) -> Result<HttpResponse, UiError> {
    let ok = actix_web::http::StatusCode::OK;
    render_detail(&auth, &ui, code.into_inner(), ok, String::new()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::i18n::{Lang, assert_in_every_catalog};

    #[test]
    fn every_label_looked_up_by_value_is_in_both_catalogs() {
        let keys = STATUS_KEYS
            .iter()
            .chain(&KIND_KEYS)
            .chain(&["ops.any_status", "ops.any_kind"]);
        assert_in_every_catalog(keys);
    }

    #[test]
    fn statuses_read_as_badges_in_both_languages() {
        assert_eq!(
            status_badge(Tr(Lang::En), OperationStatus::Published),
            ("s-up", "Published")
        );
        assert_eq!(
            status_badge(Tr(Lang::ZhCn), OperationStatus::Draft).1,
            "草稿"
        );
    }
}
