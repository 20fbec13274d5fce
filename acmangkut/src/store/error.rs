//! The store's error: what went wrong with a query, the pool or a stored value, in the store's
//! own words. Only the HTTP edge (`crate::problem`) turns it into problem+json.

use std::error::Error as StdError;

pub type BoxError = Box<dyn StdError + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A query failed, constraint violations included (the edge maps them to 409).
    #[error("database query failed")]
    Query(#[from] diesel::result::Error),
    /// No connection from the pool in time, or the database is unreachable.
    #[error("no database connection")]
    Pool(#[from] diesel::r2d2::PoolError),
    /// The blocking task running the query panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The row asked for does not exist; the message names it.
    #[error("{0}")]
    NotFound(String),
    /// The change collides with the stored state (still in use, wrong state); the message
    /// says how.
    #[error("{0}")]
    Conflict(String),
    /// An input the store checks against stored rows (`targets[1]`: no rule named `x`).
    #[error("{field}: {detail}")]
    Invalid { field: String, detail: String },
    /// A value the store wrote itself does not parse back: a bug or a hand-edited row.
    #[error("stored {what} is unreadable")]
    Corrupt {
        what: String,
        #[source]
        source: BoxError,
    },
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound(detail.into())
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict(detail.into())
    }

    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            detail: detail.into(),
        }
    }

    pub fn corrupt(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Corrupt {
            what: what.into(),
            source: source.into(),
        }
    }
}
