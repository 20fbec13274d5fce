//! PostgreSQL through diesel (libpq) on the blocking pool: `BEGIN READ ONLY`, `SET LOCAL
//! statement_timeout`, and each row as JSON so any columns can be read.

use super::{Table, Wrapped};
use diesel::r2d2::R2D2Connection;
use diesel::sql_types::{Nullable, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use shared::Secret;
use std::sync::{Arc, Mutex};

/// Idle connections kept per source.
const MAX_IDLE: usize = 4;

pub(super) struct Pg {
    url: Secret,
    idle: Arc<Mutex<Vec<PgConnection>>>,
}

#[derive(QueryableByName)]
struct JsonRow {
    /// `[[column, text or null], …]` in column order; NULL when the query has no columns.
    #[diesel(sql_type = Nullable<Text>)]
    cols: Option<String>,
}

impl Pg {
    pub(super) fn new(url: Secret) -> Self {
        Self {
            url,
            idle: Arc::default(),
        }
    }

    pub(super) async fn query(&self, w: Wrapped, timeout_ms: u64) -> Result<Table, String> {
        let url = self.url.clone();
        let idle = Arc::clone(&self.idle);
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            run(&url, &idle, &w, timeout_ms)
        })
        .await
        .map_err(|e| format!("the query task failed: {e}"))?
    }
}

fn run(
    url: &Secret,
    idle: &Mutex<Vec<PgConnection>>,
    w: &Wrapped,
    timeout_ms: u64,
) -> Result<Table, String> {
    let mut conn = checkout(url, idle, timeout_ms)?;
    // json_each_text keeps column order and duplicate names, and renders values as PostgreSQL
    // does (numeric digits intact), which row_to_json parsed into a map would not.
    let sql = format!(
        "SELECT (SELECT json_agg(json_build_array(e.k, e.v) ORDER BY e.n) \
         FROM json_each_text(row_to_json(q)) WITH ORDINALITY AS e(k, v, n))::text AS cols \
         FROM (\n{}\n) AS q LIMIT {}",
        w.inner, w.limit
    );
    let result = conn.build_transaction().read_only().run(|c| {
        diesel::sql_query(format!("SET LOCAL statement_timeout = {timeout_ms}")).execute(c)?;
        diesel::sql_query(&sql).load::<JsonRow>(c)
    });
    if !conn.is_broken()
        && let Ok(mut idle) = idle.lock()
        && idle.len() < MAX_IDLE
    {
        idle.push(conn);
    }
    match result {
        Ok(rows) => table(rows),
        Err(e) => Err(describe(&e, timeout_ms)),
    }
}

/// An idle connection that still answers, or a new one.
fn checkout(
    url: &Secret,
    idle: &Mutex<Vec<PgConnection>>,
    timeout_ms: u64,
) -> Result<PgConnection, String> {
    loop {
        let Some(mut conn) = idle.lock().ok().and_then(|mut v| v.pop()) else {
            break;
        };
        if conn.ping().is_ok() {
            return Ok(conn);
        }
    }
    PgConnection::establish(&with_connect_timeout(url.expose(), timeout_ms))
        .map_err(|e| format!("could not connect: {}", e.to_string().trim()))
}

/// Bounds connecting by the check's timeout (libpq's `connect_timeout`, at least 2 s) unless
/// the URL sets it.
fn with_connect_timeout(url: &str, timeout_ms: u64) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.query_pairs().any(|(k, _)| k == "connect_timeout") => {
            let secs = timeout_ms.div_ceil(1000).max(2);
            u.query_pairs_mut()
                .append_pair("connect_timeout", &secs.to_string());
            u.to_string()
        }
        _ => url.to_string(),
    }
}

fn table(rows: Vec<JsonRow>) -> Result<Table, String> {
    let mut t = Table::default();
    for (i, row) in rows.into_iter().enumerate() {
        let cells: Vec<(String, Option<String>)> = match row.cols {
            Some(json) => {
                serde_json::from_str(&json).map_err(|e| format!("unreadable row: {e}"))?
            }
            None => Vec::new(),
        };
        if i == 0 {
            t.columns = cells.iter().map(|(k, _)| k.clone()).collect();
        }
        t.rows.push(cells.into_iter().map(|(_, v)| v).collect());
    }
    Ok(t)
}

/// The server's message (and hint), saying so when the statement ran out of time.
fn describe(e: &diesel::result::Error, timeout_ms: u64) -> String {
    let msg = match e {
        diesel::result::Error::DatabaseError(_, info) => match info.hint() {
            Some(h) => format!("{} (hint: {h})", info.message()),
            None => info.message().to_string(),
        },
        other => other.to_string(),
    };
    if msg.contains("statement timeout") {
        format!("timed out after {timeout_ms} ms ({msg})")
    } else if msg.starts_with("syntax error") {
        format!("{msg}{}", super::SUBQUERY_HINT)
    } else {
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connecting_is_bounded_unless_the_url_says_otherwise() {
        assert_eq!(
            with_connect_timeout("postgres://u@h/db", 500),
            "postgres://u@h/db?connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("postgres://u@h/db?sslmode=require", 9_500),
            "postgres://u@h/db?sslmode=require&connect_timeout=10"
        );
        assert_eq!(
            with_connect_timeout("postgres://u@h/db?connect_timeout=1", 9_500),
            "postgres://u@h/db?connect_timeout=1"
        );
    }

    #[test]
    fn rows_keep_column_order_duplicates_and_nulls() {
        let rows = vec![
            JsonRow {
                cols: Some(r#"[["b","1"],["a",null],["b","x"]]"#.into()),
            },
            JsonRow { cols: None },
        ];
        let t = table(rows).expect("table");
        assert_eq!(t.columns, ["b", "a", "b"]);
        assert_eq!(t.rows[0], [Some("1".into()), None, Some("x".into())]);
        assert!(t.rows[1].is_empty());
        assert!(
            table(vec![JsonRow {
                cols: Some("{".into())
            }])
            .is_err()
        );
    }
}
