//! The `operations` section of a config document: atomic operations by code, each with the
//! lifecycle status it should have.
//!
//! Applying one: an unknown code is created (version 1) and then walked forward along
//! `draft → published → deprecated` to the status the document gives; a known one whose
//! document differs gets a new version through the catalog's one save (a deprecated one
//! refuses, 409), and its status is walked forward. A status behind the stored one
//! (`draft` for a published operation) is refused naming `operations[i].status`: the
//! lifecycle only goes forward. Operations reference secrets by name (`{{ secret.NAME }}`),
//! so a document holds none and nothing needs redacting.
//!
//! Export leaves out the built-in fault operations as shipped (created by `system`, still at
//! version 1 and published): every installation has them. An edited one is exported.

use super::{Change, Outcome, at};
use crate::engine::Error;
use crate::engine::operations::{self as engine, builtin};
use crate::store::DbConn;
use crate::store::audit::Actor;
use crate::store::operations::{self as store, OperationFilter};
use serde::{Deserialize, Serialize};
use shared::operation::{OperationInput, OperationStatus};

/// One operation of the document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationEntry {
    /// The status it should have; moving it forward is audited as a publish or deprecation.
    #[serde(default = "published")]
    pub status: OperationStatus,
    /// The catalog's document (`POST /api/v1/operations`).
    pub operation: OperationInput,
}

fn published() -> OperationStatus {
    OperationStatus::Published
}

/// Every operation but the built-ins as shipped, by code.
pub fn export(conn: &mut DbConn) -> Result<Vec<OperationEntry>, Error> {
    let mut out: Vec<OperationEntry> = store::list(conn, &OperationFilter::default())?
        .into_iter()
        .filter(|op| !builtin::shipped(op))
        .map(|op| OperationEntry {
            status: op.status,
            operation: op.input,
        })
        .collect();
    out.sort_by(|a, b| a.operation.code.cmp(&b.operation.code));
    Ok(out)
}

/// The steps from `from` to `to` along the lifecycle; `None` when `to` is behind `from`.
fn path(from: OperationStatus, to: OperationStatus) -> Option<Vec<OperationStatus>> {
    let rank = |s| {
        OperationStatus::ALL
            .iter()
            .position(|x| *x == s)
            .unwrap_or(0)
    };
    let (a, b) = (rank(from), rank(to));
    (a <= b).then(|| OperationStatus::ALL[a + 1..=b].to_vec())
}

pub fn apply(
    c: &mut DbConn,
    actor: &Actor,
    entries: &[OperationEntry],
    out: &mut Outcome,
) -> Result<(), Error> {
    for (i, entry) in entries.iter().enumerate() {
        let wrap = at(format!("operations[{i}]"));
        let input = &entry.operation;
        let save = |c: &mut DbConn, code: Option<&str>| {
            engine::save(c, actor, code, input).map_err(|e| wrap(at("operation".into())(e)))
        };
        let stored = match store::row(c, &input.code) {
            Err(crate::store::StoreError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
            Ok(row) => Some((row.status()?, row.input()? != *input)),
        };
        let from = stored.map_or(OperationStatus::Draft, |(s, _)| s);
        let steps = path(from, entry.status).ok_or_else(|| {
            wrap(Error::invalid(
                "status",
                format!(
                    "operation `{}` is {}: it cannot go back to {} (draft → published → \
                     deprecated)",
                    input.code,
                    from.as_str(),
                    entry.status.as_str()
                ),
            ))
        })?;
        // The document lands before the status moves on: a deprecated one no longer changes.
        let change = match stored {
            None => {
                save(c, None)?;
                Change::Created
            }
            Some((_, true)) => {
                save(c, Some(&input.code))?;
                Change::Updated
            }
            Some(_) if steps.is_empty() => Change::Unchanged,
            Some(_) => Change::Updated,
        };
        for next in steps {
            engine::set_status(c, actor, &input.code, next).map_err(&wrap)?;
        }
        out.add(&input.code, change);
    }
    Ok(())
}
