//! The one evaluator of checks (`engine::checks::Checker`) against real peers: pageinspect
//! probing local targets, a real Prometheus, the local PostgreSQL and MariaDB, and allow-listed
//! executables. `fail` is about the thing inspected; `error` says the check could not tell.

use acmangkut::config::{
    AllowedCommand, DataSource, ExecutorConfig, InspectionConfig, PrometheusSource,
    RestrictedCommand,
};
use acmangkut::engine::checks::Checker;
use acmangkut::engine::executor::Executor;
use diesel::{Connection, PgConnection, RunQueryDsl};
use futures::StreamExt;
use has_tests::prometheus::TestPrometheus;
use has_tests::{Targets, spawn_pageinspect};
use mysql_async::prelude::Queryable;
use shared::Secret;
use shared::check::{
    Check, CheckOutcome, CheckStatus, CommandCheck, OnEmpty, PromqlCheck, SqlCheck, SqlSubject,
};
use shared::pageinspect_client::PageinspectClient;
use shared::probe::{ProbeKind, ProbeSpec};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";
const MARIADB_ADMIN: &str = "mysql://root@127.0.0.1:3306/test";
const TOKEN: &str = "checks-service-token";

fn config() -> InspectionConfig {
    acmangkut::Config::default().inspection
}

/// The checker with an executor of its own on `c`'s commands and no host.
fn checker(c: &InspectionConfig, pageinspect: PageinspectClient) -> Checker {
    checker_with_hosts(c, &ExecutorConfig::default(), pageinspect)
}

fn checker_with_hosts(
    c: &InspectionConfig,
    hosts: &ExecutorConfig,
    pageinspect: PageinspectClient,
) -> Checker {
    let outbound = has_tests::outbound();
    let executor = Executor::new(c, hosts, &outbound).expect("executor");
    Checker::new(c, pageinspect, &outbound, Arc::new(executor)).expect("checker")
}

