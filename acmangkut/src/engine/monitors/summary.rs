//! A monitor's availability and latency over fixed windows, read from hourly rollups. The API's
//! `/monitors/{id}/summary` and the console's monitor page show the same windows.

use crate::store::DbConn;
use crate::store::monitors::rollups;
use diesel::QueryResult;
use shared::monitor::WindowSummary;

/// Label and length (ms) of each window, shortest first.
pub const WINDOWS: [(&str, i64); 3] = [("1h", 3_600_000), ("24h", 86_400_000), ("7d", 604_800_000)];

/// Monitor `id`'s summary over each of [`WINDOWS`] ending at `now` (ms; windows are widened
/// to whole hours).
pub fn windows(conn: &mut DbConn, id: i64, now: i64) -> QueryResult<Vec<WindowSummary>> {
    WINDOWS
        .iter()
        .map(|(label, ms)| rollups::window_summary(conn, id, now, label, *ms))
        .collect()
}
