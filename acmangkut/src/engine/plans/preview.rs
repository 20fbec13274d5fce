//! The dry run: every step of a plan version resolved with its parameters rendered, and what it
//! would call (method + URL, host + argv, the check and its source), for every member of its
//! target group, batch by batch. Nothing is called and nothing is written.

use super::catalog::{self, Found};
use super::evaluate::{Member, for_member, members, render_action};
use crate::engine::Error;
use crate::engine::checks::Checker;
use crate::store::{DbConn, plans};
use serde_json::Value;
use shared::ApiError;
use shared::check::Check;
use shared::plan::{
    self as plan, GateRun, PlanDocument, Preview, PreviewCall, PreviewStage, PreviewStep, Step,
    StepKind,
};
use std::collections::BTreeMap;

/// The preview of `doc` (version `version` of plan `plan_id`) run with `given` parameters;
/// the first problem met is the error, naming its field.
pub fn preview(
    conn: &mut DbConn,
    (plan_id, version): (i64, i32),
    doc: &PlanDocument,
    given: &serde_json::Map<String, Value>,
) -> Result<Preview, Error> {
    let values = doc.parameter_values(given)?;
    // The operation versions this plan version pinned when it was saved (a step without a
    // version of its own ran the latest published one then).
    let name = plans::row(conn, plan_id)?.name;
    let pins = plans::pins(conn, &name, version)?;
    let cx = Cx {
        doc,
        values: &values,
        pins: &pins,
    };
    let mut stages = Vec::with_capacity(doc.stages.len());
    for (i, stage) in doc.stages.iter().enumerate() {
        let mut steps = Vec::with_capacity(stage.steps.len());
        for (j, step) in stage.steps.iter().enumerate() {
            let at = plan::step_path(i, j);
            steps.push(preview_step(conn, &cx, &at, step)?);
        }
        stages.push(PreviewStage {
            name: stage.name.clone(),
            max_parallelism: stage.max_parallelism,
            steps,
        });
    }
    Ok(Preview {
        plan_id,
        name: doc.name.clone(),
        version,
        params: values,
        stages,
        gates: Vec::new(),
    })
}

/// Runs the read-only gates of `p`'s check steps through the shared [`Checker`] and lists
/// each in `p.gates`: probes, PromQL and SQL (which the checker runs in a read-only
/// transaction); command gates are listed as not run (nothing marks a command read-only).
pub async fn run_checks(checker: &Checker, p: &mut Preview) {
    let mut gates = Vec::new();
    for step in p.stages.iter().flat_map(|s| &s.steps) {
        if step.kind != "check" {
            continue;
        }
        for call in &step.calls {
            let check = call
                .spec
                .clone()
                .and_then(|v| serde_json::from_value::<Check>(v).ok());
            let (ran, outcome, note) = match check {
                Some(Check::Command(_)) => (
                    false,
                    None,
                    "not run: a command may change something".to_string(),
                ),
                Some(c) => (true, Some(checker.evaluate(&c).await), String::new()),
                None => (false, None, "not run: the gate did not resolve".into()),
            };
            gates.push(GateRun {
                field: step.field.clone(),
                target: call.target.clone(),
                call: call.call.clone(),
                ran,
                outcome,
                note,
            });
        }
    }
    p.gates = gates;
}

/// What every step of one preview looks at.
struct Cx<'a> {
    doc: &'a PlanDocument,
    values: &'a BTreeMap<String, Value>,
    pins: &'a [(String, i32)],
}

impl Cx<'_> {
    /// The version a step runs: its own, else the latest its plan version pinned.
    fn version(&self, code: &str, own: Option<i32>) -> Option<i32> {
        own.or_else(|| {
            let pinned = self.pins.iter().filter(|(c, _)| c == code);
            pinned.map(|(_, v)| *v).max()
        })
    }
}

