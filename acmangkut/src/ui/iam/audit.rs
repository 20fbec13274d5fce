//! `/audit`: the audit log, filtered and paged (newest first), with links to the API's export
//! under the same filters and a chart of events per hour over the last day.

use crate::iam::audit::AuditQuery;
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::audit::{self, AuditEvent, AuditFilter};
use crate::store::now_ms;
use crate::ui::charts::{self, CountChart};
use crate::ui::views::Opt;
use crate::ui::{Ui, UiError, when};
use actix_web::HttpResponse;
use askama::Template;
use serde_json::Value;

pub const PER_PAGE: i64 = 50;
/// Events loaded for the chart; a busier day is drawn from its newest events (and says so).
const CHART_LIMIT: i64 = 10_000;
const CHART_HOURS: i64 = 24;
const HOUR_MS: i64 = 3_600_000;
/// The filters, as the query (and the export's query) names them.
const FILTERS: [&str; 6] = ["actor", "action", "resource", "outcome", "since", "until"];
const OUTCOMES: [&str; 4] = ["success", "failure", "denied", "rate_limited"];

pub struct EventView {
    pub at: String,
    pub actor: String,
    pub actor_kind: String,
    pub action: String,
    pub resource: String,
    /// The console page of the resource, when there is one (monitors).
    pub link: Option<String>,
    pub outcome: String,
    pub outcome_class: &'static str,
    pub peer: String,
    pub detail: String,
    /// One line: which fields changed, or that something was created or removed.
    pub summary: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Template)]
#[template(path = "iam/audit.html")]
pub struct AuditPage {
    pub c: crate::ui::views::Chrome,
    pub t: crate::ui::i18n::Tr,
    /// The filter values as typed (`since`/`until` as `datetime-local` shows them).
    pub values: Vec<(&'static str, String)>,
    pub outcomes: Vec<Opt>,
    /// Filters that could not be read: `(field, message)`.
    pub errors: Vec<(&'static str, &'static str)>,
    pub events: Vec<EventView>,
    pub total: i64,
    pub first: i64,
    pub last: i64,
    pub prev_url: Option<String>,
    pub next_url: Option<String>,
    pub csv_url: String,
    pub json_url: String,
    pub chart: CountChart,
    pub chart_text: String,
    /// The day had more events than the chart loaded.
    pub chart_truncated: bool,
}

impl AuditPage {
    pub fn value(&self, field: &str) -> &str {
        self.values
            .iter()
            .find(|(k, _)| *k == field)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(k, _)| *k == field)
            .map(|(_, m)| *m)
    }
}

