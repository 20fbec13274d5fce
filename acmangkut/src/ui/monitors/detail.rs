//! `/monitors/{id}`: definition, state, summaries, charts, results; and the actions on it.

use super::views::{
    AvailabilityBar, BrowserView, ConfirmDelete, Detail, LocationView, MonitorView, ResultView,
    ScreenshotView, StepView, WindowView,
};
use super::{Read, Write};
use super::{change_views, final_attempts, monitor_id, state_label};
use crate::config::DEFAULT_LOCATION;
use crate::engine::monitors::summary;
use crate::store::monitors as store;
use crate::store::monitors::results;
use crate::store::monitors::rollups::{self, HourPoint};
use crate::store::now_ms;
use crate::ui::charts::{self, percent};
use crate::ui::fields::Form;
use crate::ui::{Ui, UiError, interval, when};
use actix_web::{HttpResponse, web};
use shared::monitor::{Monitor, MonitorResult, StateChange, WindowSummary};
use shared::probe::{BrowserReport, ProbeKind};

/// How many results the latency chart plots.
const CHART_POINTS: i64 = 200;
const CHART_WIDTH: f64 = 720.0;
const CHART_HEIGHT: f64 = 220.0;
const BAR_WIDTH: f64 = 720.0;
/// Results loaded for the location panel; the table shows the newest [`TABLE_ROWS`].
const RECENT_RESULTS: i64 = 100;
const TABLE_ROWS: usize = 20;

struct Loaded {
    monitor: Monitor,
    windows: Vec<WindowSummary>,
    series: Vec<(i64, f64, bool)>,
    hours: Vec<HourPoint>,
    results: Vec<MonitorResult>,
    changes: Vec<StateChange>,
    now: i64,
}

