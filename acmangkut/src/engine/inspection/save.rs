//! Storing a definition after checking it: the one path the API and the console both take,
//! so a definition is refused with the same field and message wherever it is written, and
//! audited the same way (the store writes the audit row). `id` is `None` to create.

use super::define::{self, Channel, ChannelInput};
use crate::engine::Error;
use crate::engine::checks::Checker;
use crate::store::DbConn;
use crate::store::audit::Actor;
use crate::store::inspection::{channels, plugins, rules, tasks};
use shared::inspection::{Plugin, PluginInput, Rule, RuleInput, Task, TaskInput};

pub fn plugin(
    c: &mut DbConn,
    actor: &Actor,
    id: Option<i64>,
    input: &PluginInput,
) -> Result<Plugin, Error> {
    define::plugin(input)?;
    Ok(match id {
        None => plugins::create(c, actor, input)?,
        Some(id) => plugins::update(c, actor, id, input)?,
    })
}

pub fn rule(
    c: &mut DbConn,
    checker: &Checker,
    actor: &Actor,
    id: Option<i64>,
    input: &RuleInput,
) -> Result<Rule, Error> {
    if let Some(id) = id {
        rules::row(c, id)?;
    }
    let plugin_id = define::rule(c, checker, input)?;
    Ok(match id {
        None => rules::create(c, actor, input, plugin_id)?,
        Some(id) => rules::update(c, actor, id, input, plugin_id)?.0,
    })
}

pub fn task(
    c: &mut DbConn,
    checker: &Checker,
    actor: &Actor,
    id: Option<i64>,
    input: &TaskInput,
) -> Result<Task, Error> {
    if let Some(id) = id {
        tasks::row(c, id)?;
    }
    let (rule_ids, next) = define::task(c, checker, input)?;
    Ok(match id {
        None => tasks::create(c, actor, input, &rule_ids, next)?,
        Some(id) => tasks::update(c, actor, id, input, &rule_ids, next)?.0,
    })
}

/// On update, a secret or password left empty keeps the stored one.
pub fn channel(
    c: &mut DbConn,
    actor: &Actor,
    id: Option<i64>,
    mut input: ChannelInput,
) -> Result<Channel, Error> {
    let old = id.map(|id| channels::row(c, id)).transpose()?;
    define::channel(&mut input, old.as_ref())?;
    let def = serde_json::to_string(&input.spec).map_err(|e| Error::Internal(e.into()))?;
    let (kind, redacted) = (input.spec.kind_str(), input.spec.redacted());
    let row = match id {
        None => channels::create(c, actor, &input.name, kind, &def, &redacted)?,
        Some(id) => channels::update(c, actor, id, &input.name, kind, &def, &redacted)?,
    };
    Channel::from_row(&row)
}
