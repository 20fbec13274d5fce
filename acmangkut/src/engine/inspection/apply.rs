//! Config as code: custom plugins, channels, rules and tasks exported and applied as one YAML
//! document, matched by name. `apply` runs in one transaction, is idempotent (a second apply of
//! the same document reports everything unchanged) and never deletes what the document leaves
//! out. A dry run does the same work and rolls it back.

use super::define::{self, Channel, ChannelInput};
use crate::engine::Error;
use crate::engine::checks::Checker;
use crate::store::audit::Actor;
use crate::store::inspection::{channels, plugins, rules, tasks};
use crate::store::{self, DbConn};
use serde::{Deserialize, Serialize};
use shared::inspection::{PluginInput, RuleInput, TaskInput};
use shared::notify::ChannelSpec;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Document {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<ChannelInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskInput>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
}

impl Outcome {
    fn add(&mut self, name: &str, change: Change) {
        match change {
            Change::Created => self.created.push(name.into()),
            Change::Updated => self.updated.push(name.into()),
            Change::Unchanged => self.unchanged.push(name.into()),
        }
    }
}

enum Change {
    Created,
    Updated,
    Unchanged,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApplyResult {
    pub dry_run: bool,
    pub plugins: Outcome,
    pub channels: Outcome,
    pub rules: Outcome,
    pub tasks: Outcome,
}

/// Parses a YAML document; errors name the field (`rules[2].level`) and the line.
pub fn parse(yaml: &[u8]) -> Result<Document, Error> {
    let text = std::str::from_utf8(yaml)
        .map_err(|_| Error::Malformed("the document is not UTF-8 text".into()))?;
    if text.trim().is_empty() {
        return Ok(Document::default());
    }
    crate::engine::from_yaml(text)
}

pub fn render(doc: &Document) -> Result<String, Error> {
    serde_yaml_ng::to_string(doc).map_err(Error::internal)
}

/// Everything defined now (custom plugins only; channel secrets redacted).
pub fn export(conn: &mut DbConn) -> Result<Document, Error> {
    let plugins = plugins::list(conn)?
        .into_iter()
        .filter(|p| !p.builtin)
        .map(|p| PluginInput {
            name: p.name,
            kind: p.kind,
            description: p.description,
            defaults: p.defaults,
        })
        .collect();
    let channels = channels::list(conn)?
        .iter()
        .map(|row| {
            Channel::from_row(row).map(|c| ChannelInput {
                name: c.name,
                spec: c.spec,
            })
        })
        .collect::<Result<_, _>>()?;
    let rules = rules::list(conn, &Default::default())?
        .into_iter()
        .map(|r| r.input)
        .collect();
    let tasks = tasks::list(conn)?.into_iter().map(|t| t.input).collect();
    Ok(Document {
        plugins,
        channels,
        rules,
        tasks,
    })
}

/// Places an error where its object sits in the document (`rules[2]`): the edge prefixes
/// the error's field with it.
fn at(prefix: String) -> impl Fn(Error) -> Error {
    move |e| Error::At {
        prefix: prefix.clone(),
        inner: Box::new(e),
    }
}

pub fn apply(
    conn: &mut DbConn,
    checker: &Checker,
    actor: &Actor,
    doc: &Document,
    dry_run: bool,
) -> Result<ApplyResult, Error> {
    for (kind, names) in [
        (
            "plugins",
            doc.plugins.iter().map(|x| &x.name).collect::<Vec<_>>(),
        ),
        ("channels", doc.channels.iter().map(|x| &x.name).collect()),
        ("rules", doc.rules.iter().map(|x| &x.name).collect()),
        ("tasks", doc.tasks.iter().map(|x| &x.name).collect()),
    ] {
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(Error::invalid(
                    format!("{kind}[{i}].name"),
                    format!("`{n}` is defined twice"),
                ));
            }
        }
    }
    let change = |c: &mut DbConn| {
        let mut out = ApplyResult {
            dry_run,
            ..Default::default()
        };
        for (i, p) in doc.plugins.iter().enumerate() {
            let wrap = at(format!("plugins[{i}]"));
            define::plugin(p).map_err(&wrap)?;
            let change = match plugins::row_by_name(c, &p.name)? {
                None => {
                    plugins::create(c, actor, p)?;
                    Change::Created
                }
                Some(row) if row.builtin => {
                    return Err(wrap(Error::invalid(
                        "name",
                        format!("`{}` is a built-in plugin", p.name),
                    )));
                }
                Some(row) => {
                    let now = plugins::get(c, row.id)?;
                    if now.kind == p.kind
                        && now.description == p.description
                        && now.defaults == p.defaults
                    {
                        Change::Unchanged
                    } else {
                        plugins::update(c, actor, row.id, p).map_err(|e| wrap(e.into()))?;
                        Change::Updated
                    }
                }
            };
            out.plugins.add(&p.name, change);
        }
        for (i, ch) in doc.channels.iter().enumerate() {
            let wrap = at(format!("channels[{i}]"));
            let mut input = ch.clone();
            let old = channels::row_by_name(c, &ch.name)?;
            define::channel(&mut input, old.as_ref()).map_err(&wrap)?;
            let def = serde_json::to_string(&input.spec).map_err(Error::internal)?;
            let redacted = input.spec.redacted();
            let change = match old {
                None => {
                    channels::create(
                        c,
                        actor,
                        &input.name,
                        input.spec.kind_str(),
                        &def,
                        &redacted,
                    )?;
                    Change::Created
                }
                Some(row) => {
                    let stored: ChannelSpec =
                        crate::store::inspection::parse("channel", &row.definition)?;
                    if stored == input.spec {
                        Change::Unchanged
                    } else {
                        channels::update(
                            c,
                            actor,
                            row.id,
                            &input.name,
                            input.spec.kind_str(),
                            &def,
                            &redacted,
                        )?;
                        Change::Updated
                    }
                }
            };
            out.channels.add(&ch.name, change);
        }
        for (i, r) in doc.rules.iter().enumerate() {
            let wrap = at(format!("rules[{i}]"));
            let plugin_id = define::rule(c, checker, r).map_err(&wrap)?;
            let change = match rules::id_by_name(c, &r.name)? {
                None => {
                    rules::create(c, actor, r, plugin_id)?;
                    Change::Created
                }
                Some(id) => match rules::update(c, actor, id, r, plugin_id)? {
                    (_, true) => Change::Updated,
                    (_, false) => Change::Unchanged,
                },
            };
            out.rules.add(&r.name, change);
        }
        for (i, t) in doc.tasks.iter().enumerate() {
            let wrap = at(format!("tasks[{i}]"));
            let (rule_ids, next) = define::task(c, checker, t).map_err(&wrap)?;
            let change = match tasks::id_by_name(c, &t.name)? {
                None => {
                    tasks::create(c, actor, t, &rule_ids, next)?;
                    Change::Created
                }
                Some(id) => match tasks::update(c, actor, id, t, &rule_ids, next)? {
                    (_, true) => Change::Updated,
                    (_, false) => Change::Unchanged,
                },
            };
            out.tasks.add(&t.name, change);
        }
        Ok(out)
    };
    if dry_run {
        store::dry_run(conn, change)
    } else {
        store::write(conn, change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_errors_name_the_field_and_line() {
        // As the client sees it.
        let answer = |e: Error| shared::ApiError::from(e);
        let e = answer(
            parse(b"rules:\n  - name: a\n    plugin: tcp\n    level: urgent\n")
                .expect_err("bad level"),
        );
        assert_eq!(e.field.as_deref(), Some("rules[0].level"));
        assert!(e.detail.contains("line 4"), "{}", e.detail);
        let e = answer(parse(b"rulez: []\n").expect_err("unknown key"));
        assert!(e.detail.contains("rulez"), "{}", e.detail);
        assert_eq!(parse(b"").expect("empty"), Document::default());
        assert!(parse(b"\xff\xfe").is_err());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,200}") {
            let _ = parse(s.as_bytes());
        }

        #[test]
        fn exported_documents_parse_back(
            name in "[a-z][a-z0-9-]{0,20}",
            target in "[a-z0-9.:]{1,30}",
        ) {
            let doc = Document {
                rules: vec![RuleInput {
                    name: name.clone(),
                    plugin: "tcp".into(),
                    params: serde_json::json!({"target": target}),
                    level: shared::inspection::Level::High,
                    suggestion: "restart it".into(),
                    description: String::new(),
                    labels: Default::default(),
                }],
                ..Default::default()
            };
            let text = render(&doc).expect("renders");
            proptest::prop_assert_eq!(parse(text.as_bytes()).expect("parses"), doc);
        }
    }
}
