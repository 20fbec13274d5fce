//! The `plans` section of a config document: disaster-recovery plans by name, as their latest
//! version. Applying one goes through the plan engine's one save (shape, then evaluation:
//! operations published, commands allow-listed, hosts known, templates render): a new name
//! creates the plan, a changed document adds a version, the same document adds none.
//!
//! A step may pin an operation `version`; the numbers are the installation's own, so a
//! document meant for another one should leave versions out (the latest published is pinned
//! when the plan is saved).

use super::{Change, Context, Outcome, at};
use crate::engine::Error;
use crate::engine::plans as engine;
use crate::store::DbConn;
use crate::store::plans as store;
use shared::plan::PlanDocument;

/// Every plan's latest document, by name.
pub fn export(conn: &mut DbConn) -> Result<Vec<PlanDocument>, Error> {
    let mut out: Vec<PlanDocument> = store::latest(conn)?.into_iter().map(|x| x.1).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub fn apply(
    c: &mut DbConn,
    ctx: &Context<'_>,
    docs: &[PlanDocument],
    out: &mut Outcome,
) -> Result<(), Error> {
    for (i, doc) in docs.iter().enumerate() {
        let wrap = at(format!("plans[{i}]"));
        let change = match store::row_by_name(c, &doc.name)? {
            None => {
                engine::save(c, ctx.engines, ctx.actor, None, doc).map_err(&wrap)?;
                Change::Created
            }
            Some(row) if row.document()? == *doc => Change::Unchanged,
            Some(row) => {
                engine::save(c, ctx.engines, ctx.actor, Some(row.id), doc).map_err(&wrap)?;
                Change::Updated
            }
        };
        out.add(&doc.name, change);
    }
    Ok(())
}
