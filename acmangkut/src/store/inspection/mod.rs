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

use crate::store::StoreError;

/// Parses a stored JSON definition; a row we wrote ourselves that does not parse is a bug.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    what: &str,
    json: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::corrupt(what, e))
}

pub(crate) fn to_json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// A conflict saying what still uses the thing (409 at the edge).
pub(crate) fn in_use(detail: String) -> StoreError {
    StoreError::conflict(detail)
}

/// Refuses (409) while `users` (names of what refers to the thing) is not empty; `why` says
/// so, given them joined by commas.
pub(crate) fn refuse_if_used(
    users: Vec<String>,
    why: impl FnOnce(String) -> String,
) -> Result<(), StoreError> {
    match users.is_empty() {
        true => Ok(()),
        false => Err(in_use(why(users.join(", ")))),
    }
}