/// A pageinspect client for checks that never reach it.
fn no_pageinspect() -> PageinspectClient {
    PageinspectClient::new(
        &format!("http://127.0.0.1:{}", closed_port()),
        None,
        &has_tests::outbound(),
    )
    .expect("client")
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn promql(source: &str, query: &str, condition: &str, on_empty: OnEmpty) -> Check {
    Check::Promql(PromqlCheck {
        source: source.into(),
        query: query.into(),
        condition: condition.into(),
        on_empty,
        timeout_ms: 5_000,
    })
}

fn sql(query: &str, condition: &str) -> SqlCheck {
    SqlCheck {
        source: "db".into(),
        query: query.into(),
        condition: condition.into(),
        subject: SqlSubject::Value,
        on_empty: OnEmpty::Fail,
        timeout_ms: 5_000,
    }
}

fn command(name: &str, args: &[&str]) -> CommandCheck {
    CommandCheck {
        host: None,
        command: name.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        timeout_ms: 5_000,
        expect_exit_code: 0,
        stdout_contains: None,
        stdout_not_contains: None,
        output_condition: None,
    }
}

#[track_caller]
fn assert_outcome(o: &CheckOutcome, status: CheckStatus, value: Option<&str>) {
    assert_eq!(
        (o.status, o.value.as_deref()),
        (status, value),
        "evidence: {}",
        o.evidence
    );
}

// ---------------------------------------------------------------- probes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_checks_probes_pass_for_a_healthy_page_and_fail_for_a_broken_one() {
    let (pi, handle) = spawn_pageinspect(Some(TOKEN)).await;
    let targets = Targets::start().await;
    let mut c = config();
    c.probe_batch_size = 2;
    c.commands = BTreeMap::from([("echo".to_string(), AllowedCommand::Path("/bin/echo".into()))]);
    let client = PageinspectClient::new(&pi, Some(Secret::new(TOKEN)), &has_tests::outbound())
        .expect("client");
    let checker = Arc::new(checker(&c, client));
    let http = |path: &str| Check::Probe(ProbeSpec::new(ProbeKind::Http, targets.url(path)));
    let refused = format!("127.0.0.1:{}", targets.refused_port);
    let checks = vec![
        http("/healthy"),
        http("/500"),
        Check::Command(command("echo", &["ok"])),
        Check::Probe(ProbeSpec::new(
            ProbeKind::Http,
            format!("http://{refused}/"),
        )),
        Check::Probe(ProbeSpec::new(ProbeKind::Tcp, refused)),
        http("/healthy"),
    ];

    let mut outcomes: Vec<(usize, CheckOutcome)> = checker.evaluate_all(checks, 2).collect().await;
    outcomes.sort_by_key(|(i, _)| *i);

    let statuses: Vec<_> = outcomes.iter().map(|(_, o)| o.status).collect();
    use CheckStatus::*;
    assert_eq!(
        statuses,
        [Pass, Fail, Pass, Fail, Fail, Pass],
        "{outcomes:#?}"
    );
    assert_outcome(&outcomes[0].1, Pass, Some("200"));
    assert_outcome(&outcomes[1].1, Fail, Some("500"));
    assert!(
        outcomes[3].1.evidence.contains("connection_refused"),
        "{}",
        outcomes[3].1.evidence
    );
    handle.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_checks_an_unreachable_executor_is_an_error_not_a_failure() {
    let targets = Targets::start().await;
    let checker = Arc::new(checker(&config(), no_pageinspect()));
    let probe = Check::Probe(ProbeSpec::new(ProbeKind::Http, targets.url("/healthy")));

    let one = checker.evaluate(&probe).await;
    let all: Vec<_> = checker
        .evaluate_all(vec![probe.clone(), probe], 4)
        .collect()
        .await;

    assert_outcome(&one, CheckStatus::Error, None);
    assert!(
        one.evidence.starts_with("executor unavailable: "),
        "{}",
        one.evidence
    );
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|(_, o)| o.status == CheckStatus::Error));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_checks_a_rejected_token_is_an_error_not_a_failure() {
    let (pi, handle) = spawn_pageinspect(Some(TOKEN)).await;
    let targets = Targets::start().await;
    let wrong = PageinspectClient::new(
        &pi,
        Some(Secret::new("not-the-token")),
        &has_tests::outbound(),
    )
    .expect("client");
    let checker = checker(&config(), wrong);

    let o = checker
        .evaluate(&Check::Probe(ProbeSpec::new(
            ProbeKind::Http,
            targets.url("/healthy"),
        )))
        .await;

    assert_outcome(&o, CheckStatus::Error, None);
    assert!(o.evidence.contains("401"), "{}", o.evidence);
    handle.stop(true).await;
}

