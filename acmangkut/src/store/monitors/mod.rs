//! Monitor rows: create, read, list, update, delete, pause and resume.

pub mod health;
pub mod models;
mod pg_page;
pub mod recent;
pub mod results;
pub mod rollups;

use self::models::{LabelRow, MonitorApiRow, MonitorDefinition, NewMonitor, StateChangeRow};
use crate::db;
use crate::store::audit::{Actor, AuditWrite};
use crate::store::schema::{monitor_counts, monitor_labels, monitors, state_changes};
use crate::store::{DbConn, now_ms};
use diesel::dsl::sql;
use diesel::expression::SqlLiteral;
use diesel::prelude::*;
use diesel::query_dsl::LoadQuery;
use diesel::result::{Error as DbError, QueryResult};
use diesel::sql_types::BigInt;
use shared::monitor::{Monitor, MonitorInput, MonitorState, StateChange};
use shared::page::Page;
use std::collections::{BTreeMap, HashMap};

/// Filters of `GET /api/v1/monitors`.
#[derive(Debug, Default, Clone)]
pub struct MonitorFilter {
    /// Every `(key, value)` must be on the monitor.
    pub labels: Vec<(String, String)>,
    pub state: Option<MonitorState>,
    /// Case-insensitive substring of the name or target.
    pub search: Option<String>,
}

pub fn create(conn: &mut DbConn, actor: &Actor, input: &MonitorInput) -> QueryResult<Monitor> {
    let now = now_ms();
    let row = NewMonitor {
        definition: MonitorDefinition::from_input(input, now)?,
        state: MonitorState::Pending.as_str(),
        paused: false,
        next_run_at: now,
        state_changed_at: now,
        created_at: now,
    };
    let id = crate::store::write(conn, |c| {
        db!(c, |c| {
            let id: i64 = diesel::insert_into(monitors::table)
                .values(&row)
                .returning(monitors::id)
                .get_result(c)?;
            let labels = label_rows(id, &input.labels);
            diesel::insert_into(monitor_labels::table)
                .values(&labels)
                .execute(c)?;
            c.audit(
                &actor
                    .event("monitor.create", "monitor", Some(id.to_string()))
                    .after(input),
            )?;
            QueryResult::Ok(id)
        })
    })?;
    get(conn, id)
}

