//! Disaster-recovery plans and their versions. Each save that changes the document adds a
//! version (the document as JSON, who saved it and when); `plans` keeps the latest beside the
//! columns the list reads. Every change writes its audit row in the same transaction.

pub mod execution_reads;
pub mod executions;
pub mod triggers;

use crate::db;
use crate::store::audit::{Actor, audited, audited_insert};
use crate::store::inspection::{parse, refuse_if_used, to_json};
use crate::store::schema::{plan_versions as v, plans as p};
use crate::store::{DbConn, StoreError, now_ms, to_datetime};
use diesel::prelude::*;
use shared::plan::{Plan, PlanDocument, PlanSummary, PlanVersion, StepKind};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = p)]
pub struct PlanRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub version: i32,
    pub definition: String,
    pub created_at: i64,
    pub created_by: String,
    pub updated_at: i64,
    pub updated_by: String,
}

impl PlanRow {
    pub fn document(&self) -> Result<PlanDocument, StoreError> {
        parse("plan", &self.definition)
    }

    fn api(&self) -> Result<Plan, StoreError> {
        Ok(Plan {
            id: self.id,
            version: self.version,
            document: self.document()?,
            created_at: to_datetime(self.created_at),
            created_by: self.created_by.clone(),
            updated_at: to_datetime(self.updated_at),
            updated_by: self.updated_by.clone(),
        })
    }
}

/// The operation versions a plan version pins: `(code, version)`.
pub type OperationRefs = [(String, i32)];

pub fn list(conn: &mut DbConn) -> Result<Vec<PlanSummary>, StoreError> {
    let rows: Vec<PlanRow> = db!(conn, |c| p::table
        .select(PlanRow::as_select())
        .order(p::name.asc())
        .load(c))?;
    rows.into_iter()
        .map(|row| {
            let doc = row.document()?;
            Ok(PlanSummary {
                id: row.id,
                name: row.name,
                description: row.description,
                version: row.version,
                stages: doc.stages.len(),
                steps: doc.steps().count(),
                rto_objective: doc.rto_objective,
                updated_at: to_datetime(row.updated_at),
                updated_by: row.updated_by,
            })
        })
        .collect()
}

pub fn row(conn: &mut DbConn, id: i64) -> Result<PlanRow, StoreError> {
    crate::find_row!(conn, p::table, PlanRow, id, "plan")
}

pub fn row_by_name(conn: &mut DbConn, name: &str) -> Result<Option<PlanRow>, StoreError> {
    Ok(crate::find_by!(
        conn,
        p::table,
        p::name,
        name,
        PlanRow::as_select()
    )?)
}

pub fn get(conn: &mut DbConn, id: i64) -> Result<Plan, StoreError> {
    row(conn, id)?.api()
}

/// Every plan's latest document, for the checks that look across plans (sub-plans).
pub fn latest(conn: &mut DbConn) -> Result<Vec<(i64, PlanDocument)>, StoreError> {
    let rows: Vec<PlanRow> = db!(conn, |c| p::table.select(PlanRow::as_select()).load(c))?;
    rows.into_iter()
        .map(|r| Ok((r.id, r.document()?)))
        .collect()
}

pub fn create(
    conn: &mut DbConn,
    actor: &Actor,
    doc: &PlanDocument,
    refs: &OperationRefs,
) -> Result<Plan, StoreError> {
    let (now, def) = (now_ms(), to_json(doc));
    let insert = |c: &mut DbConn| {
        let id: i64 = db!(c, |c| diesel::insert_into(p::table)
            .values((
                p::name.eq(&doc.name),
                p::description.eq(&doc.description),
                p::version.eq(1),
                p::definition.eq(&def),
                p::created_at.eq(now),
                p::created_by.eq(&actor.name),
                p::updated_at.eq(now),
                p::updated_by.eq(&actor.name),
            ))
            .returning(p::id)
            .get_result(c))?;
        add_version(c, (id, 1, &doc.name), &def, actor, refs)?;
        Ok::<_, StoreError>(id)
    };
    let id = audited_insert(conn, insert, |id| {
        actor
            .event("plan.create", "plan", Some(id.to_string()))
            .after(doc)
            .detail("version 1")
    })?;
    get(conn, id)
}

/// Saves `doc` as the next version of plan `id`; the same document again adds none.
pub fn update(
    conn: &mut DbConn,
    actor: &Actor,
    id: i64,
    doc: &PlanDocument,
    refs: &OperationRefs,
) -> Result<Plan, StoreError> {
    let old = row(conn, id)?;
    let before = old.document()?;
    if &before == doc {
        return old.api();
    }
    if old.name != doc.name {
        refuse_if_used(parents(conn, &old.name)?, |plans| {
            format!(
                "plan `{}` is a sub-plan of ({plans}); a new name would break them",
                old.name
            )
        })?;
    }
    let (now, def, version) = (now_ms(), to_json(doc), old.version + 1);
    let event = actor
        .event("plan.update", "plan", Some(id.to_string()))
        .before(&before)
        .after(doc)
        .detail(format!("version {version}"));
    audited(conn, &event, |c| {
        db!(c, |c| diesel::update(p::table.find(id))
            .set((
                p::name.eq(&doc.name),
                p::description.eq(&doc.description),
                p::version.eq(version),
                p::definition.eq(&def),
                p::updated_at.eq(now),
                p::updated_by.eq(&actor.name),
            ))
            .execute(c))?;
        rename_refs(c, &old.name, &doc.name)?;
        add_version(c, (id, version, &doc.name), &def, actor, refs)
    })?;
    get(conn, id)
}

