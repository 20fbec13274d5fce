//! Evaluation: everything about a plan document that needs the catalog, the config or the
//! database, each problem named by its field path (`stages[1].steps[0].operation.params.host`)
//! and, for a step over a target group, the member it fails for. Parameters without a default
//! are only known when the plan runs: what depends on them is judged then (and by a preview).

use super::Context;
use super::catalog::{self, Found, Pinned};
use crate::engine::Error;
use crate::store::iam::access::{self, Role};
use crate::store::inspection::{channels, rules};
use crate::store::plans;
use crate::store::plans::triggers::monitor_named as monitor_id;
use crate::store::{DbConn, StoreError};
use serde_json::{Map, Value};
use shared::ApiError;
use shared::action::Action;
use shared::check::Check;
use shared::inspection::Target;
use shared::permissions::Permission;
use shared::plan::{
    self as plan, Evaluation, Finding, OperationPin, PlanDocument, Step, StepKind, TargetGroup,
};
use std::collections::BTreeMap;

const APPROVE: Permission = Permission::PlansApprove;

/// A member of the step's target group, or none for a step without one.
pub(super) type Member<'a> = Option<(&'a TargetGroup, &'a Target)>;

/// The members a step runs for: each of its group's, or once without one.
pub(super) fn members<'a>(doc: &'a PlanDocument, step: &Step) -> Vec<Member<'a>> {
    match doc.step_group(step).and_then(|g| doc.group(g)) {
        Some(g) => g.members.iter().map(|m| Some((g, m))).collect(),
        None => vec![None],
    }
}

/// "for target `db1`: " when the step has targets.
pub(super) fn for_member(m: Member<'_>) -> String {
    m.map(|(_, t)| format!("for target `{}`: ", t.name))
        .unwrap_or_default()
}

/// A value that still holds a parameter only known when the plan runs.
fn pending(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("{{ params."),
        Value::Array(a) => a.iter().any(pending),
        Value::Object(o) => o.values().any(pending),
        _ => false,
    }
}

/// The parameters' defaults; a parameter without one stands for itself (`{{ params.x }}`).
fn sample_values(doc: &PlanDocument) -> BTreeMap<String, Value> {
    doc.parameters
        .iter()
        .map(|p| {
            let v = p
                .default
                .clone()
                .unwrap_or_else(|| Value::String(format!("{{{{ params.{} }}}}", p.name)));
            (p.name.clone(), v)
        })
        .collect()
}

/// `action` of operation `op` with the parameter values `values` (checked) rendered in;
/// secrets stay templates for the executor.
pub(super) fn render_action(
    op: &Pinned,
    action: &Action,
    values: &BTreeMap<String, Value>,
    field: &str,
) -> Result<Action, ApiError> {
    let vars = shared::operation::template_vars(&op.input.parameters, values);
    let json = serde_json::to_value(action).unwrap_or_default();
    let rendered = plan::render(&json, &vars, field)?;
    serde_json::from_value(rendered)
        .map_err(|e| ApiError::invalid(field, format!("the rendered action: {e}")))
}

struct Evaluator<'a> {
    ctx: &'a Context,
    problems: Vec<Finding>,
    pins: Vec<OperationPin>,
    roles: Option<Vec<Role>>,
}

pub fn evaluate(conn: &mut DbConn, ctx: &Context, doc: &PlanDocument) -> Result<Evaluation, Error> {
    if let Err(e) = doc.validate() {
        return Ok(Evaluation {
            ok: false,
            problems: vec![Finding {
                field: e.field,
                detail: e.detail,
            }],
            operations: vec![],
        });
    }
    let mut ev = Evaluator {
        ctx,
        problems: vec![],
        pins: vec![],
        roles: None,
    };
    let values = sample_values(doc);
    for (at, step) in doc.steps() {
        ev.step(conn, doc, &values, &at, step)?;
    }
    ev.triggers(conn, doc)?;
    for (i, c) in doc
        .notify
        .iter()
        .flat_map(|n| n.channels.iter().enumerate())
    {
        if channels::row_by_name(conn, c)?.is_none() {
            ev.problem(
                format!("notify.channels[{i}]"),
                format!("no notification channel named `{c}`"),
            );
        }
    }
    ev.pins.sort();
    ev.pins.dedup();
    Ok(Evaluation {
        ok: ev.problems.is_empty(),
        problems: ev.problems,
        operations: ev.pins,
    })
}

