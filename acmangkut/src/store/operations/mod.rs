//! The atomic operations catalog: operations (the latest document and the lifecycle), their
//! versions, and the plan versions that pin them (`plan_operation_refs`, written by plans).
//!
//! Every change of a document adds a version; a status change is checked against the stored
//! status in the transaction that makes it. Every change writes its audit row in the same
//! transaction. A referenced operation cannot be deleted (409 naming the plans; the foreign
//! key refuses a reference added since the check).

use crate::db;
use crate::store::audit::{Actor, audited, audited_insert};
use crate::store::inspection::{parse, refuse_if_used, to_json};
use crate::store::schema::{operation_versions as v, operations as o, plan_operation_refs as r};
use crate::store::{DbConn, StoreError, now_ms, to_datetime};
use diesel::prelude::*;
use shared::operation::{
    Operation, OperationInput, OperationKind, OperationReference, OperationStatus, OperationVersion,
};

const RESOURCE: &str = "operation";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = o)]
pub struct OperationRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub status: String,
    pub version: i32,
    pub definition: String,
    pub created_at: i64,
    pub created_by: String,
    pub updated_at: i64,
    pub published_at: Option<i64>,
    pub published_by: Option<String>,
    pub deprecated_at: Option<i64>,
    pub deprecated_by: Option<String>,
}

impl OperationRow {
    pub fn input(&self) -> Result<OperationInput, StoreError> {
        parse("operation", &self.definition)
    }

    pub fn status(&self) -> Result<OperationStatus, StoreError> {
        OperationStatus::parse(&self.status).ok_or_else(|| {
            StoreError::corrupt(
                "operation status",
                format!("unknown status {}", self.status),
            )
        })
    }

    fn api(self, references: i64) -> Result<Operation, StoreError> {
        let input = self.input()?;
        Ok(Operation {
            id: self.id,
            status: self.status()?,
            version: self.version,
            references,
            parameters_schema: input.parameters_schema(),
            input,
            created_at: to_datetime(self.created_at),
            created_by: self.created_by,
            updated_at: to_datetime(self.updated_at),
            published_at: self.published_at.map(to_datetime),
            published_by: self.published_by,
            deprecated_at: self.deprecated_at.map(to_datetime),
            deprecated_by: self.deprecated_by,
        })
    }
}

/// What the list shows; every part optional.
#[derive(Debug, Default, Clone)]
pub struct OperationFilter {
    pub status: Option<OperationStatus>,
    pub kind: Option<OperationKind>,
    /// Case-insensitive substring of the name, the code or the description.
    pub search: Option<String>,
}

/// The number of plans (distinct names) that pin some version of each code.
fn reference_counts(
    conn: &mut DbConn,
    code: Option<&str>,
) -> Result<Vec<(String, i64)>, StoreError> {
    let pairs: Vec<(String, String)> = db!(conn, |c| {
        let mut q = r::table
            .select((r::operation_code, r::plan_name))
            .distinct()
            .into_boxed();
        if let Some(code) = code {
            q = q.filter(r::operation_code.eq(code));
        }
        q.load(c)
    })?;
    let mut counts: Vec<(String, i64)> = Vec::new();
    for (code, _) in pairs {
        match counts.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => counts.push((code, 1)),
        }
    }
    Ok(counts)
}

fn count_of(counts: &[(String, i64)], code: &str) -> i64 {
    counts.iter().find(|(c, _)| c == code).map_or(0, |x| x.1)
}

/// Newest first.
pub fn list(conn: &mut DbConn, f: &OperationFilter) -> Result<Vec<Operation>, StoreError> {
    let rows: Vec<OperationRow> = db!(conn, |c| {
        let mut q = o::table
            .select(OperationRow::as_select())
            .order((o::created_at.desc(), o::id.desc()))
            .into_boxed();
        if let Some(s) = f.status {
            q = q.filter(o::status.eq(s.as_str()));
        }
        if let Some(k) = f.kind {
            q = q.filter(o::kind.eq(k.as_str()));
        }
        q.load(c)
    })?;
    let counts = reference_counts(conn, None)?;
    let needle = f.search.as_ref().map(|s| s.to_lowercase());
    let matches = |op: &Operation| {
        let i = &op.input;
        needle.as_ref().is_none_or(|n| {
            [&i.name, &i.code, &i.description]
                .iter()
                .any(|s| s.to_lowercase().contains(n))
        })
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let n = count_of(&counts, &row.code);
        let op = row.api(n)?;
        if matches(&op) {
            out.push(op);
        }
    }
    Ok(out)
}

pub fn row(conn: &mut DbConn, code: &str) -> Result<OperationRow, StoreError> {
    crate::find_by!(conn, o::table, o::code, code, OperationRow::as_select())?
        .ok_or_else(|| StoreError::not_found(format!("no operation `{code}`")))
}

