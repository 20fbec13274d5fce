//! The inspection sections of a config document: custom plugins, channels (secrets redacted
//! on export; a redacted secret on apply keeps the stored one), rules and tasks, by name.

use super::{ApplyResult, Change, Context, Document, at};
use crate::engine::Error;
use crate::engine::inspection::define::{self, Channel, ChannelInput};
use crate::store::DbConn;
use crate::store::inspection::{channels, plugins, rules, tasks};
use shared::inspection::PluginInput;
use shared::notify::ChannelSpec;

/// The inspection sections as defined now (custom plugins only; channel secrets redacted).
pub fn export(conn: &mut DbConn, doc: &mut Document) -> Result<(), Error> {
    doc.plugins = plugins::list(conn)?
        .into_iter()
        .filter(|p| !p.builtin)
        .map(|p| PluginInput {
            name: p.name,
            kind: p.kind,
            description: p.description,
            defaults: p.defaults,
        })
        .collect();
    doc.channels = channels::list(conn)?
        .iter()
        .map(|row| {
            Channel::from_row(row).map(|c| ChannelInput {
                name: c.name,
                spec: c.spec,
            })
        })
        .collect::<Result<_, _>>()?;
    doc.rules = rules::list(conn, &Default::default())?
        .into_iter()
        .map(|r| r.input)
        .collect();
    doc.tasks = tasks::list(conn)?.into_iter().map(|t| t.input).collect();
    Ok(())
}

/// Applies the inspection sections of `doc` (in the caller's transaction) into `out`.
pub fn apply(
    c: &mut DbConn,
    ctx: &Context<'_>,
    doc: &Document,
    out: &mut ApplyResult,
) -> Result<(), Error> {
    let (actor, checker) = (ctx.actor, &*ctx.engines.checker);
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
    Ok(())
}
