//! The schema migrations, each written once (`migrations/<version>_<name>/{up,down}.sql`) in
//! PostgreSQL's dialect. SQLite's is derived by the three substitutions in [`SQLITE`]: the
//! only places the two dialects differ in our tables. A step that needs more (triggers: a
//! function on PostgreSQL, an inline body on SQLite) also has `{up,down}.sqlite.sql`, marked
//! `sqlite` in [`STEPS`]. Versions are the folder names, as
//! diesel's own file-based migrations name them, so databases migrated before keep their
//! history.

use diesel::backend::Backend;
use diesel::connection::BoxableConnection;
use diesel::migration::{
    Migration, MigrationMetadata, MigrationName, MigrationSource, MigrationVersion, Result,
};
use std::fmt;

macro_rules! steps {
    ($($name:literal $($own:ident)?),+ $(,)?) => {
        &[$(Step {
            name: $name,
            up: include_str!(concat!("migrations/", $name, "/up.sql")),
            down: include_str!(concat!("migrations/", $name, "/down.sql")),
            sqlite: steps!(@sqlite $name $($own)?),
        }),+]
    };
    (@sqlite $name:literal) => { None };
    (@sqlite $name:literal sqlite) => {
        Some((
            include_str!(concat!("migrations/", $name, "/up.sqlite.sql")),
            include_str!(concat!("migrations/", $name, "/down.sqlite.sql")),
        ))
    };
}

/// Oldest first.
const STEPS: &[Step] = steps!(
    "2026-11-26-000001_monitors",
    "2026-11-27-000002_locations_attempts_screenshots",
    "2026-11-28-000003_iam",
    "2026-11-29-000004_inspection",
    "2026-12-07-000005_executor",
    "2026-12-08-000006_operations",
    "2026-12-08-000007_plans",
    "2026-12-08-000008_executions",
    "2026-12-09-000010_plan_triggers",
    "2026-12-10-000011_drills",
    "2026-12-10-000012_monitor_counts" sqlite,
);

/// PostgreSQL's words and SQLite's for the same column.
const SQLITE: [(&str, &str); 3] = [
    ("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT"),
    ("DOUBLE PRECISION", "DOUBLE"),
    ("BYTEA", "BLOB"),
];

struct Step {
    name: &'static str,
    up: &'static str,
    down: &'static str,
    /// SQLite's own `up` and `down`, when the substitutions are not enough.
    sqlite: Option<(&'static str, &'static str)>,
}

impl Step {
    /// `up` and `down` in `dialect`.
    fn texts(&self, dialect: Dialect) -> (String, String) {
        match (dialect, self.sqlite) {
            (Dialect::Sqlite, Some((up, down))) => (up.to_string(), down.to_string()),
            _ => (dialect.render(self.up), dialect.render(self.down)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    fn render(self, sql: &str) -> String {
        match self {
            Self::Postgres => sql.to_string(),
            Self::Sqlite => SQLITE
                .iter()
                .fold(sql.to_string(), |sql, (pg, lite)| sql.replace(pg, lite)),
        }
    }
}

/// Every migration, rendered for one dialect.
pub struct Migrations(pub Dialect);

impl<DB: Backend> MigrationSource<DB> for Migrations {
    fn migrations(&self) -> Result<Vec<Box<dyn Migration<DB>>>> {
        Ok(STEPS
            .iter()
            .map(|s| {
                let (up, down) = s.texts(self.0);
                Box::new(Rendered {
                    name: Name(s.name),
                    up,
                    down,
                }) as Box<dyn Migration<DB>>
            })
            .collect())
    }
}

struct Rendered {
    name: Name,
    up: String,
    down: String,
}

impl Rendered {
    fn execute<DB: Backend>(&self, conn: &mut dyn BoxableConnection<DB>, sql: &str) -> Result<()> {
        conn.batch_execute(sql)
            .map_err(|e| format!("migration {}: {e}", self.name).into())
    }
}

impl<DB: Backend> Migration<DB> for Rendered {
    fn run(&self, conn: &mut dyn BoxableConnection<DB>) -> Result<()> {
        self.execute(conn, &self.up)
    }

    fn revert(&self, conn: &mut dyn BoxableConnection<DB>) -> Result<()> {
        self.execute(conn, &self.down)
    }

    fn metadata(&self) -> &dyn MigrationMetadata {
        &InTransaction
    }

    fn name(&self) -> &dyn MigrationName {
        &self.name
    }
}

/// Each migration runs in its own transaction (the trait's default).
struct InTransaction;

impl MigrationMetadata for InTransaction {}

struct Name(&'static str);

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl MigrationName for Name {
    /// `2026-11-26-000001_monitors` is version `20261126000001`, as diesel names it.
    fn version(&self) -> MigrationVersion<'_> {
        let date = self.0.split('_').next().unwrap_or(self.0);
        MigrationVersion::from(date.replace('-', ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_sees_no_postgresql_only_type() {
        for step in STEPS {
            let (up, down) = step.texts(Dialect::Sqlite);
            for lite in [up, down] {
                for (pg, _) in SQLITE {
                    assert!(!lite.contains(pg), "{}: `{pg}` left for SQLite", step.name);
                }
            }
        }
    }

    #[test]
    fn every_migration_folder_is_a_step() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/migrations");
        let mut folders: Vec<String> = std::fs::read_dir(dir)
            .expect("migrations folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        folders.sort();
        let steps: Vec<&str> = STEPS.iter().map(|s| s.name).collect();
        assert_eq!(folders, steps, "add the new folder to STEPS, oldest first");
    }

    #[test]
    fn a_folder_with_sqlite_texts_is_marked_sqlite() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/migrations");
        for step in STEPS {
            let own = dir.join(step.name).join("up.sqlite.sql").exists();
            assert_eq!(
                own,
                step.sqlite.is_some(),
                "{}: mark it `sqlite`",
                step.name
            );
        }
    }

    #[test]
    fn versions_are_the_folder_dates() {
        assert_eq!(Name(STEPS[0].name).version().to_string(), "20261126000001");
    }
}
