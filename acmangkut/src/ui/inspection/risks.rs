//! `/inspection/risks`: risk events, most severe and oldest first, filtered by state, level and
//! source; acknowledging and resolving one with a comment (the API's rules: a comment is
//! required, a resolved event is final, an acknowledged one can only be resolved).

use super::{Read, Run, Words, id_of};
use crate::iam::permissions::Needs;
use crate::state::Authorized;
use crate::store::inspection::risks as store;
use crate::store::inspection::risks::RiskQuery;
use crate::ui::fields::{Fields, Form};
use crate::ui::i18n::Tr;
use crate::ui::views::{Chrome, Opt};
use crate::ui::{Ui, UiError, when};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use shared::ErrorCode;
use shared::inspection::{Level, RiskAction, RiskEvent, RiskState};

pub const PER_PAGE: i64 = 25;

/// Keys this page looks up by value (a test checks both catalogs have them).
#[cfg(test)]
pub const DYNAMIC_KEYS: [&str; 9] = [
    "insp.source.inspection",
    "insp.source.monitor",
    "insp.risks.active",
    "insp.risks.all",
    "insp.any_level",
    "insp.any_source",
    "insp.risks.err_resolved",
    "insp.risks.err_acknowledged",
    "insp.risks.err_changed",
];

/// The list's filters and page, as the query (or a form's `back`) has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// "" (open or acknowledged), `open`, `acknowledged`, `resolved` or `all`.
    pub state: String,
    pub level: String,
    pub source: String,
    pub page: i64,
}

impl Filters {
    pub fn from_pairs(get: impl Fn(&str) -> Option<String>) -> Self {
        let text = |k: &str| get(k).map(|v| v.trim().to_string()).unwrap_or_default();
        Self {
            state: text("state"),
            level: text("level"),
            source: text("source"),
            page: get("page")
                .and_then(|p| p.trim().parse::<i64>().ok())
                .unwrap_or(1)
                .clamp(1, 1_000_000),
        }
    }

