//! The unfiltered page of monitors on PostgreSQL in one statement: the page's rows, each with
//! its labels as two arrays, and the count of all monitors. SQLite answers in-process and keeps
//! three small statements; over the network each statement is a round trip, and three of them
//! made a PostgreSQL page cost four times a SQLite one.
//!
//! The statement has a fixed text and a static query id, so it stays in diesel's
//! prepared-statement cache (`sql_query` is prepared anew on every call: one more round trip).
//! What PostgreSQL spends on it, measured per execution in its backend (`docs/performance.md`):
//! the count is read from `monitor_counts` (kept by triggers) instead of `COUNT(*)` over every
//! monitor, the rows come straight from the primary key's index scan (no CTE to materialise
//! and sort), and `LIMIT`/`OFFSET` are sub-selects so the plan does not depend on their values:
//! PostgreSQL then keeps one generic plan instead of planning the statement again on every
//! execution (with a bare `LIMIT $1` it estimates a generic plan at 10 % of the table's rows,
//! finds it dearer than a plan for 50 rows, and re-plans each time).

use super::PageRows;
use super::models::{LabelRow, MonitorApiRow};
use diesel::dsl::{AsSelect, SqlTypeOf};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::QueryResult;
use diesel::sql_types::{Array, BigInt, Text};

/// `LIMIT` / `OFFSET` of the page, and the columns of its rows.
#[derive(QueryId)]
struct Page {
    limit: i64,
    offset: i64,
    /// The offset of the page's last row, were the page full.
    last: i64,
    columns: AsSelect<MonitorApiRow, Pg>,
}

impl Query for Page {
    type SqlType = (
        SqlTypeOf<AsSelect<MonitorApiRow, Pg>>,
        BigInt,
        Array<Text>,
        Array<Text>,
    );
}

impl RunQueryDsl<PgConnection> for Page {}

impl QueryFragment<Pg> for Page {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // The page is every monitor with an id from its first to its last (ids in order, no
        // filter), so its labels are one range scan of the labels' primary key, aggregated
        // per monitor (two correlated subqueries per row cost PostgreSQL a third more); the
        // range's ends are the ids at the page's first and last offsets (index-only scans),
        // the last open when the page is the end. `page.*` is the columns in the order
        // `as_select` lists them. The count is an uncorrelated subquery: evaluated once. Keys
        // and values are aggregated in the same key order, so they pair up.
        out.push_sql(
            "SELECT page.*, (SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM monitor_counts), \
             COALESCE(labels.keys, '{}'), COALESCE(labels.vals, '{}') FROM (SELECT ",
        );
        self.columns.walk_ast(out.reborrow())?;
        out.push_sql(" FROM monitors ORDER BY monitors.id LIMIT (SELECT ");
        out.push_bind_param::<BigInt, _>(&self.limit)?;
        out.push_sql(") OFFSET (SELECT ");
        out.push_bind_param::<BigInt, _>(&self.offset)?;
        out.push_sql(
            ")) page LEFT JOIN (SELECT l.monitor_id, \
             ARRAY_AGG(l.key ORDER BY l.key) AS keys, ARRAY_AGG(l.value ORDER BY l.key) AS vals \
             FROM monitor_labels l \
             WHERE l.monitor_id >= (SELECT id FROM monitors ORDER BY id LIMIT 1 OFFSET (SELECT ",
        );
        out.push_bind_param::<BigInt, _>(&self.offset)?;
        out.push_sql(
            ")) AND l.monitor_id <= COALESCE((SELECT id FROM monitors ORDER BY id LIMIT 1 \
             OFFSET (SELECT ",
        );
        out.push_bind_param::<BigInt, _>(&self.last)?;
        out.push_sql(
            ")), 9223372036854775807) GROUP BY l.monitor_id) labels \
             ON labels.monitor_id = page.id ORDER BY page.id",
        );
        Ok(())
    }
}

type Row = (MonitorApiRow, i64, Vec<String>, Vec<String>);

pub(super) fn page_rows(c: &mut PgConnection, limit: i64, offset: i64) -> QueryResult<PageRows> {
    let page = Page {
        limit,
        offset,
        last: offset.saturating_add(limit).saturating_sub(1),
        columns: MonitorApiRow::as_select(),
    };
    let loaded: Vec<Row> = page.load(c)?;
    // A page past the end has no row to carry the count: ask for it alone.
    let total = match loaded.first() {
        Some((_, total, _, _)) => *total,
        None => super::count_counters(c)?,
    };
    let mut rows = Vec::with_capacity(loaded.len());
    let mut labels = Vec::new();
    for (row, _, keys, values) in loaded {
        labels.extend(keys.into_iter().zip(values).map(|(key, value)| LabelRow {
            monitor_id: row.id,
            key,
            value,
        }));
        rows.push(row);
    }
    Ok(PageRows {
        rows,
        labels,
        total,
    })
}
