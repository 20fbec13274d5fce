//! SQL checks: a read-only query against a configured data source (PostgreSQL, MySQL/MariaDB).
//!
//! Read-only twice over: the query is wrapped as a subquery (`SELECT … FROM (<query>) q LIMIT
//! n`), so it must be a single SELECT (MySQL would run a DDL statement even inside a read-only
//! transaction, committing first), and it runs in a read-only transaction with a server-side
//! statement time limit. Connections are kept per source between checks.

mod mysql;
mod postgres;

use crate::config::DataSource;
use crate::engine::Error;
use shared::check::{CheckOutcome, CheckStatus, OnEmpty, SqlCheck, SqlSubject, Threshold, excerpt};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Added to syntax errors, which the wrapping makes of any statement but a SELECT.
const SUBQUERY_HINT: &str = "; the query runs as a subquery, so it must be a single SELECT";
/// Rows shown in the evidence.
const SHOWN_ROWS: usize = 10;
/// A longer cell is cut in the evidence.
const CELL_CHARS: usize = 200;

/// What a query returned: column names (unknown when no row came back) and up to
/// `max_rows + 1` rows, cells as text (`None` is SQL NULL).
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

enum Source {
    Postgres(postgres::Pg),
    Mysql(mysql::My),
    /// A URL the drivers cannot use; checks on it are errors saying why.
    Broken(String),
}

pub(super) struct Sources {
    by_name: BTreeMap<String, (Source, usize)>,
}

impl Sources {
    pub(super) fn new(config: &BTreeMap<String, DataSource>) -> Self {
        let by_name = config
            .iter()
            .map(|(name, d)| {
                let url = d.url.expose();
                let source = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                    Source::Postgres(postgres::Pg::new(d.url.clone()))
                } else {
                    match mysql::My::new(url) {
                        Ok(m) => Source::Mysql(m),
                        Err(e) => Source::Broken(format!("data source `{name}`: {e}")),
                    }
                };
                (name.clone(), (source, d.max_rows.max(1)))
            })
            .collect();
        Self { by_name }
    }

    pub(super) fn knows(&self, name: &str, field: &str) -> Result<(), Error> {
        if self.by_name.contains_key(name) {
            return Ok(());
        }
        Err(Error::invalid(
            field,
            format!(
                "no data source named `{name}` in inspection.datasources (configured: {})",
                crate::engine::names(self.by_name.keys())
            ),
        ))
    }

    pub(super) async fn evaluate(&self, check: &SqlCheck) -> CheckOutcome {
        let threshold = match Threshold::parse(&check.condition) {
            Ok(t) => t,
            Err(e) => return CheckOutcome::error(e, 0),
        };
        let Some((source, max_rows)) = self.by_name.get(&check.source) else {
            return CheckOutcome::error(format!("no data source named `{}`", check.source), 0);
        };
        let sql = wrap(&check.query, *max_rows);
        let table = match source {
            Source::Postgres(pg) => pg.query(sql, check.timeout_ms).await,
            Source::Mysql(my) => my.query(&sql, check.timeout_ms).await,
            Source::Broken(why) => Err(why.clone()),
        };
        match table {
            Ok(t) => judge(check, &threshold, t, *max_rows),
            Err(e) => CheckOutcome::error(e, 0),
        }
    }
}

/// The query as a subquery, limited to one row more than is kept (to tell that rows were cut).
/// Trailing `;` and whitespace are dropped: they are not allowed inside the parentheses.
fn wrap(query: &str, max_rows: usize) -> Wrapped {
    let inner = query
        .trim()
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    Wrapped {
        inner: inner.to_string(),
        limit: max_rows.saturating_add(1),
    }
}

/// A query ready for a driver: each backend builds its own outer SELECT around `inner`, with
/// a line break before the closing parenthesis so a trailing `-- comment` cannot swallow it.
#[derive(Debug, Clone)]
pub(super) struct Wrapped {
    pub inner: String,
    pub limit: usize,
}

/// pass / fail from the first column of the first row, or from the number of rows.
fn judge(check: &SqlCheck, t: &Threshold, mut table: Table, max_rows: usize) -> CheckOutcome {
    let capped = table.rows.len() > max_rows;
    table.rows.truncate(max_rows);
    let observed = match check.subject {
        SqlSubject::RowCount => Some(table.rows.len().to_string()),
        SqlSubject::Value => table.rows.first().map(|r| {
            r.first()
                .cloned()
                .flatten()
                .unwrap_or_else(|| "null".into())
        }),
    };
    // A count is never empty (0 is a count); a value is missing when no row came back.
    let status = match &observed {
        Some(v) if t.holds(v) => CheckStatus::Pass,
        Some(_) => CheckStatus::Fail,
        None => match check.on_empty {
            OnEmpty::Pass => CheckStatus::Pass,
            OnEmpty::Fail => CheckStatus::Fail,
            OnEmpty::Error => CheckStatus::Error,
        },
    };
    let mut evidence = render(&table, capped);
    if observed.is_none() {
        let _ = write!(evidence, " (on_empty: {})", status.as_str());
    }
    CheckOutcome {
        status,
        value: observed,
        evidence: excerpt(&evidence),
        duration_ms: 0,
    }
}

