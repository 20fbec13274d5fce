//! Recent availability of a page of monitors at once, for the monitor list: each monitor's
//! newest results and its checks and successes over the last 24 hours. Two statements for the
//! whole page, whatever its size (not one per monitor).

use super::rollups::{HOUR_MS, hour_of};
use crate::store::DbConn;
use crate::store::schema::rollup_hours;
use diesel::prelude::*;
use diesel::result::QueryResult;
use diesel::sql_types::{BigInt, Bool, Double, Integer, Nullable, Text};
use std::collections::HashMap;
use std::fmt::Write as _;

/// One stored result (an attempt at one location), as the list's bar shows it.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct RecentResult {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub monitor_id: i64,
    #[diesel(sql_type = BigInt)]
    pub started_at: i64,
    #[diesel(sql_type = Bool)]
    pub success: bool,
    #[diesel(sql_type = Double)]
    pub duration_seconds: f64,
    #[diesel(sql_type = Nullable<Text>)]
    pub failure_reason: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub status_code: Option<i32>,
    #[diesel(sql_type = Text)]
    pub location: String,
    #[diesel(sql_type = Integer)]
    pub attempt: i32,
}

/// A monitor's recent availability.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recent {
    /// Its newest results, newest first.
    pub results: Vec<RecentResult>,
    /// Checks and successes in the hours overlapping the last 24 hours (the rollups the
    /// monitor page's `24h` window reads, so both pages show the same figure).
    pub checks_24h: i64,
    pub successes_24h: i64,
}

impl Recent {
    pub fn availability_24h(&self) -> Option<f64> {
        (self.checks_24h > 0).then(|| self.successes_24h as f64 * 100.0 / self.checks_24h as f64)
    }
}