impl Evaluator<'_> {
    /// A schedule with a slot to come; risk triggers naming rules and monitors that exist.
    fn triggers(&mut self, conn: &mut DbConn, doc: &PlanDocument) -> Result<(), Error> {
        if let Some(s) = &doc.triggers.schedule
            && s.parse()?.next_after(crate::store::now_ms()).is_none()
        {
            self.problem("triggers.schedule.cron", "the schedule has no slot to come");
        }
        for (i, t) in doc.triggers.risk_events.iter().enumerate() {
            let at = format!("triggers.risk_events[{i}]");
            if let Some(rule) = &t.rule
                && rules::id_by_name(conn, rule)?.is_none()
            {
                self.problem(format!("{at}.rule"), format!("no inspection rule `{rule}`"));
            }
            if let Some(m) = &t.monitor
                && monitor_id(conn, m)?.is_none()
            {
                self.problem(format!("{at}.monitor"), format!("no monitor named `{m}`"));
            }
        }
        Ok(())
    }

    fn problem(&mut self, field: impl Into<String>, detail: impl Into<String>) {
        self.problems.push(Finding {
            field: Some(field.into()),
            detail: detail.into(),
        });
    }

    fn refused(&mut self, e: ApiError, m: Member<'_>) {
        self.problems.push(Finding {
            field: e.field,
            detail: format!("{}{}", for_member(m), e.detail),
        });
    }

    fn step(
        &mut self,
        conn: &mut DbConn,
        doc: &PlanDocument,
        values: &BTreeMap<String, Value>,
        at: &str,
        step: &Step,
    ) -> Result<(), Error> {
        let k = format!("{at}.{}", step.kind.as_str());
        match &step.kind {
            StepKind::Operation(o) => {
                let call = (o.code.as_str(), o.version, &o.params);
                self.operation(conn, doc, values, &k, call, step)
            }
            StepKind::Batches(b) => {
                let call = (b.code.as_str(), b.version, &b.params);
                self.operation(conn, doc, values, &k, call, step)
            }
            StepKind::Check(c) => {
                let gate = serde_json::to_value(&c.gate).unwrap_or_default();
                for m in members(doc, step) {
                    let vars = doc.variables(values, m);
                    let rendered = match plan::render(&gate, &vars, &format!("{k}.gate")) {
                        Ok(r) if pending(&r) => continue,
                        Ok(r) => r,
                        Err(e) => {
                            self.refused(e, m);
                            continue;
                        }
                    };
                    let checked = serde_json::from_value::<Check>(rendered)
                        .map_err(|e| Error::invalid(format!("{k}.gate"), e.to_string()))
                        .and_then(|c| self.ctx.checker.validate(&c, &format!("{k}.gate.")));
                    if let Err(e) = checked {
                        let (field, detail) = e.parts();
                        self.problems.push(Finding {
                            field,
                            detail: format!("{}{detail}", for_member(m)),
                        });
                    }
                }
                Ok(())
            }
            StepKind::Plan(p) => self.sub_plan(conn, doc, &k, p),
            StepKind::Notify(n) => {
                for (i, c) in n.channels.iter().enumerate() {
                    if channels::row_by_name(conn, c)?.is_none() {
                        self.problem(
                            format!("{k}.channels[{i}]"),
                            format!("no notification channel named `{c}`"),
                        );
                    }
                }
                Ok(())
            }
            StepKind::Approval(a) => {
                if self.roles.is_none() {
                    self.roles = Some(access::roles(conn).map_err(StoreError::from)?);
                }
                let known = self.roles.clone().unwrap_or_default();
                let mut unknown = false;
                for (i, r) in a.roles.iter().enumerate() {
                    if !known.iter().any(|k| k.name == *r) {
                        unknown = true;
                        self.problem(
                            format!("{k}.roles[{i}]"),
                            format!(
                                "no role named `{r}` (roles: {})",
                                crate::engine::names(known.iter().map(|k| &k.name))
                            ),
                        );
                    }
                }
                let approves = |r: &&Role| {
                    a.roles.contains(&r.name) && r.permissions.iter().any(|p| p == APPROVE.as_str())
                };
                if !unknown && !known.iter().any(|r| approves(&r)) {
                    self.problem(
                        format!("{k}.roles"),
                        format!(
                            "none of these roles grants {}: nobody could approve the step",
                            APPROVE.as_str()
                        ),
                    );
                }
                Ok(())
            }
            StepKind::Wait(_) => Ok(()),
        }
    }

    /// An operation (or batches) step: the operation is published, its parameters have their
    /// types, and what it runs is allowed, for every member of the step's group.
    fn operation(
        &mut self,
        conn: &mut DbConn,
        doc: &PlanDocument,
        values: &BTreeMap<String, Value>,
        k: &str,
        (code, version, params): (&str, Option<i32>, &Map<String, Value>),
        step: &Step,
    ) -> Result<(), Error> {
        let Some(op) = self.resolve(conn, k, code, version)? else {
            return Ok(());
        };
        for m in members(doc, step) {
            let vars = doc.variables(values, m);
            let field = format!("{k}.params");
            let rendered = match plan::render(&Value::Object(params.clone()), &vars, &field) {
                Ok(Value::Object(r)) => r,
                Ok(_) => continue,
                Err(e) => {
                    self.refused(e, m);
                    continue;
                }
            };
            let (waiting, known): (Map<String, Value>, Map<String, Value>) =
                rendered.into_iter().partition(|(_, v)| pending(v));
            let checked = match op.input.check_values(&known, &format!("{k}.params.")) {
                Ok(c) => c,
                Err(e) => {
                    let name = e.field.as_deref().and_then(|f| f.rsplit('.').next());
                    if !name.is_some_and(|n| waiting.contains_key(n)) {
                        self.refused(e, m);
                    }
                    continue;
                }
            };
            if !waiting.is_empty() {
                continue;
            }
            let actions = [
                ("do", Some(&op.input.do_action)),
                ("undo", op.input.undo.as_ref()),
            ];
            for (which, action) in actions {
                let Some(action) = action else { continue };
                let problem = render_action(&op, action, &checked, &format!("{k}.code"))
                    .map_err(Error::from)
                    .and_then(|a| {
                        self.ctx.executor.validate(&a, "")?;
                        self.ctx.executor.check_secrets(&a, "")
                    });
                if let Err(e) = problem {
                    let (field, detail) = e.parts();
                    let blame = blame(action, field.as_deref(), params, k);
                    let at = field.map(|f| format!(" {which}.{f}")).unwrap_or_default();
                    self.problem(
                        blame,
                        format!("{}operation `{code}`{at}: {detail}", for_member(m)),
                    );
                }
            }
        }
        Ok(())
    }

    /// The operation version a step runs, once it is known to be published; a problem at the
    /// step's `code` or `version` otherwise.
    fn resolve(
        &mut self,
        conn: &mut DbConn,
        k: &str,
        code: &str,
        version: Option<i32>,
    ) -> Result<Option<Pinned>, Error> {
        let op = match catalog::find(conn, code, version)? {
            Found::NoCode => {
                self.problem(
                    format!("{k}.code"),
                    format!("no operation `{code}` in the catalog"),
                );
                return Ok(None);
            }
            Found::NoVersion { latest } => {
                self.problem(
                    format!("{k}.version"),
                    format!("operation `{code}` has versions 1 to {latest}"),
                );
                return Ok(None);
            }
            Found::Operation(op) => *op,
        };
        if !op.status.referenceable() {
            self.problem(
                format!("{k}.code"),
                format!(
                    "operation `{code}` is {}: only published operations can be referenced",
                    op.status.as_str()
                ),
            );
            return Ok(None);
        }
        self.pins.push(OperationPin {
            code: code.to_string(),
            version: op.version,
        });
        Ok(Some(op))
    }

    /// A sub-plan exists (at its pinned version) and runs no sub-plan itself; a plan that is
    /// another's sub-plan runs none either (one level).
    fn sub_plan(
        &mut self,
        conn: &mut DbConn,
        doc: &PlanDocument,
        k: &str,
        p: &plan::SubPlanStep,
    ) -> Result<(), Error> {
        let Some(row) = plans::row_by_name(conn, &p.name)? else {
            self.problem(format!("{k}.name"), format!("no plan named `{}`", p.name));
            return Ok(());
        };
        let sub = match p.version {
            None => row.document()?,
            Some(v) if (1..=row.version).contains(&v) => plans::version(conn, row.id, v)?.document,
            Some(_) => {
                self.problem(
                    format!("{k}.version"),
                    format!("plan `{}` has versions 1 to {}", p.name, row.version),
                );
                return Ok(());
            }
        };
        if let Some((at, s)) = sub
            .steps()
            .find(|(_, s)| matches!(s.kind, StepKind::Plan(_)))
        {
            let StepKind::Plan(inner) = &s.kind else {
                return Ok(());
            };
            let why = match inner.name == doc.name {
                true => "a cycle",
                false => "two levels",
            };
            self.problem(
                format!("{k}.name"),
                format!(
                    "plan `{}` runs plan `{}` ({at}): {why}; sub-plans go one level deep",
                    p.name, inner.name
                ),
            );
            return Ok(());
        }
        let parents: Vec<String> = plans::parents(conn, &doc.name)?
            .into_iter()
            .filter(|n| *n != doc.name)
            .collect();
        if !parents.is_empty() {
            self.problem(
                format!("{k}.name"),
                format!(
                    "plan `{}` is a sub-plan of {}: it cannot run sub-plans itself (one level)",
                    doc.name,
                    parents.join(", ")
                ),
            );
            return Ok(());
        }
        let literal: Map<String, Value> = p
            .params
            .iter()
            .filter(|(_, v)| !v.as_str().is_some_and(|s| s.contains("{{")))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(k2) = p
            .params
            .keys()
            .find(|n| !sub.parameters.iter().any(|x| &x.name == *n))
        {
            self.problem(
                format!("{k}.params.{k2}"),
                format!("plan `{}` has no parameter `{k2}`", p.name),
            );
        } else if let Err(e) =
            shared::operation::check_values(&sub.parameters, &literal, &format!("{k}.params."))
        {
            let name = e.field.as_deref().and_then(|f| f.rsplit('.').next());
            if !name.is_some_and(|n| p.params.contains_key(n)) || e.detail != "is required" {
                self.refused(e, None);
            }
        }
        Ok(())
    }
}

/// The field to blame for a problem at `field` (`host`, `args[1]`) of an operation's action:
/// the step's parameter the action's template there uses, or else the step's `code`.
fn blame(action: &Action, field: Option<&str>, params: &Map<String, Value>, k: &str) -> String {
    let json = serde_json::to_value(action).unwrap_or_default();
    field
        .and_then(|f| shared::template::value_at(&json, f))
        .and_then(|v| shared::template::json_variables(v).ok())
        .and_then(|vars| vars.into_iter().find(|v| params.contains_key(v)))
        .map_or_else(|| format!("{k}.code"), |v| format!("{k}.params.{v}"))
}
