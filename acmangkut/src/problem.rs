//! The HTTP edge of errors: the store's and the engines' errors become problem+json here and
//! nowhere else. The codes and details are the published catalogue (`docs/API.md`); a 5xx
//! keeps its cause chain for the one log line written when the answer is rendered.

use crate::engine;
use crate::store::{RunError, StoreError};
use shared::{ApiError, ErrorCode};

impl From<crate::store::inspection::risks::BadFilter> for ApiError {
    fn from(e: crate::store::inspection::risks::BadFilter) -> Self {
        Self::field(ErrorCode::InvalidQuery, e.field, e.detail)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Query(q) => query(q),
            StoreError::Pool(ref p) => {
                let cause = format!("database pool exhausted or unreachable: {p}");
                ApiError::new(ErrorCode::Unavailable, "database unavailable").caused_by(cause)
            }
            e @ StoreError::Task(_) => {
                ApiError::new(ErrorCode::Internal, e.to_string()).caused_by(engine::chain(e))
            }
            StoreError::NotFound(detail) => ApiError::not_found(detail),
            StoreError::Conflict(detail) => ApiError::new(ErrorCode::Conflict, detail),
            StoreError::Invalid { field, detail } => ApiError::invalid(field, detail),
            e @ StoreError::Corrupt { .. } => ApiError::internal(engine::chain(e)),
        }
    }
}

/// Database failures: not found 404, unique or foreign-key violation 409, a lost connection
/// or a busy SQLite 503, anything else 500.
fn query(e: diesel::result::Error) -> ApiError {
    use diesel::result::{DatabaseErrorKind as K, Error as E};
    let unavailable = |detail: &str, e: &E| {
        ApiError::new(ErrorCode::Unavailable, detail).caused_by(format!("database: {e}"))
    };
    match e {
        E::NotFound => ApiError::not_found("resource not found"),
        E::DatabaseError(K::UniqueViolation, info) => {
            match taken(info.message(), info.table_name(), info.details()) {
                Some((noun, column)) => ApiError::field(
                    ErrorCode::Conflict,
                    column.clone(),
                    format!("{noun} with this {column} already exists"),
                ),
                None => ApiError::new(ErrorCode::Conflict, "already exists"),
            }
        }
        E::DatabaseError(K::ForeignKeyViolation, _) => ApiError::new(
            ErrorCode::Conflict,
            "still referenced by another resource, or refers to one that is gone",
        ),
        E::DatabaseError(K::UnableToSendCommand, _) => unavailable("database unavailable", &e),
        E::DatabaseError(_, ref info) if lost_connection(info.message()) => {
            unavailable("database unavailable", &e)
        }
        // SQLite gave up waiting for the write lock (busy timeout): retryable, not a bug.
        E::DatabaseError(K::Unknown, ref info) if info.message().contains("database is locked") => {
            unavailable("database busy; retry", &e)
        }
        E::DatabaseError(K::ClosedConnection, _) | E::BrokenTransactionManager => {
            unavailable("database unavailable", &e)
        }
        other => ApiError::internal(format!("database query failed: {other}")),
    }
}

/// What a unique violation is about, as the client names it: (`a monitor`, `name`). SQLite
/// says `UNIQUE constraint failed: monitors.name`; PostgreSQL gives the table and
/// `Key (name)=(web) already exists.` in the details. The driver's own words never reach the
/// client: they name tables and constraints, not fields.
fn taken(message: &str, table: Option<&str>, details: Option<&str>) -> Option<(String, String)> {
    let (table, column) = match (table, details) {
        (Some(t), Some(d)) => {
            let columns = d.strip_prefix("Key (")?.split(")=").next()?;
            (t, columns.split(", ").next()?)
        }
        _ => {
            let first = message
                .split("constraint failed: ")
                .nth(1)?
                .split(", ")
                .next()?;
            first.split_once('.')?
        }
    };
    let noun = match table {
        "monitors" => "a monitor",
        "inspection_plugins" => "a plugin",
        "inspection_rules" => "a rule",
        "inspection_tasks" => "a task",
        "notification_channels" => "a channel",
        "iam_users" => "a user",
        "iam_roles" => "a role",
        "iam_bindings" => "a binding",
        "iam_api_tokens" => "a token",
        "operations" => "an operation",
        _ => "a resource",
    };
    let column = column.trim();
    let plain = !column.is_empty()
        && column
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    plain.then(|| (noun.to_string(), column.to_string()))
}

