//! The unfiltered page of monitors on PostgreSQL in one statement: the page's rows, each with
//! its labels as two arrays, and the count of all monitors. SQLite answers in-process and keeps
//! three small statements; over the network each statement is a round trip, and three of them
//! made a PostgreSQL page cost four times a SQLite one.
//!
//! The statement has a fixed text and a static query id, so it stays in diesel's
//! prepared-statement cache (`sql_query` is prepared anew on every call: one more round trip).

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
        // The page first; its rows are every monitor with an id from its first to its last
        // (ids in order, no filter), so their labels are one range scan of the labels' primary
        // key, aggregated per monitor (two correlated subqueries per row cost PostgreSQL a
        // third more). `page.*` is the columns in the order `as_select` lists them. The count
        // is an uncorrelated subquery: evaluated once. Keys and values are aggregated in the
        // same key order, so they pair up.
        out.push_sql("WITH page AS (SELECT ");
        self.columns.walk_ast(out.reborrow())?;
        out.push_sql(" FROM monitors ORDER BY monitors.id LIMIT ");
        out.push_bind_param::<BigInt, _>(&self.limit)?;
        out.push_sql(" OFFSET ");
        out.push_bind_param::<BigInt, _>(&self.offset)?;
        out.push_sql(
            "), labels AS (SELECT l.monitor_id, \
             ARRAY_AGG(l.key ORDER BY l.key) AS keys, ARRAY_AGG(l.value ORDER BY l.key) AS vals \
             FROM monitor_labels l \
             WHERE l.monitor_id BETWEEN (SELECT MIN(id) FROM page) AND (SELECT MAX(id) FROM page) \
             GROUP BY l.monitor_id) \
             SELECT page.*, (SELECT COUNT(*) FROM monitors), \
             COALESCE(labels.keys, '{}'), COALESCE(labels.vals, '{}') \
             FROM page LEFT JOIN labels ON labels.monitor_id = page.id ORDER BY page.id",
        );
        Ok(())
    }
}

type Row = (MonitorApiRow, i64, Vec<String>, Vec<String>);

pub(super) fn page_rows(c: &mut PgConnection, limit: i64, offset: i64) -> QueryResult<PageRows> {
    let page = Page {
        limit,
        offset,
        columns: MonitorApiRow::as_select(),
    };
    let loaded: Vec<Row> = page.load(c)?;
    // A page past the end has no row to carry the count: ask for it alone.
    let total = match loaded.first() {
        Some((_, total, _, _)) => *total,
        None => crate::store::schema::monitors::table
            .count()
            .get_result(c)?,
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
