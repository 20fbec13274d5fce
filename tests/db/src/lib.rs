//! A fresh database per test, the only place tests get one: a SQLite file in a temp dir, or,
//! when `HAS_TEST_DATABASE_URL` points at a PostgreSQL server, a new database created on it
//! (dropped when the [`TestDb`] is). Used by acmangkut's own tests and by has-tests.
//!
//! When `HAS_TEST_DB_LOG` names a file, every database handed out appends one line to it,
//! `<backend>\t<test>`, so CI can count how many tests ran on each backend (`.ci/run`).

use diesel::{Connection, PgConnection, RunQueryDsl};
use std::io::Write;

/// The PostgreSQL server the "always PostgreSQL" tests use when the suite runs on SQLite.
pub const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

pub struct TestDb {
    pub url: String,
    pg_admin: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// True when the suite runs against PostgreSQL.
    pub fn is_postgres() -> bool {
        std::env::var("HAS_TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
    }

    /// The server of the suite: `HAS_TEST_DATABASE_URL` when it is PostgreSQL, else
    /// [`LOCAL_POSTGRES`] (for the tests that need several processes on one database).
    pub fn postgres_base() -> String {
        std::env::var("HAS_TEST_DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"))
            .unwrap_or_else(|| LOCAL_POSTGRES.into())
    }

    /// The suite's backend: PostgreSQL when `HAS_TEST_DATABASE_URL` says so, else SQLite.
    pub fn new() -> Self {
        if Self::is_postgres() {
            Self::always_postgres()
        } else {
            Self::sqlite()
        }
    }

    /// A SQLite file in a new temp dir. Tests call [`TestDb::new`]; this is what it gives on
    /// the SQLite pass.
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/has.db", dir.path().display());
        log_backend("sqlite");
        Self {
            url,
            pg_admin: None,
            _dir: Some(dir),
        }
    }

    /// A new database `has_t_<uuid>` on the server of `base`, whichever pass this is.
    pub fn postgres(base: &str) -> Self {
        let name = format!("has_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(base).expect("connect to HAS_TEST_DATABASE_URL");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create database");
        let mut url = url::Url::parse(base).expect("HAS_TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        // Loopback needs no TLS, and libpq's OpenSSL torn down at process exit while the
        // app's pool threads are still inside it ended a passing test with SIGSEGV.
        if !url.query_pairs().any(|(k, _)| k == "sslmode") {
            url.query_pairs_mut().append_pair("sslmode", "disable");
        }
        log_backend("postgres");
        Self {
            url: url.to_string(),
            pg_admin: Some((base.to_string(), name)),
            _dir: None,
        }
    }

    /// A new database on [`TestDb::postgres_base`]: for the tests that need PostgreSQL on
    /// either pass (several processes on one database, a database cut from outside).
    pub fn always_postgres() -> Self {
        Self::postgres(&Self::postgres_base())
    }

    /// `postgres` or `sqlite`.
    pub fn backend(&self) -> &'static str {
        if self.pg_admin.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, name)) = &self.pg_admin
            && let Ok(mut admin) = PgConnection::establish(base)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin);
        }
    }
}

/// Which test is running: its thread's name (libtest names the thread after the test), else
/// the test-name filter it was started with (nextest starts one process per test), prefixed
/// with the test binary's name.
fn test_name() -> String {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().to_string()))
        .map(|s| {
            s.rsplit_once('-')
                .map_or(s.clone(), |(name, _hash)| name.to_string())
        })
        .unwrap_or_default();
    let thread = std::thread::current().name().map(str::to_string);
    let test = thread
        .filter(|t| t != "main" && !t.starts_with("tokio-runtime"))
        .or_else(|| std::env::args().skip(1).find(|a| !a.starts_with('-')))
        .unwrap_or_else(|| format!("pid-{}", std::process::id()));
    format!("{binary}::{test}")
}

/// Appends `<backend>\t<test>` to the file `HAS_TEST_DB_LOG` names, if any.
fn log_backend(backend: &str) {
    let Some(path) = std::env::var_os("HAS_TEST_DB_LOG") else {
        return;
    };
    let line = format!("{backend}\t{}\n", test_name());
    // One write of a short line to a file opened for appending: lines of parallel tests do
    // not interleave.
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open HAS_TEST_DB_LOG");
    file.write_all(line.as_bytes())
        .expect("write HAS_TEST_DB_LOG");
}