/// PostgreSQL's words for a connection that went away under a query.
fn lost_connection(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("terminating connection")
        || m.contains("server closed the connection")
        || m.contains("connection to server")
        || m.contains("no connection to the server")
        || m.contains("does not exist") && m.contains("database")
}

impl From<engine::Error> for ApiError {
    fn from(e: engine::Error) -> Self {
        match e {
            engine::Error::Store(e) => e.into(),
            engine::Error::Invalid {
                field: Some(field),
                detail,
            } => ApiError::invalid(field, detail),
            engine::Error::Invalid {
                field: None,
                detail,
            } => ApiError::new(ErrorCode::InvalidField, detail),
            engine::Error::Refused(e) => e,
            engine::Error::Malformed(detail) => ApiError::new(ErrorCode::MalformedJson, detail),
            engine::Error::At { prefix, inner } => {
                let mut e = ApiError::from(*inner);
                e.field = Some(match e.field.take() {
                    Some(f) => format!("{prefix}.{f}"),
                    None => prefix,
                });
                e
            }
            engine::Error::Internal(e) => ApiError::internal(format!("{e:#}")),
        }
    }
}

/// Handlers' `store.run` closures may answer problem+json themselves.
impl RunError for ApiError {
    type Out = ApiError;
    fn into_out(self) -> ApiError {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind as K, Error as E};

