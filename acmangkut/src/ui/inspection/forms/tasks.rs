//! A task: rules × targets on a schedule (with a preview of its next slots), notifying
//! channels. Targets and notify rules are one per line.

use super::field::{Field, Kind, lines};
use super::plugins::{as_json, name_and_description};
use super::{Definition, Note};
use crate::engine::Error;
use crate::engine::checks::Checker;
use crate::engine::inspection::save;
use crate::engine::inspection::schedule::Schedule;
use crate::store::audit::Actor;
use crate::store::inspection::{channels, rules, tasks as store};
use crate::store::{DbConn, now_ms};
use crate::ui::fields::Fields;
use crate::ui::i18n::Tr;
use serde_json::{Map, Value, json};
use shared::inspection::TaskInput;

pub struct Tasks;

pub struct Ctx {
    rules: Vec<String>,
    channels: Vec<String>,
}

/// Slots the preview shows.
const PREVIEW_SLOTS: usize = 5;

/// `name key=value key=value` → `{"name": …, "vars": {…}}`.
fn target(n: usize, line: &str) -> Result<Value, String> {
    let mut words = line.split_whitespace();
    let name = words.next().unwrap_or_default();
    let mut vars = Map::new();
    for w in words {
        let (k, v) = w
            .split_once('=')
            .ok_or_else(|| format!("line {n}: `{w}` is not key=value"))?;
        vars.insert(k.into(), Value::String(v.into()));
    }
    Ok(json!({"name": name, "vars": vars}))
}

/// `channel [min_level] [when]` → a notify rule (the API's defaults where left out).
fn notify(line: &str) -> Value {
    let mut words = line.split_whitespace();
    let mut rule = json!({"channel": words.next().unwrap_or_default()});
    if let Some(level) = words.next() {
        rule["min_level"] = level.into();
    }
    if let Some(when) = words.next() {
        rule["when"] = when.into();
    }
    rule
}

/// Each line of the field at `key` (a string) made into an array by `each`.
fn rows(
    body: &mut Value,
    key: &str,
    each: impl Fn(usize, &str) -> Result<Value, String>,
) -> Result<(), (String, String)> {
    let Some(text) = body.get(key).and_then(Value::as_str).map(str::to_string) else {
        return Ok(());
    };
    let rows = lines(&text)
        .map(|(n, l)| each(n, l))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| (key.to_string(), e))?;
    body[key] = Value::Array(rows);
    Ok(())
}

/// An array at `key` shown one row per line by `each`.
fn unrows(stored: &mut Value, key: &str, each: impl Fn(&Value) -> String) {
    if let Some(a) = stored.get(key).and_then(Value::as_array) {
        let text = a.iter().map(each).collect::<Vec<_>>().join("\n");
        stored[key] = Value::String(text);
    }
}

