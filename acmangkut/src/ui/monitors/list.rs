//! `/monitors`: the table, with filters by state, labels and text, and pages.

use super::Read;
use super::views::{Beat, List, RowView};
use super::{final_attempts, state_label};
use crate::config::DEFAULT_LOCATION;
use crate::store::monitors::recent::{self, Recent};
use crate::store::monitors::{self as store, MonitorFilter};
use crate::store::{now_ms, to_datetime};
use crate::ui::charts::{availability_class, percent};
use crate::ui::i18n::Tr;
use crate::ui::views::Opt;
use crate::ui::{Ui, UiError, interval, when};
use actix_web::HttpResponse;
use chrono::{Datelike, Timelike};
use shared::monitor::{Monitor, MonitorState};
use shared::probe::FailureReason;
use std::fmt::Write as _;

pub const PER_PAGE: i64 = 25;
/// Checks in each row's bar of recent checks.
pub const BAR_CHECKS: usize = 30;
/// Stored results read per monitor for the bar: retried attempts are not checks of their own,
/// so a few more than [`BAR_CHECKS`].
const BAR_RESULTS: i64 = BAR_CHECKS as i64 + 10;

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
    // The page's recent checks and uptime in the same trip to the blocking pool, a fixed
    // number of statements for the whole page.
    let (items, total, recent) = state
        .store
        .run(move |c| {
            let (items, total) = store::list(c, &f, PER_PAGE, offset)?;
            let ids: Vec<i64> = items.iter().map(|m| m.id).collect();
            let recent = recent::for_monitors(c, &ids, BAR_RESULTS, now_ms())?;
            diesel::QueryResult::Ok((items, total, recent))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let t = ui.tr();
    let no_recent = Recent::default();
    let rows = items
        .iter()
        .map(|m| {
            let (state, state_label) = state_label(&ui, m.state);
            let r = recent.get(&m.id).unwrap_or(&no_recent);
            let (beats, beats_text) = beats(&t, m, r);
            let uptime = r.availability_24h();
            RowView {
                id: m.id,
                name: m.name.clone(),
                kind: m.probe.kind.as_str(),
                target: m.probe.target.clone(),
                state,
                state_label,
                last_check: when(&ui, m.last_checked_at),
                interval: interval(&ui, m.interval_seconds),
                beats,
                beats_text,
                uptime: uptime.map_or_else(|| "–".into(), percent),
                uptime_class: availability_class(uptime),
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

/// A check's class in the bar and its outcome's label: a pass slower than the monitor's
/// degraded threshold is degraded; a failure that says nothing about the target (executor or
/// browser unavailable, as the monitor's state ignores it) is unknown.
fn outcome(m: &Monitor, r: &recent::RecentResult) -> (&'static str, &'static str) {
    if r.success {
        let slow = m
            .degraded_threshold_ms
            .is_some_and(|limit| r.duration_seconds * 1000.0 > limit as f64);
        return if slow {
            ("b-degraded", "state.degraded")
        } else {
            ("b-up", "state.up")
        };
    }
    match r.failure_reason.as_deref().and_then(FailureReason::parse) {
        Some(FailureReason::ExecutorUnavailable | FailureReason::BrowserError) => {
            ("b-unknown", "list.beat_unknown")
        }
        _ => ("b-down", "state.down"),
    }
}

/// The bar of `m`'s newest [`BAR_CHECKS`] checks (oldest first, left-padded with empty beats),
/// and its text for screen readers.
fn beats(t: &Tr, m: &Monitor, recent: &Recent) -> (Vec<Beat>, String) {
    let checks: Vec<&recent::RecentResult> =
        final_attempts(&recent.results, |r| (r.location.as_str(), r.attempt))
            .into_iter()
            .take(BAR_CHECKS)
            .collect();
    let no_data = t.get("detail.no_data");
    let mut out: Vec<Beat> = Vec::with_capacity(BAR_CHECKS);
    out.extend((checks.len()..BAR_CHECKS).map(|_| Beat {
        class: "b-none",
        title: no_data.into(),
    }));
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    // Looked up once per row, not per beat: 750 beats make a page.
    let unit = t.get("unit.ms");
    let mut labels: Vec<(&'static str, &'static str)> = Vec::new();
    for r in checks.iter().rev() {
        let (class, key) = outcome(m, r);
        let label = match labels.iter().find(|(k, _)| *k == key) {
            Some((_, l)) => *l,
            None => {
                labels.push((key, t.get(key)));
                t.get(key)
            }
        };
        match counts.iter_mut().find(|(l, _)| *l == label) {
            Some((_, n)) => *n += 1,
            None => counts.push((label, 1)),
        }
        // Written field by field: chrono's `format` parses its pattern on every call.
        let at = to_datetime(r.started_at);
        let mut title = String::with_capacity(80);
        let _ = write!(
            title,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC · {label} · {:.0} {unit}",
            at.year(),
            at.month(),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            r.duration_seconds * 1000.0,
        );
        if let Some(code) = r.status_code {
            let _ = write!(title, " · {code}");
        }
        if let Some(reason) = &r.failure_reason {
            let _ = write!(title, " · {reason}");
        }
        if r.location != DEFAULT_LOCATION {
            let _ = write!(title, " · {}", r.location);
        }
        out.push(Beat { class, title });
    }
    let text = if counts.is_empty() {
        t.get("detail.no_results").to_string()
    } else {
        counts
            .iter()
            .map(|(label, n)| format!("{label} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    (out, format!("{}: {text}", t.get("list.recent")))
}
