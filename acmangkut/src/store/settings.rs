//! Cluster-wide settings every replica reads (e.g. the IAM switch for all replicas).

use super::audit::{Actor, AuditWrite};
use super::schema::settings;
use super::{DbConn, now_ms};
use crate::db;
use diesel::prelude::*;
use diesel::result::QueryResult;

pub const IAM_DEGRADED: &str = "iam.degraded";

pub fn get(conn: &mut DbConn, key: &str) -> QueryResult<Option<String>> {
    db!(conn, |c| settings::table
        .find(key)
        .select(settings::value)
        .first(c)
        .optional())
}

/// Sets `key`, auditing the change with its old and new value.
pub fn set(conn: &mut DbConn, actor: &Actor, key: &str, value: &str) -> QueryResult<()> {
    crate::store::write(conn, |c| {
        db!(c, |c| {
            let before: Option<String> = settings::table
                .find(key)
                .select(settings::value)
                .first(c)
                .optional()?;
            diesel::delete(settings::table.find(key)).execute(c)?;
            diesel::insert_into(settings::table)
                .values((
                    settings::key.eq(key),
                    settings::value.eq(value),
                    settings::updated_at.eq(now_ms()),
                ))
                .execute(c)?;
            let mut ev = actor
                .event("setting.set", "setting", Some(key.to_string()))
                .after(&value);
            if let Some(b) = before {
                ev = ev.before(&b);
            }
            c.audit(&ev)
        })
    })
}
