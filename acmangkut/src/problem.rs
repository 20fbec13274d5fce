//! The HTTP edge of errors: the store's and the engines' errors become problem+json here and
//! nowhere else. The codes and details are the published catalogue (`docs/API.md`); a 5xx
//! keeps its cause chain for the one log line written when the answer is rendered.

use crate::engine;
use crate::store::{RunError, StoreError};
use shared::{ApiError, ErrorCode};

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Query(q) => query(q),
            StoreError::Pool(ref p) => {
                let cause = format!("database pool exhausted or unreachable: {p}");
                ApiError::new(ErrorCode::Unavailable, "database unavailable").caused_by(cause)
            }
            StoreError::Task(ref j) => {
                ApiError::new(ErrorCode::Internal, format!("database task failed: {j}"))
                    .caused_by(chain(&e))
            }
            StoreError::NotFound(detail) => ApiError::not_found(detail),
            StoreError::Conflict(detail) => ApiError::new(ErrorCode::Conflict, detail),
            StoreError::Invalid { field, detail } => ApiError::invalid(field, detail),
            e @ StoreError::Corrupt { .. } => ApiError::internal(chain(&e)),
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
        E::DatabaseError(K::UniqueViolation, info) => ApiError::new(
            ErrorCode::Conflict,
            format!("already exists: {}", info.message()),
        ),
        E::DatabaseError(K::ForeignKeyViolation, info) => ApiError::new(
            ErrorCode::Conflict,
            format!("still referenced: {}", info.message()),
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

/// `e` and its sources, `outer: inner: innermost`, as `anyhow` prints a chain.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        next = cause.source();
    }
    s
}