/// The newest `per_monitor` results and the 24-hour counts of each monitor of `ids` (a page:
/// tens of ids), at `now` (ms). Monitors without any are absent from the map.
pub fn for_monitors(
    conn: &mut DbConn,
    ids: &[i64],
    per_monitor: i64,
    now: i64,
) -> QueryResult<HashMap<i64, Recent>> {
    let mut out: HashMap<i64, Recent> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    // One `LIMIT` per monitor, each an index range scan of `(monitor_id, started_at)`, joined
    // with UNION ALL (a window over the monitors' results would read all of them). The ids
    // and the limit are integers written into the text: nothing from a request is.
    let mut sql = String::new();
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push_str(" UNION ALL ");
        }
        let _ = write!(
            sql,
            "SELECT * FROM (SELECT id, monitor_id, started_at, success, duration_seconds, \
             failure_reason, status_code, location, attempt FROM probe_results \
             WHERE monitor_id = {id} ORDER BY started_at DESC, id DESC LIMIT {per_monitor}) \
             AS r{i}"
        );
    }
    let since = hour_of(now - 24 * HOUR_MS);
    let (results, hours): (Vec<RecentResult>, Vec<(i64, i64, i64)>) = crate::db!(conn, |c| {
        let results = diesel::sql_query(&sql).load(c)?;
        let hours = rollup_hours::table
            .filter(rollup_hours::monitor_id.eq_any(ids))
            .filter(rollup_hours::hour_start.ge(since))
            .select((
                rollup_hours::monitor_id,
                rollup_hours::checks,
                rollup_hours::successes,
            ))
            .load(c)?;
        QueryResult::Ok((results, hours))
    })?;
    for r in results {
        out.entry(r.monitor_id).or_default().results.push(r);
    }
    // Newest first (UNION ALL promises no order).
    for recent in out.values_mut() {
        recent
            .results
            .sort_unstable_by_key(|r| std::cmp::Reverse((r.started_at, r.id)));
    }
    for (id, checks, successes) in hours {
        let e = out.entry(id).or_default();
        e.checks_24h += checks;
        e.successes_24h += successes;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::monitors::models::tests::varied_inputs;
    use crate::store::monitors::models::{MonitorDefinition, NewMonitor, NewResult};
    use crate::store::schema::{monitors, probe_results};

    const NOW: i64 = 1_795_746_799_000;

    fn result(monitor_id: i64, started_at: i64, success: bool) -> NewResult {
        NewResult {
            monitor_id,
            started_at,
            success,
            failure_reason: (!success).then(|| "timeout".to_string()),
            error: None,
            duration_seconds: 0.05,
            status_code: Some(200),
            detail_json: None,
            location: "default".into(),
            attempt: 1,
            has_screenshot: false,
        }
    }

    #[test]
    fn a_page_gets_each_monitors_newest_results_and_its_24_hours() {
        let db = has_test_db::TestDb::new();
        let store = crate::store::Store::open(&db.url, 1, 5_000).expect("open");
        let mut conn = store.pool.get().expect("a connection");
        let ids: Vec<i64> = varied_inputs()
            .iter()
            .take(3)
            .map(|input| {
                let row = NewMonitor {
                    definition: MonitorDefinition::from_input(input, NOW).expect("row"),
                    state: "up",
                    paused: false,
                    next_run_at: NOW,
                    state_changed_at: NOW,
                    created_at: NOW,
                };
                crate::db!(&mut *conn, |c| diesel::insert_into(monitors::table)
                    .values(&row)
                    .returning(monitors::id)
                    .get_result::<i64>(c))
                .expect("monitor")
            })
            .collect();
        let (a, b, c) = (ids[0], ids[1], ids[2]);
        // a: 50 results a minute apart, every fifth failed; b: 2; c: none.
        let mut rows: Vec<NewResult> = (0..50)
            .map(|i| result(a, NOW - i * 60_000, i % 5 != 0))
            .collect();
        rows.push(result(b, NOW - 1_000, true));
        rows.push(result(b, NOW - 2_000, false));
        let hours = [
            (a, hour_of(NOW), 10, 9),
            (a, hour_of(NOW) - 23 * HOUR_MS, 5, 5),
            // Older than the 24 hours: not counted.
            (a, hour_of(NOW) - 30 * HOUR_MS, 100, 0),
            (b, hour_of(NOW), 4, 1),
        ];
        crate::store::write(&mut conn, |c| {
            crate::db!(c, |c| {
                diesel::insert_into(probe_results::table)
                    .values(&rows)
                    .execute(c)?;
                for (id, hour, checks, successes) in hours {
                    diesel::insert_into(rollup_hours::table)
                        .values((
                            rollup_hours::monitor_id.eq(id),
                            rollup_hours::hour_start.eq(hour),
                            rollup_hours::checks.eq(checks),
                            rollup_hours::successes.eq(successes),
                        ))
                        .execute(c)?;
                }
                QueryResult::Ok(())
            })
        })
        .expect("results");

        let got = for_monitors(&mut conn, &[a, c], 40, NOW).expect("recent");
        assert_eq!(got.len(), 1, "b was not asked for, c has nothing");
        let recent = &got[&a];
        let times: Vec<i64> = recent.results.iter().map(|r| r.started_at).collect();
        let newest: Vec<i64> = (0..40).map(|i| NOW - i * 60_000).collect();
        assert_eq!(times, newest, "the 40 newest, newest first");
        assert!(recent.results.iter().all(|r| r.monitor_id == a));
        assert_eq!(
            recent.results.iter().filter(|r| !r.success).count(),
            8,
            "every fifth failed"
        );
        assert_eq!((recent.checks_24h, recent.successes_24h), (15, 14));
        assert_eq!(recent.availability_24h(), Some(14.0 * 100.0 / 15.0));

        let both = for_monitors(&mut conn, &[b, a], 3, NOW).expect("recent");
        assert_eq!(both[&b].results.len(), 2);
        assert!(both[&b].results[0].success && !both[&b].results[1].success);
        assert_eq!(both[&b].availability_24h(), Some(25.0));
        assert_eq!(both[&a].results.len(), 3);
        assert!(
            for_monitors(&mut conn, &[], 3, NOW)
                .expect("none")
                .is_empty()
        );
    }
}
