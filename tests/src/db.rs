//! A fresh database per test: a SQLite file in a temp dir, or, when `HAS_TEST_DATABASE_URL`
//! points at a PostgreSQL server, a new database created on it (dropped afterwards).

use diesel::{Connection, PgConnection, RunQueryDsl};

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

    pub fn new() -> Self {
        match std::env::var("HAS_TEST_DATABASE_URL") {
            Ok(base) if base.starts_with("postgres") => Self::postgres(&base),
            _ => Self::sqlite(),
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/has.db", dir.path().display());
        Self {
            url,
            pg_admin: None,
            _dir: Some(dir),
        }
    }

    /// A new database `has_t_<uuid>` on the server of `base`.
    pub fn postgres(base: &str) -> Self {
        let name = format!("has_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(base).expect("connect to HAS_TEST_DATABASE_URL");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create database");
        let mut url = url::Url::parse(base).expect("HAS_TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        Self {
            url: url.to_string(),
            pg_admin: Some((base.to_string(), name)),
            _dir: None,
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
