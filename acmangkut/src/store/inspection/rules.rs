//! Rules and their versions. A change that alters a rule's definition adds a version, so a
//! report can show each rule as it was when the run used it. A rule a task runs cannot be
//! deleted.

use super::{parse, refuse_if_used, to_json};
use crate::db;
use crate::store::StoreError;
use crate::store::audit::{Actor, audited, audited_insert};
use crate::store::schema::{
    inspection_plugins as p, inspection_rule_versions as v, inspection_rules as r,
    inspection_task_rules as tr, inspection_tasks as t,
};
use crate::store::{DbConn, now_ms, to_datetime};
use diesel::prelude::*;
use shared::check::PluginKind;
use shared::inspection::{Level, Rule, RuleInput, RuleVersion};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = r)]
pub struct RuleRow {
    pub id: i64,
    pub name: String,
    pub plugin_id: i64,
    pub level: String,
    pub version: i32,
    pub definition: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl RuleRow {
    pub fn input(&self) -> Result<RuleInput, StoreError> {
        parse("rule", &self.definition)
    }
}

#[derive(Debug, Default, Clone)]
pub struct RuleFilter {
    pub plugin_id: Option<i64>,
    pub level: Option<Level>,
    pub search: Option<String>,
}

fn api(row: RuleRow, kind: &str, tasks: i64) -> Result<Rule, StoreError> {
    Ok(Rule {
        id: row.id,
        input: row.input()?,
        plugin_kind: PluginKind::parse(kind).ok_or_else(|| {
            StoreError::corrupt("plugin kind", format!("unknown plugin kind {kind}"))
        })?,
        version: row.version,
        tasks,
        created_at: to_datetime(row.created_at),
        updated_at: to_datetime(row.updated_at),
    })
}

pub fn list(conn: &mut DbConn, f: &RuleFilter) -> Result<Vec<Rule>, StoreError> {
    let rows: Vec<(RuleRow, String)> = db!(conn, |c| {
        let mut q = r::table
            .inner_join(p::table)
            .select((RuleRow::as_select(), p::kind))
            .order(r::name.asc())
            .into_boxed();
        if let Some(id) = f.plugin_id {
            q = q.filter(r::plugin_id.eq(id));
        }
        if let Some(l) = f.level {
            q = q.filter(r::level.eq(l.as_str()));
        }
        q.load(c)
    })?;
    let counts: Vec<(i64, i64)> = db!(conn, |c| tr::table
        .group_by(tr::rule_id)
        .select((tr::rule_id, diesel::dsl::count_star()))
        .load(c))?;
    let needle = f.search.as_ref().map(|s| s.to_lowercase());
    rows.into_iter()
        .filter(|(row, _)| {
            needle
                .as_ref()
                .is_none_or(|n| row.name.to_lowercase().contains(n))
        })
        .map(|(row, kind)| {
            let n = counts
                .iter()
                .find(|(id, _)| *id == row.id)
                .map_or(0, |x| x.1);
            api(row, &kind, n)
        })
        .collect()
}

pub fn row(conn: &mut DbConn, id: i64) -> Result<RuleRow, StoreError> {
    crate::find_row!(conn, r::table, RuleRow, id, "rule")
}

pub fn id_by_name(conn: &mut DbConn, name: &str) -> Result<Option<i64>, StoreError> {
    Ok(crate::find_by!(conn, r::table, r::name, name, r::id)?)
}

/// Rows of these names, in the order given; the error names the first that is missing as
/// `{field}[i]`.
pub fn rows_by_names(
    conn: &mut DbConn,
    names: &[String],
    field: &str,
) -> Result<Vec<RuleRow>, StoreError> {
    let rows: Vec<RuleRow> = db!(conn, |c| r::table
        .filter(r::name.eq_any(names))
        .select(RuleRow::as_select())
        .load(c))?;
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            rows.iter()
                .find(|row| &row.name == n)
                .cloned()
                .ok_or_else(|| {
                    StoreError::invalid(format!("{field}[{i}]"), format!("no rule named `{n}`"))
                })
        })
        .collect()
}

pub fn get(conn: &mut DbConn, id: i64) -> Result<Rule, StoreError> {
    let row = row(conn, id)?;
    let kind: String = db!(conn, |c| p::table
        .find(row.plugin_id)
        .select(p::kind)
        .first(c))?;
    let n: i64 = db!(conn, |c| tr::table
        .filter(tr::rule_id.eq(id))
        .count()
        .get_result(c))?;
    api(row, &kind, n)
}

