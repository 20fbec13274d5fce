//! The engines' error: a store failure, or an input the domain rules refuse (naming the field,
//! so the edge answers 400 with `field`). Only the HTTP edge (`crate::problem`) turns it into
//! problem+json; background engines log it once, with its chain.

use crate::store::{RunError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A definition the rules refuse; `field` is its path (`probe.target`, `checks[1]`).
    #[error("{}", invalid_text(field.as_deref(), detail))]
    Invalid {
        field: Option<String>,
        detail: String,
    },
    /// A definition refused by a validator of `shared` (check specs, channel specs, names),
    /// which answers problem+json itself: passed through unchanged.
    #[error("{}", invalid_text(.0.field.as_deref(), &.0.detail))]
    Refused(#[from] shared::ApiError),
    /// A document that does not even parse as text.
    #[error("{0}")]
    Malformed(String),
    /// An error found at `prefix` (`rules[2]`) of a larger document: the edge prefixes the
    /// inner error's field with it.
    #[error("{prefix}: {inner}")]
    At { prefix: String, inner: Box<Error> },
    /// A failure that is nobody's input: answered 500, logged with its chain.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Invalid {
            field: Some(field.into()),
            detail: detail.into(),
        }
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::Internal(e.into())
    }

    /// The field to blame, if any, and what is wrong with it.
    pub fn parts(&self) -> (Option<String>, String) {
        match self {
            Self::Invalid { field, detail } => (field.clone(), detail.clone()),
            Self::Refused(e) => (e.field.clone(), e.detail.clone()),
            Self::Store(StoreError::Invalid { field, detail }) => {
                (Some(field.clone()), detail.clone())
            }
            Self::At { prefix, inner } => {
                let (field, detail) = inner.parts();
                let field = field.map_or_else(|| prefix.clone(), |f| format!("{prefix}.{f}"));
                (Some(field), detail)
            }
            other => (None, other.to_string()),
        }
    }
}

fn invalid_text(field: Option<&str>, detail: &str) -> String {
    match field {
        Some(field) => format!("{field}: {detail}"),
        None => detail.to_string(),
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(e.into())
    }
}

impl RunError for Error {
    type Out = Error;
    fn into_out(self) -> Error {
        self
    }
}
