//! The overview's monitors panel: monitors by state and the latest state changes.

use super::views::{Card, MonitorsPanel};
use super::{change_views, state_label};
use crate::store::monitors as store;
use crate::store::{DbConn, StoreError};
use crate::ui::{Ui, charts};
use shared::monitor::{MonitorState, StateChange};
use std::collections::BTreeMap;

const BAR_ROW: f64 = 28.0;
/// State changes listed.
const CHANGES: i64 = 20;

/// What the panel shows, read in the overview's one store call.
pub struct Counts {
    by_state: BTreeMap<String, i64>,
    changes: Vec<StateChange>,
}

pub fn read(c: &mut DbConn) -> Result<Counts, StoreError> {
    Ok(Counts {
        by_state: store::counts_by_state(c)?,
        changes: store::recent_state_changes(c, None, CHANGES)?,
    })
}

pub fn panel(ui: &Ui, counts: &Counts) -> MonitorsPanel {
    let cards: Vec<Card> = MonitorState::ALL
        .into_iter()
        .map(|s| {
            let (css, label) = state_label(ui, s);
            Card {
                state: css,
                label,
                count: counts.by_state.get(css).copied().unwrap_or(0),
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
    MonitorsPanel {
        total: cards.iter().map(|c| c.count).sum(),
        bars: charts::state_bars(&data, 300.0, BAR_ROW),
        chart_height: BAR_ROW * cards.len() as f64,
        chart_text,
        cards,
        changes: change_views(ui, &counts.changes),
    }
}
