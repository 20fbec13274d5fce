//! Applying a permission manifest (hasinit's input): permissions' descriptions, roles and
//! bindings, created or brought to the manifest's value in one transaction. Entries the
//! manifest does not name are left alone. Concurrent applies serialise (an advisory lock on
//! PostgreSQL, the immediate transaction on SQLite), so two hasinit runs at once end with one
//! consistent result and the second one reports everything unchanged.

use super::access::{Binding, PermissionInfo, Role};
use crate::store::audit::{Actor, AuditWrite};
use crate::store::schema::{iam_bindings, iam_permissions, iam_roles};
use crate::store::{DbConn, now_ms};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::QueryResult;
use serde::{Deserialize, Serialize};
use shared::permissions::{Permission, is_builtin_role};

const APPLY_LOCK_KEY: i64 = 0x0048_4153_5f69_616d; // "HAS_iam"

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default)]
    pub permissions: Vec<PermissionInfo>,
    #[serde(default)]
    pub roles: Vec<Role>,
    #[serde(default)]
    pub bindings: Vec<Binding>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Change {
    /// `permission`, `role` or `binding`.
    pub kind: &'static str,
    pub name: String,
    /// `create` or `update`.
    pub op: &'static str,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Object)]
    pub after: serde_json::Value,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ApplyReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub dry_run: bool,
    pub changes: Vec<Change>,
}

impl ApplyReport {
    fn note(
        &mut self,
        kind: &'static str,
        name: String,
        before: Option<serde_json::Value>,
        after: serde_json::Value,
    ) {
        match before {
            Some(b) if b == after => self.unchanged += 1,
            b => {
                let op = if b.is_some() { "update" } else { "create" };
                if b.is_some() {
                    self.updated += 1;
                } else {
                    self.created += 1;
                }
                self.changes.push(Change {
                    kind,
                    name,
                    op,
                    before: b,
                    after,
                });
            }
        }
    }
}

/// Checks names against the catalog; the error is `(field path, reason)`.
pub fn validate(m: &Manifest) -> Result<(), (String, String)> {
    for (i, p) in m.permissions.iter().enumerate() {
        if Permission::parse(&p.name).is_none() {
            return Err((
                format!("permissions[{i}].name"),
                format!("`{}` is not in the permission catalog", p.name),
            ));
        }
    }
    for (i, r) in m.roles.iter().enumerate() {
        if !valid_name(&r.name) {
            return Err((
                format!("roles[{i}].name"),
                "must be 1-64 letters, digits, `-`, `_` or `.`".into(),
            ));
        }
        for (j, p) in r.permissions.iter().enumerate() {
            if Permission::parse(p).is_none() {
                return Err((
                    format!("roles[{i}].permissions[{j}]"),
                    format!("`{p}` is not in the permission catalog"),
                ));
            }
        }
    }
    for (i, b) in m.bindings.iter().enumerate() {
        if b.subject_kind != "user" && b.subject_kind != "group" {
            return Err((
                format!("bindings[{i}].subject_kind"),
                "must be `user` or `group`".into(),
            ));
        }
        if b.subject.trim().is_empty() || b.subject.len() > 256 {
            return Err((
                format!("bindings[{i}].subject"),
                "must be 1-256 characters".into(),
            ));
        }
        if !m.roles.iter().any(|r| r.name == b.role) && !is_builtin_role(&b.role) {
            // A role defined earlier through the API is fine too; the apply checks that.
            if !valid_name(&b.role) {
                return Err((
                    format!("bindings[{i}].role"),
                    "is not a valid role name".into(),
                ));
            }
        }
    }
    Ok(())
}

pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn normalized(r: &Role) -> serde_json::Value {
    let mut perms = r.permissions.clone();
    perms.sort();
    perms.dedup();
    serde_json::json!({"description": r.description, "permissions": perms})
}