pub fn get(conn: &mut DbConn, code: &str) -> Result<Operation, StoreError> {
    let row = row(conn, code)?;
    let n = count_of(&reference_counts(conn, Some(code))?, code);
    row.api(n)
}

/// A new operation: a draft at version 1.
pub fn create(
    conn: &mut DbConn,
    actor: &Actor,
    input: &OperationInput,
) -> Result<Operation, StoreError> {
    let now = now_ms();
    let def = to_json(input);
    let insert = |c: &mut DbConn| {
        let id: i64 = db!(c, |c| diesel::insert_into(o::table)
            .values((
                o::code.eq(&input.code),
                o::name.eq(&input.name),
                o::kind.eq(input.kind.as_str()),
                o::status.eq(OperationStatus::Draft.as_str()),
                o::version.eq(1),
                o::definition.eq(&def),
                o::created_at.eq(now),
                o::created_by.eq(&actor.name),
                o::updated_at.eq(now),
            ))
            .returning(o::id)
            .get_result(c))?;
        add_version(c, actor, id, 1, &def, now)?;
        Ok::<_, StoreError>(id)
    };
    audited_insert(conn, insert, |_| {
        actor
            .event("operation.create", RESOURCE, Some(input.code.clone()))
            .after(input)
    })?;
    get(conn, &input.code)
}

/// A new version of operation `code` (the input's code is the same; the caller checks it).
/// Unchanged input adds nothing and answers `false`; a deprecated operation is refused (409).
pub fn update(
    conn: &mut DbConn,
    actor: &Actor,
    code: &str,
    input: &OperationInput,
) -> Result<(Operation, bool), StoreError> {
    let old = row(conn, code)?;
    let before = old.input()?;
    if &before == input {
        return Ok((get(conn, code)?, false));
    }
    let status = old.status()?;
    if !status.editable() {
        return Err(StoreError::conflict(format!(
            "operation `{code}` is {}: it no longer changes; create a new operation",
            status.as_str()
        )));
    }
    let now = now_ms();
    let def = to_json(input);
    let version = old.version + 1;
    let event = actor
        .event("operation.update", RESOURCE, Some(code.to_string()))
        .before(&before)
        .after(input);
    audited(conn, &event, |c| {
        // Only from the version read above: a concurrent change makes this one a conflict.
        let n = db!(c, |c| diesel::update(
            o::table
                .filter(o::id.eq(old.id))
                .filter(o::version.eq(old.version))
                .filter(o::status.eq(&old.status))
        )
        .set((
            o::name.eq(&input.name),
            o::kind.eq(input.kind.as_str()),
            o::version.eq(version),
            o::definition.eq(&def),
            o::updated_at.eq(now),
        ))
        .execute(c))?;
        if n == 0 {
            return Err(changed_meanwhile(code));
        }
        add_version(c, actor, old.id, version, &def, now)
    })?;
    Ok((get(conn, code)?, true))
}

fn changed_meanwhile(code: &str) -> StoreError {
    StoreError::conflict(format!(
        "operation `{code}` changed meanwhile; read it again and retry"
    ))
}

fn add_version(
    conn: &mut DbConn,
    actor: &Actor,
    id: i64,
    version: i32,
    def: &str,
    now: i64,
) -> Result<(), StoreError> {
    db!(conn, |c| diesel::insert_into(v::table)
        .values((
            v::operation_id.eq(id),
            v::version.eq(version),
            v::definition.eq(def),
            v::created_at.eq(now),
            v::created_by.eq(&actor.name),
        ))
        .execute(c))?;
    Ok(())
}

/// Moves operation `code` to `next` (publish or deprecate), recording who and when; a step
/// the lifecycle does not allow is a conflict (409).
pub fn set_status(
    conn: &mut DbConn,
    actor: &Actor,
    code: &str,
    next: OperationStatus,
) -> Result<Operation, StoreError> {
    let old = row(conn, code)?;
    let from = old.status()?;
    from.transition(next)
        .map_err(|e| StoreError::conflict(format!("operation `{code}`: {}", e.detail)))?;
    let now = now_ms();
    let action = match next {
        OperationStatus::Published => "operation.publish",
        OperationStatus::Deprecated => "operation.deprecate",
        OperationStatus::Draft => "operation.draft",
    };
    let event = actor
        .event(action, RESOURCE, Some(code.to_string()))
        .before(&from)
        .after(&next)
        .detail(format!("version {}", old.version));
    audited(conn, &event, |c| {
        let target = o::table
            .filter(o::id.eq(old.id))
            .filter(o::status.eq(from.as_str()));
        let who = Some(actor.name.as_str());
        let n = match next {
            OperationStatus::Published => db!(c, |c| diesel::update(target)
                .set((
                    o::status.eq(next.as_str()),
                    o::published_at.eq(Some(now)),
                    o::published_by.eq(who),
                    o::updated_at.eq(now),
                ))
                .execute(c)),
            _ => db!(c, |c| diesel::update(target)
                .set((
                    o::status.eq(next.as_str()),
                    o::deprecated_at.eq(Some(now)),
                    o::deprecated_by.eq(who),
                    o::updated_at.eq(now),
                ))
                .execute(c)),
        }?;
        match n {
            0 => Err(changed_meanwhile(code)),
            _ => Ok(()),
        }
    })?;
    get(conn, code)
}

