//! A rule: a plugin with parameters (one field per parameter of the plugin's schema, which
//! may use a task's template variables), a level and a governance suggestion.

use super::field::{Field, Kind};
use super::plugins::{as_json, name_and_description};
use super::{Definition, Note};
use crate::engine::Error;
use crate::engine::checks::Checker;
use crate::engine::inspection::save;
use crate::store::DbConn;
use crate::store::audit::Actor;
use crate::store::inspection::{plugins, rules as store};
use crate::ui::fields::Fields;
use crate::ui::i18n::Tr;
use crate::ui::inspection::LEVEL_KEYS;
use serde_json::Value;
use shared::inspection::{Level, Plugin, RuleInput};

pub struct Rules;

pub struct Ctx {
    /// Every plugin's name, for the choice.
    names: Vec<String>,
    /// The plugin the parameters are for: the one chosen, the rule's, or the first.
    plugin: Option<Plugin>,
}

/// A parameter's field, typed from its schema; every one may be left to the plugin's default.
fn param_field(t: Tr, key: &str, schema: &Value, default: Option<&Value>) -> Field {
    let ty = match &schema["type"] {
        Value::String(s) => s.as_str(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .find(|s| *s != "null")
            .unwrap_or(""),
        _ => "",
    };
    let kind = match ty {
        "string" if schema["enum"].is_array() => Kind::Select,
        "string" => Kind::Text,
        "integer" | "number" => Kind::Number,
        "boolean" => Kind::Bool,
        "array" if schema["items"]["type"] == "string" => Kind::Lines,
        _ => Kind::Any,
    };
    let mut help = schema["description"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Some(d) = default {
        help = format!("{help} ({}: {d})", t.get("ifm.plugin_default"))
            .trim()
            .to_string();
    }
    let field = Field::new(format!("params.{key}"), key, kind)
        .help(help)
        .optional();
    match kind {
        Kind::Select => {
            let values = schema["enum"].as_array().into_iter().flatten();
            let values = values
                .filter_map(Value::as_str)
                .map(|v| (v.to_string(), v.to_string()));
            field.labelled(std::iter::once((String::new(), "—".to_string())).chain(values))
        }
        Kind::Bool => field.bool_options("—"),
        _ => field,
    }
}

fn params(t: Tr, plugin: &Plugin) -> Vec<Field> {
    let Some(props) = plugin.schema["properties"].as_object() else {
        return vec![Field::new("params", t.get("ifm.params"), Kind::Json).optional()];
    };
    props
        .iter()
        .map(|(key, schema)| param_field(t, key, schema, plugin.defaults.get(key)))
        .collect()
}

impl Definition for Rules {
    type Input = RuleInput;
    type Ctx = Ctx;
    const NOUN: &'static str = "rule";
    const BASE: &'static str = "/inspection/rules";
    const LIST: &'static str = "/inspection/rules";
    const TITLES: [&'static str; 2] = ["ifm.rule_new", "ifm.rule_edit"];
    const REFRESH: &'static str = "ifm.load_params";

    fn load(
        c: &mut DbConn,
        id: Option<i64>,
        posted: Option<&Fields>,
    ) -> Result<(Ctx, Option<Value>), Error> {
        let stored = id.map(|id| store::get(c, id)).transpose()?;
        let all = plugins::list(c)?;
        let wanted = posted
            .map(|p| p.get("plugin").to_string())
            .filter(|p| !p.is_empty())
            .or_else(|| stored.as_ref().map(|r| r.input.plugin.clone()));
        let plugin = match wanted {
            Some(name) => all.iter().find(|p| p.name == name),
            None => all.first(),
        };
        let ctx = Ctx {
            names: all.iter().map(|p| p.name.clone()).collect(),
            plugin: plugin.cloned(),
        };
        Ok((ctx, stored.as_ref().map(as_json).transpose()?))
    }

    fn fields(t: Tr, ctx: &Ctx) -> Vec<Field> {
        let [name, description] = name_and_description(t);
        let chosen = ctx
            .plugin
            .as_ref()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let levels = Level::ALL
            .iter()
            .zip(LEVEL_KEYS)
            .map(|(l, key)| (l.as_str().to_string(), t.get(key).to_string()));
        let mut fields = vec![
            name,
            Field::new("plugin", t.get("ifm.plugin"), Kind::Select)
                .options(&ctx.names)
                .help(t.get("ifm.plugin_help"))
                .value(chosen),
            Field::new("level", t.get("ifm.level"), Kind::Select)
                .labelled(levels)
                .value(Level::High.as_str()),
        ];
        if let Some(p) = &ctx.plugin {
            fields.extend(params(t, p));
        }
        fields.extend([
            description,
            Field::new("suggestion", t.get("ifm.suggestion"), Kind::Area).optional(),
            Field::new("labels", t.get("ifm.labels"), Kind::Pairs)
                .help(t.get("ifm.pairs_help"))
                .optional(),
        ]);
        fields
    }

    /// The template variables: what parameters may use, and which the form uses now.
    fn notes(t: Tr, _: &Ctx, fields: &[Field]) -> Vec<Note> {
        let typed: Vec<Value> = fields
            .iter()
            .filter(|f| f.name.starts_with("params"))
            .map(|f| Value::String(f.value.clone()))
            .collect();
        let used = shared::template::json_variables(&Value::Array(typed)).unwrap_or_default();
        let mut lines = vec![t.get("ifm.template_help").to_string()];
        if !used.is_empty() {
            let names: Vec<String> = used.iter().map(|n| format!("{{{{ {n} }}}}")).collect();
            lines.push(format!(
                "{}: {}",
                t.get("ifm.template_used"),
                names.join(", ")
            ));
        }
        vec![Note {
            id: "template-variables",
            title: t.get("ifm.template_vars").into(),
            lines,
            pre: false,
        }]
    }

    fn save(
        c: &mut DbConn,
        checker: &Checker,
        actor: &Actor,
        id: Option<i64>,
        input: RuleInput,
    ) -> Result<i64, Error> {
        Ok(save::rule(c, checker, actor, id, &input)?.id)
    }

    fn delete(c: &mut DbConn, actor: &Actor, id: i64) -> Result<(), Error> {
        Ok(store::delete(c, actor, id)?)
    }

    fn shown_at(id: i64, notice: &str) -> String {
        format!("/inspection/rules/{id}?notice={notice}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::i18n::Lang;
    use shared::check::PluginKind;

    #[test]
    fn a_command_rule_may_name_the_host_its_script_runs_on() {
        let kind = PluginKind::Command;
        let plugin = Plugin {
            id: 1,
            name: "command".into(),
            kind,
            description: String::new(),
            defaults: serde_json::json!({}),
            builtin: true,
            schema: serde_json::to_value(kind.schema()).expect("a schema"),
            rules: 0,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        let fields = params(Tr(Lang::En), &plugin);
        let host = fields
            .iter()
            .find(|f| f.name == "params.host")
            .expect("a host field");
        assert_eq!(host.kind, Kind::Text);
        assert!(host.optional, "left empty: runs on acmangkut's host");
        assert!(host.help.contains("executor.hosts"), "{}", host.help);
    }
}
