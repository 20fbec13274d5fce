//! The plan engine's one look into the atomic operations catalog: an operation version by
//! code (and pinned version, or the latest), with the operation's status now.

use crate::engine::Error;
use crate::store::operations as store;
use crate::store::{DbConn, StoreError};
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
    let latest = match store::row(conn, code) {
        Ok(row) => row.version,
        Err(StoreError::NotFound(_)) => return Ok(Found::NoCode),
        Err(e) => return Err(e.into()),
    };
    if version.is_some_and(|v| !(1..=latest).contains(&v)) {
        return Ok(Found::NoVersion { latest });
    }
    let (found, status) = store::version(conn, code, version)?;
    Ok(Found::Operation(Box::new(Pinned {
        version: found.version,
        status,
        input: found.operation,
    })))
}