/// Names of (at most 5 of) the plans that pin some version of `code`.
fn plan_names(conn: &mut DbConn, code: &str) -> Result<Vec<String>, StoreError> {
    Ok(db!(conn, |c| r::table
        .filter(r::operation_code.eq(code))
        .select(r::plan_name)
        .distinct()
        .order(r::plan_name)
        .limit(5)
        .load(c))?)
}

/// Deletes operation `code` and its versions; 409 naming the plans while any pin it.
pub fn delete(conn: &mut DbConn, actor: &Actor, code: &str) -> Result<(), StoreError> {
    let old = row(conn, code)?;
    refuse_if_used(plan_names(conn, code)?, |plans| {
        format!("operation `{code}` is referenced by plans ({plans}); it cannot be deleted")
    })?;
    let event = actor
        .event("operation.delete", RESOURCE, Some(code.to_string()))
        .before(&old.input()?);
    audited(conn, &event, |c| {
        db!(c, |c| diesel::delete(o::table.find(old.id)).execute(c)).map_err(StoreError::from)
    })
    .map(drop)
}

fn version_api(
    code: &str,
    (version, def, at, by): (i32, String, i64, String),
) -> Result<OperationVersion, StoreError> {
    Ok(OperationVersion {
        code: code.to_string(),
        version,
        operation: parse("operation version", &def)?,
        created_at: to_datetime(at),
        created_by: by,
    })
}

/// Every version of operation `code`, newest first.
pub fn versions(conn: &mut DbConn, code: &str) -> Result<Vec<OperationVersion>, StoreError> {
    let id = row(conn, code)?.id;
    let rows: Vec<(i32, String, i64, String)> = db!(conn, |c| v::table
        .filter(v::operation_id.eq(id))
        .order(v::version.desc())
        .select((v::version, v::definition, v::created_at, v::created_by))
        .load(c))?;
    rows.into_iter().map(|x| version_api(code, x)).collect()
}

/// Version `version` (default: the latest) of operation `code`, whatever its status (a plan
/// version that pins it runs it even once deprecated), with the operation's status.
pub fn version(
    conn: &mut DbConn,
    code: &str,
    version: Option<i32>,
) -> Result<(OperationVersion, OperationStatus), StoreError> {
    let op = row(conn, code)?;
    let wanted = version.unwrap_or(op.version);
    let found: Option<(i32, String, i64, String)> = db!(conn, |c| v::table
        .filter(v::operation_id.eq(op.id))
        .filter(v::version.eq(wanted))
        .select((v::version, v::definition, v::created_at, v::created_by))
        .first(c)
        .optional())?;
    let found = found.ok_or_else(|| {
        StoreError::not_found(format!("operation `{code}` has no version {wanted}"))
    })?;
    Ok((version_api(code, found)?, op.status()?))
}

/// The plan versions that pin some version of `code`, by plan name and newest plan version
/// first.
pub fn references(conn: &mut DbConn, code: &str) -> Result<Vec<OperationReference>, StoreError> {
    row(conn, code)?;
    let rows: Vec<(String, i32, i32)> = db!(conn, |c| r::table
        .filter(r::operation_code.eq(code))
        .order((r::plan_name.asc(), r::plan_version.desc()))
        .select((r::plan_name, r::plan_version, r::operation_version))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(
            |(plan_name, plan_version, operation_version)| OperationReference {
                plan_name,
                plan_version,
                operation_version,
            },
        )
        .collect())
}

/// Records that version `plan_version` of plan `plan_name` pins these `(code, version)`
/// pairs (repeats are written once). For plans, inside the transaction that saves the plan
/// version; the caller has checked that each pair may be pinned.
pub fn add_references(
    conn: &mut DbConn,
    plan_name: &str,
    plan_version: i32,
    pins: &[(String, i32)],
) -> Result<(), StoreError> {
    let mut seen: Vec<&(String, i32)> = Vec::new();
    for pin in pins {
        if seen.contains(&pin) {
            continue;
        }
        seen.push(pin);
        db!(conn, |c| diesel::insert_into(r::table)
            .values((
                r::plan_name.eq(plan_name),
                r::plan_version.eq(plan_version),
                r::operation_code.eq(&pin.0),
                r::operation_version.eq(pin.1),
            ))
            .execute(c))?;
    }
    Ok(())
}