    /// A driver's error text, as PostgreSQL or SQLite would give it.
    struct Info(&'static str);

    impl DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn db(kind: K, message: &'static str) -> E {
        E::DatabaseError(kind, Box::new(Info(message)))
    }

    /// Each case's answer as the client reads it: status and the problem+json body.
    fn answers(cases: Vec<(&str, ApiError)>) -> String {
        let mut out = String::new();
        for (name, e) in cases {
            let body = serde_json::to_string_pretty(&e.problem()).unwrap_or_default();
            out.push_str(&format!("## {name}: {}\n{body}\n", e.code.status()));
        }
        out
    }

    #[test]
    fn a_unique_violation_names_the_field_on_either_backend() {
        let sqlite = taken("UNIQUE constraint failed: monitors.name", None, None);
        let postgres = taken(
            "duplicate key value violates unique constraint \"monitors_name_key\"",
            Some("monitors"),
            Some("Key (name)=(web) already exists."),
        );
        let both = Some(("a monitor".to_string(), "name".to_string()));
        assert_eq!((&sqlite, &postgres), (&both, &both));
        let pair = taken(
            "UNIQUE constraint failed: iam_bindings.subject, iam_bindings.role",
            None,
            None,
        );
        assert_eq!(pair, Some(("a binding".into(), "subject".into())));
        assert_eq!(taken("UNIQUE constraint failed", None, None), None);
    }

    proptest::proptest! {
        /// Whatever a driver says, reading it neither panics nor lets anything but a plain
        /// column name through as the field.
        #[test]
        fn any_driver_message_is_read_safely(
            m in ".{0,80}",
            t in proptest::option::of("[a-z_]{0,20}"),
            d in proptest::option::of(".{0,80}")
        ) {
            if let Some((_, column)) = taken(&m, t.as_deref(), d.as_deref()) {
                let plain = |c: char| c.is_ascii_alphanumeric() || c == '_';
                proptest::prop_assert!(!column.is_empty() && column.chars().all(plain));
            }
        }
    }

    #[test]
    fn database_errors_answer_the_catalogue() {
        let cases = vec![
            ("not found", E::NotFound),
            (
                "unique violation",
                db(
                    K::UniqueViolation,
                    "UNIQUE constraint failed: monitors.name",
                ),
            ),
            (
                "foreign key violation",
                db(K::ForeignKeyViolation, "FOREIGN KEY constraint failed"),
            ),
            ("connection lost (kind)", db(K::ClosedConnection, "closed")),
            (
                "connection lost (send)",
                db(K::UnableToSendCommand, "no connection"),
            ),
            (
                "connection lost (PostgreSQL's words)",
                db(
                    K::Unknown,
                    "terminating connection due to administrator command",
                ),
            ),
            ("SQLite busy", db(K::Unknown, "database is locked")),
            ("broken transaction manager", E::BrokenTransactionManager),
            (
                "anything else",
                db(K::CheckViolation, "CHECK constraint failed"),
            ),
        ];
        let cases = cases
            .into_iter()
            .map(|(n, e)| (n, ApiError::from(StoreError::Query(e))))
            .collect();
        insta::assert_snapshot!(answers(cases));
    }

    #[test]
    fn store_errors_answer_the_catalogue() {
        let unreadable = serde_json::from_str::<u8>("x").expect_err("not a number");
        let cases = vec![
            StoreError::not_found("no rule 7"),
            StoreError::conflict("the rule is used by task `nightly`"),
            StoreError::invalid("targets[1]", "no rule named `x`"),
            StoreError::corrupt("rule", unreadable),
        ];
        let names = ["not found", "conflict", "invalid", "corrupt"];
        let cases = names
            .into_iter()
            .zip(cases.into_iter().map(ApiError::from))
            .collect();
        insta::assert_snapshot!(answers(cases));
    }

    #[test]
    fn engine_errors_answer_the_catalogue() {
        let at = |prefix: &str, inner| engine::Error::At {
            prefix: prefix.into(),
            inner: Box::new(inner),
        };
        let cases = vec![
            (
                "store error",
                engine::Error::Store(StoreError::not_found("no task 3")),
            ),
            (
                "invalid with a field",
                engine::Error::invalid("timezone", "`Mars/Base` is not an IANA time zone"),
            ),
            (
                "invalid without a field",
                engine::Error::Invalid {
                    field: None,
                    detail: "unknown field `rulez`".into(),
                },
            ),
            (
                "refused by a shared validator",
                engine::Error::Refused(ApiError::field(
                    ErrorCode::InvalidCondition,
                    "params.condition",
                    "unexpected `)`",
                )),
            ),
            (
                "malformed",
                engine::Error::Malformed("the document is not UTF-8 text".into()),
            ),
            (
                "at a position, inner field",
                at("rules[2]", engine::Error::invalid("level", "unknown level")),
            ),
            (
                "at a position, no inner field",
                at(
                    "plugins[0]",
                    engine::Error::Store(StoreError::conflict("in use")),
                ),
            ),
            (
                "internal",
                engine::Error::internal(anyhow::anyhow!("yaml writer failed")),
            ),
        ];
        let cases = cases
            .into_iter()
            .map(|(n, e)| (n, ApiError::from(e)))
            .collect();
        insta::assert_snapshot!(answers(cases));
    }

    #[test]
    fn a_5xx_keeps_its_cause_for_the_log_and_a_4xx_has_none() {
        let e = ApiError::from(StoreError::Query(db(K::CheckViolation, "CHECK failed")));
        assert_eq!(
            e.cause.as_deref(),
            Some("database query failed: CHECK failed")
        );
        let e = ApiError::from(StoreError::corrupt("rule", "bad json".to_string()));
        assert_eq!(
            e.cause.as_deref(),
            Some("stored rule is unreadable: bad json")
        );
        assert_eq!(ApiError::from(StoreError::not_found("x")).cause, None);
    }
}
