//! MySQL and MariaDB through mysql_async: a small pool per source, a server-side statement time
//! limit (MariaDB's `max_statement_time`, else MySQL's `max_execution_time`), `START
//! TRANSACTION READ ONLY`, and a prepared statement (which cannot carry a second statement).

use super::{Table, Wrapped};
use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts, TxOpts, Value};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// Which statement time limit the server took; learnt on first use.
const UNKNOWN: u8 = 0;
const MARIADB: u8 = 1;
const MYSQL: u8 = 2;
const NEITHER: u8 = 3;

/// Server errors meaning the time limit struck (MariaDB, MySQL).
const TIMED_OUT_CODES: [u16; 2] = [1969, 3024];
const SYNTAX_ERROR: u16 = 1064;

pub(super) struct My {
    pool: Pool,
    flavour: AtomicU8,
}

impl My {
    /// Builds the pool (it connects on first use); `mariadb://` is read as `mysql://`.
    pub(super) fn new(url: &str) -> Result<Self, String> {
        let url = match url.strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}"),
            None => url.to_string(),
        };
        let opts = Opts::from_url(&url).map_err(|e| format!("not a usable MySQL URL: {e}"))?;
        let small = PoolConstraints::new(0, 4).unwrap_or_default();
        let opts =
            OptsBuilder::from_opts(opts).pool_opts(PoolOpts::default().with_constraints(small));
        Ok(Self {
            pool: Pool::new(opts),
            flavour: AtomicU8::new(UNKNOWN),
        })
    }

    pub(super) async fn query(&self, w: &Wrapped, timeout_ms: u64) -> Result<Table, String> {
        // The server's limit should strike first; this bounds connecting and a server
        // that has neither limit.
        let limit = Duration::from_millis(timeout_ms) + Duration::from_millis(500);
        match tokio::time::timeout(limit, self.run(w, timeout_ms)).await {
            Ok(Ok(t)) => Ok(t),
            Ok(Err(Failed::Connect(e))) => {
                Err(format!("could not connect: {}", describe(&e, timeout_ms)))
            }
            Ok(Err(Failed::Query(e))) => Err(describe(&e, timeout_ms)),
            Err(_) => Err(format!("timed out after {timeout_ms} ms")),
        }
    }

    async fn run(&self, w: &Wrapped, timeout_ms: u64) -> Result<Table, Failed> {
        let mut conn = self.pool.get_conn().await.map_err(Failed::Connect)?;
        self.limit_time(&mut conn, timeout_ms).await?;
        let mut opts = TxOpts::new();
        opts.with_readonly(true);
        let mut tx = conn.start_transaction(opts).await?;
        let sql = format!("SELECT * FROM (\n{}\n) AS has_q LIMIT {}", w.inner, w.limit);
        let read = async {
            let mut result = tx.exec_iter(sql, ()).await?;
            let columns = result.columns_ref().to_vec();
            let rows: Vec<mysql_async::Row> = result.collect().await?;
            Ok::<_, mysql_async::Error>((columns, rows))
        }
        .await;
        tx.rollback().await?;
        let (columns, rows) = read?;
        Ok(Table {
            columns: columns.iter().map(|c| c.name_str().into_owned()).collect(),
            rows: rows
                .into_iter()
                .map(|r| {
                    r.unwrap()
                        .iter()
                        .zip(&columns)
                        .map(|(v, c)| cell(v, c.column_type()))
                        .collect()
                })
                .collect(),
        })
    }

    /// Sets this session's statement time limit, the MariaDB or the MySQL way.
    async fn limit_time(&self, conn: &mut Conn, timeout_ms: u64) -> Result<(), mysql_async::Error> {
        let flavour = self.flavour.load(Ordering::Relaxed);
        let tries = [
            (
                MARIADB,
                format!(
                    "SET SESSION max_statement_time = {:.3}",
                    timeout_ms as f64 / 1000.0
                ),
            ),
            (
                MYSQL,
                format!("SET SESSION max_execution_time = {timeout_ms}"),
            ),
        ];
        for (which, sql) in tries {
            if flavour != UNKNOWN && flavour != which {
                continue;
            }
            match conn.query_drop(sql).await {
                Ok(()) => {
                    self.flavour.store(which, Ordering::Relaxed);
                    return Ok(());
                }
                // Unknown variable: the other flavour.
                Err(mysql_async::Error::Server(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if flavour == UNKNOWN {
            tracing::warn!(
                "the data source has no statement time limit; \
                 only the client's timeout bounds queries"
            );
            self.flavour.store(NEITHER, Ordering::Relaxed);
        }
        Ok(())
    }
}

enum Failed {
    Connect(mysql_async::Error),
    Query(mysql_async::Error),
}

impl From<mysql_async::Error> for Failed {
    fn from(e: mysql_async::Error) -> Self {
        Self::Query(e)
    }
}

fn describe(e: &mysql_async::Error, timeout_ms: u64) -> String {
    match e {
        mysql_async::Error::Server(s) if TIMED_OUT_CODES.contains(&s.code) => {
            format!("timed out after {timeout_ms} ms ({})", s.message)
        }
        mysql_async::Error::Server(s) if s.code == SYNTAX_ERROR => {
            format!("{} (error {}){}", s.message, s.code, super::SUBQUERY_HINT)
        }
        mysql_async::Error::Server(s) => format!("{} (error {})", s.message, s.code),
        mysql_async::Error::Io(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// A cell as text, as the `mysql` client would print it; `None` is NULL.
fn cell(v: &Value, column: ColumnType) -> Option<String> {
    Some(match v {
        Value::NULL => return None,
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(n) => n.to_string(),
        Value::UInt(n) => n.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Double(f) => f.to_string(),
        Value::Date(y, m, d, ..)
            if matches!(
                column,
                ColumnType::MYSQL_TYPE_DATE | ColumnType::MYSQL_TYPE_NEWDATE
            ) =>
        {
            format!("{y:04}-{m:02}-{d:02}")
        }
        Value::Date(y, mo, d, h, mi, s, us) => {
            format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{}", micros(*us))
        }
        Value::Time(neg, days, h, mi, s, us) => {
            let hours = u64::from(*days) * 24 + u64::from(*h);
            let sign = if *neg { "-" } else { "" };
            format!("{sign}{hours:02}:{mi:02}:{s:02}{}", micros(*us))
        }
    })
}

fn micros(us: u32) -> String {
    if us == 0 {
        String::new()
    } else {
        format!(".{us:06}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_as_the_mysql_client_prints_them() {
        let dt = ColumnType::MYSQL_TYPE_DATETIME;
        let cases = [
            (Value::NULL, dt, None),
            (
                Value::Bytes(b"12.50".to_vec()),
                ColumnType::MYSQL_TYPE_NEWDECIMAL,
                Some("12.50"),
            ),
            (Value::Int(-3), ColumnType::MYSQL_TYPE_LONG, Some("-3")),
            (
                Value::UInt(18_446_744_073_709_551_615),
                ColumnType::MYSQL_TYPE_LONGLONG,
                Some("18446744073709551615"),
            ),
            (
                Value::Double(0.25),
                ColumnType::MYSQL_TYPE_DOUBLE,
                Some("0.25"),
            ),
            (
                Value::Date(2024, 2, 29, 0, 0, 0, 0),
                ColumnType::MYSQL_TYPE_DATE,
                Some("2024-02-29"),
            ),
            (
                Value::Date(2024, 2, 29, 13, 5, 9, 0),
                dt,
                Some("2024-02-29 13:05:09"),
            ),
            (
                Value::Date(2024, 2, 29, 13, 5, 9, 120),
                dt,
                Some("2024-02-29 13:05:09.000120"),
            ),
            (
                Value::Time(true, 1, 2, 3, 4, 0),
                ColumnType::MYSQL_TYPE_TIME,
                Some("-26:03:04"),
            ),
        ];
        for (v, ty, want) in cases {
            assert_eq!(cell(&v, ty).as_deref(), want, "{v:?}");
        }
    }

    #[test]
    fn urls_the_driver_cannot_use_are_refused_with_the_reason() {
        let e = My::new("mysql://root@h:3306/db?no_such_param=1")
            .err()
            .expect("refused");
        assert!(e.contains("no_such_param"), "{e}");
    }
}
