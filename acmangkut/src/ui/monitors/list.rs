//! `/monitors`: the table, with filters by state, labels and text, and pages.

use super::Read;
use super::state_label;
use super::views::{List, RowView};
use crate::store::monitors::{self as store, MonitorFilter};
use crate::ui::views::Opt;
use crate::ui::{Ui, UiError, interval, when};
use actix_web::HttpResponse;
use shared::monitor::MonitorState;

pub const PER_PAGE: i64 = 25;

/// The filter the query describes; a malformed label selector is reported, not fatal.
fn filter(ui: &Ui) -> (MonitorFilter, bool) {
    let mut f = MonitorFilter {
        state: ui.param("state").and_then(MonitorState::parse),
        search: ui
            .param("q")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        ..MonitorFilter::default()
    };
    let mut bad = false;
    for pair in ui.param("label").unwrap_or("").split(',') {
        if pair.trim().is_empty() {
            continue;
        }
        match pair.split_once('=') {
            Some((k, v)) => f.labels.push((k.trim().into(), v.trim().into())),
            None => bad = true,
        }
    }
    (f, bad)
}

fn page_url(ui: &Ui, page: i64) -> String {
    let mut q: Vec<(&str, &str)> = ["q", "state", "label"]
        .into_iter()
        .filter_map(|k| ui.param(k).filter(|v| !v.is_empty()).map(|v| (k, v)))
        .collect();
    let page = page.to_string();
    q.push(("page", &page));
    format!(
        "/monitors?{}",
        serde_urlencoded::to_string(&q).unwrap_or_default()
    )
}

pub async fn show(state: Read, ui: Ui) -> Result<HttpResponse, UiError> {
    let (f, label_error) = filter(&ui);
    let page = ui.page();
    let offset = (page - 1) * PER_PAGE;
    let (items, total) = state
        .store
        .run(move |c| store::list(c, &f, PER_PAGE, offset))
        .await
        .map_err(|e| ui.fail(e))?;
    let t = ui.tr();
    let rows = items
        .iter()
        .map(|m| {
            let (state, state_label) = state_label(&ui, m.state);
            RowView {
                id: m.id,
                name: m.name.clone(),
                kind: m.probe.kind.as_str(),
                target: m.probe.target.clone(),
                state,
                state_label,
                last_check: when(&ui, m.last_checked_at),
                interval: interval(&ui, m.interval_seconds),
            }
        })
        .collect::<Vec<_>>();
    let current = ui.param("state").unwrap_or("");
    let mut states = vec![Opt {
        value: "",
        label: t.get("state.any").into(),
        selected: current.is_empty(),
    }];
    states.extend(MonitorState::ALL.into_iter().map(|s| {
        let (value, label) = state_label(&ui, s);
        Opt {
            value,
            label: label.into(),
            selected: value == current,
        }
    }));
    let shown = rows.len() as i64;
    let page_view = List {
        c: ui.chrome(t.get("list.title"), "monitors"),
        t,
        rows,
        states,
        q: ui.param("q").unwrap_or("").into(),
        label: ui.param("label").unwrap_or("").into(),
        label_error,
        total,
        first: if shown == 0 { 0 } else { offset + 1 },
        last: offset + shown,
        prev_url: (page > 1).then(|| page_url(&ui, page - 1)),
        next_url: (offset + shown < total).then(|| page_url(&ui, page + 1)),
    };
    ui.render(&page_view)
}
