//! Checking definitions before they are stored: a rule's parameters against its plugin and the
//! config (sources, allow-listed commands), a task's rules × targets (every template renders,
//! every check is valid), its schedule and channels. Errors name the field as the client sent
//! it. Shared by the API and config-as-code apply.

use super::plan;
use super::schedule::{Schedule, next_slot};
use crate::engine::Error;
use crate::engine::checks::Checker;
use crate::store::inspection::{channels, plugins};
use crate::store::{DbConn, now_ms};
use shared::inspection::{PluginInput, RuleInput, TaskInput};
use shared::notify::ChannelSpec;

/// The plugin id of a valid rule.
pub fn rule(conn: &mut DbConn, checker: &Checker, input: &RuleInput) -> Result<i64, Error> {
    input.validate()?;
    let plugin = plugins::row_by_name(conn, &input.plugin)?
        .ok_or_else(|| Error::invalid("plugin", format!("no plugin named `{}`", input.plugin)))?;
    let kind = plugin.kind()?;
    let merged = plan::merge(&plugin.defaults()?, &input.params);
    let vars = shared::template::json_variables(&merged)
        .map_err(|(path, e)| Error::invalid(format!("params.{path}"), e.to_string()))?;
    let check = kind.check(&merged, "params.")?;
    match checker.validate(&check, "params.") {
        // A templated parameter (`"target": "{{url}}"`) is only judged once rendered: tasks
        // check every rule for every target. What is not templated is judged here.
        Err(e) if !vars.is_empty() && in_templated(&merged, e.parts().0.as_deref()) => {
            Ok(plugin.id)
        }
        Err(e) => Err(e),
        Ok(()) => Ok(plugin.id),
    }
}

/// Whether `field` (`params.target`, `params.args[1]`) lies in a parameter that uses a template.
fn in_templated(params: &serde_json::Value, field: Option<&str>) -> bool {
    let Some(rest) = field.and_then(|f| f.strip_prefix("params.")) else {
        return false;
    };
    let key = rest.split(['.', '[']).next().unwrap_or(rest);
    params
        .get(key)
        .is_some_and(|v| shared::template::json_variables(v).is_ok_and(|n| !n.is_empty()))
}

pub fn plugin(input: &PluginInput) -> Result<(), Error> {
    input.validate()?;
    // Defaults must have the shape of the kind's parameters (known keys, right types); the
    // required parameters they leave to rules are filled with stand-ins to judge the rest.
    if let Some(map) = input.defaults.as_object() {
        let mut probe = map.clone();
        for k in required(input.kind) {
            let stand_in = if *k == "condition" { "== 1" } else { "x" };
            probe
                .entry(*k)
                .or_insert_with(|| serde_json::Value::String(stand_in.into()));
        }
        input
            .kind
            .check(&serde_json::Value::Object(probe), "defaults.")?;
    }
    Ok(())
}

/// Required parameter names of each kind (what `plugin` may fill in to judge defaults).
fn required(kind: shared::check::PluginKind) -> &'static [&'static str] {
    use shared::check::PluginKind as K;
    match kind {
        K::PageProbe | K::Tcp | K::Dns | K::Tls => &["target"],
        K::Promql | K::Sql => &["query", "condition"],
        K::Command => &["command"],
    }
}

/// The rule ids (in order) and next slot of a valid task.
pub fn task(
    conn: &mut DbConn,
    checker: &Checker,
    input: &TaskInput,
) -> Result<(Vec<i64>, Option<i64>), Error> {
    input.validate()?;
    if let Some(expr) = &input.schedule {
        Schedule::parse(expr, &input.timezone).map_err(|(f, e)| Error::invalid(f, e))?;
    } else if input.timezone.parse::<chrono_tz::Tz>().is_err() {
        return Err(Error::invalid(
            "timezone",
            format!("`{}` is not an IANA time zone", input.timezone),
        ));
    }
    let p = plan::resolve(conn, input.clone())?;
    for (ti, target) in p.targets().iter().enumerate() {
        for (ri, rule) in p.rules.iter().enumerate() {
            let check = plan::check_for(rule, target).map_err(|e| {
                let (field, detail) = e.parts();
                let at = if input.targets.is_empty() {
                    format!("rules[{ri}]")
                } else {
                    format!("targets[{ti}]")
                };
                Error::invalid(
                    at,
                    format!(
                        "rule `{}` for target `{}`: {}: {}",
                        rule.name,
                        target.name,
                        field.unwrap_or_default(),
                        detail
                    ),
                )
            })?;
            checker.validate(&check, "params.").map_err(|e| {
                Error::invalid(
                    format!("rules[{ri}]"),
                    format!("rule `{}`: {}", rule.name, e.parts().1),
                )
            })?;
        }
    }
    for (i, n) in input.notify.iter().enumerate() {
        if channels::row_by_name(conn, &n.channel)?.is_none() {
            return Err(Error::invalid(
                format!("notify[{i}].channel"),
                format!("no channel named `{}`", n.channel),
            ));
        }
    }
    let ids = p.rules.iter().map(|r| r.id).collect();
    Ok((ids, next_slot(input, now_ms())))
}

/// A named channel as the API and config files carry it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelInput {
    pub name: String,
    pub spec: ChannelSpec,
}

/// The channel as the API shows it: secrets redacted.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Channel {
    pub id: i64,
    pub name: String,
    pub spec: ChannelSpec,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl Channel {
    pub fn from_row(row: &channels::ChannelRow) -> Result<Self, Error> {
        let spec: ChannelSpec = crate::store::inspection::parse("channel", &row.definition)?;
        Ok(Self {
            id: row.id,
            name: row.name.clone(),
            spec: spec.redacted(),
            created_at: crate::store::to_datetime(row.created_at),
            updated_at: crate::store::to_datetime(row.updated_at),
        })
    }
}

/// Validates a channel; `old` (on update) lends its secrets where the input leaves them empty.
pub fn channel(input: &mut ChannelInput, old: Option<&channels::ChannelRow>) -> Result<(), Error> {
    shared::inspection::validate_name(&input.name, "name")?;
    if let Some(old) = old {
        let old: ChannelSpec = crate::store::inspection::parse("channel", &old.definition)?;
        input.spec.keep_secrets_from(&old);
    }
    Ok(input.spec.validate("spec.")?)
}