pub fn create(
    conn: &mut DbConn,
    actor: &Actor,
    input: &RuleInput,
    plugin_id: i64,
) -> Result<Rule, StoreError> {
    let now = now_ms();
    let def = to_json(input);
    let insert = |c: &mut DbConn| {
        let id: i64 = db!(c, |c| diesel::insert_into(r::table)
            .values((
                r::name.eq(&input.name),
                r::plugin_id.eq(plugin_id),
                r::level.eq(input.level.as_str()),
                r::version.eq(1),
                r::definition.eq(&def),
                r::created_at.eq(now),
                r::updated_at.eq(now),
            ))
            .returning(r::id)
            .get_result(c))?;
        add_version(c, id, 1, &def, now)?;
        Ok::<_, StoreError>(id)
    };
    let id = audited_insert(conn, insert, |id| {
        actor
            .event("rule.create", "inspection_rule", Some(id.to_string()))
            .after(input)
    })?;
    get(conn, id)
}

/// Whether anything changed (so a re-apply of the same definition is `unchanged`).
pub fn update(
    conn: &mut DbConn,
    actor: &Actor,
    id: i64,
    input: &RuleInput,
    plugin_id: i64,
) -> Result<(Rule, bool), StoreError> {
    let old = row(conn, id)?;
    let before = old.input()?;
    if &before == input {
        return Ok((get(conn, id)?, false));
    }
    if old.name != input.name {
        refuse_if_used(task_names(conn, id)?, |tasks| {
            format!(
                "rule `{}` is named by tasks ({tasks}); a new name would break them",
                old.name
            )
        })?;
    }
    let now = now_ms();
    let def = to_json(input);
    let version = old.version + 1;
    let event = actor
        .event("rule.update", "inspection_rule", Some(id.to_string()))
        .before(&before)
        .after(input);
    audited(conn, &event, |c| {
        db!(c, |c| diesel::update(r::table.find(id))
            .set((
                r::name.eq(&input.name),
                r::plugin_id.eq(plugin_id),
                r::level.eq(input.level.as_str()),
                r::version.eq(version),
                r::definition.eq(&def),
                r::updated_at.eq(now),
            ))
            .execute(c))?;
        add_version(c, id, version, &def, now)
    })?;
    Ok((get(conn, id)?, true))
}

/// Keeps version `version` of rule `id` (every save adds one; runs pin the version they ran).
fn add_version(
    conn: &mut DbConn,
    id: i64,
    version: i32,
    def: &str,
    now: i64,
) -> Result<(), StoreError> {
    db!(conn, |c| diesel::insert_into(v::table)
        .values((
            v::rule_id.eq(id),
            v::version.eq(version),
            v::definition.eq(def),
            v::created_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// Names of (at most 5 of) the tasks that run rule `id`.
fn task_names(conn: &mut DbConn, id: i64) -> Result<Vec<String>, StoreError> {
    Ok(db!(conn, |c| tr::table
        .inner_join(t::table)
        .filter(tr::rule_id.eq(id))
        .select(t::name)
        .order(t::name)
        .limit(5)
        .load(c))?)
}

pub fn delete(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<(), StoreError> {
    let old = row(conn, id)?;
    refuse_if_used(task_names(conn, id)?, |tasks| {
        format!(
            "rule `{}` is run by tasks ({tasks}); remove it from them first",
            old.name
        )
    })?;
    let event = actor.event("rule.delete", "inspection_rule", Some(id.to_string()));
    // The foreign key (RESTRICT) still refuses a task link added since the check.
    audited(conn, &event.detail(old.name), |c| {
        db!(c, |c| diesel::delete(r::table.find(id)).execute(c)).map_err(StoreError::from)
    })
    .map(drop)
}

pub fn versions(conn: &mut DbConn, id: i64) -> Result<Vec<RuleVersion>, StoreError> {
    row(conn, id)?;
    let rows: Vec<(i64, i32, String, i64)> = db!(conn, |c| v::table
        .filter(v::rule_id.eq(id))
        .order(v::version.desc())
        .select((v::rule_id, v::version, v::definition, v::created_at))
        .load(c))?;
    rows.into_iter().map(version_api).collect()
}

fn version_api(
    (rule_id, version, def, at): (i64, i32, String, i64),
) -> Result<RuleVersion, StoreError> {
    Ok(RuleVersion {
        rule_id,
        version,
        rule: parse("rule version", &def)?,
        created_at: to_datetime(at),
    })
}

/// The given (rule, version) pairs, for a report.
pub fn versions_of(
    conn: &mut DbConn,
    pairs: &[(i64, i32)],
) -> Result<Vec<RuleVersion>, StoreError> {
    let ids: Vec<i64> = pairs.iter().map(|p| p.0).collect();
    let rows: Vec<(i64, i32, String, i64)> = db!(conn, |c| v::table
        .filter(v::rule_id.eq_any(&ids))
        .select((v::rule_id, v::version, v::definition, v::created_at))
        .load(c))?;
    rows.into_iter()
        .filter(|(id, ver, _, _)| pairs.contains(&(*id, *ver)))
        .map(version_api)
        .collect()
}