// ---------------------------------------------------------------- PromQL

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_checks_promql_holds_every_sample_to_the_condition() {
    let prom = TestPrometheus::start().await;
    prom.set(r#"has_test_disk_usage{disk="a"}"#, 0.5);
    prom.set(r#"has_test_disk_usage{disk="b"}"#, 0.95);
    prom.wait_for(r#"count(has_test_disk_usage) == 2"#).await;
    let mut c = config();
    c.prometheus = BTreeMap::from([(
        "default".to_string(),
        PrometheusSource {
            url: prom.url.clone(),
            bearer_token: None,
        },
    )]);
    let checker = checker(&c, no_pageinspect());

    let all = checker
        .evaluate(&promql(
            "default",
            "has_test_disk_usage",
            "< 0.9",
            OnEmpty::Fail,
        ))
        .await;
    let one = checker
        .evaluate(&promql(
            "default",
            r#"has_test_disk_usage{disk="a"}"#,
            "< 0.9",
            OnEmpty::Fail,
        ))
        .await;
    let scalar = checker
        .evaluate(&promql(
            "default",
            "scalar(sum(has_test_disk_usage))",
            "> 1",
            OnEmpty::Fail,
        ))
        .await;

    assert_outcome(&all, CheckStatus::Fail, Some("0.95"));
    assert!(
        all.evidence
            .contains(r#"has_test_disk_usage{disk="b",instance="#),
        "{}",
        all.evidence
    );
    assert!(
        all.evidence
            .starts_with("2 series, 1 not satisfying `< 0.9`")
    );
    assert_outcome(&one, CheckStatus::Pass, Some("0.5"));
    assert_outcome(&scalar, CheckStatus::Pass, Some("1.45"));

    // A value changed at the source is seen on the next scrape.
    prom.set(r#"has_test_disk_usage{disk="b"}"#, 0.6);
    prom.wait_for(r#"has_test_disk_usage{disk="b"} < 0.9"#)
        .await;
    let again = checker
        .evaluate(&promql(
            "default",
            "has_test_disk_usage",
            "< 0.9",
            OnEmpty::Fail,
        ))
        .await;
    assert_outcome(&again, CheckStatus::Pass, Some("0.6"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_checks_promql_empty_results_and_bad_queries() {
    let prom = TestPrometheus::start().await;
    let mut c = config();
    c.prometheus = BTreeMap::from([
        (
            "default".to_string(),
            PrometheusSource {
                url: prom.url.clone(),
                bearer_token: None,
            },
        ),
        (
            "gone".to_string(),
            PrometheusSource {
                url: format!("http://127.0.0.1:{}", closed_port()),
                bearer_token: Some(Secret::new("t")),
            },
        ),
    ]);
    let checker = checker(&c, no_pageinspect());

    for (on_empty, status) in [
        (OnEmpty::Pass, CheckStatus::Pass),
        (OnEmpty::Fail, CheckStatus::Fail),
        (OnEmpty::Error, CheckStatus::Error),
    ] {
        let o = checker
            .evaluate(&promql(
                "default",
                "has_test_no_such_series",
                "> 0",
                on_empty,
            ))
            .await;
        assert_outcome(&o, status, None);
        assert!(o.evidence.contains("no series"), "{}", o.evidence);
    }
    let bad = checker
        .evaluate(&promql("default", "sum(rate(", "> 0", OnEmpty::Fail))
        .await;
    assert_outcome(&bad, CheckStatus::Error, None);
    assert!(bad.evidence.contains("parse error"), "{}", bad.evidence);
    let range = checker
        .evaluate(&promql("default", "up[1m]", "> 0", OnEmpty::Fail))
        .await;
    assert_outcome(&range, CheckStatus::Error, None);
    let down = checker
        .evaluate(&promql("gone", "up", "> 0", OnEmpty::Fail))
        .await;
    assert_outcome(&down, CheckStatus::Error, None);
    assert!(down.evidence.contains("unreachable"), "{}", down.evidence);
}

#[tokio::test]
async fn inspection_checks_an_unknown_source_is_refused_naming_the_parameter() {
    let checker = checker(&config(), no_pageinspect());
    let cases = [
        promql("nowhere", "up", "> 0", OnEmpty::Fail),
        Check::Sql(SqlCheck {
            source: "nowhere".into(),
            ..sql("SELECT 1", "== 1")
        }),
    ];
    for check in cases {
        let e = shared::ApiError::from(
            checker
                .validate(&check, "params.")
                .expect_err("an unknown source"),
        );
        assert_eq!(e.field.as_deref(), Some("params.source"), "{e}");
        assert!(e.detail.contains("`nowhere`"), "{e}");
        let o = checker.evaluate(&check).await;
        assert_outcome(&o, CheckStatus::Error, None);
        assert!(o.evidence.contains("nowhere"), "{}", o.evidence);
    }
}

// ---------------------------------------------------------------- SQL: PostgreSQL

/// A fresh PostgreSQL database `has_chk_<uuid>` with `items`, dropped on drop.
struct PgDb {
    name: String,
    url: String,
}

impl PgDb {
    fn new() -> Self {
        let name = format!("has_chk_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(PG_ADMIN).expect("PostgreSQL on 127.0.0.1:5432");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create database");
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        let db = Self { name, url };
        let mut conn = db.connect();
        for sql in [
            "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int)",
            "INSERT INTO items VALUES (1, 'apple', 5), (2, 'pear', 0), (3, 'fig', NULL)",
            // Writes from inside a SELECT: only the read-only transaction stops these.
            "CREATE FUNCTION zap() RETURNS void LANGUAGE sql AS 'DELETE FROM items'",
        ] {
            diesel::sql_query(sql).execute(&mut conn).expect(sql);
        }
        db
    }

    fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect")
    }

    fn count(&self) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query("SELECT count(*) AS n FROM items")
            .get_result::<N>(&mut self.connect())
            .expect("count")
            .n
    }

    fn checker(&self, max_rows: usize) -> Checker {
        let mut c = config();
        c.datasources = BTreeMap::from([(
            "db".to_string(),
            DataSource {
                url: Secret::new(self.url.clone()),
                max_rows,
            },
        )]);
        checker(&c, no_pageinspect())
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(PG_ADMIN) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

/// `(query, condition, status, value)`: each evaluated as a value check.
type Case = (
    &'static str,
    &'static str,
    CheckStatus,
    Option<&'static str>,
);

/// What PostgreSQL and MariaDB judge alike (both databases hold the same `items`), plus
/// `extra`: the first value of the first row, its evidence, and the row count capped at
/// `max_rows = 2`.
async fn judges_the_first_value_or_the_row_count(checker: &Checker, extra: &[Case]) {
    let common: [Case; 3] = [
        (
            "SELECT count(*) AS n, 'x' AS y FROM items;",
            "== 3",
            CheckStatus::Pass,
            Some("3"),
        ),
        (
            "SELECT qty FROM items WHERE id = 2",
            "> 0",
            CheckStatus::Fail,
            Some("0"),
        ),
        (
            "SELECT qty FROM items WHERE id = 3",
            "== null",
            CheckStatus::Pass,
            Some("null"),
        ),
    ];
    for (query, condition, status, value) in common.iter().chain(extra) {
        let o = checker.evaluate(&Check::Sql(sql(query, condition))).await;
        assert_outcome(&o, *status, *value);
        if query.starts_with("SELECT count(*)") {
            assert_eq!(o.evidence, "1 row\nn | y\n3 | x");
        }
    }
    let rows = checker
        .evaluate(&Check::Sql(SqlCheck {
            subject: SqlSubject::RowCount,
            ..sql("SELECT * FROM items ORDER BY id -- all of them", ">= 2")
        }))
        .await;
    assert_outcome(&rows, CheckStatus::Pass, Some("2"));
    assert!(
        rows.evidence.starts_with(
            "2 rows (capped at max_rows = 2; there are more)\nid | name | qty\n1 | apple | 5"
        ),
        "{}",
        rows.evidence
    );
}

/// A syntax error (its message contains `syntax`) and a query slower than its timeout are
/// errors, the timeout is kept, and the connection is good for the next check.
async fn bad_queries_and_slow_ones_are_errors(checker: &Checker, syntax_says: &str, slow: &str) {
    let syntax = checker.evaluate(&Check::Sql(sql("SELEC 1", "> 0"))).await;
    let started = Instant::now();
    let slow = checker
        .evaluate(&Check::Sql(SqlCheck {
            timeout_ms: 500,
            ..sql(slow, "> 0")
        }))
        .await;
    let took = started.elapsed();
    // The connection the timeout cancelled on is still good for the next check.
    let after = checker.evaluate(&Check::Sql(sql("SELECT 1", "== 1"))).await;

    assert_outcome(&syntax, CheckStatus::Error, None);
    assert!(syntax.evidence.contains(syntax_says), "{}", syntax.evidence);
    assert_outcome(&slow, CheckStatus::Error, None);
    assert!(
        slow.evidence.starts_with("timed out after 500 ms"),
        "{}",
        slow.evidence
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_outcome(&after, CheckStatus::Pass, Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_checks_sql_on_postgresql_judges_the_first_value_or_the_row_count() {
    let db = PgDb::new();
    let text: Case = (
        "SELECT name FROM items ORDER BY id -- the first one",
        "== 'apple'",
        CheckStatus::Pass,
        Some("apple"),
    );
    judges_the_first_value_or_the_row_count(&db.checker(2), &[text]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_checks_sql_on_postgresql_no_rows_is_what_on_empty_says() {
    let db = PgDb::new();
    let checker = db.checker(100);
    for (on_empty, status) in [
        (OnEmpty::Pass, CheckStatus::Pass),
        (OnEmpty::Fail, CheckStatus::Fail),
        (OnEmpty::Error, CheckStatus::Error),
    ] {
        let o = checker
            .evaluate(&Check::Sql(SqlCheck {
                on_empty,
                ..sql("SELECT qty FROM items WHERE id = 99", "> 0")
            }))
            .await;
        assert_outcome(&o, status, None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_checks_sql_on_postgresql_cannot_write() {
    let db = PgDb::new();
    let checker = db.checker(100);
    let cases = [
        ("DELETE FROM items", "syntax error"),
        ("INSERT INTO items VALUES (4, 'kiwi', 1)", "syntax error"),
        (
            "WITH d AS (DELETE FROM items RETURNING id) SELECT count(*) FROM d",
            "data-modifying",
        ),
        ("SELECT zap()", "read-only transaction"),
        (
            "SELECT 1) q; DELETE FROM items; SELECT * FROM (SELECT 1",
            "multiple commands",
        ),
    ];
    for (query, why) in cases {
        let o = checker.evaluate(&Check::Sql(sql(query, "> 0"))).await;
        assert_outcome(&o, CheckStatus::Error, None);
        assert!(o.evidence.contains(why), "{query}: {}", o.evidence);
    }
    assert_eq!(db.count(), 3, "every row is still there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_checks_sql_on_postgresql_bad_queries_and_slow_ones_are_errors() {
    let db = PgDb::new();
    bad_queries_and_slow_ones_are_errors(&db.checker(100), "syntax error", "SELECT pg_sleep(5)")
        .await;
}

// ---------------------------------------------------------------- SQL: MariaDB

/// A fresh MariaDB database `has_chk_<uuid>` with `items`, dropped on drop.
struct MariaDb {
    name: String,
}

impl MariaDb {
    async fn new() -> Self {
        let name = format!("has_chk_{}", uuid::Uuid::new_v4().simple());
        let mut admin = mysql_async::Conn::from_url(MARIADB_ADMIN)
            .await
            .expect("MariaDB on 127.0.0.1:3306");
        admin
            .query_drop(format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let mut conn = mysql_async::Conn::from_url(format!("mysql://root@127.0.0.1:3306/{name}"))
            .await
            .expect("connect");
        for sql in [
            "CREATE TABLE items (id INT PRIMARY KEY, name TEXT NOT NULL, qty INT)",
            "INSERT INTO items VALUES (1, 'apple', 5), (2, 'pear', 0), (3, 'fig', NULL)",
            "CREATE FUNCTION zap() RETURNS INT MODIFIES SQL DATA \
             BEGIN DELETE FROM items; RETURN 1; END",
        ] {
            conn.query_drop(sql).await.expect(sql);
        }
        let _ = conn.disconnect().await;
        let _ = admin.disconnect().await;
        Self { name }
    }

    async fn count(&self) -> Option<i64> {
        let mut conn =
            mysql_async::Conn::from_url(format!("mysql://root@127.0.0.1:3306/{}", self.name))
                .await
                .expect("connect");
        let n = conn
            .query_first("SELECT count(*) FROM items")
            .await
            .ok()
            .flatten();
        let _ = conn.disconnect().await;
        n
    }

    /// Configured as `mariadb://`, the scheme MariaDB users write.
    fn checker(&self, max_rows: usize) -> Checker {
        let mut c = config();
        c.datasources = BTreeMap::from([(
            "db".to_string(),
            DataSource {
                url: Secret::new(format!("mariadb://root@127.0.0.1:3306/{}", self.name)),
                max_rows,
            },
        )]);
        checker(&c, no_pageinspect())
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {}", self.name);
        // Drop runs inside the test's runtime: drop the database from a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut admin = mysql_async::Conn::from_url(MARIADB_ADMIN).await.ok()?;
                admin.query_drop(sql).await.ok()?;
                admin.disconnect().await.ok()
            })
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_checks_sql_on_mariadb_judges_the_first_value_or_the_row_count() {
    let db = MariaDb::new().await;
    let checker = db.checker(2);
    let decimal: Case = (
        "SELECT CAST(2.50 AS DECIMAL(5,2)) AS d",
        "> 2.4",
        CheckStatus::Pass,
        Some("2.50"),
    );
    judges_the_first_value_or_the_row_count(&checker, &[decimal]).await;
    let empty = checker
        .evaluate(&Check::Sql(SqlCheck {
            on_empty: OnEmpty::Pass,
            ..sql("SELECT qty FROM items WHERE id = 99", "> 0")
        }))
        .await;
    assert_outcome(&empty, CheckStatus::Pass, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_checks_sql_on_mariadb_cannot_write() {
    let db = MariaDb::new().await;
    let checker = db.checker(100);
    let cases = [
        "DELETE FROM items",
        "INSERT INTO items VALUES (4, 'kiwi', 1)",
        // DDL commits implicitly, even in a read-only transaction: only the wrapping stops it.
        "DROP TABLE items",
        "SELECT zap()",
        "SELECT 1) q; DELETE FROM items; SELECT * FROM (SELECT 1",
    ];
    for query in cases {
        let o = checker.evaluate(&Check::Sql(sql(query, "> 0"))).await;
        assert_outcome(&o, CheckStatus::Error, None);
        assert!(o.evidence.contains("(error "), "{query}: {}", o.evidence);
    }
    let zap = checker
        .evaluate(&Check::Sql(sql("SELECT zap()", "> 0")))
        .await;
    assert!(zap.evidence.contains("READ ONLY"), "{}", zap.evidence);
    assert_eq!(
        db.count().await,
        Some(3),
        "the table and every row are still there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_checks_sql_on_mariadb_bad_queries_and_slow_ones_are_errors() {
    let db = MariaDb::new().await;
    bad_queries_and_slow_ones_are_errors(&db.checker(100), "SQL syntax", "SELECT SLEEP(5) AS s")
        .await;
}

#[tokio::test]
async fn inspection_checks_sql_an_unreachable_database_is_an_error() {
    let mut c = config();
    let port = closed_port();
    c.datasources = BTreeMap::from([
        (
            "pg".to_string(),
            DataSource {
                url: Secret::new(format!("postgres://postgres@127.0.0.1:{port}/x")),
                max_rows: 10,
            },
        ),
        (
            "my".to_string(),
            DataSource {
                url: Secret::new(format!("mysql://root@127.0.0.1:{port}/x")),
                max_rows: 10,
            },
        ),
    ]);
    let checker = checker(&c, no_pageinspect());
    for source in ["pg", "my"] {
        let o = checker
            .evaluate(&Check::Sql(SqlCheck {
                source: source.into(),
                ..sql("SELECT 1", "== 1")
            }))
            .await;
        assert_outcome(&o, CheckStatus::Error, None);
        assert!(o.duration_ms < 3_000, "{source}: {o:?}");
    }
}

// ---------------------------------------------------------------- commands

fn allowed() -> BTreeMap<String, AllowedCommand> {
    [
        ("echo", "/bin/echo"),
        ("false", "/bin/false"),
        ("sleep", "/bin/sleep"),
        ("printf", "/usr/bin/printf"),
        ("env", "/usr/bin/env"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), AllowedCommand::Path(v.into())))
    .collect()
}

fn command_checker(commands: BTreeMap<String, AllowedCommand>) -> Checker {
    let mut c = config();
    c.commands = commands;
    checker(&c, no_pageinspect())
}

#[tokio::test]
async fn inspection_checks_commands_pass_on_the_expected_exit_code_and_output() {
    let checker = command_checker(allowed());
    let run = |c: CommandCheck| {
        let checker = &checker;
        async move { checker.evaluate(&Check::Command(c)).await }
    };

    let hello = run(CommandCheck {
        stdout_contains: Some("hello".into()),
        stdout_not_contains: Some("ERROR".into()),
        ..command("echo", &["hello", "world"])
    })
    .await;
    let failing = run(command("false", &[])).await;
    let expected_failure = run(CommandCheck {
        expect_exit_code: 1,
        ..command("false", &[])
    })
    .await;
    let missing = run(CommandCheck {
        stdout_contains: Some("bye".into()),
        ..command("echo", &["hello"])
    })
    .await;
    let low = run(CommandCheck {
        output_condition: Some("< 80".into()),
        ..command("printf", &["42"])
    })
    .await;
    let high = run(CommandCheck {
        output_condition: Some("< 80".into()),
        ..command("printf", &["93"])
    })
    .await;
    // Arguments reach the program as they are: no shell expands them.
    let literal = run(CommandCheck {
        output_condition: Some("== '$(id) `id` ; *'".into()),
        ..command("echo", &["$(id) `id` ; *"])
    })
    .await;

    assert_outcome(&hello, CheckStatus::Pass, Some("0"));
    assert!(hello.evidence.contains("hello world"), "{}", hello.evidence);
    assert_outcome(&failing, CheckStatus::Fail, Some("1"));
    assert!(failing.evidence.starts_with("exit code 1, expected 0"));
    assert_outcome(&expected_failure, CheckStatus::Pass, Some("1"));
    assert_outcome(&missing, CheckStatus::Fail, Some("0"));
    assert!(
        missing
            .evidence
            .starts_with("stdout does not contain \"bye\"")
    );
    assert_outcome(&low, CheckStatus::Pass, Some("0"));
    assert_outcome(&high, CheckStatus::Fail, Some("0"));
    assert_outcome(&literal, CheckStatus::Pass, Some("0"));
}

#[tokio::test]
async fn inspection_checks_commands_get_a_clean_environment() {
    let checker = command_checker(allowed());

    let o = checker.evaluate(&Check::Command(command("env", &[]))).await;

    assert_outcome(&o, CheckStatus::Pass, Some("0"));
    let vars: Vec<&str> = o.evidence.lines().filter(|l| l.contains('=')).collect();
    assert_eq!(
        vars,
        ["LANG=C.UTF-8", "PATH=/usr/local/bin:/usr/bin:/bin"],
        "{}",
        o.evidence
    );
}

#[tokio::test]
async fn inspection_checks_a_command_past_its_timeout_is_killed() {
    let checker = command_checker(allowed());
    // An odd duration to find the process by.
    let marker = "37.25";
    let started = Instant::now();

    let o = checker
        .evaluate(&Check::Command(CommandCheck {
            timeout_ms: 500,
            ..command("sleep", &[marker])
        }))
        .await;

    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_outcome(&o, CheckStatus::Error, None);
    assert!(
        o.evidence.starts_with("timed out after 500 ms"),
        "{}",
        o.evidence
    );
    has_tests::eventually(Duration::from_secs(5), "the sleep to be gone", || async {
        (!sleeping(marker)).then_some(())
    })
    .await;
}

/// Whether a `sleep <marker>` process exists.
fn sleeping(marker: &str) -> bool {
    let want = format!("/bin/sleep\0{marker}\0");
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|c| c == want.as_bytes())
}

#[tokio::test]
async fn inspection_checks_only_allow_listed_commands_run() {
    let checker = command_checker(allowed());
    let off = command_checker(BTreeMap::new());
    let sh = Check::Command(command("sh", &["-c", "echo pwned"]));
    let echo = Check::Command(command("echo", &["hi"]));

    let answer = shared::ApiError::from;
    let unlisted = answer(checker.validate(&sh, "params.").expect_err("not listed"));
    let refused = checker.evaluate(&sh).await;
    let disabled = answer(off.validate(&echo, "params.").expect_err("off"));
    let disabled_run = off.evaluate(&echo).await;

    assert_eq!(unlisted.field.as_deref(), Some("params.command"));
    assert!(
        unlisted
            .detail
            .contains("`sh` is not in inspection.commands"),
        "{unlisted}"
    );
    assert_outcome(&refused, CheckStatus::Error, None);
    assert_eq!(disabled.field.as_deref(), Some("params.command"));
    assert_eq!(
        disabled.detail,
        "command checks are off: inspection.commands lists no executables"
    );
    assert_outcome(&disabled_run, CheckStatus::Error, None);
    assert!(disabled_run.evidence.contains("command checks are off"));
}

#[tokio::test]
async fn inspection_checks_a_command_restricted_to_argument_patterns_runs_only_with_them() {
    let restricted = RestrictedCommand {
        path: PathBuf::from("/bin/echo"),
        args: vec!["is-active".into(), "[a-z0-9@.-]+".into()],
    };
    let checker = command_checker(BTreeMap::from([(
        "svc".to_string(),
        AllowedCommand::Restricted(restricted),
    )]));
    let good = Check::Command(command("svc", &["is-active", "nginx.service"]));
    let bad = Check::Command(command("svc", &["is-active", "x; reboot"]));

    let ran = checker.evaluate(&good).await;
    let refused = shared::ApiError::from(checker.validate(&bad, "params.").expect_err("refused"));
    let not_run = checker.evaluate(&bad).await;

    assert_outcome(&ran, CheckStatus::Pass, Some("0"));
    assert!(
        ran.evidence.contains("is-active nginx.service"),
        "{}",
        ran.evidence
    );
    assert_eq!(refused.field.as_deref(), Some("params.args[1]"));
    assert!(
        refused.detail.contains("inspection.commands.svc.args[1]"),
        "{refused}"
    );
    assert_outcome(&not_run, CheckStatus::Error, None);
    assert!(
        !not_run.evidence.contains("reboot\n"),
        "{}",
        not_run.evidence
    );
}

/// A command check with `host` runs its script on that machine (a real sshd in a network
/// namespace, `has_tests::sshd`), through the executor: the host's commands, not
/// `inspection.commands`, say what may run there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_checks_a_command_with_a_host_runs_on_that_host() {
    let server = has_tests::sshd::TestSshd::start();
    let hosts = ExecutorConfig {
        hosts: [("db-1".to_string(), server.host(&server.host_key, 1))].into(),
        ..Default::default()
    };
    let checker = checker_with_hosts(&config(), &hosts, no_pageinspect());
    let on = |host: &str, c: CommandCheck| {
        Check::Command(CommandCheck {
            host: Some(host.into()),
            ..c
        })
    };
    // The address the server was reached on: its end of the pair.
    let there = on(
        "db-1",
        CommandCheck {
            output_condition: Some(format!("== '{}'", server.ns.peer)),
            ..command("sh", &["-c", "set -- $SSH_CONNECTION; echo $3"])
        },
    );

    let o = checker.evaluate(&there).await;

    assert_outcome(&o, CheckStatus::Pass, Some("0"));
    let answer = |c: &Check| shared::ApiError::from(checker.validate(c, "params.").expect_err(""));
    let cases = [
        (
            on("db-9", command("echo", &[])),
            "params.host",
            "`db-9` is not in executor.hosts",
        ),
        (
            on("db-1", command("rm", &["-rf"])),
            "params.command",
            "not in executor.hosts.db-1.commands",
        ),
        (
            Check::Command(command("sh", &[])),
            "params.command",
            "inspection.commands lists no executables",
        ),
    ];
    for (check, field, why) in cases {
        let e = answer(&check);
        assert_eq!(e.field.as_deref(), Some(field), "{}", e.detail);
        assert!(e.detail.contains(why), "{}", e.detail);
        assert_outcome(&checker.evaluate(&check).await, CheckStatus::Error, None);
    }
}