fn add_version(
    conn: &mut DbConn,
    (id, version, name): (i64, i32, &str),
    def: &str,
    actor: &Actor,
    refs: &OperationRefs,
) -> Result<(), StoreError> {
    db!(conn, |c| diesel::insert_into(v::table)
        .values((
            v::plan_id.eq(id),
            v::version.eq(version),
            v::definition.eq(def),
            v::created_at.eq(now_ms()),
            v::created_by.eq(&actor.name),
        ))
        .execute(c))?;
    refs::record(conn, name, version, refs)
}

fn rename_refs(conn: &mut DbConn, old: &str, new: &str) -> Result<(), StoreError> {
    if old == new {
        return Ok(());
    }
    refs::rename(conn, old, new)
}

/// Names of (at most 5 of) the plans whose latest version runs plan `name` as a sub-plan.
pub fn parents(conn: &mut DbConn, name: &str) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = latest(conn)?
        .into_iter()
        .filter(|(_, d)| {
            d.steps()
                .any(|(_, s)| matches!(&s.kind, StepKind::Plan(sp) if sp.name == name))
        })
        .map(|(_, d)| d.name)
        .collect();
    out.sort();
    out.truncate(5);
    Ok(out)
}

/// Refused (409) while another plan runs it as a sub-plan.
pub fn delete(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<(), StoreError> {
    let old = row(conn, id)?;
    refuse_if_used(parents(conn, &old.name)?, |plans| {
        format!(
            "plan `{}` is a sub-plan of ({plans}); remove it from them first",
            old.name
        )
    })?;
    let event = actor.event("plan.delete", "plan", Some(id.to_string()));
    audited(conn, &event.detail(old.name.clone()), |c| {
        refs::forget(c, &old.name)?;
        db!(c, |c| diesel::delete(p::table.find(id)).execute(c))?;
        Ok::<_, StoreError>(())
    })
}

pub fn versions(conn: &mut DbConn, id: i64) -> Result<Vec<PlanVersion>, StoreError> {
    row(conn, id)?;
    let rows: Vec<VersionTuple> = db!(conn, |c| v::table
        .filter(v::plan_id.eq(id))
        .order(v::version.desc())
        .select(VERSION_COLUMNS)
        .load(c))?;
    rows.into_iter().map(version_api).collect()
}

pub fn version(conn: &mut DbConn, id: i64, version: i32) -> Result<PlanVersion, StoreError> {
    row(conn, id)?;
    let found: Option<VersionTuple> = db!(conn, |c| v::table
        .find((id, version))
        .select(VERSION_COLUMNS)
        .first(c)
        .optional())?;
    let found = found
        .ok_or_else(|| StoreError::not_found(format!("plan {id} has no version {version}")))?;
    version_api(found)
}

type VersionTuple = (i64, i32, String, i64, String);
/// The columns a [`VersionTuple`] is read from.
const VERSION_COLUMNS: (
    v::plan_id,
    v::version,
    v::definition,
    v::created_at,
    v::created_by,
) = (
    v::plan_id,
    v::version,
    v::definition,
    v::created_at,
    v::created_by,
);

fn version_api((plan_id, version, def, at, by): VersionTuple) -> Result<PlanVersion, StoreError> {
    Ok(PlanVersion {
        plan_id,
        version,
        document: parse("plan version", &def)?,
        created_at: to_datetime(at),
        created_by: by,
    })
}

/// `plan_operation_refs`: which operation versions each plan version pins (the catalog
/// counts references from it and refuses to delete what is referenced).
mod refs {
    use super::*;
    use crate::store::schema::plan_operation_refs as r;

    pub(super) fn record(
        conn: &mut DbConn,
        plan: &str,
        version: i32,
        refs: &OperationRefs,
    ) -> Result<(), StoreError> {
        crate::store::operations::add_references(conn, plan, version, refs)
    }

    pub(super) fn rename(conn: &mut DbConn, old: &str, new: &str) -> Result<(), StoreError> {
        db!(conn, |c| diesel::update(
            r::table.filter(r::plan_name.eq(old))
        )
        .set(r::plan_name.eq(new))
        .execute(c))?;
        Ok(())
    }

    pub(super) fn forget(conn: &mut DbConn, plan: &str) -> Result<(), StoreError> {
        db!(conn, |c| diesel::delete(
            r::table.filter(r::plan_name.eq(plan))
        )
        .execute(c))?;
        Ok(())
    }

    /// The operation versions version `version` of plan `plan` pins.
    pub(super) fn of(
        conn: &mut DbConn,
        plan: &str,
        version: i32,
    ) -> Result<Vec<(String, i32)>, StoreError> {
        Ok(db!(conn, |c| r::table
            .filter(r::plan_name.eq(plan))
            .filter(r::plan_version.eq(version))
            .select((r::operation_code, r::operation_version))
            .load(c))?)
    }
}

/// The operation versions version `version` of plan `plan` pins: `(code, version)`.
pub fn pins(conn: &mut DbConn, plan: &str, version: i32) -> Result<Vec<(String, i32)>, StoreError> {
    refs::of(conn, plan, version)
}
