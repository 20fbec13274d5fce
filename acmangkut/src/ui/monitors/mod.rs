//! The monitor pages: dashboard, list, detail, the form that creates and edits a monitor.

pub mod dashboard;
pub mod detail;
pub mod edit;
pub mod form;
pub mod list;
pub mod views;

use crate::ui::{Ui, UiError, when};
use shared::ApiError;

/// Reading pages need `monitors:read`; forms that change monitors `monitors:write`.
pub type Read = crate::state::Authorized<crate::iam::perm::MonitorsRead>;
pub type Write = crate::state::Authorized<crate::iam::perm::MonitorsWrite>;

/// A monitor id from the path; anything that is not one is a (friendly) 404.
pub fn monitor_id(ui: &Ui, raw: &str) -> Result<i64, UiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ui.fail(ApiError::not_found("no such monitor")))
}

/// A state's CSS name and its label in this language.
pub fn state_label(ui: &Ui, s: shared::monitor::MonitorState) -> (&'static str, &'static str) {
    let key = match s {
        shared::monitor::MonitorState::Pending => "state.pending",
        shared::monitor::MonitorState::Up => "state.up",
        shared::monitor::MonitorState::Degraded => "state.degraded",
        shared::monitor::MonitorState::Down => "state.down",
        shared::monitor::MonitorState::Paused => "state.paused",
    };
    (s.as_str(), ui.lang.t(key))
}

/// The final attempts among `rows` (stored results, newest first, of any locations): a row
/// whose next newer row at its location is the following attempt of the same run was retried,
/// and is no check of its own. `key` gives a row's location and attempt number.
pub fn final_attempts<'a, T>(rows: &'a [T], key: impl Fn(&'a T) -> (&'a str, i32)) -> Vec<&'a T> {
    let mut newer: std::collections::HashMap<&str, i32> = std::collections::HashMap::new();
    rows.iter()
        .filter(|r| {
            let (location, attempt) = key(*r);
            let next = newer.insert(location, attempt);
            !next.is_some_and(|n| n > 1 && n == attempt + 1)
        })
        .collect()
}

pub fn change_views(ui: &Ui, changes: &[shared::monitor::StateChange]) -> Vec<views::ChangeView> {
    changes
        .iter()
        .map(|c| {
            let (from, from_label) = state_label(ui, c.from_state);
            let (to, to_label) = state_label(ui, c.to_state);
            views::ChangeView {
                monitor_id: c.monitor_id,
                monitor_name: c.monitor_name.clone(),
                from,
                from_label,
                to,
                to_label,
                at: when(ui, Some(c.at)),
                reason: c.reason.clone().unwrap_or_default(),
            }
        })
        .collect()
}
