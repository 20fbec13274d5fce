//! A plan version resolved for its parameters: what an execution runs. Built from the preview
//! (the same rendering, so an execution runs what the preview showed), with each operation's
//! `undo` for rollback. A step over a target group becomes one step per member, in parallel in
//! its stage; a `batches` step one step per member in phases of `size` (a batch); a sub-plan
//! step its plan's steps (resolved with the step's parameters), one phase per stage of it.

use super::preview;
use crate::engine::Error;
use crate::store::{DbConn, StoreError, plans};
use serde_json::Value;
use shared::execution::{
    DEFAULT_BACKOFF_MS, DEFAULT_STEP_TIMEOUT_MS, Phase, ResolvedPlan, ResolvedStage, ResolvedStep,
    StepKind as Kind,
};
use shared::plan::{
    self as plan, BatchPause, PlanDocument, PreviewCall, Step, StepKind, SubPlanStep,
};

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
            let at = plan::step_path(i, j);
            let one = format!("s{}.{}", i + 1, j + 1);
            match &step.kind {
                StepKind::Plan(sub) => steps.extend(sub_plan(conn, &at, &one, step, sub, calls)?),
                _ => steps.extend(resolve_step(&at, &one, step, &calls.calls)?),
            }
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
        notify: doc.notify.clone(),
    };
    let params = serde_json::to_value(&p.params).unwrap_or_default();
    Ok((resolved, params))
}

/// The steps of plan step `one` (at field `at`).
fn resolve_step(
    at: &str,
    one: &str,
    step: &Step,
    calls: &[PreviewCall],
) -> Result<Vec<ResolvedStep>, Error> {
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
        phases: vec![],
    };
    let spec = |v: &Option<Value>, what: &str| -> Result<Value, Error> {
        v.clone()
            .ok_or_else(|| Error::invalid(at, format!("the preview shows no {what}")))
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
                    None => (one.to_string(), step.name.clone()),
                };
                Ok(base(id, name, kind(c)?))
            })
            .collect::<Result<Vec<_>, Error>>()
    };
    let action = |c: &PreviewCall| -> Result<Kind, Error> {
        Ok(Kind::Action {
            run: parse(spec(&c.spec, "action")?, at)?,
            undo: c.undo.clone().map(|u| parse(u, at)).transpose()?,
        })
    };
    match &step.kind {
        StepKind::Operation(_) => each(&action),
        StepKind::Batches(b) => {
            let mut steps = each(&action)?;
            let count = calls.iter().filter_map(|c| c.batch).max().unwrap_or(1);
            let count = u32::try_from(count).unwrap_or(u32::MAX);
            for (s, c) in steps.iter_mut().zip(calls) {
                let n = c.batch.map_or(1, |b| u32::try_from(b).unwrap_or(u32::MAX));
                // A pause only where a batch follows.
                let pause_after = n < count
                    && match b.pause {
                        BatchPause::Never => false,
                        BatchPause::AfterFirst => n == 1,
                        BatchPause::EveryBatch => true,
                    };
                s.phases.push(Phase {
                    of: one.to_string(),
                    n,
                    count,
                    kind: "batch".into(),
                    max_parallelism: None,
                    pause_after,
                });
            }
            Ok(steps)
        }
        StepKind::Check(gate) => each(&|c| {
            Ok(Kind::Check {
                check: parse(spec(&c.spec, "check")?, at)?,
                retry_interval_ms: gate.retry_interval.as_millis(),
            })
        }),
        StepKind::Wait(d) => Ok(vec![base(
            one.to_string(),
            step.name.clone(),
            Kind::Wait { ms: d.as_millis() },
        )]),
        StepKind::Approval(a) => Ok(vec![base(
            one.to_string(),
            step.name.clone(),
            Kind::Approval {
                roles: a.roles.clone(),
                expires_after_ms: a.expires.map(|e| e.as_millis()),
            },
        )]),
        StepKind::Notify(n) => {
            // The preview rendered the message once per channel: any of them will do.
            let message = calls
                .first()
                .and_then(|c| c.spec.as_ref())
                .and_then(|s| s["message"].as_str())
                .ok_or_else(|| Error::invalid(at, "the preview shows no message"))?;
            Ok(vec![base(
                one.to_string(),
                step.name.clone(),
                Kind::Notify {
                    channels: n.channels.clone(),
                    message: message.to_string(),
                },
            )])
        }
        StepKind::Plan(_) => Err(Error::invalid(at, "a sub-plan is resolved on its own")),
    }
}

/// The steps of sub-plan step `one`: the sub-plan (its pinned version, else its latest)
/// resolved with the step's parameters as the preview rendered them; its stages become phases
/// of the step, its step ids and names are prefixed with the step's.
fn sub_plan(
    conn: &mut DbConn,
    at: &str,
    one: &str,
    step: &Step,
    sub: &SubPlanStep,
    shown: &plan::PreviewStep,
) -> Result<Vec<ResolvedStep>, Error> {
    let field = format!("{at}.plan.name");
    let row = plans::row_by_name(conn, &sub.name)?
        .ok_or_else(|| Error::invalid(&field, format!("no plan named `{}`", sub.name)))?;
    let (version, doc) = match sub.version {
        None => (row.version, row.document()?),
        Some(v) => (v, plans::version(conn, row.id, v)?.document),
    };
    if doc
        .steps()
        .any(|(_, s)| matches!(s.kind, StepKind::Plan(_)))
    {
        return Err(Error::invalid(
            field,
            format!(
                "plan `{}` runs a sub-plan itself: sub-plans go one level deep",
                sub.name
            ),
        ));
    }
    let params = shown
        .calls
        .first()
        .and_then(|c| c.params.as_object().cloned())
        .unwrap_or_default();
    // The sub-plan's problems are the step's: blamed on its parameters, saying where.
    let (inner, _) = resolve(conn, (row.id, version), &doc, &params).map_err(|e| match e {
        Error::Invalid { .. }
        | Error::Refused(_)
        | Error::At { .. }
        | Error::Store(StoreError::Invalid { .. }) => {
            let (f, detail) = e.parts();
            let inside = f.map(|f| format!("{f}: ")).unwrap_or_default();
            let detail = format!("plan `{}` {inside}{detail}", sub.name);
            Error::invalid(format!("{at}.plan.params"), detail)
        }
        other => other,
    })?;
    let count = u32::try_from(inner.stages.len()).unwrap_or(u32::MAX);
    let mut out = Vec::new();
    for (k, stage) in inner.stages.into_iter().enumerate() {
        let phase = Phase {
            of: one.to_string(),
            n: u32::try_from(k + 1).unwrap_or(u32::MAX),
            count,
            kind: "stage".into(),
            max_parallelism: stage.max_parallelism,
            pause_after: false,
        };
        for mut s in stage.steps {
            s.id = format!("{one}.{}", s.id);
            s.name = format!("{} / {}", step.name, s.name);
            s.phases.insert(0, phase.clone());
            for p in &mut s.phases[1..] {
                p.of = format!("{one}.{}", p.of);
            }
            out.push(s);
        }
    }
    Ok(out)
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
