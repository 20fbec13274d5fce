//! Starting, previewing and stopping runs, and the safety lever. A start is refused (409
//! naming `lever`) while the lever is engaged; pulling it ends every active run in the same
//! transaction, so each one's targets are recovered by the reconcile loop.

use super::{Rendered, pinned_operations, render};
use crate::engine::Error;
use crate::engine::checks::Checker;
use crate::metrics::Metrics;
use crate::store::audit::Actor;
use crate::store::drills::{self as drills, lever, runs as store};
use crate::store::{DbConn, Store};
use futures::StreamExt;
use shared::ErrorCode;
use shared::check::{CheckOutcome, CheckStatus};
use shared::drill::{
    CheckResult, DrillDocument, Lever, Preview, PreviewTarget, RenderedFault, RunState,
};
use std::sync::Arc;

/// A version, its document, and each selected target's rendered faults.
pub type Planned = (i32, DrillDocument, Vec<(String, Vec<Rendered>)>);

/// Refuses, naming `lever`, while the safety lever is engaged.
fn refuse_if_lever(c: &mut DbConn) -> Result<(), Error> {
    let l = lever::get(c)?;
    if l.engaged {
        return Err(Error::Refused(shared::ApiError::field(
            ErrorCode::Conflict,
            "lever",
            format!(
                "the drill safety lever is engaged (by {}{}): no drill may start until it is \
                 released",
                l.changed_by,
                match l.comment.is_empty() {
                    true => String::new(),
                    false => format!(": {}", l.comment),
                }
            ),
        )));
    }
    Ok(())
}

/// What a run of version `version` (none: the latest) of drill `id` would do, target by
/// target, without the steady state (see [`steady_state`]). A fault that does not render for
/// a target is a 400 naming `faults[i].parameters.<name>`.
pub fn plan(c: &mut DbConn, id: i64, version: Option<i32>) -> Result<Planned, Error> {
    let (version, doc) = drills::saved(c, id, version)?;
    let ops = pinned_operations(c, &doc)?;
    let mut out = Vec::new();
    for t in doc.selected() {
        // A placeholder run id: the preview's ids say `drill-0-…`, a run's its own id.
        let rendered = render(
            &doc,
            &ops,
            &t.variables(),
            &shared::drill::fault_id(0, &t.name),
        )?;
        out.push((t.name.clone(), rendered));
    }
    Ok((version, doc, out))
}

/// The preview of [`plan`], steady state not yet evaluated.
pub fn preview(id: i64, (version, doc, planned): Planned) -> Preview {
    let selected = planned
        .into_iter()
        .map(|(target, faults)| PreviewTarget {
            fault_id: shared::drill::fault_id(0, &target),
            target,
            faults: faults
                .iter()
                .map(|r| RenderedFault {
                    operation: r.operation.clone(),
                    version: r.version,
                    inject: summary(&r.inject, &r.vars),
                    recover: summary(&r.recover, &r.vars),
                })
                .collect(),
        })
        .collect();
    let hit = doc.selected().len();
    Preview {
        drill_id: id,
        version,
        selected,
        not_selected: doc.targets[hit..].iter().map(|t| t.name.clone()).collect(),
        steady_state: Vec::new(),
        steady_state_holds: true,
    }
}

/// What an action would call once rendered (method and URL, host and argv).
fn summary(
    a: &shared::action::Action,
    vars: &std::collections::BTreeMap<String, String>,
) -> String {
    let value = serde_json::to_value(a).unwrap_or_default();
    match shared::template::render_json(&value, vars) {
        Ok(v) => serde_json::from_value::<shared::action::Action>(v)
            .map(|a| a.summary())
            .unwrap_or_else(|e| format!("does not render: {e}")),
        Err((field, e)) => format!("does not render: {field}: {e}"),
    }
}

/// Evaluates `checks` all at once; the outcomes in order.
pub async fn evaluate(checker: &Arc<Checker>, checks: &[shared::check::Check]) -> Vec<CheckResult> {
    let mut outs: Vec<Option<CheckOutcome>> = vec![None; checks.len()];
    let mut stream = checker.evaluate_all(checks.to_vec(), checks.len().max(1));
    while let Some((i, out)) = stream.next().await {
        if let Some(slot) = outs.get_mut(i) {
            *slot = Some(out);
        }
    }
    checks
        .iter()
        .zip(outs)
        .map(|(c, o)| CheckResult {
            subject: c.subject(),
            outcome: o.unwrap_or_else(|| CheckOutcome::error("not evaluated", 0)),
        })
        .collect()
}

