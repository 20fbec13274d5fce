//! Fault drills: documents checked and saved as versions ([`save`]), runs started, previewed,
//! stopped ([`runs`]), and the reconcile loop that drives each run's targets towards their
//! desired phase through the one executor ([`reconcile`]).
//!
//! A fault is a published `kind: fault` operation: its `do` injects, its `undo` recovers. A
//! saved drill version pins each operation version it uses (the latest published at the save
//! unless the document names one), so a run does what the version said even after the
//! operation changes.

pub mod journal;
pub mod reconcile;
pub mod runs;

use crate::engine::Error;
use crate::engine::operations;
use crate::store::DbConn;
use crate::store::audit::Actor;
use crate::store::drills as store;
use serde_json::Value;
use shared::action::Action;
use shared::drill::{Drill, DrillDocument, Fault, RUN_PARAMETERS};
use shared::operation::{OperationKind, OperationVersion, template_vars};
use std::collections::BTreeMap;

/// Checks `doc` (its shape, the config's bound on fault durations, the operations it names)
/// and saves it as drill `id`'s next version (none: a new drill), with each fault's operation
/// version pinned.
pub fn save(
    c: &mut DbConn,
    actor: &Actor,
    id: Option<i64>,
    doc: &DrillDocument,
    max_fault_ms: u64,
) -> Result<Drill, Error> {
    doc.validate()?;
    let mut pinned = doc.clone();
    for (i, f) in pinned.faults.iter_mut().enumerate() {
        let at = format!("faults[{i}]");
        if f.max_duration.as_millis() > max_fault_ms {
            return Err(Error::invalid(
                format!("{at}.max_duration"),
                format!(
                    "must be at most {} (drills.max_fault_duration)",
                    shared::plan::Duration::from_millis(max_fault_ms)
                ),
            ));
        }
        let op = fault_operation(c, f, &at)?;
        check_parameters(&op, f, &at)?;
        f.version = Some(op.version);
    }
    Ok(match id {
        None => store::create(c, actor, &pinned)?,
        Some(id) => store::update(c, actor, id, &pinned)?,
    })
}

/// The operation version fault `f` uses: published (or pinned before), `kind: fault`.
fn fault_operation(c: &mut DbConn, f: &Fault, at: &str) -> Result<OperationVersion, Error> {
    let field = format!("{at}.operation");
    let op = operations::pin(c, &f.operation, f.version, &field)?;
    if op.operation.kind != OperationKind::Fault {
        return Err(Error::invalid(
            field,
            format!(
                "operation `{}` is a `{}` operation; a drill injects `fault` operations",
                f.operation,
                op.operation.kind.as_str()
            ),
        ));
    }
    Ok(op)
}

/// Every parameter given is one of the operation's, and every required one is given (the run
/// sets `fault_id` and `max_duration`). Values are templates, checked once rendered.
fn check_parameters(op: &OperationVersion, f: &Fault, at: &str) -> Result<(), Error> {
    let params = &op.operation.parameters;
    if let Some(k) = f
        .parameters
        .keys()
        .find(|k| !params.iter().any(|p| &p.name == *k))
    {
        return Err(Error::invalid(
            format!("{at}.parameters.{k}"),
            format!("operation `{}` has no parameter `{k}`", f.operation),
        ));
    }
    let missing = params.iter().find(|p| {
        p.required
            && p.default.is_none()
            && !RUN_PARAMETERS.contains(&p.name.as_str())
            && !f.parameters.contains_key(&p.name)
    });
    if let Some(p) = missing {
        return Err(Error::invalid(
            format!("{at}.parameters.{}", p.name),
            "is required",
        ));
    }
    Ok(())
}

/// One fault on one target, ready to run: the pinned operation's actions and their variables.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub operation: String,
    pub version: i32,
    pub inject: Action,
    pub recover: Action,
    pub vars: BTreeMap<String, String>,
}

/// The operation versions a run's faults pin, in the document's order.
pub fn pinned_operations(
    c: &mut DbConn,
    doc: &DrillDocument,
) -> Result<Vec<OperationVersion>, Error> {
    doc.faults
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let at = format!("faults[{i}]");
            match f.version {
                Some(v) => operations::pinned(c, &f.operation, v),
                None => fault_operation(c, f, &at),
            }
        })
        .collect()
}

/// The faults of `doc` for `target` (variables `vars`) with fault id `fault_id`: parameters
/// rendered with the target's variables and checked against the operation's types. Errors
/// name `faults[i].parameters.<name>`.
pub fn render(
    doc: &DrillDocument,
    ops: &[OperationVersion],
    vars: &BTreeMap<String, String>,
    fault_id: &str,
) -> Result<Vec<Rendered>, Error> {
    doc.faults
        .iter()
        .zip(ops)
        .enumerate()
        .map(|(i, (f, op))| {
            let at = format!("faults[{i}].parameters");
            let value = Value::Object(f.parameters.clone());
            let Value::Object(mut given) = shared::plan::render(&value, vars, &at)? else {
                return Err(Error::invalid(at, "must be an object"));
            };
            given.insert("fault_id".into(), fault_id.into());
            given.insert("max_duration".into(), f.max_duration.to_string().into());
            let checked = op.operation.check_values(&given, &format!("{at}."))?;
            let recover = op.operation.undo.clone().ok_or_else(|| {
                Error::invalid(
                    format!("faults[{i}].operation"),
                    "the operation has no `undo`: nothing would recover the fault",
                )
            })?;
            Ok(Rendered {
                operation: f.operation.clone(),
                version: op.version,
                inject: op.operation.do_action.clone(),
                recover,
                vars: template_vars(&op.operation.parameters, &checked),
            })
        })
        .collect()
}