/// A time filter as RFC 3339: given so, or as a `datetime-local` field sends it (taken as UTC).
pub fn rfc3339(s: &str) -> Option<String> {
    let s = s.trim();
    if chrono::DateTime::parse_from_rfc3339(s).is_ok() {
        return Some(s.to_string());
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| {
            t.and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
}

/// A time filter as a `datetime-local` field shows it (UTC); unreadable input is kept as is.
fn local(s: &str) -> String {
    rfc3339(s)
        .and_then(|r| chrono::DateTime::parse_from_rfc3339(&r).ok())
        .map_or_else(
            || s.to_string(),
            |d| {
                d.with_timezone(&chrono::Utc)
                    .format("%Y-%m-%dT%H:%M:%S")
                    .to_string()
            },
        )
}

/// The top-level fields of `after` whose values differ from `before` (both objects). Fields
/// only `before` has are left out: some events record the whole resource before and only the
/// submitted input after (`monitor.update`).
pub fn changed_fields(before: &Value, after: &Value) -> Vec<String> {
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else {
        return Vec::new();
    };
    let mut keys: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    keys.sort();
    keys
}

fn event_view(ui: &Ui, e: AuditEvent) -> EventView {
    let t = ui.tr();
    let pretty = |v: &Option<Value>| {
        v.as_ref()
            .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
    };
    let summary = match (&e.before, &e.after) {
        (Some(b), Some(a)) => {
            let fields = changed_fields(b, a);
            if fields.is_empty() {
                t.get("audit.unchanged").to_string()
            } else {
                format!("{}: {}", t.get("audit.changed"), fields.join(", "))
            }
        }
        (None, Some(_)) => t.get("audit.after_only").to_string(),
        (Some(_), None) => t.get("audit.before_only").to_string(),
        (None, None) => String::new(),
    };
    let link = match (e.resource.as_str(), &e.resource_id) {
        ("monitor", Some(id)) if e.action != "monitor.delete" => Some(format!("/monitors/{id}")),
        _ => None,
    };
    EventView {
        at: when(ui, Some(e.at)),
        resource: match &e.resource_id {
            Some(id) => format!("{} {id}", e.resource),
            None => e.resource.clone(),
        },
        link,
        outcome_class: match e.outcome.as_str() {
            "success" => "s-up",
            "rate_limited" => "s-pending",
            _ => "s-down",
        },
        summary,
        before: pretty(&e.before),
        after: pretty(&e.after),
        actor: e.actor,
        actor_kind: e.actor_kind,
        action: e.action,
        outcome: e.outcome,
        peer: e.peer,
        detail: e.detail.unwrap_or_default(),
    }
}

fn url(base: &str, pairs: &[(&str, String)]) -> String {
    format!(
        "{base}?{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

pub async fn show(state: Authorized<perm::AuditRead>, ui: Ui) -> Result<HttpResponse, UiError> {
    let t = ui.tr();
    let typed = |k: &str| ui.param(k).map(str::trim).unwrap_or("").to_string();
    let mut errors = Vec::new();
    // The filters as the API reads them; since/until converted to RFC 3339.
    let mut api: Vec<(&str, String)> = Vec::new();
    for k in FILTERS {
        let v = typed(k);
        if v.is_empty() {
            continue;
        }
        if k == "since" || k == "until" {
            match rfc3339(&v) {
                Some(v) => api.push((k, v)),
                None => errors.push((k, t.get("audit.bad_time"))),
            }
        } else {
            api.push((k, v));
        }
    }
    let get = |k: &str| api.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let query = AuditQuery {
        actor: get("actor"),
        action: get("action"),
        resource: get("resource"),
        outcome: get("outcome"),
        since: get("since"),
        until: get("until"),
        page: None,
        per_page: None,
        format: None,
    };
    let filter = query.filter().map_err(|e| ui.fail(e))?;
    let page = ui.page();
    let offset = (page - 1) * PER_PAGE;
    let now = now_ms();
    let day_start = now - now.rem_euclid(HOUR_MS) - (CHART_HOURS - 1) * HOUR_MS;
    let day = AuditFilter {
        since_ms: Some(day_start),
        until_ms: None,
        ..filter.clone()
    };
    let ((items, total), (recent, recent_total)) = state
        .store
        .run(move |c| {
            diesel::QueryResult::Ok((
                audit::list(c, &filter, PER_PAGE, offset)?,
                audit::list(c, &day, CHART_LIMIT, 0)?,
            ))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let times: Vec<i64> = recent.iter().map(|e| e.at.timestamp_millis()).collect();
    let counts = charts::per_hour(&times, now, CHART_HOURS);
    let chart = charts::count_chart(&counts, 720.0, 140.0, t.get("audit.events"));
    let busiest = counts.iter().max_by_key(|c| c.1).filter(|c| c.1 > 0);
    let chart_text = format!(
        "{}: {}{}",
        t.get("audit.chart_total"),
        chart.total,
        busiest.map_or_else(String::new, |(start, n)| format!(
            "; {}: {} ({n})",
            t.get("audit.busiest"),
            charts::format_time(*start)
        ))
    );
    let shown = items.len() as i64;
    let page_url = |p: i64| {
        let mut q: Vec<(&str, String)> = FILTERS
            .iter()
            .map(|k| (*k, typed(k)))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        q.push(("page", p.to_string()));
        url("/audit", &q)
    };
    let export = |format: &str| {
        let mut q = api.clone();
        q.push(("format", format.to_string()));
        url("/api/v1/audit/export", &q)
    };
    let current = typed("outcome");
    let mut outcomes = vec![Opt {
        value: "",
        label: t.get("audit.any_outcome").into(),
        selected: current.is_empty(),
    }];
    outcomes.extend(OUTCOMES.iter().map(|o| Opt {
        value: o,
        label: (*o).to_string(),
        selected: current == *o,
    }));
    let p = AuditPage {
        c: ui.chrome(t.get("audit.title"), "audit"),
        t,
        values: FILTERS
            .iter()
            .map(|k| match *k {
                "since" | "until" => (*k, local(&typed(k))),
                _ => (*k, typed(k)),
            })
            .collect(),
        outcomes,
        errors,
        events: items.into_iter().map(|e| event_view(&ui, e)).collect(),
        total,
        first: if shown == 0 { 0 } else { offset + 1 },
        last: offset + shown,
        prev_url: (page > 1).then(|| page_url(page - 1)),
        next_url: (offset + shown < total).then(|| page_url(page + 1)),
        csv_url: export("csv"),
        json_url: export("json"),
        chart,
        chart_text,
        chart_truncated: recent_total > recent.len() as i64,
    };
    ui.render(&p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_are_read_as_rfc_3339_or_as_a_browser_s_local_date_time_in_utc() {
        let cases = [
            ("2026-01-02T03:04:05Z", Some("2026-01-02T03:04:05Z")),
            (
                "2026-01-02T03:04:05+08:00",
                Some("2026-01-02T03:04:05+08:00"),
            ),
            ("2026-01-02T03:04", Some("2026-01-02T03:04:00Z")),
            ("2026-01-02T03:04:05", Some("2026-01-02T03:04:05Z")),
            (" 2026-01-02 03:04 ", Some("2026-01-02T03:04:00Z")),
            ("yesterday", None),
            ("2026-13-02T03:04", None),
        ];
        for (given, want) in cases {
            assert_eq!(rfc3339(given).as_deref(), want, "{given}");
        }
    }

    #[test]
    fn the_changed_fields_are_those_of_the_value_after_that_differ_from_before() {
        let before = json!({"name": "a", "interval_seconds": 60, "paused": false, "gone": 1});
        let after = json!({"name": "a", "interval_seconds": 30, "paused": true, "new": 2});
        assert_eq!(
            changed_fields(&before, &after),
            ["interval_seconds", "new", "paused"],
            "`gone` is not in the value after"
        );
        assert!(changed_fields(&before, &before).is_empty());
        assert!(changed_fields(&json!(1), &after).is_empty(), "not objects");
    }
}