fn label_rows(id: i64, labels: &BTreeMap<String, String>) -> Vec<LabelRow> {
    labels
        .iter()
        .map(|(k, v)| LabelRow {
            monitor_id: id,
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

pub fn get(conn: &mut DbConn, id: i64) -> QueryResult<Monitor> {
    let row: MonitorApiRow = db!(conn, |c| monitors::table
        .find(id)
        .select(MonitorApiRow::as_select())
        .first(c))?;
    // `= ?` rather than `IN (?)`: a fixed statement shape stays in diesel's prepared cache.
    let labels: Vec<(String, String)> = db!(conn, |c| monitor_labels::table
        .filter(monitor_labels::monitor_id.eq(id))
        .select((monitor_labels::key, monitor_labels::value))
        .load(c))?;
    Ok(row.into_api(labels.into_iter().collect()))
}

/// The id of the monitor named `name` (names are unique).
pub fn id_by_name(conn: &mut DbConn, name: &str) -> QueryResult<Option<i64>> {
    crate::find_by!(conn, monitors::table, monitors::name, name, monitors::id)
}

/// One page of monitor rows, the labels of those monitors (in no particular order), and how
/// many monitors match the filter.
struct PageRows {
    rows: Vec<MonitorApiRow>,
    labels: Vec<LabelRow>,
    total: i64,
}

/// A page of monitors matching `filter`, and how many match.
pub fn list(
    conn: &mut DbConn,
    filter: &MonitorFilter,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<Monitor>, i64)> {
    let PageRows {
        rows,
        labels,
        total,
    } = page_rows(conn, filter, limit, offset)?;
    let mut by_monitor: HashMap<i64, BTreeMap<String, String>> = HashMap::new();
    for l in labels {
        by_monitor
            .entry(l.monitor_id)
            .or_default()
            .insert(l.key, l.value);
    }
    let items = rows
        .into_iter()
        .map(|r| {
            let l = by_monitor.remove(&r.id).unwrap_or_default();
            r.into_api(l)
        })
        .collect();
    Ok((items, total))
}

/// The page as `GET /api/v1/monitors` answers it: the JSON of the `Page<Monitor>` that [`list`]
/// gives, written straight from the rows into one buffer (a test holds the bytes equal).
pub fn list_json(
    conn: &mut DbConn,
    filter: &MonitorFilter,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<u8>> {
    let PageRows {
        rows,
        mut labels,
        total,
    } = page_rows(conn, filter, limit, offset)?;
    // `page` and `per_page` as `Page::new` computes them.
    let page = Page::<()>::new(Vec::new(), (limit, offset), total);
    // By monitor, then by key as a `BTreeMap` orders them (bytewise, whatever the collation).
    labels.sort_unstable_by(|a, b| (a.monitor_id, &a.key).cmp(&(b.monitor_id, &b.key)));
    // Room for the whole page up front: the texts as stored, and about 400 bytes of field
    // names, numbers and timestamps per monitor.
    let size: usize = rows
        .iter()
        .map(|r| 512 + r.name.len() + r.description.len() + r.probe_json.len())
        .chain(labels.iter().map(|l| 8 + l.key.len() + l.value.len()))
        .sum();
    let mut out = Vec::with_capacity(64 + size);
    out.extend_from_slice(b"{\"items\":[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let from = labels.partition_point(|l| l.monitor_id < row.id);
        let to = labels.partition_point(|l| l.monitor_id <= row.id);
        row.write_json(&labels[from..to], &mut out)
            .map_err(json_error)?;
    }
    for (key, n) in [
        (&b"],\"page\":"[..], page.page),
        (b",\"per_page\":", page.per_page),
        (b",\"total\":", page.total),
    ] {
        out.extend_from_slice(key);
        serde_json::to_writer(&mut out, &n).map_err(json_error)?;
    }
    out.push(b'}');
    Ok(out)
}

fn json_error(e: serde_json::Error) -> DbError {
    DbError::SerializationError(Box::new(e))
}

fn page_rows(
    conn: &mut DbConn,
    filter: &MonitorFilter,
    limit: i64,
    offset: i64,
) -> QueryResult<PageRows> {
    // Built as a boxed query per backend; the label filter is one EXISTS per label.
    macro_rules! filtered {
        ($c:ident) => {{
            let mut q = monitors::table.into_boxed();
            if let Some(state) = filter.state {
                q = q.filter(monitors::state.eq(state.as_str()));
            }
            if let Some(s) = &filter.search {
                let pattern = format!("%{}%", s.replace('%', "").replace('_', ""));
                q = q.filter(
                    monitors::name
                        .like(pattern.clone())
                        .or(monitors::target.like(pattern)),
                );
            }
            for (k, v) in &filter.labels {
                q = q.filter(diesel::dsl::exists(
                    monitor_labels::table
                        .filter(monitor_labels::monitor_id.eq(monitors::id))
                        .filter(monitor_labels::key.eq(k.clone()))
                        .filter(monitor_labels::value.eq(v.clone())),
                ));
            }
            q
        }};
    }
    if filter.labels.is_empty() && filter.state.is_none() && filter.search.is_none() {
        return page_rows_all(conn, limit, offset);
    }
    let (rows, total): (Vec<MonitorApiRow>, i64) = db!(conn, |c| {
        let total = filtered!(c).count().get_result(c)?;
        let rows = filtered!(c)
            .order(monitors::id.asc())
            .limit(limit)
            .offset(offset)
            .select(MonitorApiRow::as_select())
            .load(c)?;
        QueryResult::Ok((rows, total))
    })?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let labels = db!(conn, |c| monitor_labels::table
        .filter(monitor_labels::monitor_id.eq_any(&ids))
        .select(LabelRow::as_select())
        .load(c))?;
    Ok(PageRows {
        rows,
        labels,
        total,
    })
}

/// The unfiltered page, the common case, in statements of fixed shape that diesel keeps
/// prepared (boxed queries and `IN (?, ?, …)` lists are prepared anew on every call): one on
/// PostgreSQL ([`pg_page`]), three on SQLite. The page is every monitor from its first id to
/// its last, so its labels are those of that id range.
fn page_rows_all(conn: &mut DbConn, limit: i64, offset: i64) -> QueryResult<PageRows> {
    let c = match conn {
        DbConn::Pg(c) => return pg_page::page_rows(c, limit, offset),
        DbConn::Sqlite(c) => c,
    };
    let total = count_counters(c)?;
    let rows: Vec<MonitorApiRow> = monitors::table
        .order(monitors::id.asc())
        .limit(limit)
        .offset(offset)
        .select(MonitorApiRow::as_select())
        .load(c)?;
    let labels = match (rows.first(), rows.last()) {
        (Some(first), Some(last)) => monitor_labels::table
            .filter(monitor_labels::monitor_id.between(first.id, last.id))
            .select(LabelRow::as_select())
            .load(c)?,
        _ => Vec::new(),
    };
    Ok(PageRows {
        rows,
        labels,
        total,
    })
}

/// How many monitors there are: the sum of `monitor_counts`, which triggers keep in the
/// transaction that inserts or deletes a monitor (migration `000012_monitor_counts`), so no
/// statement reads every monitor to answer it.
fn count_counters<C: Connection>(c: &mut C) -> QueryResult<i64>
where
    for<'a> diesel::dsl::Select<monitor_counts::table, SqlLiteral<BigInt>>: LoadQuery<'a, C, i64>,
{
    monitor_counts::table
        .select(sql::<BigInt>("CAST(COALESCE(SUM(n), 0) AS BIGINT)"))
        .get_result(c)
}

pub fn update(
    conn: &mut DbConn,
    actor: &Actor,
    id: i64,
    input: &MonitorInput,
) -> QueryResult<Monitor> {
    let before = get(conn, id)?;
    let changes = MonitorDefinition::from_input(input, now_ms())?;
    let labels = label_rows(id, &input.labels);
    crate::store::write(conn, |c| {
        db!(c, |c| {
            let n = diesel::update(monitors::table.find(id))
                .set(&changes)
                .execute(c)?;
            if n == 0 {
                return Err(DbError::NotFound);
            }
            diesel::delete(monitor_labels::table.filter(monitor_labels::monitor_id.eq(id)))
                .execute(c)?;
            diesel::insert_into(monitor_labels::table)
                .values(&labels)
                .execute(c)?;
            c.audit(
                &actor
                    .event("monitor.update", "monitor", Some(id.to_string()))
                    .before(&before)
                    .after(input),
            )
        })
    })?;
    get(conn, id)
}

pub fn delete(conn: &mut DbConn, actor: &Actor, id: i64) -> QueryResult<()> {
    let before = get(conn, id)?;
    crate::store::write(conn, |c| {
        db!(c, |c| {
            if diesel::delete(monitors::table.find(id)).execute(c)? == 0 {
                return Err(DbError::NotFound);
            }
            c.audit(
                &actor
                    .event("monitor.delete", "monitor", Some(id.to_string()))
                    .before(&before),
            )
        })
    })
}

/// Pausing stops scheduling and shows `paused`; resuming starts over from `pending` at once.
pub fn set_paused(conn: &mut DbConn, actor: &Actor, id: i64, paused: bool) -> QueryResult<Monitor> {
    let now = now_ms();
    crate::store::write(conn, |c| {
        db!(c, |c| {
            let current: String = monitors::table.find(id).select(monitors::state).first(c)?;
            let to = if paused {
                MonitorState::Paused
            } else {
                MonitorState::Pending
            };
            if current != to.as_str() {
                diesel::update(monitors::table.find(id))
                    .set((
                        monitors::paused.eq(paused),
                        monitors::state.eq(to.as_str()),
                        monitors::consecutive_failures.eq(0),
                        monitors::consecutive_successes.eq(0),
                        monitors::next_run_at.eq(now),
                        monitors::state_changed_at.eq(now),
                        monitors::updated_at.eq(now),
                    ))
                    .execute(c)?;
                diesel::insert_into(state_changes::table)
                    .values(self::models::NewStateChange {
                        monitor_id: id,
                        from_state: current.clone(),
                        to_state: to.as_str().to_string(),
                        at: now,
                        reason: Some(if paused { "paused" } else { "resumed" }.to_string()),
                    })
                    .execute(c)?;
            }
            let action = if paused {
                "monitor.pause"
            } else {
                "monitor.resume"
            };
            c.audit(
                &actor
                    .event(action, "monitor", Some(id.to_string()))
                    .before(&serde_json::json!({ "state": current }))
                    .after(&serde_json::json!({ "state": to.as_str() })),
            )
        })
    })?;
    get(conn, id)
}

/// Makes the monitor due now (unless paused); the scheduler picks it up on its next tick. The
/// monitor is returned either way: an unknown id is `NotFound`, a paused one says so itself.
pub fn run_now(conn: &mut DbConn, actor: &Actor, id: i64) -> QueryResult<Monitor> {
    crate::store::write(conn, |c| {
        db!(c, |c| {
            let n = diesel::update(monitors::table.find(id).filter(monitors::paused.eq(false)))
                .set(monitors::next_run_at.eq(now_ms()))
                .execute(c)?;
            if n == 1 {
                c.audit(&actor.event("monitor.run_now", "monitor", Some(id.to_string())))?;
            }
            QueryResult::Ok(())
        })
    })?;
    get(conn, id)
}

pub fn counts_by_state(conn: &mut DbConn) -> QueryResult<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = db!(conn, |c| monitors::table
        .group_by(monitors::state)
        .select((monitors::state, diesel::dsl::count_star()))
        .load(c))?;
    Ok(rows.into_iter().collect())
}

pub fn recent_state_changes(
    conn: &mut DbConn,
    monitor: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<StateChange>> {
    let rows: Vec<StateChangeRow> = db!(conn, |c| {
        let mut q = state_changes::table
            .inner_join(monitors::table)
            .select((
                state_changes::monitor_id,
                monitors::name,
                state_changes::from_state,
                state_changes::to_state,
                state_changes::at,
                state_changes::reason,
            ))
            .order(state_changes::id.desc())
            .limit(limit)
            .into_boxed();
        if let Some(id) = monitor {
            q = q.filter(state_changes::monitor_id.eq(id));
        }
        q.load(c)
    })?;
    Ok(rows.into_iter().map(StateChangeRow::into_api).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::monitors::models::tests::varied_inputs;

    /// A migrated database (the suite's backend) holding the varied monitors three times
    /// over, in every state, some checked; keep the database alive as long as the connection.
    fn database() -> (has_test_db::TestDb, crate::store::PooledConn) {
        let db = has_test_db::TestDb::new();
        let store = crate::store::Store::open(&db.url, 1, 5_000).expect("open");
        let mut conn = store.pool.get().expect("a connection");
        let states = ["pending", "up", "degraded", "down", "paused"];
        let mut n = 0usize;
        for round in 0..3 {
            for mut input in varied_inputs() {
                input.name = format!("{} {round}", input.name);
                n += 1;
                let now = 1_795_746_799_000 + (n as i64) * 1_001;
                let state = states[n % states.len()];
                let row = NewMonitor {
                    definition: MonitorDefinition::from_input(&input, now).expect("row"),
                    state,
                    paused: state == "paused",
                    next_run_at: now + 60_000,
                    state_changed_at: now - round,
                    created_at: now,
                };
                crate::store::write(&mut conn, |c| {
                    db!(c, |c| {
                        let id: i64 = diesel::insert_into(monitors::table)
                            .values(&row)
                            .returning(monitors::id)
                            .get_result(c)?;
                        diesel::insert_into(monitor_labels::table)
                            .values(&label_rows(id, &input.labels))
                            .execute(c)?;
                        if n.is_multiple_of(2) {
                            diesel::update(monitors::table.find(id))
                                .set(monitors::last_checked_at.eq(now + 5))
                                .execute(c)?;
                        }
                        QueryResult::Ok(())
                    })
                })
                .expect("insert");
            }
        }
        (db, conn)
    }

    #[test]
    fn a_page_as_json_is_what_serde_writes_of_the_listed_monitors() {
        let (_db, mut conn) = database();
        let filters = [
            MonitorFilter::default(),
            MonitorFilter {
                labels: vec![("k".into(), "v".into())],
                ..Default::default()
            },
            MonitorFilter {
                state: Some(MonitorState::Down),
                ..Default::default()
            },
            MonitorFilter {
                search: Some("example".into()),
                ..Default::default()
            },
        ];
        for filter in &filters {
            for (limit, offset) in [(50, 0), (1, 0), (4, 4), (7, 14), (5, 500)] {
                let json = list_json(&mut conn, filter, limit, offset).expect("list_json");
                let (items, total) = list(&mut conn, filter, limit, offset).expect("list");
                let page = Page::new(items, (limit, offset), total);
                let serde = serde_json::to_vec(&page).expect("serialize");
                assert_eq!(
                    String::from_utf8_lossy(&json),
                    String::from_utf8_lossy(&serde),
                    "{filter:?} limit {limit} offset {offset}"
                );
            }
        }
        // The unfiltered page (one statement on PostgreSQL) is what the general path gives
        // for a filter that matches every monitor.
        let everything = MonitorFilter {
            search: Some(String::new()),
            ..Default::default()
        };
        for (limit, offset) in [(50, 0), (1, 0), (4, 4), (7, 14), (5, 500)] {
            let all = list_json(&mut conn, &MonitorFilter::default(), limit, offset).expect("all");
            let general = list_json(&mut conn, &everything, limit, offset).expect("general");
            assert_eq!(
                String::from_utf8_lossy(&all),
                String::from_utf8_lossy(&general),
                "limit {limit} offset {offset}"
            );
        }
        // And each listed monitor is what reading it alone gives.
        let (items, total) = list(&mut conn, &MonitorFilter::default(), 500, 0).expect("list");
        assert_eq!(items.len() as i64, total);
        assert_eq!(total, 18);
        for m in items {
            let alone = get(&mut conn, m.id).expect("get");
            assert_eq!(
                serde_json::to_value(&m).expect("json"),
                serde_json::to_value(&alone).expect("json")
            );
        }
    }

    /// The unfiltered page's total is read from `monitor_counts`, kept by triggers: it is the
    /// number of monitors after creates, deletes through the store and deletes by hand, and
    /// nothing is counted for a create that rolls back.
    #[test]
    fn the_total_is_the_number_of_monitors_after_creates_and_deletes() {
        let (_db, mut conn) = database();
        let actor = Actor {
            name: "test".into(),
            kind: "user",
            peer: "127.0.0.1".into(),
        };
        let total = |conn: &mut DbConn| {
            let counted: i64 = db!(conn, |c| monitors::table.count().get_result(c)).expect("n");
            let (_, total) = list(conn, &MonitorFilter::default(), 1, 0).expect("list");
            (total, counted)
        };
        assert_eq!(total(&mut conn), (18, 18));

        let ids: Vec<i64> = (0..20)
            .map(|i| {
                let mut input = varied_inputs().remove(0);
                input.name = format!("extra {i}");
                create(&mut conn, &actor, &input).expect("create").id
            })
            .collect();
        let rolled_back = crate::store::write(&mut conn, |c| {
            let mut input = varied_inputs().remove(0);
            input.name = "rolled back".into();
            create(c, &actor, &input)?;
            QueryResult::<()>::Err(DbError::RollbackTransaction)
        });
        assert!(rolled_back.is_err());
        assert_eq!(total(&mut conn), (38, 38));

        for id in ids.iter().step_by(3) {
            delete(&mut conn, &actor, *id).expect("delete");
        }
        let by_hand = ids[1];
        db!(&mut *conn, |c| diesel::delete(
            monitors::table.find(by_hand)
        )
        .execute(c))
        .expect("delete by hand");

        assert_eq!(total(&mut conn), (30, 30));
        // The last page, short of a full one, past the end, and empty.
        let (items, total) = list(&mut conn, &MonitorFilter::default(), 50, 25).expect("list");
        assert_eq!((items.len(), total), (5, 30));
        let (items, total) = list(&mut conn, &MonitorFilter::default(), 50, 30).expect("list");
        assert_eq!((items.len(), total), (0, 30));
    }
}
