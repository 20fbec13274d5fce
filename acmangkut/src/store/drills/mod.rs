//! Fault drills and their versions, as plans keep theirs: each save that changes the document
//! adds a version; `drills` keeps the latest beside the columns the list reads. Every change
//! writes its audit row in the same transaction. [`runs`]: the runs, their per-target records
//! and events; [`lever`]: the safety lever.

pub mod lever;
pub mod runs;

use crate::db;
use crate::store::audit::{Actor, audited, audited_insert};
use crate::store::inspection::{parse, refuse_if_used, to_json};
use crate::store::schema::{drill_runs as r, drill_versions as v, drills as d};
use crate::store::{DbConn, StoreError, now_ms, to_datetime};
use diesel::prelude::*;
use shared::drill::{Drill, DrillDocument, DrillSummary, DrillVersion};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = d)]
pub struct DrillRow {
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

impl DrillRow {
    pub fn document(&self) -> Result<DrillDocument, StoreError> {
        parse("drill", &self.definition)
    }

    fn api(&self) -> Result<Drill, StoreError> {
        Ok(Drill {
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

pub fn list(conn: &mut DbConn) -> Result<Vec<DrillSummary>, StoreError> {
    let rows: Vec<DrillRow> = db!(conn, |c| d::table
        .select(DrillRow::as_select())
        .order(d::name.asc())
        .load(c))?;
    rows.into_iter()
        .map(|row| {
            let doc = row.document()?;
            Ok(DrillSummary {
                id: row.id,
                name: row.name,
                description: row.description,
                version: row.version,
                targets: doc.targets.len(),
                faults: doc.faults.len(),
                updated_at: to_datetime(row.updated_at),
                updated_by: row.updated_by,
            })
        })
        .collect()
}

pub fn row(conn: &mut DbConn, id: i64) -> Result<DrillRow, StoreError> {
    crate::find_row!(conn, d::table, DrillRow, id, "drill")
}

pub fn get(conn: &mut DbConn, id: i64) -> Result<Drill, StoreError> {
    row(conn, id)?.api()
}

pub fn create(conn: &mut DbConn, actor: &Actor, doc: &DrillDocument) -> Result<Drill, StoreError> {
    let (now, def) = (now_ms(), to_json(doc));
    let insert = |c: &mut DbConn| {
        let id: i64 = db!(c, |c| diesel::insert_into(d::table)
            .values((
                d::name.eq(&doc.name),
                d::description.eq(&doc.description),
                d::version.eq(1),
                d::definition.eq(&def),
                d::created_at.eq(now),
                d::created_by.eq(&actor.name),
                d::updated_at.eq(now),
                d::updated_by.eq(&actor.name),
            ))
            .returning(d::id)
            .get_result(c))?;
        add_version(c, (id, 1), &def, actor)?;
        Ok::<_, StoreError>(id)
    };
    let id = audited_insert(conn, insert, |id| {
        actor
            .event("drill.create", "drill", Some(id.to_string()))
            .after(doc)
            .detail("version 1")
    })?;
    get(conn, id)
}

/// Saves `doc` as the next version of drill `id`; the same document again adds none.
pub fn update(
    conn: &mut DbConn,
    actor: &Actor,
    id: i64,
    doc: &DrillDocument,
) -> Result<Drill, StoreError> {
    let old = row(conn, id)?;
    let before = old.document()?;
    if &before == doc {
        return old.api();
    }
    let (now, def, version) = (now_ms(), to_json(doc), old.version + 1);
    let event = actor
        .event("drill.update", "drill", Some(id.to_string()))
        .before(&before)
        .after(doc)
        .detail(format!("version {version}"));
    audited(conn, &event, |c| {
        db!(c, |c| diesel::update(d::table.find(id))
            .set((
                d::name.eq(&doc.name),
                d::description.eq(&doc.description),
                d::version.eq(version),
                d::definition.eq(&def),
                d::updated_at.eq(now),
                d::updated_by.eq(&actor.name),
            ))
            .execute(c))?;
        add_version(c, (id, version), &def, actor)
    })?;
    get(conn, id)
}

fn add_version(
    conn: &mut DbConn,
    (id, version): (i64, i32),
    def: &str,
    actor: &Actor,
) -> Result<(), StoreError> {
    db!(conn, |c| diesel::insert_into(v::table)
        .values((
            v::drill_id.eq(id),
            v::version.eq(version),
            v::definition.eq(def),
            v::created_at.eq(now_ms()),
            v::created_by.eq(&actor.name),
        ))
        .execute(c))?;
    Ok(())
}

/// Refused (409) while a run of the drill has not ended; the ended runs go with it.
pub fn delete(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<(), StoreError> {
    let old = row(conn, id)?;
    let active: Vec<i64> = db!(conn, |c| r::table
        .filter(r::drill_id.eq(id))
        .filter(r::ended_at.is_null())
        .select(r::id)
        .load(c))?;
    refuse_if_used(active.iter().map(i64::to_string).collect(), |runs| {
        format!(
            "drill `{}` has runs in progress ({runs}); stop them first",
            old.name
        )
    })?;
    let event = actor.event("drill.delete", "drill", Some(id.to_string()));
    audited(conn, &event.detail(old.name.clone()), |c| {
        runs::delete_ended_of(c, id)?;
        db!(c, |c| diesel::delete(d::table.find(id)).execute(c))?;
        Ok::<_, StoreError>(())
    })
}

pub fn versions(conn: &mut DbConn, id: i64) -> Result<Vec<DrillVersion>, StoreError> {
    row(conn, id)?;
    let rows: Vec<VersionRow> = db!(conn, |c| v::table
        .filter(v::drill_id.eq(id))
        .order(v::version.desc())
        .select(VersionRow::as_select())
        .load(c))?;
    rows.into_iter().map(VersionRow::api).collect()
}

pub fn version(conn: &mut DbConn, id: i64, version: i32) -> Result<DrillVersion, StoreError> {
    row(conn, id)?;
    let found: Option<VersionRow> = db!(conn, |c| v::table
        .find((id, version))
        .select(VersionRow::as_select())
        .first(c)
        .optional())?;
    found
        .ok_or_else(|| StoreError::not_found(format!("drill {id} has no version {version}")))?
        .api()
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = v)]
struct VersionRow {
    drill_id: i64,
    version: i32,
    definition: String,
    created_at: i64,
    created_by: String,
}

impl VersionRow {
    fn api(self) -> Result<DrillVersion, StoreError> {
        Ok(DrillVersion {
            drill_id: self.drill_id,
            version: self.version,
            document: parse("drill version", &self.definition)?,
            created_at: to_datetime(self.created_at),
            created_by: self.created_by,
        })
    }
}

/// Version `v` (none: the latest) of drill `id`, with its number.
pub fn saved(
    conn: &mut DbConn,
    id: i64,
    v: Option<i32>,
) -> Result<(i32, DrillDocument), StoreError> {
    match v {
        Some(v) => Ok((v, version(conn, id, v)?.document)),
        None => {
            let row = row(conn, id)?;
            Ok((row.version, row.document()?))
        }
    }
}