fn preview_step(
    conn: &mut DbConn,
    cx: &Cx<'_>,
    at: &str,
    step: &Step,
) -> Result<PreviewStep, Error> {
    let (doc, values) = (cx.doc, cx.values);
    let k = format!("{at}.{}", step.kind.as_str());
    let mut detail = String::new();
    let mut calls = Vec::new();
    match &step.kind {
        StepKind::Operation(o) => {
            for m in members(doc, step) {
                let call = (o.code.as_str(), cx.version(&o.code, o.version), &o.params);
                calls.push(operation_call(conn, cx, &k, call, m)?);
            }
        }
        StepKind::Batches(b) => {
            let ms = members(doc, step);
            let count = ms.len().div_ceil(b.size);
            let pause = serde_json::to_value(b.pause).unwrap_or_default();
            let pause = pause.as_str().unwrap_or_default();
            detail = format!("{count} batch(es) of up to {}; pause: {pause}", b.size);
            for (n, batch) in ms.chunks(b.size).enumerate() {
                for m in batch {
                    let call = (b.code.as_str(), cx.version(&b.code, b.version), &b.params);
                    let mut c = operation_call(conn, cx, &k, call, *m)?;
                    c.batch = Some(n + 1);
                    calls.push(c);
                }
            }
        }
        StepKind::Check(c) => {
            let gate = serde_json::to_value(&c.gate).unwrap_or_default();
            detail = format!("must pass; tried every {}", c.retry_interval);
            for m in members(doc, step) {
                let vars = doc.variables(values, m);
                let rendered = plan::render(&gate, &vars, &format!("{k}.gate"))?;
                let check: Check = serde_json::from_value(rendered.clone())
                    .map_err(|e| Error::invalid(format!("{k}.gate"), e.to_string()))?;
                calls.push(PreviewCall {
                    target: m.map(|(_, t)| t.name.clone()),
                    batch: None,
                    operation: None,
                    params: Value::Null,
                    call: check.subject(),
                    spec: Some(rendered),
                    undo: None,
                });
            }
        }
        StepKind::Plan(p) => {
            let vars = doc.variables(values, None);
            let params = plan::render(
                &Value::Object(p.params.clone()),
                &vars,
                &format!("{k}.params"),
            )?;
            let version = p.version.map_or("latest".into(), |v| v.to_string());
            calls.push(PreviewCall {
                target: None,
                batch: None,
                operation: Some(format!("{}@{version}", p.name)),
                params,
                call: format!("plan {}", p.name),
                spec: None,
                undo: None,
            });
        }
        StepKind::Notify(n) => {
            let vars = doc.variables(values, None);
            let message = Value::String(n.message.clone());
            let message = plan::render(&message, &vars, &format!("{k}.message"))?;
            for c in &n.channels {
                calls.push(PreviewCall {
                    target: None,
                    batch: None,
                    operation: None,
                    params: Value::Null,
                    call: format!("notify {c}"),
                    spec: Some(serde_json::json!({"channel": c, "message": message})),
                    undo: None,
                });
            }
        }
        StepKind::Approval(a) => {
            detail = format!("approval by {}", a.roles.join(", "));
            if let Some(e) = a.expires {
                detail.push_str(&format!("; expires after {e}"));
            }
        }
        StepKind::Wait(d) => detail = format!("wait {d}"),
    }
    Ok(PreviewStep {
        field: at.to_string(),
        name: step.name.clone(),
        kind: step.kind.as_str().into(),
        timeout: step.timeout,
        retries: step.retries,
        on_failure: step.on_failure,
        detail,
        calls,
    })
}

/// What an operation step does for one member: its `do` action, rendered.
fn operation_call(
    conn: &mut DbConn,
    cx: &Cx<'_>,
    k: &str,
    (code, version, params): (&str, Option<i32>, &serde_json::Map<String, Value>),
    m: Member<'_>,
) -> Result<PreviewCall, Error> {
    let op = match catalog::find(conn, code, version)? {
        Found::Operation(op) => op,
        Found::NoCode | Found::NoVersion { .. } => {
            return Err(Error::invalid(
                format!("{k}.code"),
                format!("no operation `{code}` at that version in the catalog"),
            ));
        }
    };
    let vars = cx.doc.variables(cx.values, m);
    let rendered = plan::render(
        &Value::Object(params.clone()),
        &vars,
        &format!("{k}.params"),
    )?;
    let within = |e: ApiError| {
        Error::invalid(
            e.field.unwrap_or_else(|| k.to_string()),
            format!("{}{}", for_member(m), e.detail),
        )
    };
    let map = rendered.as_object().cloned().unwrap_or_default();
    let checked = op
        .input
        .check_values(&map, &format!("{k}.params."))
        .map_err(within)?;
    let render = |action| render_action(&op, action, &checked, &format!("{k}.code"));
    let action = render(&op.input.do_action).map_err(within)?;
    let undo = op
        .input
        .undo
        .as_ref()
        .map(render)
        .transpose()
        .map_err(within)?;
    Ok(PreviewCall {
        target: m.map(|(_, t)| t.name.clone()),
        batch: None,
        operation: Some(format!("{code}@{}", op.version)),
        params: serde_json::to_value(&checked).unwrap_or_default(),
        call: action.summary(),
        spec: Some(serde_json::to_value(&action).unwrap_or_default()),
        undo: undo.map(|u| serde_json::to_value(&u).unwrap_or_default()),
    })
}