macro_rules! apply_body {
    ($c:ident, $actor:expr, $m:expr, $dry:expr) => {{
        let mut report = ApplyReport { dry_run: $dry, ..Default::default() };
        let now = now_ms();
        for p in &$m.permissions {
            let before: Option<(String, String)> = iam_permissions::table
                .find(&p.name)
                .select((iam_permissions::description, iam_permissions::description_zh))
                .first($c)
                .optional()?;
            let after = serde_json::json!({
                "description": p.description, "description_zh": p.description_zh
            });
            let before_v = before
                .as_ref()
                .map(|(d, z)| serde_json::json!({"description": d, "description_zh": z}));
            let changed = before_v.as_ref() != Some(&after);
            report.note("permission", p.name.clone(), before_v, after);
            if changed && !$dry {
                diesel::delete(iam_permissions::table.find(&p.name)).execute($c)?;
                diesel::insert_into(iam_permissions::table)
                    .values((
                        iam_permissions::name.eq(&p.name),
                        iam_permissions::description.eq(&p.description),
                        iam_permissions::description_zh.eq(&p.description_zh),
                    ))
                    .execute($c)?;
            }
        }
        for r in &$m.roles {
            let before: Option<(String, String)> = iam_roles::table
                .find(&r.name)
                .select((iam_roles::description, iam_roles::permissions))
                .first($c)
                .optional()?;
            let before_v = before.map(|(d, p)| normalized(&Role {
                name: r.name.clone(),
                description: d,
                builtin: false,
                permissions: serde_json::from_str(&p).unwrap_or_default(),
            }));
            let after = normalized(r);
            let op = before_v.as_ref().map(|b| b != &after);
            report.note("role", r.name.clone(), before_v, after.clone());
            if !$dry {
                let perms = after["permissions"].to_string();
                match op {
                    Some(true) => {
                        diesel::update(iam_roles::table.find(&r.name))
                            .set((
                                iam_roles::description.eq(&r.description),
                                iam_roles::permissions.eq(&perms),
                                iam_roles::updated_at.eq(now),
                            ))
                            .execute($c)?;
                    }
                    None => {
                        diesel::insert_into(iam_roles::table)
                            .values((
                                iam_roles::name.eq(&r.name),
                                iam_roles::description.eq(&r.description),
                                iam_roles::builtin.eq(is_builtin_role(&r.name)),
                                iam_roles::permissions.eq(&perms),
                                iam_roles::created_at.eq(now),
                                iam_roles::updated_at.eq(now),
                            ))
                            .execute($c)?;
                    }
                    Some(false) => {}
                }
            }
        }
        for b in &$m.bindings {
            let exists: i64 = iam_bindings::table
                .filter(iam_bindings::subject_kind.eq(&b.subject_kind))
                .filter(iam_bindings::subject.eq(&b.subject))
                .filter(iam_bindings::role.eq(&b.role))
                .count()
                .get_result($c)?;
            let after = serde_json::json!({
                "subject_kind": b.subject_kind, "subject": b.subject, "role": b.role
            });
            let name = format!("{}:{} → {}", b.subject_kind, b.subject, b.role);
            report.note("binding", name, (exists > 0).then(|| after.clone()), after);
            if exists == 0 && !$dry {
                super::access::ensure_role_row!($c, &b.role, now);
                diesel::insert_into(iam_bindings::table)
                    .values((
                        iam_bindings::subject_kind.eq(&b.subject_kind),
                        iam_bindings::subject.eq(&b.subject),
                        iam_bindings::role.eq(&b.role),
                        iam_bindings::created_at.eq(now),
                    ))
                    .execute($c)?;
            }
        }
        if !$dry {
            let detail = format!(
                "{} created, {} updated, {} unchanged",
                report.created, report.updated, report.unchanged
            );
            let event = $actor.event("manifest.apply", "manifest", None);
            $c.audit(&event.after(&report.changes).detail(detail))?;
        }
        QueryResult::Ok(report)
    }};
}

/// Applies (or, with `dry_run`, only compares) the manifest. A binding to a role that neither
/// exists nor is built in is `NotFound`.
pub fn apply(
    conn: &mut DbConn,
    actor: &Actor,
    m: &Manifest,
    dry_run: bool,
) -> QueryResult<ApplyReport> {
    crate::store::write(conn, |conn| match conn {
        DbConn::Pg(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_xact_lock({APPLY_LOCK_KEY})"))?;
            apply_body!(c, actor, m, dry_run)
        }
        DbConn::Sqlite(c) => apply_body!(c, actor, m, dry_run),
    })
}