pub async fn show(state: Read, ui: Ui, id: web::Path<String>) -> Result<HttpResponse, UiError> {
    let id = monitor_id(&ui, &id)?;
    let d = state
        .store
        .run(move |c| {
            let now = now_ms();
            let monitor = store::get(c, id)?;
            let windows = summary::windows(c, id, now)?;
            diesel::QueryResult::Ok(Loaded {
                monitor,
                windows,
                series: results::latency_series(c, id, CHART_POINTS)?,
                hours: rollups::hourly(c, id, now - 7 * 24 * 3_600_000)?,
                results: results::list(c, id, RECENT_RESULTS, 0)?.0,
                changes: store::recent_state_changes(c, Some(id), 10)?,
                now,
            })
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let t = ui.tr();
    let unit_ms = t.get("unit.ms");
    let bar = |id, title, hours: i64| {
        let segments = charts::hour_segments(
            &d.hours,
            d.now,
            hours,
            BAR_WIDTH,
            t.get("detail.no_data"),
            t.get("detail.checks"),
        );
        let with_data: Vec<_> = segments.iter().filter(|s| s.checks > 0).collect();
        let checks: i64 = with_data.iter().map(|s| s.checks).sum();
        let ok: f64 = with_data
            .iter()
            .map(|s| s.availability.unwrap_or(0.0) * s.checks as f64 / 100.0)
            .sum();
        let overall = if checks > 0 {
            percent(ok * 100.0 / checks as f64)
        } else {
            t.get("detail.no_data").into()
        };
        AvailabilityBar {
            id,
            title: t.get(title),
            text: format!(
                "{}: {} / {hours}; {}: {overall}",
                t.get("detail.hours_with_data"),
                with_data.len(),
                t.get("detail.availability")
            ),
            segments,
            width: BAR_WIDTH,
        }
    };
    let bars = vec![
        bar("bar24", "detail.bar24", 24),
        bar("bar7d", "detail.bar7d", 24 * 7),
    ];
    let page = Detail {
        c: ui.chrome(d.monitor.name.clone(), "monitors"),
        t,
        m: monitor_view(&ui, &d.monitor),
        windows: d.windows.iter().map(|w| window_view(unit_ms, w)).collect(),
        chart: charts::latency_chart(&d.series, CHART_WIDTH, CHART_HEIGHT, unit_ms),
        unit_ms,
        bars,
        results: d
            .results
            .iter()
            .take(TABLE_ROWS)
            .map(|r| result_view(&ui, r))
            .collect(),
        changes: change_views(&ui, &d.changes),
        locations: location_views(&ui, &d.monitor, &d.results),
        location_window: d.results.len(),
        screenshot: screenshot_view(&ui, &d.results),
    };
    ui.render(&page)
}

fn ms(seconds: Option<f64>, unit: &str) -> String {
    seconds.map_or_else(|| "–".into(), |s| format!("{:.0} {unit}", s * 1000.0))
}

fn window_view(unit: &str, w: &WindowSummary) -> WindowView {
    WindowView {
        window: w.window.clone(),
        checks: w.checks,
        availability: w.availability_percent.map_or_else(|| "–".into(), percent),
        class: charts::availability_class(w.availability_percent),
        p50: ms(w.latency_p50_seconds, unit),
        p95: ms(w.latency_p95_seconds, unit),
        p99: ms(w.latency_p99_seconds, unit),
    }
}

fn result_view(ui: &Ui, r: &MonitorResult) -> ResultView {
    let failure = match (r.failure_reason, &r.error) {
        (Some(f), Some(e)) => format!("{}: {e}", f.as_str()),
        (Some(f), None) => f.as_str().into(),
        (None, Some(e)) => e.clone(),
        (None, None) => String::new(),
    };
    ResultView {
        time: when(ui, Some(r.started_at)),
        ok: r.success,
        latency: ms(Some(r.duration_seconds), ui.lang.t("unit.ms")),
        status: r.status_code.map(|s| s.to_string()).unwrap_or_default(),
        failure,
        location: r.location.clone(),
        attempt: r.attempt,
        screenshot: r.screenshot_url.clone(),
    }
}

/// The monitor's locations (or `default`), then any other location found in the results,
/// each with its newest result and its availability over the loaded results.
fn location_views(ui: &Ui, m: &Monitor, results: &[MonitorResult]) -> Vec<LocationView> {
    let mut names: Vec<String> = if m.locations.is_empty() {
        vec![DEFAULT_LOCATION.to_string()]
    } else {
        m.locations.clone()
    };
    for r in results {
        if !names.contains(&r.location) {
            names.push(r.location.clone());
        }
    }
    names
        .into_iter()
        .map(|name| {
            let rows: Vec<&MonitorResult> = results.iter().filter(|r| r.location == name).collect();
            let finals: Vec<&MonitorResult> =
                final_attempts(&rows, |r| (r.location.as_str(), r.attempt))
                    .into_iter()
                    .copied()
                    .collect();
            let ok = finals.iter().filter(|r| r.success).count();
            let availability =
                (!finals.is_empty()).then(|| ok as f64 * 100.0 / finals.len() as f64);
            let latest = rows.first().copied();
            LocationView {
                latest: latest.map(|r| result_view(ui, r)),
                checks: finals.len(),
                availability: availability.map_or_else(|| "–".into(), percent),
                class: charts::availability_class(availability),
                browser: latest.and_then(|r| browser_view(ui, r)),
                name,
            }
        })
        .collect()
}

fn shorten(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    out
}

/// What a browser result's `detail` says about the page.
fn browser_view(ui: &Ui, r: &MonitorResult) -> Option<BrowserView> {
    let detail = r.detail.as_ref()?;
    if detail.get("kind").and_then(|k| k.as_str()) != Some(ProbeKind::Browser.as_str()) {
        return None;
    }
    let b: BrowserReport = detail
        .get("browser")
        .and_then(|b| serde_json::from_value(b.clone()).ok())
        .unwrap_or_default();
    let unit = ui.lang.t("unit.ms");
    let ms = |v: Option<f64>| v.map_or_else(|| "–".into(), |v| format!("{v:.0} {unit}"));
    Some(BrowserView {
        title: b.title.clone().unwrap_or_default(),
        load_time: ms(b.load_time_ms),
        network_idle: ms(b.network_idle_ms),
        js_errors: b.js_errors.len(),
        console_errors: b.console_errors.len(),
        failed_requests: b.failed_requests.len(),
        first_error: b
            .js_errors
            .iter()
            .chain(&b.console_errors)
            .next()
            .map(|e| shorten(e, 200))
            .unwrap_or_default(),
        steps: b
            .steps
            .iter()
            .map(|s| StepView {
                step: s.step.clone(),
                ok: s.success,
                duration: format!("{:.0} {unit}", s.duration_seconds * 1000.0),
                error: s.error.clone().unwrap_or_default(),
            })
            .collect(),
    })
}

/// The newest failed result that kept a screenshot, shown inline.
fn screenshot_view(ui: &Ui, results: &[MonitorResult]) -> Option<ScreenshotView> {
    let r = results
        .iter()
        .find(|r| !r.success && r.screenshot_url.is_some())?;
    let t = ui.tr();
    let time = when(ui, Some(r.started_at));
    Some(ScreenshotView {
        url: r.screenshot_url.clone()?,
        alt: format!(
            "{} {time} ({}: {})",
            t.get("detail.screenshot_alt"),
            t.get("col.location"),
            r.location
        ),
        caption: format!("{time} · {}", r.location),
    })
}

fn monitor_view(ui: &Ui, m: &Monitor) -> MonitorView {
    let p = &m.probe;
    let t = ui.tr();
    let mut settings: Vec<(&'static str, String)> = vec![
        ("form.timeout_ms", p.timeout_ms.to_string()),
        (
            "detail.thresholds",
            format!("{} / {}", m.failure_threshold, m.success_threshold),
        ),
    ];
    let optional = [
        ("form.method", p.method.clone()),
        ("form.max_redirects", p.max_redirects.map(|n| n.to_string())),
        ("form.expect", p.expect.clone()),
        ("form.record_type", p.record_type.clone()),
        ("form.dns_server", p.dns_server.clone()),
        (
            "form.headers",
            (!p.headers.is_empty()).then(|| {
                p.headers
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
        ),
        (
            "form.expected_answers",
            (!p.expected_answers.is_empty()).then(|| p.expected_answers.join(", ")),
        ),
        ("form.body", p.body.clone()),
        (
            "form.insecure_skip_verify",
            p.insecure_skip_verify.then(|| "✓".to_string()),
        ),
    ];
    settings.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    let locations = if m.locations.is_empty() {
        vec![DEFAULT_LOCATION.to_string()]
    } else {
        m.locations.clone()
    };
    settings.push((
        "detail.locations",
        format!(
            "{} ({})",
            locations.join(", "),
            t.get("detail.k_of_n")
                .replace("{k}", &m.location_failure_threshold.to_string())
                .replace("{n}", &locations.len().to_string())
        ),
    ));
    let unit = t.get("unit.ms");
    settings.push((
        "detail.degraded",
        m.degraded_threshold_ms.map_or_else(
            || t.get("detail.off").to_string(),
            |n| format!("{n} {unit}"),
        ),
    ));
    settings.push((
        "form.retries",
        match (p.retries, p.retry_delay_ms) {
            (0, _) => t.get("detail.no_retries").to_string(),
            (n, Some(d)) => format!("{n} ({} {d} {unit})", t.get("detail.retry_delay")),
            (n, None) => n.to_string(),
        },
    ));
    if p.kind == ProbeKind::Browser {
        if !p.console_error_allow.is_empty() {
            settings.push(("form.console_error_allow", p.console_error_allow.join(", ")));
        }
        settings.push((
            "form.screenshot_on_failure",
            if p.screenshot_on_failure {
                "✓"
            } else {
                "✗"
            }
            .to_string(),
        ));
    }
    let (state, state_label) = state_label(ui, m.state);
    MonitorView {
        id: m.id,
        name: m.name.clone(),
        description: m.description.clone(),
        kind: p.kind.as_str(),
        target: p.target.clone(),
        state,
        state_label,
        paused: m.paused,
        interval: interval(ui, m.interval_seconds),
        settings: settings.into_iter().map(|(k, v)| (t.get(k), v)).collect(),
        labels: m
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        conditions: p.conditions.clone(),
        steps: p.steps.iter().map(|s| s.describe()).collect(),
        last_check: when(ui, m.last_checked_at),
        next_run: when(ui, Some(m.next_run_at)),
        since: when(ui, Some(m.state_changed_at)),
        created: when(ui, Some(m.created_at)),
    }
}

pub async fn confirm_delete(
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
    let t = ui.tr();
    ui.render(&ConfirmDelete {
        c: ui.chrome(t.get("delete.title"), "monitors"),
        t,
        id: m.id,
        name: m.name,
    })
}

pub async fn delete(
    state: Write,
    Form { ui, .. }: Form,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let id = monitor_id(&ui, &id)?;
    let actor = state.actor();
    state
        .store
        .run(move |c| store::delete(c, &actor, id))
        .await
        .map_err(|e| ui.fail(e))?;
    tracing::info!(monitor.id = id, "monitor deleted from the console");
    Ok(ui.redirect("/monitors?notice=deleted".into()))
}

async fn set_paused(
    state: Write,
    ui: Ui,
    id: web::Path<String>,
    paused: bool,
) -> Result<HttpResponse, UiError> {
    let id = monitor_id(&ui, &id)?;
    let actor = state.actor();
    state
        .store
        .run(move |c| store::set_paused(c, &actor, id, paused))
        .await
        .map_err(|e| ui.fail(e))?;
    let notice = if paused { "paused" } else { "resumed" };
    Ok(ui.redirect(format!("/monitors/{id}?notice={notice}")))
}

pub async fn pause(
    state: Write,
    Form { ui, .. }: Form,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    set_paused(state, ui, id, true).await
}

pub async fn resume(
    state: Write,
    Form { ui, .. }: Form,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    set_paused(state, ui, id, false).await
}

pub async fn run_now(
    state: Write,
    Form { ui, .. }: Form,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let id = monitor_id(&ui, &id)?;
    let actor = state.actor();
    let m = state
        .store
        .run(move |c| store::run_now(c, &actor, id))
        .await
        .map_err(|e| ui.fail(e))?;
    let notice = if m.paused {
        "paused_no_run"
    } else {
        "run_queued"
    };
    Ok(ui.redirect(format!("/monitors/{id}?notice={notice}")))
}