/// `N rows` (saying when they were capped), the column names and the first rows, `|`-separated.
fn render(table: &Table, capped: bool) -> String {
    let n = table.rows.len();
    let mut s = match (n, capped) {
        (0, _) => "no rows".to_string(),
        (n, true) => format!("{n} rows (capped at max_rows = {n}; there are more)"),
        (1, false) => "1 row".to_string(),
        (n, false) => format!("{n} rows"),
    };
    if n == 0 {
        return s;
    }
    let _ = write!(s, "\n{}", table.columns.join(" | "));
    for row in table.rows.iter().take(SHOWN_ROWS) {
        let cells: Vec<String> = row
            .iter()
            .map(|c| match c {
                None => "null".to_string(),
                Some(v) if v.chars().count() > CELL_CHARS => {
                    format!("{}…", v.chars().take(CELL_CHARS).collect::<String>())
                }
                Some(v) => v.replace('\n', " "),
            })
            .collect();
        let _ = write!(s, "\n{}", cells.join(" | "));
    }
    if n > SHOWN_ROWS {
        let _ = write!(s, "\n… {} more rows", n - SHOWN_ROWS);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(subject: SqlSubject, condition: &str, on_empty: OnEmpty) -> SqlCheck {
        SqlCheck {
            source: "default".into(),
            query: "SELECT 1".into(),
            condition: condition.into(),
            subject,
            on_empty,
            timeout_ms: 1000,
        }
    }

    fn table(rows: &[&[Option<&str>]]) -> Table {
        Table {
            columns: vec!["a".into(), "b".into()],
            rows: rows
                .iter()
                .map(|r| r.iter().map(|c| c.map(str::to_string)).collect())
                .collect(),
        }
    }

    fn run(c: &SqlCheck, t: Table, max_rows: usize) -> CheckOutcome {
        judge(
            c,
            &Threshold::parse(&c.condition).expect("threshold"),
            t,
            max_rows,
        )
    }

    #[test]
    fn the_first_cell_is_the_value() {
        let t = table(&[&[Some("3"), Some("x")], &[Some("9"), None]]);
        let o = run(
            &check(SqlSubject::Value, "< 5", OnEmpty::Fail),
            t.clone(),
            100,
        );
        assert_eq!(
            (o.status, o.value.as_deref()),
            (CheckStatus::Pass, Some("3"))
        );
        assert_eq!(o.evidence, "2 rows\na | b\n3 | x\n9 | null");
        let o = run(&check(SqlSubject::Value, "> 5", OnEmpty::Fail), t, 100);
        assert_eq!(o.status, CheckStatus::Fail);
    }

    #[test]
    fn a_null_first_cell_reads_null() {
        let t = table(&[&[None, Some("x")]]);
        let o = run(&check(SqlSubject::Value, "== null", OnEmpty::Fail), t, 100);
        assert_eq!(
            (o.status, o.value.as_deref()),
            (CheckStatus::Pass, Some("null"))
        );
    }

    #[test]
    fn row_count_is_capped_at_max_rows_and_says_so() {
        let rows: Vec<&[Option<&str>]> = vec![&[Some("1"), None]; 4];
        let o = run(
            &check(SqlSubject::RowCount, "<= 3", OnEmpty::Fail),
            table(&rows),
            3,
        );
        assert_eq!(
            (o.status, o.value.as_deref()),
            (CheckStatus::Pass, Some("3"))
        );
        assert!(o.evidence.starts_with("3 rows (capped"), "{}", o.evidence);
    }

    #[test]
    fn no_rows_is_what_on_empty_says_for_a_value_but_zero_for_a_count() {
        for (on_empty, status) in [
            (OnEmpty::Pass, CheckStatus::Pass),
            (OnEmpty::Fail, CheckStatus::Fail),
            (OnEmpty::Error, CheckStatus::Error),
        ] {
            let o = run(
                &check(SqlSubject::Value, "> 0", on_empty),
                Table::default(),
                10,
            );
            assert_eq!((o.status, o.value), (status, None));
            assert!(
                o.evidence.starts_with("no rows (on_empty"),
                "{}",
                o.evidence
            );
        }
        let o = run(
            &check(SqlSubject::RowCount, "== 0", OnEmpty::Fail),
            Table::default(),
            10,
        );
        assert_eq!(
            (o.status, o.value.as_deref()),
            (CheckStatus::Pass, Some("0"))
        );
    }

    #[test]
    fn long_results_are_cut_in_the_evidence() {
        let long = "y".repeat(500);
        let row = [Some(long.as_str()), None];
        let rows: Vec<&[Option<&str>]> = vec![&row; 15];
        let o = run(
            &check(SqlSubject::RowCount, "> 0", OnEmpty::Fail),
            table(&rows),
            100,
        );
        assert_eq!(
            o.evidence.lines().count(),
            1 + 1 + SHOWN_ROWS + 1,
            "{}",
            o.evidence
        );
        assert!(o.evidence.ends_with("… 5 more rows"));
    }

    #[test]
    fn trailing_semicolons_are_dropped_before_wrapping() {
        let w = wrap("  SELECT 1 ;; \n", 5);
        assert_eq!((w.inner.as_str(), w.limit), ("SELECT 1", 6));
    }
}