fn word(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

impl Definition for Tasks {
    type Input = TaskInput;
    type Ctx = Ctx;
    const NOUN: &'static str = "task";
    const BASE: &'static str = "/inspection/tasks";
    const LIST: &'static str = "/inspection";
    const TITLES: [&'static str; 2] = ["ifm.task_new", "ifm.task_edit"];
    const REFRESH: &'static str = "ifm.preview";

    fn load(
        c: &mut DbConn,
        id: Option<i64>,
        _posted: Option<&Fields>,
    ) -> Result<(Ctx, Option<Value>), Error> {
        let stored = id.map(|id| store::get(c, id)).transpose()?;
        let all = rules::list(c, &rules::RuleFilter::default())?;
        let ctx = Ctx {
            rules: all.into_iter().map(|r| r.input.name).collect(),
            channels: channels::list(c)?.into_iter().map(|ch| ch.name).collect(),
        };
        Ok((ctx, stored.as_ref().map(as_json).transpose()?))
    }

    fn fields(t: Tr, ctx: &Ctx) -> Vec<Field> {
        let [name, description] = name_and_description(t);
        let channels = format!(
            "{} {}",
            t.get("ifm.channels_known"),
            ctx.channels.join(", ")
        );
        vec![
            name,
            description,
            Field::new("enabled", t.get("ifm.enabled"), Kind::Check).value("on"),
            Field::new("rules", t.get("ifm.rules"), Kind::Checks)
                .options(&ctx.rules)
                .help(t.get("ifm.rules_help")),
            Field::new("targets", t.get("ifm.targets"), Kind::Area)
                .help(t.get("ifm.targets_help"))
                .optional(),
            Field::new("schedule", t.get("ifm.schedule"), Kind::Text)
                .help(t.get("ifm.schedule_help"))
                .optional(),
            Field::new("timezone", t.get("ifm.timezone"), Kind::Text).value("UTC"),
            Field::new(
                "timeout_seconds",
                t.get("ifm.timeout_seconds"),
                Kind::Number,
            )
            .value("600")
            .optional(),
            Field::new("concurrency", t.get("ifm.concurrency"), Kind::Number)
                .value("8")
                .optional(),
            Field::new("notify", t.get("ifm.notify"), Kind::Area)
                .help(format!("{} {channels}", t.get("ifm.notify_help")))
                .optional(),
        ]
    }

    /// The schedule's next slots, or why it has none.
    fn notes(t: Tr, _: &Ctx, fields: &[Field]) -> Vec<Note> {
        let value = |name: &str| {
            fields
                .iter()
                .find(|f| f.name == name)
                .map_or("", |f| f.value.trim())
        };
        let lines = match (value("schedule"), value("timezone")) {
            ("", _) => vec![t.get("insp.on_demand").to_string()],
            (expr, tz) => match Schedule::parse(expr, tz) {
                Err((_, why)) => vec![why],
                Ok(s) => s
                    .next_slots(now_ms(), PREVIEW_SLOTS)
                    .iter()
                    .map(|at| at.format("%Y-%m-%d %H:%M:%S %a (%Z)").to_string())
                    .collect(),
            },
        };
        vec![Note {
            id: "schedule-preview",
            title: t.get("ifm.next_slots").into(),
            lines,
            pre: false,
        }]
    }

    fn from_api(stored: &mut Value) {
        unrows(stored, "targets", |t| {
            let vars = t["vars"].as_object().into_iter().flatten();
            let vars = vars.map(|(k, v)| format!(" {k}={}", word(v)));
            format!("{}{}", word(&t["name"]), vars.collect::<String>())
        });
        unrows(stored, "notify", |n| {
            let (c, l, w) = (&n["channel"], &n["min_level"], &n["when"]);
            format!("{} {} {}", word(c), word(l), word(w))
                .trim()
                .to_string()
        });
    }

    fn to_api(body: &mut Value) -> Result<(), (String, String)> {
        rows(body, "targets", target)?;
        rows(body, "notify", |_, l| Ok(notify(l)))
    }

    fn save(
        c: &mut DbConn,
        checker: &Checker,
        actor: &Actor,
        id: Option<i64>,
        input: TaskInput,
    ) -> Result<i64, Error> {
        Ok(save::task(c, checker, actor, id, &input)?.id)
    }

    fn delete(c: &mut DbConn, actor: &Actor, id: i64) -> Result<(), Error> {
        Ok(store::delete(c, actor, id)?)
    }

    fn shown_at(id: i64, notice: &str) -> String {
        format!("/inspection/tasks/{id}?notice={notice}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_and_notify_lines_become_the_apis_objects() {
        let mut body = json!({"targets": "web port=443 url=https://a\n\ndb", "notify": "ops low"});
        Tasks::to_api(&mut body).expect("lines parse");
        assert_eq!(
            body,
            json!({
                "targets": [
                    {"name": "web", "vars": {"url": "https://a", "port": "443"}},
                    {"name": "db", "vars": {}}
                ],
                "notify": [{"channel": "ops", "min_level": "low"}]
            })
        );
        Tasks::from_api(&mut body);
        assert_eq!(body["targets"], "web port=443 url=https://a\ndb");
        assert_eq!(body["notify"], "ops low");
        let mut bad = json!({"targets": "web url"});
        assert_eq!(
            Tasks::to_api(&mut bad).expect_err("a var without ="),
            (
                "targets".to_string(),
                "line 1: `url` is not key=value".to_string()
            )
        );
    }
}
