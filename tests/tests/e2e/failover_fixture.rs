//! A real database failover, done by acmangkut's executor with the atomic operations of
//! `deploy/operations` (what a disaster-recovery plan's steps run): a PostgreSQL primary and
//! its streaming standby, nginx (stream) in front, and an HTTP service writing through nginx.
//! Gate on the standby's lag (an SQL check by acmangkut's checker), fence the primary, promote
//! the standby, switch the proxy; a write through the proxy then lands on the new primary.
//! And the way back while it still exists: before the promote, undoing the fence serves the
//! old primary again. Each action runs as a plan step will: between an intent and an outcome
//! recorded in acmangkut's store.

use acmangkut::config::{DataSource, InspectionConfig};
use acmangkut::engine::checks::Checker;
use acmangkut::engine::executor::Executor;
use acmangkut::store::{Store, actions};
use has_tests::TestDb;
use has_tests::failover::{Operation, Writer, allowed_commands, operations};
use has_tests::pg_pair::{LAG_SQL, PgPair};
use has_tests::tcp_proxy::TcpProxy;
use shared::Secret;
use shared::action::Action;
use shared::check::{Check, CheckOutcome, CheckStatus, OnEmpty, SqlCheck, SqlSubject};
use shared::pageinspect_client::PageinspectClient;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The lag the gate allows, in seconds.
const MAX_LAG_SECONDS: u32 = 5;
/// Fence to the first write on the new primary, at most.
const MAX_RTO: Duration = Duration::from_secs(30);

/// The pair, the proxy in front of its primary, the writer behind the proxy, and acmangkut's
/// executor and checker configured for them.
struct Fixture {
    pair: PgPair,
    proxy: TcpProxy,
    writer: Writer,
    executor: Arc<Executor>,
    checker: Checker,
    operations: BTreeMap<String, Operation>,
    http: reqwest::Client,
    store: Store,
    _db: TestDb,
}

impl Fixture {
    async fn start() -> Self {
        let pair = PgPair::start();
        let proxy = TcpProxy::start(&pair.primary.address());
        let url = format!("postgres://postgres@{}/postgres", proxy.address());
        let writer = Writer::start(&url).await;
        let mut inspection: InspectionConfig = acmangkut::Config::default().inspection;
        inspection.commands = allowed_commands();
        let standby = DataSource {
            url: Secret::new(pair.standby.url()),
            max_rows: 10,
        };
        inspection.datasources = BTreeMap::from([("standby".to_string(), standby)]);
        let outbound = has_tests::outbound();
        let executor =
            Executor::new(&inspection, &Default::default(), &outbound).expect("executor");
        let executor = Arc::new(executor);
        // The lag gate is an SQL check: pageinspect is never asked.
        let nowhere = format!("http://127.0.0.1:{}", has_tests::free_port());
        let pageinspect = PageinspectClient::new(&nowhere, None, &outbound).expect("client");
        let checker =
            Checker::new(&inspection, pageinspect, &outbound, executor.clone()).expect("checker");
        let db = TestDb::new();
        let store = Store::open(&db.url, 2, 5_000).expect("open the store");
        Self {
            pair,
            proxy,
            writer,
            executor,
            checker,
            operations: operations(),
            http: reqwest::Client::new(),
            store,
            _db: db,
        }
    }

    fn operation(&self, code: &str) -> &Operation {
        self.operations
            .get(code)
            .unwrap_or_else(|| panic!("operations.json has no {code}"))
    }

    /// Runs `action` with `vars` through the executor, which renders the templates, checks the
    /// result against the allow-list, and records the attempt as subject `failover/{what}`.
    async fn run(&self, what: &str, action: &Action, vars: &[(&str, String)]) -> CheckOutcome {
        let subject = format!("failover/{what}");
        let (_, outcome) = self
            .executor
            .run_recorded(&self.store, (&subject, "test"), action, &var_map(vars))
            .await
            .expect("recorded");
        eprintln!(
            "{what}: {:?} in {} ms: {}",
            outcome.status, outcome.duration_ms, outcome.evidence
        );
        outcome
    }

