//! What a run does, fixed when it starts: the task, and each rule at its current version with
//! its plugin's defaults merged in. Expanding the plan gives one check per rule × target.

use crate::engine::Error;
use crate::store::DbConn;
use crate::store::inspection::{plugins, rules, tasks};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::check::{Check, PluginKind};
use shared::inspection::{Level, Target, TaskInput};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunPlan {
    pub task: TaskInput,
    pub rules: Vec<PlannedRule>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedRule {
    pub id: i64,
    pub version: i32,
    pub name: String,
    pub level: Level,
    pub kind: PluginKind,
    /// The plugin's defaults with the rule's parameters over them, not yet templated.
    pub params: Value,
}

/// Rule parameters over plugin defaults, key by key (one level deep: a rule that sets
/// `headers` replaces the plugin's `headers`).
pub fn merge(defaults: &Value, params: &Value) -> Value {
    let mut out = defaults.as_object().cloned().unwrap_or_default();
    if let Some(p) = params.as_object() {
        for (k, v) in p {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// Reads the task's rules as they are now.
pub fn build(conn: &mut DbConn, task_id: i64) -> Result<RunPlan, Error> {
    let task = tasks::row(conn, task_id)?.input()?;
    resolve(conn, task)
}

/// The plan of `task` (stored or not yet): each rule it names at its current version, with its
/// plugin's defaults merged in. A missing rule is an error naming `rules[i]`.
pub fn resolve(conn: &mut DbConn, task: TaskInput) -> Result<RunPlan, Error> {
    let rows = rules::rows_by_names(conn, &task.rules, "rules")?;
    // Rules share plugins: read each once.
    let mut plugins_by_id = std::collections::HashMap::new();
    let mut planned = Vec::with_capacity(rows.len());
    for row in rows {
        let input = row.input()?;
        let plugin = match plugins_by_id.entry(row.plugin_id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(plugins::row(conn, row.plugin_id)?)
            }
        };
        planned.push(PlannedRule {
            id: row.id,
            version: row.version,
            name: row.name.clone(),
            level: input.level,
            kind: plugin.kind()?,
            params: merge(&plugin.defaults()?, &input.params),
        });
    }
    Ok(RunPlan {
        task,
        rules: planned,
    })
}

/// One rule against one target.
pub struct Item {
    pub seq: i32,
    pub rule: usize,
    pub target: String,
    /// The rendered check, or why it could not be built (an error finding, not a crash).
    pub check: Result<Check, String>,
}

/// Builds a rule's check for a target: templates rendered, parameters parsed and validated.
pub fn check_for(rule: &PlannedRule, target: &Target) -> Result<Check, Error> {
    let rendered = shared::template::render_json(&rule.params, &target.variables())
        .map_err(|(path, e)| Error::invalid(format!("params.{path}"), e.to_string()))?;
    let check = rule.kind.check(&rendered, "params.")?;
    check.validate("params.")?;
    Ok(check)
}

impl RunPlan {
    pub fn targets(&self) -> Vec<Target> {
        if self.task.targets.is_empty() {
            vec![Target {
                name: String::new(),
                vars: Default::default(),
            }]
        } else {
            self.task.targets.clone()
        }
    }

    pub fn items(&self) -> Vec<Item> {
        let targets = self.targets();
        let mut out = Vec::with_capacity(self.rules.len() * targets.len());
        for (ri, rule) in self.rules.iter().enumerate() {
            for t in &targets {
                out.push(Item {
                    seq: i32::try_from(out.len()).unwrap_or(i32::MAX),
                    rule: ri,
                    target: t.name.clone(),
                    check: check_for(rule, t).map_err(|e| match e.parts() {
                        (Some(f), detail) => format!("{f}: {detail}"),
                        (None, detail) => detail,
                    }),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rule_params_override_defaults_and_render_per_target() {
        let rule = PlannedRule {
            id: 1,
            version: 1,
            name: "web".into(),
            level: Level::High,
            kind: PluginKind::PageProbe,
            params: merge(
                &json!({"timeout_ms": 2000, "target": "x"}),
                &json!({"target": "http://{{host}}/"}),
            ),
        };
        let t = Target {
            name: "a".into(),
            vars: [("host".to_string(), "h1".to_string())].into(),
        };
        let Check::Probe(p) = check_for(&rule, &t).expect("renders") else {
            panic!("probe")
        };
        assert_eq!((p.target.as_str(), p.timeout_ms), ("http://h1/", 2000));
        let e = check_for(
            &rule,
            &Target {
                name: "b".into(),
                vars: Default::default(),
            },
        )
        .expect_err("no host");
        let e = shared::ApiError::from(e);
        assert_eq!(e.field.as_deref(), Some("params.target"));
    }
}
