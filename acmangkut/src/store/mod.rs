//! Persistence: one diesel schema, two backends chosen from the URL scheme.
//!
//! `sqlite://path` (the embedded default; WAL, busy timeout, foreign keys, full sync) or
//! `postgres://…` / `postgresql://…` (several replicas). Any other scheme is an error: we never
//! create a file the operator did not ask for. Queries are written once and compiled for each
//! backend through [`db!`], so backend-specific SQL (upserts, leases) stays explicit.

pub mod actions;
pub mod audit;
pub mod drills;
mod error;
pub mod iam;
pub mod inspection;
pub mod leases;
mod migrate;
pub mod monitors;
pub mod operations;
pub mod plans;
pub mod schema;
pub mod settings;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::MigrationHarness;
use migrate::{Dialect, Migrations};
use shared::Secret;
use std::time::Duration;

pub use error::{BoxError, StoreError, StoreResult};

/// Serialises migrations when several replicas start at once on PostgreSQL.
const MIGRATION_LOCK_KEY: i64 = 0x0048_4153_5f6d_6967; // "HAS_mig"

pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$c` bound to the concrete connection of either backend.
#[macro_export]
macro_rules! db {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::DbConn::Pg($c) => $body,
            $crate::store::DbConn::Sqlite($c) => $body,
        }
    };
}

/// One row of `$table` by primary key, selected as `$row`; `NotFound` ("no `$what` 7")
/// when there is none.
#[macro_export]
macro_rules! find_row {
    ($conn:expr, $table:expr, $row:ty, $id:expr, $what:literal) => {
        $crate::db!($conn, |c| $table
            .find($id)
            .select(<$row>::as_select())
            .first::<$row>(c)
            .optional())?
        .ok_or_else(|| {
            $crate::store::StoreError::not_found(format!(concat!("no ", $what, " {}"), $id))
        })
    };
}

/// The first row of `$table` whose `$column` equals `$value`, selected as `$select`.
#[macro_export]
macro_rules! find_by {
    ($conn:expr, $table:expr, $column:expr, $value:expr, $select:expr) => {
        $crate::db!($conn, |c| $table
            .filter($column.eq($value))
            .select($select)
            .first(c)
            .optional())
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Where the database is, parsed from `database.url`.
#[derive(Debug, Clone)]
pub enum DbUrl {
    Postgres(Secret),
    Sqlite(String),
}

impl DbUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(Secret::new(url)));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite://data/has.db".into());
            }
            return Ok(Self::Sqlite(path.to_string()));
        }
        let scheme = url
            .split("://")
            .next()
            .filter(|_| url.contains("://"))
            .unwrap_or(url);
        Err(format!(
            "unsupported database scheme `{scheme}`; use sqlite://PATH or postgres://…"
        ))
    }
}

pub struct Manager {
    url: DbUrl,
    busy_timeout_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = ConnError;

    fn connect(&self) -> Result<DbConn, ConnError> {
        match &self.url {
            DbUrl::Postgres(url) => Ok(DbConn::Pg(PgConnection::establish(url.expose())?)),
            DbUrl::Sqlite(path) => {
                let mut c = SqliteConnection::establish(path)?;
                // The busy timeout first, so the statements after it (journal_mode needs a
                // lock) wait for another process's writer instead of failing at once. Full
                // sync: a whole-site power loss must not lose committed results.
                c.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
                    self.busy_timeout_ms
                ))?;
                Ok(DbConn::Sqlite(c))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ConnError> {
        db!(conn, |c| c.ping().map_err(ConnError::Query))
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        db!(conn, |c| c.is_broken())
    }
}

/// An error a [`Store::run`] closure may return, and what the caller gets for it: the store's
/// own errors (and diesel's) answer [`StoreError`]; a layer above implements this for its
/// error type, which must take a [`StoreError`] (pool, task) in.
pub trait RunError: Send + 'static {
    type Out: From<StoreError> + Send + 'static;
    fn into_out(self) -> Self::Out;
}

impl RunError for StoreError {
    type Out = StoreError;
    fn into_out(self) -> StoreError {
        self
    }
}

impl RunError for diesel::result::Error {
    type Out = StoreError;
    fn into_out(self) -> StoreError {
        self.into()
    }
}

pub type DbPool = Pool<Manager>;
pub type PooledConn = PooledConnection<Manager>;

/// The handle everything uses: a pool plus a way to run blocking diesel code off the reactor.
#[derive(Clone)]
pub struct Store {
    pool: DbPool,
    backend: Backend,
}

impl Store {
    /// Connects, creates the SQLite file's folder, and runs pending migrations.
    pub fn open(url: &str, pool_size: u32, busy_timeout_ms: u64) -> anyhow::Result<Self> {
        let parsed =
            DbUrl::parse(url).map_err(|e| anyhow::anyhow!("config key `database.url`: {e}"))?;
        let backend = match &parsed {
            DbUrl::Postgres(_) => Backend::Postgres,
            DbUrl::Sqlite(path) => {
                if let Some(dir) = std::path::Path::new(path).parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir)?;
                }
                Backend::Sqlite
            }
        };
        let manager = Manager {
            url: parsed,
            busy_timeout_ms,
        };
        // Establish one connection by hand first so the real driver error reaches the log.
        let mut first = manager.connect()?;
        migrate(&mut first)?;
        drop(first);
        let pool = Pool::builder()
            .max_size(pool_size)
            // Broken connections are found when a query fails (`has_broken`), not by pinging
            // on every checkout, which would double the cost of a cheap request.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(5))
            .build(manager)?;
        Ok(Self { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs blocking diesel code on the blocking pool, carrying the current tracing span.
    /// The answer's error is the closure's own (a domain error stays typed) or, for diesel's,
    /// a [`StoreError`]; pool and task failures convert into it.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E::Out>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: RunError,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut conn = pool.get().map_err(StoreError::from)?;
            f(&mut conn).map_err(RunError::into_out)
        })
        .await
        .map_err(StoreError::from)?
    }

    /// Readiness: the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(|conn| db!(conn, |c| c.ping())).await
    }
}

fn migrate(conn: &mut DbConn) -> anyhow::Result<()> {
    let applied = match conn {
        DbConn::Pg(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
            let r = c
                .run_pending_migrations(Migrations(Dialect::Postgres))
                .map(|v| v.len());
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
            r
        }
        DbConn::Sqlite(c) => c
            .run_pending_migrations(Migrations(Dialect::Sqlite))
            .map(|v| v.len()),
    }
    .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))?;
    if applied > 0 {
        tracing::info!(migrations = applied, "applied database migrations");
    }
    Ok(())
}

/// Runs `f` in a write transaction, the one way the store opens one. At depth 0 it is
/// `BEGIN IMMEDIATE` on SQLite, so a writer waits for the lock (busy timeout) up front instead
/// of failing with "database is locked" when it upgrades a read transaction, and `BEGIN` on
/// PostgreSQL; inside a transaction it is a savepoint. So it nests: a store function that
/// writes can be called inside another's transaction, and a failing inner write rolls back
/// only its own savepoint. `f` keeps a [`DbConn`], so functions written once for both
/// backends compose into one atomic change (a run's end, its risk events and its
/// notifications commit together or not at all).
pub fn write<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    write_then(conn, true, f)
}

/// [`write`], rolled back even when `f` succeeds: a dry run sees exactly what the change
/// would do, and leaves nothing behind.
pub fn dry_run<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    write_then(conn, false, f)
}

fn write_then<T, E>(
    conn: &mut DbConn,
    commit: bool,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager as Tm, TransactionManager};
    use diesel::result::Error;
    // `BEGIN` on PostgreSQL and a savepoint when nested are diesel's own choice. (The depth is
    // read first: a match guard cannot borrow the connection mutably.)
    let outermost = match conn {
        DbConn::Sqlite(c) => depth(c) == 0,
        DbConn::Pg(_) => false,
    };
    match conn {
        DbConn::Sqlite(c) if outermost => Tm::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        _ => db!(conn, |c| Tm::begin_transaction(c))?,
    }
    let out = f(conn);
    if out.is_ok() && commit {
        db!(conn, |c| Tm::commit_transaction(c))?;
        return out;
    }
    // As diesel's own `transaction`: the caller's error wins unless the rollback itself
    // failed (then the connection is unusable and that is the error to report).
    match db!(conn, |c| Tm::rollback_transaction(c)) {
        Ok(()) | Err(Error::BrokenTransactionManager) => out,
        Err(e) => Err(e.into()),
    }
}

/// How many transactions (the outer one and its savepoints) are open on `c`.
fn depth(c: &mut SqliteConnection) -> u32 {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    match AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth() {
        Ok(Some(d)) => d.get(),
        _ => 0,
    }
}

/// Current time as Unix milliseconds, the unit of every timestamp column.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn to_datetime(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_schemes_are_rejected_and_named() {
        for url in ["mysql://x/y", "data/has.db", "sqlite:", "file:///x"] {
            let e = DbUrl::parse(url).expect_err(url);
            assert!(e.contains("scheme") || e.contains("path"), "{url}: {e}");
        }
        assert!(matches!(DbUrl::parse("sqlite://data/has.db"),
                Ok(DbUrl::Sqlite(p)) if p == "data/has.db"));
        assert!(matches!(
            DbUrl::parse("postgres://u@h/db"),
            Ok(DbUrl::Postgres(_))
        ));
    }
}
