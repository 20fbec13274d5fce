//! `/`: monitors by state and the latest state changes.

use super::Read;
use super::views::{Card, Dashboard};
use super::{change_views, state_label};
use crate::store::monitors as store;
use crate::ui::{Ui, UiError, charts};
use actix_web::HttpResponse;
use shared::monitor::MonitorState;

const BAR_ROW: f64 = 28.0;

pub async fn show(state: Read, ui: Ui) -> Result<HttpResponse, UiError> {
    let (counts, changes) = state
        .store
        .run(|c| {
            diesel::QueryResult::Ok((
                store::counts_by_state(c)?,
                store::recent_state_changes(c, None, 20)?,
            ))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let t = ui.tr();
    let cards: Vec<Card> = MonitorState::ALL
        .into_iter()
        .map(|s| {
            let (css, label) = state_label(&ui, s);
            Card {
                state: css,
                label,
                count: counts.get(css).copied().unwrap_or(0),
                url: format!("/monitors?state={css}"),
            }
        })
        .collect();
    let data: Vec<_> = cards
        .iter()
        .map(|c| (c.state, c.label.to_string(), c.count))
        .collect();
    let chart_text = cards
        .iter()
        .map(|c| format!("{}: {}", c.label, c.count))
        .collect::<Vec<_>>()
        .join(", ");
    let page = Dashboard {
        c: ui.chrome(t.get("dash.title"), "dashboard"),
        t,
        total: cards.iter().map(|c| c.count).sum(),
        bars: charts::state_bars(&data, 300.0, BAR_ROW),
        chart_height: BAR_ROW * cards.len() as f64,
        chart_text,
        cards,
        changes: change_views(&ui, &changes),
    };
    ui.render(&page)
}