    /// Runs `action` and asserts that it did what it should.
    async fn done(&self, what: &str, action: &Action, vars: &[(&str, String)]) {
        let outcome = self.run(what, action, vars).await;
        assert_eq!(
            outcome.status,
            CheckStatus::Pass,
            "{what}: {}\nproxy: {}",
            outcome.evidence,
            self.proxy.errors()
        );
    }

    /// The statuses of the recorded attempts of step `what`, oldest first.
    async fn attempts(&self, what: &str) -> Vec<Option<String>> {
        let subject = format!("failover/{what}");
        let runs = self
            .store
            .run(move |c| actions::attempts(c, &subject))
            .await
            .expect("attempts");
        assert!(runs.iter().all(|r| r.idempotent), "{runs:?}");
        runs.into_iter().map(|r| r.status).collect()
    }

    /// The gate before a failover: the standby's lag (acmangkut's SQL check on it).
    async fn lag_gate(&self) -> CheckOutcome {
        self.checker
            .evaluate(&Check::Sql(SqlCheck {
                source: "standby".into(),
                query: LAG_SQL.into(),
                condition: format!("< {MAX_LAG_SECONDS}"),
                subject: SqlSubject::Value,
                on_empty: OnEmpty::Fail,
                timeout_ms: 5_000,
            }))
            .await
    }

