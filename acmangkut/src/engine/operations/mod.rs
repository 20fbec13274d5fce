//! The atomic operations catalog's rules: a document is checked before it is stored (the one
//! path the API and the console both take, so a document is refused with the same field and
//! message wherever it is written), its code never changes, and only a published operation may
//! be pinned by a new plan version ([`pin`]). The built-in fault operations are published at
//! start-up ([`builtin`]).

pub mod builtin;

use crate::engine::Error;
use crate::store::DbConn;
use crate::store::audit::Actor;
use crate::store::operations as store;
use shared::operation::{Operation, OperationInput, OperationStatus, OperationVersion};

/// Creates (`code` `None`) or changes operation `code` after checking `input`; a change adds
/// a version.
pub fn save(
    c: &mut DbConn,
    actor: &Actor,
    code: Option<&str>,
    input: &OperationInput,
) -> Result<Operation, Error> {
    input.validate()?;
    Ok(match code {
        // A code taken is the unique constraint's 409 naming `code`.
        None => store::create(c, actor, input)?,
        Some(code) => {
            store::row(c, code)?;
            if input.code != code {
                return Err(Error::invalid(
                    "code",
                    format!("the code of an operation never changes: it stays `{code}`"),
                ));
            }
            store::update(c, actor, code, input)?.0
        }
    })
}

/// Publishes (`published`) or deprecates (`deprecated`) operation `code`.
pub fn set_status(
    c: &mut DbConn,
    actor: &Actor,
    code: &str,
    next: OperationStatus,
) -> Result<Operation, Error> {
    Ok(store::set_status(c, actor, code, next)?)
}

/// The operation version a new plan version may pin: `version` of operation `code` (default:
/// its latest), which must exist and be published. `field` names where the plan refers to it
/// (`stages[0].steps[1].operation`); errors name it.
pub fn pin(
    c: &mut DbConn,
    code: &str,
    version: Option<i32>,
    field: &str,
) -> Result<OperationVersion, Error> {
    let not_found = |e: crate::store::StoreError| match e {
        crate::store::StoreError::NotFound(why) => Error::invalid(field, why),
        other => Error::Store(other),
    };
    let (found, status) = store::version(c, code, version).map_err(not_found)?;
    if !status.referenceable() {
        return Err(Error::invalid(
            field,
            format!(
                "operation `{code}` is {}: only published operations can be referenced",
                status.as_str()
            ),
        ));
    }
    Ok(found)
}

/// A version a plan version already pins, whatever the operation's status now (an execution
/// of that plan version runs it even after the operation is deprecated).
pub fn pinned(c: &mut DbConn, code: &str, version: i32) -> Result<OperationVersion, Error> {
    Ok(store::version(c, code, Some(version))?.0)
}
