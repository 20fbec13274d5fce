//! A plan version resolved for its parameters: what an execution runs. Built from the preview
//! (the same rendering, so an execution runs what the preview showed), with each operation's
//! `undo` for rollback. A step over a target group becomes one step per member, in parallel in
//! its stage.

use super::preview;
use crate::engine::Error;
use crate::store::DbConn;
use serde_json::Value;
use shared::execution::{
    DEFAULT_BACKOFF_MS, DEFAULT_STEP_TIMEOUT_MS, ResolvedPlan, ResolvedStage, ResolvedStep,
    StepKind as Kind,
};
use shared::plan::{self as plan, PlanDocument, PreviewCall, Step, StepKind};

/// Version `version` of plan `plan_id` (`doc`) resolved with `given` parameters; also the
/// parameter values (defaults filled in). Errors name the field.
pub fn resolve(
    conn: &mut DbConn,
    (plan_id, version): (i64, i32),
    doc: &PlanDocument,
    given: &serde_json::Map<String, Value>,
) -> Result<(ResolvedPlan, Value), Error> {
    let p = preview::preview(conn, (plan_id, version), doc, given)?;
    let mut stages = Vec::with_capacity(doc.stages.len());
    for (i, (stage, shown)) in doc.stages.iter().zip(&p.stages).enumerate() {
        let mut steps = Vec::new();
        for (j, (step, calls)) in stage.steps.iter().zip(&shown.steps).enumerate() {
            steps.extend(resolve_step(i, j, step, &calls.calls)?);
        }
        stages.push(ResolvedStage {
            name: stage.name.clone(),
            max_parallelism: stage
                .max_parallelism
                .map(|m| u32::try_from(m).unwrap_or(u32::MAX)),
            steps,
        });
    }
    let resolved = ResolvedPlan {
        plan: p.name,
        version: p.version,
        stages,
        rto_objective_ms: doc.rto_objective.map(|d| d.as_millis()),
    };
    let params = serde_json::to_value(&p.params).unwrap_or_default();
    Ok((resolved, params))
}

fn resolve_step(
    i: usize,
    j: usize,
    step: &Step,
    calls: &[PreviewCall],
) -> Result<Vec<ResolvedStep>, Error> {
    let at = plan::step_path(i, j);
    let base = |id: String, name: String, kind: Kind| ResolvedStep {
        id,
        name,
        kind,
        timeout_ms: step
            .timeout
            .map_or(DEFAULT_STEP_TIMEOUT_MS, |t| t.as_millis()),
        retries: step.retries,
        backoff_ms: step
            .retry_backoff
            .map_or(DEFAULT_BACKOFF_MS, |t| t.as_millis()),
        on_failure: step.on_failure,
    };
    let one = format!("s{}.{}", i + 1, j + 1);
    let spec = |v: &Option<Value>, what: &str| -> Result<Value, Error> {
        v.clone()
            .ok_or_else(|| Error::invalid(&at, format!("the preview shows no {what}")))
    };
    let each = |kind: &dyn Fn(&PreviewCall) -> Result<Kind, Error>| {
        calls
            .iter()
            .map(|c| {
                let (id, name) = match &c.target {
                    Some(t) => (
                        format!("{one}.{}", id_part(t)),
                        format!("{} ({t})", step.name),
                    ),
                    None => (one.clone(), step.name.clone()),
                };
                Ok(base(id, name, kind(c)?))
            })
            .collect::<Result<Vec<_>, Error>>()
    };
    match &step.kind {
        StepKind::Operation(_) => each(&|c| {
            Ok(Kind::Action {
                run: parse(spec(&c.spec, "action")?, &at)?,
                undo: c.undo.clone().map(|u| parse(u, &at)).transpose()?,
            })
        }),
        StepKind::Check(gate) => each(&|c| {
            Ok(Kind::Check {
                check: parse(spec(&c.spec, "check")?, &at)?,
                retry_interval_ms: gate.retry_interval.as_millis(),
            })
        }),
        StepKind::Wait(d) => Ok(vec![base(
            one,
            step.name.clone(),
            Kind::Wait { ms: d.as_millis() },
        )]),
        StepKind::Approval(a) => Ok(vec![base(
            one,
            step.name.clone(),
            Kind::Approval {
                roles: a.roles.clone(),
                expires_after_ms: a.expires.map(|e| e.as_millis()),
            },
        )]),
        StepKind::Batches(_) | StepKind::Plan(_) | StepKind::Notify(_) => Err(Error::invalid(
            format!("{at}.{}", step.kind.as_str()),
            "executions do not run this kind of step yet",
        )),
    }
}

fn parse<T: serde::de::DeserializeOwned>(v: Value, at: &str) -> Result<T, Error> {
    serde_json::from_value(v).map_err(|e| Error::invalid(at, format!("resolving: {e}")))
}

/// A target member's name as a part of a step id (letters, digits, `-`, `_`, `.`).
fn id_part(name: &str) -> String {
    name.chars()
        .map(|c| match c.is_ascii_alphanumeric() || "-_.".contains(c) {
            true => c,
            false => '-',
        })
        .collect()
}
