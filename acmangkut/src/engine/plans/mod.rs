//! Disaster-recovery plans: saving a version after evaluating it ([`save`]), evaluation on
//! demand ([`evaluate`]), the dry run that shows what every step would call ([`preview`]) and
//! the line diff of two versions ([`diff`]); [`executions`] drives executions of resolved
//! plans durably, and holds what operators do to them.
//!
//! Evaluation is the plan engine's part of checking a document (its shape is checked by
//! [`shared::plan::PlanDocument::validate`]): the operations it names exist and are published
//! ([`catalog`]), their parameters have the types they declare, what the operations run is
//! allow-listed and on known hosts ([`crate::engine::executor::Executor::validate`]) for every
//! target, gates name configured sources, channels and approver roles exist, sub-plans exist
//! and go one level deep. Each problem is named by its field path.

pub mod catalog;
pub mod diff;
pub mod evaluate;
pub mod executions;
pub mod preview;
pub mod resolve;
pub mod triggers;

use crate::engine::Error;
use crate::engine::checks::Checker;
use crate::engine::executor::Executor;
use crate::store::DbConn;
use crate::store::audit::Actor;
use crate::store::plans;
use shared::plan::{Plan, PlanDocument};
use std::sync::Arc;

/// What evaluation and previews consult besides the database.
#[derive(Clone)]
pub struct Context {
    pub executor: Arc<Executor>,
    pub checker: Arc<Checker>,
}

/// Stores `doc` as a new plan (`id` none) or the next version of plan `id`, after evaluating
/// it: the first problem is the error (naming its field), and nothing is written.
pub fn save(
    conn: &mut DbConn,
    ctx: &Context,
    actor: &Actor,
    id: Option<i64>,
    doc: &PlanDocument,
) -> Result<Plan, Error> {
    if let Some(id) = id {
        plans::row(conn, id)?;
    }
    doc.validate()?;
    let ev = evaluate::evaluate(conn, ctx, doc)?;
    if let Some(p) = ev.problems.into_iter().next() {
        return Err(Error::Invalid {
            field: p.field,
            detail: p.detail,
        });
    }
    if let Some(other) = plans::row_by_name(conn, &doc.name)?
        && Some(other.id) != id
    {
        return Err(Error::Store(crate::store::StoreError::conflict(format!(
            "a plan named `{}` exists (id {})",
            doc.name, other.id
        ))));
    }
    let refs: Vec<(String, i32)> = ev
        .operations
        .into_iter()
        .map(|p| (p.code, p.version))
        .collect();
    // The version and its schedule row are written together, or neither.
    crate::store::write(conn, |c| {
        let plan = match id {
            None => plans::create(c, actor, doc, &refs)?,
            Some(id) => plans::update(c, actor, id, doc, &refs)?,
        };
        triggers::on_save(c, plan.id, doc)?;
        Ok::<_, Error>(plan)
    })
}