    /// Writes through the proxy until one succeeds (`within` at most); the port of the server
    /// that took it.
    async fn first_write(&self, within: Duration) -> u16 {
        let deadline = Instant::now() + within;
        loop {
            match self.writer.write(&self.http).await {
                Ok(port) => return port,
                Err(e) => assert!(Instant::now() < deadline, "no write within {within:?}: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn data(node: &has_tests::pg_pair::Node) -> String {
        node.data.display().to_string()
    }
}

fn var_map(vars: &[(&str, String)]) -> BTreeMap<String, String> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// What a plan's evaluation checks before anything runs: `action` rendered with `vars` is
/// allowed by the executor's configuration (argument patterns apply to rendered values).
fn assert_allowed(executor: &Executor, action: &Action, vars: &[(&str, String)]) {
    let value = serde_json::to_value(action).expect("json");
    let rendered = shared::template::render_json(&value, &var_map(vars)).expect("renders");
    let rendered: Action = serde_json::from_value(rendered).expect("an action");
    executor.validate(&rendered, "do.").expect("allow-listed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_fixture_fence_promote_switch_moves_writes_to_the_standby() {
    let f = Fixture::start().await;
    let (primary, standby) = (&f.pair.primary, &f.pair.standby);
    let port = f.writer.write(&f.http).await.expect("a write before");
    assert_eq!(port, primary.port, "the proxy leads to the primary");

    let gate = f.lag_gate().await;
    assert_eq!(
        gate.status,
        CheckStatus::Pass,
        "lag gate: {}",
        gate.evidence
    );
    assert!(f.pair.standby_lag_seconds() < f64::from(MAX_LAG_SECONDS));

    let (fence, promote, switch) = (
        f.operation("db.fence-primary"),
        f.operation("db.promote-standby"),
        f.operation("proxy.switch-upstream"),
    );
    let switch_vars = [
        ("upstream_file", f.proxy.upstream.display().to_string()),
        ("nginx_conf", f.proxy.conf.display().to_string()),
        ("to", standby.address()),
        ("from", primary.address()),
    ];
    let (primary_vars, standby_vars) = (
        [("data_dir", Fixture::data(primary))],
        [("data_dir", Fixture::data(standby))],
    );
    assert_allowed(&f.executor, &fence.act, &primary_vars);
    assert_allowed(&f.executor, &promote.act, &standby_vars);
    assert_allowed(&f.executor, &switch.act, &switch_vars);

    let started = Instant::now();
    f.done("fence", &fence.act, &primary_vars).await;
    let fenced = started.elapsed();
    let refused = f.writer.write(&f.http).await;
    assert!(
        refused.is_err(),
        "a fenced primary takes no write: {refused:?}"
    );
    f.done("promote", &promote.act, &standby_vars).await;
    let promoted = started.elapsed();
    f.done("switch", &switch.act, &switch_vars).await;
    let switched = started.elapsed();
    let port = f.first_write(MAX_RTO).await;
    let rto = started.elapsed();
    eprintln!(
        "failover: fence -> first write through the proxy {} ms (fenced {} ms, promoted {} ms, \
         switched {} ms)",
        rto.as_millis(),
        fenced.as_millis(),
        promoted.as_millis(),
        switched.as_millis()
    );
    assert_eq!(
        port, standby.port,
        "the write landed on the promoted standby"
    );
    assert!(rto < MAX_RTO, "{rto:?}");
    assert_eq!(f.pair.in_recovery(standby), Ok(false), "promoted");
    let rows = f.pair.psql(standby, "SELECT count(*) FROM writes");
    assert_eq!(
        rows.as_deref(),
        Ok("2"),
        "the row written before and the one after"
    );

    // Each step is idempotent: run again, each is already done and says so.
    f.done("fence", &fence.act, &primary_vars).await;
    let again = f.run("promote", &promote.act, &standby_vars).await;
    assert!(
        again.evidence.contains("already a primary"),
        "{}",
        again.evidence
    );
    f.done("switch", &switch.act, &switch_vars).await;
    for step in ["fence", "promote", "switch"] {
        let pass = Some("pass".to_string());
        assert_eq!(f.attempts(step).await, [pass.clone(), pass], "{step}");
    }
    assert_eq!(f.first_write(Duration::from_secs(5)).await, standby.port);

    // The switch's undo points the proxy back; after a promote that leads to the fenced old
    // primary (why a plan does not roll back past the promote), so no write is taken.
    let back = switch.undo.as_ref().expect("the switch has an undo");
    assert_allowed(&f.executor, back, &switch_vars);
    f.done("switch back", back, &switch_vars).await;
    let refused = f.writer.write(&f.http).await;
    assert!(refused.is_err(), "back to the fenced primary: {refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_fixture_undoing_the_fence_before_the_promote_serves_the_primary_again() {
    let f = Fixture::start().await;
    let (primary, standby) = (&f.pair.primary, &f.pair.standby);
    assert_eq!(f.first_write(Duration::from_secs(5)).await, primary.port);
    let (fence, promote) = (
        f.operation("db.fence-primary"),
        f.operation("db.promote-standby"),
    );
    let primary_vars = [("data_dir", Fixture::data(primary))];
    let undo = fence.undo.as_ref().expect("the fence has an undo");
    assert_allowed(&f.executor, undo, &primary_vars);

    f.done("fence", &fence.act, &primary_vars).await;
    // The standby is lost mid-failover (stopped with the same operation): the promote fails.
    f.done(
        "lose the standby",
        &fence.act,
        &[("data_dir", Fixture::data(standby))],
    )
    .await;
    let failed = f
        .run(
            "promote",
            &promote.act,
            &[("data_dir", Fixture::data(standby))],
        )
        .await;
    assert_eq!(failed.status, CheckStatus::Fail, "{}", failed.evidence);
    assert!(
        failed.evidence.contains("nothing to promote"),
        "{}",
        failed.evidence
    );
    assert!(f.writer.write(&f.http).await.is_err(), "still fenced");

    // Roll back: the compensations of the completed steps in reverse order (only the fence's).
    let started = Instant::now();
    f.done("undo the fence", undo, &primary_vars).await;
    let port = f.first_write(MAX_RTO).await;
    eprintln!(
        "rollback: undo of the fence -> first write through the proxy {} ms",
        started.elapsed().as_millis()
    );
    assert_eq!(port, primary.port, "the old primary serves again");
    assert_eq!(f.pair.in_recovery(primary), Ok(false));
    // Undone twice is still undone.
    f.done("undo the fence", undo, &primary_vars).await;
    let statuses = |s: &[&str]| s.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>();
    assert_eq!(f.attempts("promote").await, statuses(&["fail"]));
    assert_eq!(
        f.attempts("undo the fence").await,
        statuses(&["pass", "pass"])
    );
}
