//! The audit log: one row per change of state, sign-in, sign-out, failed sign-in and switch
//! flip. Rows are written in the same transaction as the change ([`AuditWrite`]); nothing here
//! updates or deletes them.

use super::schema::audit_events;
use super::{DbConn, now_ms, to_datetime};
use crate::db;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::result::QueryResult;
use diesel::sql_types::{Bool, Integer, Text};
use diesel::{PgConnection, SqliteConnection};
use serde::Serialize;

/// Who did it and from where; built from the request's principal.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    /// `user`, `oidc`, `token`, `bootstrap`, `loopback` or `anonymous`.
    pub kind: &'static str,
    pub peer: String,
}

impl Actor {
    /// An event by this actor, succeeded, without before/after.
    pub fn event(&self, action: &str, resource: &str, id: Option<String>) -> NewAuditEvent {
        NewAuditEvent {
            at: now_ms(),
            actor: self.name.clone(),
            actor_kind: self.kind.to_string(),
            action: action.to_string(),
            resource: resource.to_string(),
            resource_id: id,
            outcome: "success".into(),
            peer: self.peer.clone(),
            before_json: None,
            after_json: None,
            detail: None,
        }
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEvent {
    pub at: i64,
    pub actor: String,
    pub actor_kind: String,
    pub action: String,
    pub resource: String,
    pub resource_id: Option<String>,
    pub outcome: String,
    pub peer: String,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub detail: Option<String>,
}

impl NewAuditEvent {
    pub fn before(mut self, v: &impl Serialize) -> Self {
        self.before_json = serde_json::to_string(v).ok();
        self
    }

    pub fn after(mut self, v: &impl Serialize) -> Self {
        self.after_json = serde_json::to_string(v).ok();
        self
    }

    pub fn outcome(mut self, o: &str) -> Self {
        self.outcome = o.to_string();
        self
    }

    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
}

/// Writing an audit row on the concrete connection of a transaction in progress.
pub trait AuditWrite {
    fn audit(&mut self, e: &NewAuditEvent) -> QueryResult<()>;
}

macro_rules! audit_write {
    ($conn:ty) => {
        impl AuditWrite for $conn {
            fn audit(&mut self, e: &NewAuditEvent) -> QueryResult<()> {
                diesel::insert_into(audit_events::table)
                    .values(e)
                    .execute(self)
                    .map(|_| ())
            }
        }
    };
}
audit_write!(PgConnection);
audit_write!(SqliteConnection);

/// `change` and its audit event in one write transaction: both commit, or neither does.
pub fn audited<T, E>(
    conn: &mut DbConn,
    event: &NewAuditEvent,
    change: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    audited_with(conn, change, |_| event.clone())
}

/// An insert and its audit event, built from the new row's id, in one write transaction.
pub fn audited_insert<E>(
    conn: &mut DbConn,
    insert: impl FnOnce(&mut DbConn) -> Result<i64, E>,
    event: impl FnOnce(i64) -> NewAuditEvent,
) -> Result<i64, E>
where
    E: From<diesel::result::Error>,
{
    audited_with(conn, insert, |id| event(*id))
}

fn audited_with<T, E>(
    conn: &mut DbConn,
    change: impl FnOnce(&mut DbConn) -> Result<T, E>,
    event: impl FnOnce(&T) -> NewAuditEvent,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    super::write(conn, |c| {
        let out = change(c)?;
        record(c, &event(&out))?;
        Ok(out)
    })
}

/// An event that changes nothing else (sign-in, failed sign-in, a read by the bootstrap token).
pub fn record(conn: &mut DbConn, e: &NewAuditEvent) -> QueryResult<()> {
    db!(conn, |c| c.audit(e))
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub actor_kind: String,
    pub action: String,
    pub resource: String,
    pub resource_id: Option<String>,
    pub outcome: String,
    pub peer: String,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub detail: Option<String>,
}

/// An audit event as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub actor_kind: String,
    pub action: String,
    pub resource: String,
    pub resource_id: Option<String>,
    pub outcome: String,
    pub peer: String,
    /// The resource before the change: any JSON (an object, a string, a list), or null.
    pub before: Option<serde_json::Value>,
    /// The resource after the change, as `before`.
    pub after: Option<serde_json::Value>,
    pub detail: Option<String>,
}

impl AuditRow {
    pub fn into_api(self) -> AuditEvent {
        let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        AuditEvent {
            id: self.id,
            at: to_datetime(self.at),
            actor: self.actor,
            actor_kind: self.actor_kind,
            action: self.action,
            resource: self.resource,
            resource_id: self.resource_id,
            outcome: self.outcome,
            peer: self.peer,
            before: parse(self.before_json),
            after: parse(self.after_json),
            detail: self.detail,
        }
    }
}

/// Filters of `GET /api/v1/audit`; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// Exact action, or a prefix ending in `.` (`monitor.`); both match letter case exactly.
    pub action: Option<String>,
    pub resource: Option<String>,
    pub outcome: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

/// Newest first.
pub fn list(
    conn: &mut DbConn,
    f: &AuditFilter,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<AuditEvent>, i64)> {
    macro_rules! filtered {
        () => {{
            let mut q = audit_events::table.into_boxed();
            if let Some(a) = &f.actor {
                q = q.filter(audit_events::actor.eq(a.clone()));
            }
            if let Some(a) = &f.action {
                if a.ends_with('.') {
                    // Not LIKE: SQLite's ignores letter case and `_` is a wildcard in both, so
                    // a prefix would match more than the whole action it starts does.
                    q = q.filter(
                        sql::<Bool>("substr(action, 1, ")
                            .bind::<Integer, _>(a.chars().count() as i32)
                            .sql(") = ")
                            .bind::<Text, _>(a.clone()),
                    );
                } else {
                    q = q.filter(audit_events::action.eq(a.clone()));
                }
            }
            if let Some(r) = &f.resource {
                q = q.filter(audit_events::resource.eq(r.clone()));
            }
            if let Some(o) = &f.outcome {
                q = q.filter(audit_events::outcome.eq(o.clone()));
            }
            if let Some(s) = f.since_ms {
                q = q.filter(audit_events::at.ge(s));
            }
            if let Some(u) = f.until_ms {
                q = q.filter(audit_events::at.lt(u));
            }
            q
        }};
    }
    let (rows, total): (Vec<AuditRow>, i64) = db!(conn, |c| {
        let total = filtered!().count().get_result(c)?;
        let rows = filtered!()
            .order(audit_events::id.desc())
            .limit(limit)
            .offset(offset)
            .select(AuditRow::as_select())
            .load(c)?;
        QueryResult::Ok((rows, total))
    })?;
    Ok((rows.into_iter().map(AuditRow::into_api).collect(), total))
}
