//! Plugins: one built-in per kind (seeded at start, read-only) and custom ones that preset
//! parameters. A plugin that rules reference cannot be deleted (the foreign key says so too).

use super::{in_use, parse, refuse_if_used, to_json};
use crate::db;
use crate::store::StoreError;
use crate::store::audit::{Actor, audited, audited_insert};
use crate::store::schema::{inspection_plugins as p, inspection_rules as r};
use crate::store::{DbConn, now_ms, to_datetime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::check::PluginKind;
use shared::inspection::{Plugin, PluginInput};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = p)]
pub struct PluginRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub builtin: bool,
    pub definition: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Serialize, Deserialize)]
struct Definition {
    description: String,
    defaults: Value,
}

impl PluginRow {
    pub fn kind(&self) -> Result<PluginKind, StoreError> {
        PluginKind::parse(&self.kind).ok_or_else(|| {
            StoreError::corrupt("plugin kind", format!("unknown plugin kind {}", self.kind))
        })
    }

    pub fn defaults(&self) -> Result<Value, StoreError> {
        Ok(parse::<Definition>("plugin", &self.definition)?.defaults)
    }

    fn into_api(self, rules: i64) -> Result<Plugin, StoreError> {
        let kind = self.kind()?;
        let d: Definition = parse("plugin", &self.definition)?;
        Ok(Plugin {
            id: self.id,
            name: self.name,
            kind,
            description: d.description,
            defaults: d.defaults,
            builtin: self.builtin,
            schema: serde_json::to_value(kind.schema()).unwrap_or(Value::Null),
            rules,
            created_at: to_datetime(self.created_at),
            updated_at: to_datetime(self.updated_at),
        })
    }
}

/// What each built-in plugin is for, in the reader's words.
fn builtin_description(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::PageProbe => {
            "Load a page over HTTP or in a real browser (through pageinspect) \
             and check status, body, DOM and timings."
        }
        PluginKind::Tcp => {
            "Connect to host:port (through pageinspect), optionally send bytes and expect a reply."
        }
        PluginKind::Dns => {
            "Resolve a name (through pageinspect) and check the answers and response code."
        }
        PluginKind::Tls => {
            "Check a TLS certificate (through pageinspect), e.g. that it expires in more than \
             14 days: [CERTIFICATE_EXPIRATION] > 14d."
        }
        PluginKind::Promql => {
            "Run an instant PromQL query against a configured Prometheus; \
             every sample must meet the threshold."
        }
        PluginKind::Sql => {
            "Run a read-only query against a configured PostgreSQL or MySQL data source \
             and compare the first value or the row count."
        }
        PluginKind::Command => {
            "Run an executable listed in inspection.commands and check its exit code and output."
        }
    }
}

/// Inserts the built-in plugins that are missing (idempotent; safe on every replica's start).
pub fn seed_builtins(conn: &mut DbConn) -> Result<(), StoreError> {
    let now = now_ms();
    for kind in PluginKind::ALL {
        let def = to_json(&Definition {
            description: builtin_description(kind).into(),
            defaults: shared::inspection::empty_object(),
        });
        db!(conn, |c| diesel::insert_into(p::table)
            .values((
                p::name.eq(kind.as_str()),
                p::kind.eq(kind.as_str()),
                p::builtin.eq(true),
                p::definition.eq(&def),
                p::created_at.eq(now),
                p::updated_at.eq(now),
            ))
            .on_conflict(p::name)
            .do_nothing()
            .execute(c))?;
    }
    Ok(())
}

fn rule_counts(conn: &mut DbConn) -> Result<Vec<(i64, i64)>, StoreError> {
    Ok(db!(conn, |c| r::table
        .group_by(r::plugin_id)
        .select((r::plugin_id, diesel::dsl::count_star()))
        .load::<(i64, i64)>(c))?)
}

/// Names of (at most 5 of) the rules that use plugin `id`.
fn rule_names(conn: &mut DbConn, id: i64) -> Result<Vec<String>, StoreError> {
    Ok(db!(conn, |c| r::table
        .filter(r::plugin_id.eq(id))
        .select(r::name)
        .order(r::name)
        .limit(5)
        .load(c))?)
}

fn count_rules(conn: &mut DbConn, id: i64) -> Result<i64, StoreError> {
    Ok(db!(conn, |c| r::table
        .filter(r::plugin_id.eq(id))
        .count()
        .get_result::<i64>(c))?)
}

