//! The built-in fault operations (`deploy/operations/faults/operations.yaml`, compiled in):
//! templates for drills that a user copies or runs as they are. At start-up each one whose
//! code is absent is created and published, owned by [`BUILTIN_OWNER`]; one that exists is
//! left as it is, so an operator's edit (a new version), deprecation or own operation under a
//! built-in code is never overwritten. Deleting one (allowed while unreferenced) brings it back
//! at the next start: deprecate it to retire it.
//!
//! Each code is created in a transaction of its own; replicas starting together race on the
//! catalog's unique code, and the loser of each race leaves that code to the winner.

use crate::engine::Error;
use crate::store::audit::Actor;
use crate::store::operations as store;
use crate::store::{self as db, DbConn, StoreError};
use shared::operation::{Operation, OperationInput, OperationStatus};

/// The owner (audit actor and `created_by`) of the built-in operations.
pub const BUILTIN_OWNER: &str = "system";

const FAULTS: &str = include_str!("../../../../deploy/operations/faults/operations.yaml");

/// The built-in fault operations, in the file's order.
pub fn faults() -> Result<Vec<OperationInput>, Error> {
    serde_yaml_ng::from_str(FAULTS).map_err(Error::internal)
}

/// A built-in operation nobody has changed: owned by the system, version 1, published.
pub fn shipped(op: &Operation) -> bool {
    op.created_by == BUILTIN_OWNER && op.version == 1 && op.status == OperationStatus::Published
}

fn owner() -> Actor {
    Actor {
        name: BUILTIN_OWNER.into(),
        kind: "system",
        peer: String::new(),
    }
}

/// Another replica created the code first (its insert committed while ours waited).
fn lost_race(e: &Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error as Diesel};
    matches!(
        e,
        Error::Store(StoreError::Query(Diesel::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            _
        )))
    )
}

/// Creates and publishes each built-in fault operation whose code is absent; the codes
/// created.
pub fn seed(conn: &mut DbConn) -> Result<Vec<String>, Error> {
    let actor = owner();
    let mut created = Vec::new();
    for op in faults()? {
        let made = db::write(conn, |c| {
            match store::row(c, &op.code) {
                Ok(_) => return Ok(false),
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(Error::from(e)),
            }
            super::save(c, &actor, None, &op)?;
            super::set_status(c, &actor, &op.code, OperationStatus::Published)?;
            Ok(true)
        });
        match made {
            Ok(true) => created.push(op.code),
            Ok(false) => {}
            Err(e) if lost_race(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_compiled_in_faults_read_and_validate() {
        let faults = super::faults().expect("reads");
        assert_eq!(faults.len(), 12);
        for op in &faults {
            op.validate().expect(&op.code);
            assert!(op.code.starts_with("fault."), "{}", op.code);
            assert_eq!(op.kind, shared::operation::OperationKind::Fault);
        }
    }
}