/// The first check that did not pass, as a reason: `subject: status: evidence`.
pub fn first_failure(results: &[CheckResult]) -> Option<String> {
    results
        .iter()
        .find(|r| r.outcome.status != CheckStatus::Pass)
        .map(|r| {
            format!(
                "{}: {}: {}",
                r.subject,
                r.outcome.status.as_str(),
                r.outcome.evidence
            )
        })
}

/// Fills the preview's steady state.
pub async fn steady_state(checker: &Arc<Checker>, doc: &DrillDocument, p: &mut Preview) {
    p.steady_state = evaluate(checker, &doc.steady_state).await;
    p.steady_state_holds = first_failure(&p.steady_state).is_none();
}

/// A dry run of version `version` (none: the latest) of drill `id`: the targets the blast
/// radius selects, each fault rendered for each of them, and the steady state evaluated now.
/// Nothing is injected or written (the API's preview and the console's dry run both).
pub async fn dry_run(
    store: &Store,
    checker: &Arc<Checker>,
    id: i64,
    version: Option<i32>,
) -> Result<Preview, Error> {
    let planned = store.run(move |c| plan(c, id, version)).await?;
    let doc = planned.1.clone();
    let mut p = preview(id, planned);
    steady_state(checker, &doc, &mut p).await;
    Ok(p)
}

/// Starts a run of version `version` (none: the latest) of drill `id`: refused while the lever
/// is engaged; every selected target's faults must render. Returns the run's id.
pub fn start(c: &mut DbConn, actor: &Actor, id: i64, version: Option<i32>) -> Result<i64, Error> {
    crate::store::write(c, |c| {
        refuse_if_lever(c)?;
        let (version, doc, _) = plan(c, id, version)?;
        let targets: Vec<store::NewTarget> = doc
            .selected()
            .iter()
            .map(|t| store::NewTarget {
                name: t.name.clone(),
                vars: t.variables(),
            })
            .collect();
        Ok(store::insert(c, actor, (id, version), &doc, &targets)?)
    })
}

/// An operator stops run `id` (audited): every target is recovered, the run ends `stopped`
/// (`cancelled` when nothing was injected yet). 409 when it has already ended.
pub fn stop(c: &mut DbConn, actor: &Actor, id: i64, comment: &str) -> Result<(), Error> {
    let reason = match comment.is_empty() {
        true => format!("stopped by {}", actor.name),
        false => format!("stopped by {}: {comment}", actor.name),
    };
    let event = actor.event("drill.run.stop", "drill_run", Some(id.to_string()));
    crate::store::audit::audited(c, &event.detail(reason.clone()), |c| {
        let run = store::row(c, id)?;
        if !store::end(c, id, RunState::Stopped, &reason)? {
            return Err(Error::Store(crate::store::StoreError::conflict(format!(
                "run {id} is {} already",
                run.state().as_str()
            ))));
        }
        Ok(())
    })
}

/// Pulls (`engaged`) or releases the safety lever; pulling it ends every active run in the
/// same transaction. Returns the lever and the runs it stopped.
pub fn set_lever(
    c: &mut DbConn,
    actor: &Actor,
    engaged: bool,
    comment: &str,
) -> Result<(Lever, Vec<i64>), Error> {
    crate::store::write(c, |c| {
        let l = lever::set(c, actor, engaged, comment)?;
        let stopped = match engaged {
            true => store::end_all(c, &format!("safety lever pulled by {}", actor.name))?,
            false => Vec::new(),
        };
        Ok((l, stopped))
    })
}

/// [`set_lever`] on the store as `actor`, then the `has_drill_safety_lever` gauge (the
/// reconcile loop also sets it each tick; this makes `/metrics` right at once).
pub async fn pull_lever(
    store: &Store,
    metrics: &Metrics,
    actor: Actor,
    engaged: bool,
    comment: String,
) -> Result<(Lever, Vec<i64>), Error> {
    let (lever, stopped) = store
        .run(move |c| set_lever(c, &actor, engaged, &comment))
        .await?;
    metrics.drill_safety_lever.set(i64::from(lever.engaged));
    Ok((lever, stopped))
}
