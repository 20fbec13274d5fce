//! The inspection center's rows: plugins, versioned rules, tasks, runs and findings, risk
//! events, notification channels and their outbox.
//!
//! Definitions are stored as the API's own JSON types; the columns beside them carry what is
//! filtered, joined or locked on. Every change writes its audit row in the same transaction.

pub mod channels;
pub mod plugins;
pub mod risks;
pub mod rules;
pub mod runs;
pub mod tasks;

use shared::ApiError;

/// Parses a stored JSON definition; a row we wrote ourselves that does not parse is a bug.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T, ApiError> {
    serde_json::from_str(json)
        .map_err(|e| ApiError::internal(format!("stored {what} is unreadable: {e}")))
}

pub(crate) fn to_json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// 409 with a detail saying what still uses the thing.
pub(crate) fn in_use(detail: String) -> ApiError {
    ApiError::new(shared::ErrorCode::Conflict, detail)
}