pub fn list(conn: &mut DbConn) -> Result<Vec<Plugin>, StoreError> {
    let rows: Vec<PluginRow> = db!(conn, |c| p::table
        .order((p::builtin.desc(), p::name.asc()))
        .select(PluginRow::as_select())
        .load(c))?;
    let counts = rule_counts(conn)?;
    rows.into_iter()
        .map(|row| {
            let n = counts
                .iter()
                .find(|(id, _)| *id == row.id)
                .map_or(0, |x| x.1);
            row.into_api(n)
        })
        .collect()
}

pub fn row(conn: &mut DbConn, id: i64) -> Result<PluginRow, StoreError> {
    crate::find_row!(conn, p::table, PluginRow, id, "plugin")
}

pub fn row_by_name(conn: &mut DbConn, name: &str) -> Result<Option<PluginRow>, StoreError> {
    Ok(crate::find_by!(
        conn,
        p::table,
        p::name,
        name,
        PluginRow::as_select()
    )?)
}

pub fn get(conn: &mut DbConn, id: i64) -> Result<Plugin, StoreError> {
    let row = row(conn, id)?;
    let n = count_rules(conn, id)?;
    row.into_api(n)
}

pub fn create(conn: &mut DbConn, actor: &Actor, input: &PluginInput) -> Result<Plugin, StoreError> {
    let now = now_ms();
    let def = to_json(&Definition {
        description: input.description.clone(),
        defaults: input.defaults.clone(),
    });
    let insert = |c: &mut DbConn| {
        db!(c, |c| diesel::insert_into(p::table)
            .values((
                p::name.eq(&input.name),
                p::kind.eq(input.kind.as_str()),
                p::builtin.eq(false),
                p::definition.eq(&def),
                p::created_at.eq(now),
                p::updated_at.eq(now),
            ))
            .returning(p::id)
            .get_result(c))
        .map_err(StoreError::from)
    };
    let id = audited_insert(conn, insert, |id| {
        actor
            .event("plugin.create", "inspection_plugin", Some(id.to_string()))
            .after(input)
    })?;
    get(conn, id)
}

pub fn update(
    conn: &mut DbConn,
    actor: &Actor,
    id: i64,
    input: &PluginInput,
) -> Result<Plugin, StoreError> {
    let old = row(conn, id)?;
    if old.builtin {
        return Err(in_use(format!(
            "`{}` is a built-in plugin and cannot be changed; create a plugin of kind {} instead",
            old.name, old.kind
        )));
    }
    if old.name != input.name {
        refuse_if_used(rule_names(conn, id)?, |rules| {
            format!(
                "plugin `{}` is named by rules ({rules}); a new name would break them",
                old.name
            )
        })?;
    }
    if old.kind != input.kind.as_str() && count_rules(conn, id)? > 0 {
        return Err(StoreError::invalid(
            "kind",
            "rules use this plugin, so its kind cannot change",
        ));
    }
    let def = to_json(&Definition {
        description: input.description.clone(),
        defaults: input.defaults.clone(),
    });
    let now = now_ms();
    let event = actor.event("plugin.update", "inspection_plugin", Some(id.to_string()));
    audited(conn, &event.after(input), |c| {
        db!(c, |c| diesel::update(p::table.find(id))
            .set((
                p::name.eq(&input.name),
                p::kind.eq(input.kind.as_str()),
                p::definition.eq(&def),
                p::updated_at.eq(now),
            ))
            .execute(c))
        .map_err(StoreError::from)
    })?;
    get(conn, id)
}

pub fn delete(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<(), StoreError> {
    let old = row(conn, id)?;
    if old.builtin {
        return Err(in_use(format!(
            "`{}` is a built-in plugin and cannot be deleted",
            old.name
        )));
    }
    refuse_if_used(rule_names(conn, id)?, |rules| {
        format!(
            "plugin `{}` is used by rules ({rules}); delete or change them first",
            old.name
        )
    })?;
    let event = actor.event("plugin.delete", "inspection_plugin", Some(id.to_string()));
    // The foreign key (RESTRICT) still refuses a rule added since the check.
    audited(conn, &event.detail(old.name), |c| {
        db!(c, |c| diesel::delete(p::table.find(id)).execute(c)).map_err(StoreError::from)
    })
    .map(drop)
}