    /// The filters of a list URL (`/inspection/risks?level=high`); anything else gives none.
    pub fn from_url(url: &str) -> Self {
        let query = url
            .strip_prefix("/inspection/risks")
            .and_then(|rest| rest.strip_prefix('?'))
            .unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        Self::from_pairs(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    /// The list with these filters on `page`, and a notice when given.
    pub fn url(&self, page: i64, notice: Option<&str>) -> String {
        let page = page.to_string();
        let mut q: Vec<(&str, &str)> = [
            ("state", self.state.as_str()),
            ("level", self.level.as_str()),
            ("source", self.source.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
        if page != "1" {
            q.push(("page", &page));
        }
        if let Some(n) = notice {
            q.push(("notice", n));
        }
        if q.is_empty() {
            return "/inspection/risks".into();
        }
        format!(
            "/inspection/risks?{}",
            serde_urlencoded::to_string(&q).unwrap_or_default()
        )
    }

    fn query(&self) -> RiskQuery {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        RiskQuery {
            state: some(&self.state),
            level: some(&self.level),
            source: some(&self.source),
            page: Some(self.page),
            per_page: Some(PER_PAGE),
        }
    }
}

pub struct RiskView {
    pub id: i64,
    pub level: &'static str,
    pub level_label: &'static str,
    pub title: String,
    pub detail: String,
    pub target: String,
    pub source: &'static str,
    pub state: &'static str,
    pub state_label: &'static str,
    /// Links to what raised it: `(href, text)`.
    pub links: Vec<(String, String)>,
    pub occurrences: i64,
    pub opened: String,
    pub last_seen: String,
    /// "by alice, 2024-05-01 10:00:00 UTC", or "".
    pub acknowledged: String,
    pub resolved: String,
    pub comment: String,
    pub can_acknowledge: bool,
    pub can_resolve: bool,
    /// What was typed into the form when acting on it failed.
    pub typed: String,
    pub error: Option<String>,
}

/// Acting on an event failed: which, why, and what was typed.
pub struct ActionError {
    pub id: i64,
    pub message: String,
    pub typed: String,
}

#[derive(Template)]
#[template(path = "inspection/risks.html")]
pub struct RisksPage {
    pub c: Chrome,
    pub t: Tr,
    pub events: Vec<RiskView>,
    pub states: Vec<Opt>,
    pub levels: Vec<Opt>,
    pub sources: Vec<Opt>,
    pub filter_error: Option<String>,
    /// Acting on an event that is not on this page failed.
    pub action_error: Option<String>,
    /// This list's URL, which the forms return to.
    pub back: String,
    pub total: i64,
    pub first: i64,
    pub last: i64,
    pub prev_url: Option<String>,
    pub next_url: Option<String>,
}

/// Why `state` does not allow the action, as a message key.
pub fn refusal(state: RiskState, resolve: bool) -> Option<&'static str> {
    match (state, resolve) {
        (RiskState::Resolved, _) => Some("insp.risks.err_resolved"),
        (RiskState::Acknowledged, false) => Some("insp.risks.err_acknowledged"),
        _ => None,
    }
}

fn by(ui: &Ui, who: Option<&str>, at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    match (who, at) {
        (_, None) => String::new(),
        (Some(w), at) => format!("{w}, {}", when(ui, at)),
        (None, at) => when(ui, at),
    }
}

pub fn risk_view(ui: &Ui, w: &Words, e: &RiskEvent) -> RiskView {
    let t = ui.tr();
    let mut links = Vec::new();
    if let Some(r) = e.run_id {
        links.push((
            format!("/inspection/runs/{r}"),
            format!("{} #{r}", t.get("insp.col.run")),
        ));
    }
    if let Some(task) = e.task_id {
        links.push((
            format!("/inspection/tasks/{task}"),
            format!("{} #{task}", t.get("insp.col.task")),
        ));
    }
    if let Some(rule) = e.rule_id {
        links.push((
            format!("/inspection/rules/{rule}"),
            format!("{} #{rule}", t.get("insp.col.rule")),
        ));
    }
    if let Some(m) = e.monitor_id {
        links.push((
            format!("/monitors/{m}"),
            format!("{} #{m}", t.get("insp.monitor")),
        ));
    }
    RiskView {
        id: e.id,
        level: e.level.as_str(),
        level_label: w.level(e.level),
        title: e.title.clone(),
        detail: e.detail.clone(),
        target: e.target.clone().unwrap_or_default(),
        source: if e.source == "monitor" {
            t.get("insp.source.monitor")
        } else {
            t.get("insp.source.inspection")
        },
        state: e.state.as_str(),
        state_label: w.risk_state(e.state),
        links,
        occurrences: e.occurrences,
        opened: when(ui, Some(e.opened_at)),
        last_seen: when(ui, Some(e.last_seen_at)),
        acknowledged: by(ui, e.acknowledged_by.as_deref(), e.acknowledged_at),
        resolved: by(ui, e.resolved_by.as_deref(), e.resolved_at),
        comment: e.comment.clone().unwrap_or_default(),
        can_acknowledge: e.state == RiskState::Open,
        can_resolve: e.state != RiskState::Resolved,
        typed: String::new(),
        error: None,
    }
}

fn options(current: &str, all: &[(&'static str, &'static str)], t: Tr) -> Vec<Opt> {
    all.iter()
        .map(|(value, key)| Opt {
            value,
            label: t.get(key).to_string(),
            selected: *value == current,
        })
        .collect()
}

async fn page<P: Needs>(
    ui: &Ui,
    auth: &Authorized<P>,
    f: Filters,
    failed: Option<ActionError>,
) -> Result<RisksPage, UiError> {
    let t = ui.tr();
    let w = Words::new(t);
    let q = f.query();
    let (filter, filter_error) = match q.filter() {
        Ok(filter) => (filter, None),
        Err(_) => (
            RiskQuery {
                state: None,
                level: None,
                source: None,
                page: None,
                per_page: None,
            }
            .filter()
            .map_err(|e| ui.fail(e))?,
            Some(t.get("insp.risks.bad_filter").to_string()),
        ),
    };
    let limits = q.page().limit_offset().map_err(|e| ui.fail(e))?;
    let found = auth
        .store
        .run(move |c| store::list(c, &filter, limits))
        .await
        .map_err(|e| ui.fail(e))?;
    let mut events: Vec<RiskView> = found.items.iter().map(|e| risk_view(ui, &w, e)).collect();
    let mut action_error = None;
    if let Some(failed) = failed {
        match events.iter_mut().find(|e| e.id == failed.id) {
            Some(e) => {
                e.error = Some(failed.message);
                e.typed = failed.typed;
            }
            None => action_error = Some(format!("#{}: {}", failed.id, failed.message)),
        }
    }
    let offset = limits.1;
    let shown = events.len() as i64;
    let levels_all: Vec<(&'static str, &'static str)> = std::iter::once(("", "insp.any_level"))
        .chain(
            Level::ALL
                .into_iter()
                .zip(super::LEVEL_KEYS)
                .map(|(l, k)| (l.as_str(), k)),
        )
        .collect();
    Ok(RisksPage {
        c: ui.chrome(t.get("nav.risks"), "risks"),
        t,
        events,
        states: options(
            &f.state,
            &[
                ("", "insp.risks.active"),
                ("open", "insp.risk.open"),
                ("acknowledged", "insp.risk.acknowledged"),
                ("resolved", "insp.risk.resolved"),
                ("all", "insp.risks.all"),
            ],
            t,
        ),
        levels: options(&f.level, &levels_all, t),
        sources: options(
            &f.source,
            &[
                ("", "insp.any_source"),
                ("inspection", "insp.source.inspection"),
                ("monitor", "insp.source.monitor"),
            ],
            t,
        ),
        filter_error,
        action_error,
        back: f.url(f.page, None),
        total: found.total,
        first: if shown == 0 { 0 } else { offset + 1 },
        last: offset + shown,
        prev_url: (f.page > 1).then(|| f.url(f.page - 1, None)),
        next_url: (offset + shown < found.total).then(|| f.url(f.page + 1, None)),
    })
}

pub async fn show(auth: Read, ui: Ui) -> Result<HttpResponse, UiError> {
    let f = Filters::from_pairs(|k| ui.param(k).map(str::to_string));
    ui.render(&page(&ui, &auth, f, None).await?)
}

pub async fn acknowledge(
    auth: Run,
    Form { ui, body }: Form,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    act(auth, ui, &id, &body, false).await
}

pub async fn resolve(
    auth: Run,
    Form { ui, body }: Form,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    act(auth, ui, &id, &body, true).await
}

async fn act(
    auth: Run,
    ui: Ui,
    raw_id: &str,
    body: &[u8],
    resolve: bool,
) -> Result<HttpResponse, UiError> {
    let id = id_of(&ui, raw_id, "risk event")?;
    let t = ui.tr();
    let fields = Fields::parse(body);
    let f = Filters::from_url(fields.get("back"));
    let typed = fields.get("comment").to_string();
    let action = RiskAction {
        comment: typed.trim().to_string(),
    };
    let refused = |key: &str, status: StatusCode, typed: String| (t.get(key), status, typed);
    let failure = match action.validate() {
        Err(_) => Some(refused(
            "insp.risks.err_comment",
            StatusCode::BAD_REQUEST,
            typed,
        )),
        Ok(()) => {
            let actor = auth.actor();
            let outcome = auth
                .store
                .run(move |c| {
                    let before = store::get(c, id)?;
                    if let Some(key) = refusal(before.state, resolve) {
                        return Ok(Some(key));
                    }
                    store::act(c, &actor, id, resolve, &action.comment).map(|_| None)
                })
                .await
                .map_err(shared::ApiError::from);
            match outcome {
                Ok(None) => None,
                Ok(Some(key)) => Some(refused(key, StatusCode::CONFLICT, typed)),
                Err(e) if e.code == ErrorCode::Conflict => Some(refused(
                    "insp.risks.err_changed",
                    StatusCode::CONFLICT,
                    typed,
                )),
                Err(e) => return Err(ui.fail(e)),
            }
        }
    };
    match failure {
        None => {
            tracing::info!(
                risk.id = id,
                resolve,
                "risk event acted on from the console"
            );
            let notice = if resolve {
                "risk_resolved"
            } else {
                "risk_acknowledged"
            };
            Ok(ui.redirect(f.url(f.page, Some(notice))))
        }
        Some((message, status, typed)) => {
            let failed = ActionError {
                id,
                message: message.to_string(),
                typed,
            };
            let p = page(&ui, &auth, f, Some(failed)).await?;
            ui.render_status(status, &p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_round_trip_through_the_list_url() {
        let f = Filters {
            state: "resolved".into(),
            level: "high".into(),
            source: String::new(),
            page: 3,
        };
        let url = f.url(f.page, None);
        assert_eq!(url, "/inspection/risks?state=resolved&level=high&page=3");
        assert_eq!(Filters::from_url(&url), f);
        assert_eq!(
            Filters::from_url("https://evil.example/inspection/risks?level=high"),
            Filters {
                page: 1,
                ..Filters::default()
            },
            "only the list's own path is taken"
        );
        assert_eq!(Filters::from_url("").url(1, None), "/inspection/risks");
        assert_eq!(
            Filters::from_url("/inspection/risks?page=-4").url(1, Some("risk_resolved")),
            "/inspection/risks?notice=risk_resolved"
        );
    }

    #[test]
    fn resolved_events_are_final_and_acknowledging_happens_once() {
        assert_eq!(refusal(RiskState::Open, false), None);
        assert_eq!(refusal(RiskState::Open, true), None);
        assert_eq!(refusal(RiskState::Acknowledged, true), None);
        assert_eq!(
            refusal(RiskState::Acknowledged, false),
            Some("insp.risks.err_acknowledged")
        );
        assert_eq!(
            refusal(RiskState::Resolved, true),
            Some("insp.risks.err_resolved")
        );
    }

    #[test]
    fn bad_filters_are_caught_by_the_api_rules() {
        let f = Filters {
            level: "urgent".into(),
            page: 1,
            ..Filters::default()
        };
        assert!(f.query().filter().is_err());
        assert!(Filters::from_url("").query().filter().is_ok());
    }
}
