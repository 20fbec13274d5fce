//! The plan engine's one look into the atomic operations catalog: an operation version by
//! code (and pinned version, or the latest).

use crate::engine::Error;
use crate::store::DbConn;
use shared::operation::{OperationInput, OperationStatus};

/// One version of an operation.
pub struct Pinned {
    pub version: i32,
    pub status: OperationStatus,
    pub input: OperationInput,
}

pub enum Found {
    /// No operation has this code.
    NoCode,
    /// The operation has no such version (its latest is given).
    NoVersion {
        latest: i32,
    },
    Operation(Box<Pinned>),
}

/// The version `version` (none: the latest) of operation `code`.
pub fn find(conn: &mut DbConn, code: &str, version: Option<i32>) -> Result<Found, Error> {
    let _ = (conn, code, version);
    Ok(Found::NoCode)
}
