//! Roles, bindings and permission metadata, and the manifest hasinit applies.
//!
//! The catalog of permissions lives in code (`shared::permissions`); the database holds their
//! descriptions, the roles (built-in ones may be absent until hasinit ran: code knows them) and
//! the bindings from users and IdP groups to roles.

use crate::db;
use crate::store::audit::{Actor, AuditWrite};
use crate::store::schema::{iam_bindings, iam_permissions, iam_roles};
use crate::store::{DbConn, StoreError, now_ms};
use diesel::prelude::*;
use diesel::result::{Error as DbError, QueryResult};
use serde::{Deserialize, Serialize};
use shared::permissions::{BUILTIN_ROLES, PermSet, Permission, is_builtin_role};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Role {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub builtin: bool,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Binding {
    #[serde(default)]
    pub id: i64,
    /// `user` (a username) or `group` (an IdP group).
    pub subject_kind: String,
    pub subject: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PermissionInfo {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub description_zh: String,
}

type RoleTuple = (String, String, bool, String);

fn role_from(t: RoleTuple) -> Role {
    Role {
        name: t.0,
        description: t.1,
        builtin: t.2,
        permissions: serde_json::from_str(&t.3).unwrap_or_default(),
    }
}

/// Roles stored, plus the built-in ones not stored yet.
pub fn roles(conn: &mut DbConn) -> QueryResult<Vec<Role>> {
    let rows: Vec<RoleTuple> = db!(conn, |c| iam_roles::table
        .select((
            iam_roles::name,
            iam_roles::description,
            iam_roles::builtin,
            iam_roles::permissions
        ))
        .order(iam_roles::name.asc())
        .load(c))?;
    let mut out: Vec<Role> = rows.into_iter().map(role_from).collect();
    for builtin in BUILTIN_ROLES {
        if !out.iter().any(|r| r.name == builtin.name) {
            out.push(Role {
                name: builtin.name.to_string(),
                description: builtin.description.into(),
                builtin: true,
                permissions: builtin
                    .permissions
                    .iter()
                    .map(|p| p.as_str().into())
                    .collect(),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub fn role(conn: &mut DbConn, name: &str) -> QueryResult<Role> {
    roles(conn)?
        .into_iter()
        .find(|r| r.name == name)
        .ok_or(DbError::NotFound)
}

macro_rules! upsert_role_body {
    ($c:ident, $actor:expr, $role:expr, $before:expr) => {{
        let now = now_ms();
        let perms = serde_json::to_string(&$role.permissions).unwrap_or_else(|_| "[]".into());
        let builtin = is_builtin_role(&$role.name);
        let stored = diesel::update(iam_roles::table.find(&$role.name))
            .set((
                iam_roles::description.eq(&$role.description),
                iam_roles::permissions.eq(&perms),
                iam_roles::updated_at.eq(now),
            ))
            .execute($c)?;
        if stored == 0 {
            diesel::insert_into(iam_roles::table)
                .values((
                    iam_roles::name.eq(&$role.name),
                    iam_roles::description.eq(&$role.description),
                    iam_roles::builtin.eq(builtin),
                    iam_roles::permissions.eq(&perms),
                    iam_roles::created_at.eq(now),
                    iam_roles::updated_at.eq(now),
                ))
                .execute($c)?;
        }
        let mut ev = $actor
            .event("role.put", "role", Some($role.name.clone()))
            .after($role);
        if let Some(b) = $before {
            ev = ev.before(b);
        }
        $c.audit(&ev)
    }};
}

/// Creates or replaces a role; answers whether it was created.
pub fn put_role(conn: &mut DbConn, actor: &Actor, role: &Role) -> QueryResult<bool> {
    let before = self::role(conn, &role.name).ok();
    crate::store::write(conn, |c| {
        db!(c, |c| upsert_role_body!(c, actor, role, before.as_ref()))
    })?;
    Ok(before.is_none())
}

pub fn delete_role(conn: &mut DbConn, actor: &Actor, name: &str) -> QueryResult<()> {
    let before = role(conn, name)?;
    crate::store::write(conn, |c| {
        db!(c, |c| {
            if diesel::delete(iam_roles::table.find(name)).execute(c)? == 0 {
                return Err(DbError::NotFound);
            }
            c.audit(
                &actor
                    .event("role.delete", "role", Some(name.to_string()))
                    .before(&before),
            )
        })
    })
}

pub fn bindings(conn: &mut DbConn) -> QueryResult<Vec<Binding>> {
    let rows: Vec<(i64, String, String, String)> = db!(conn, |c| iam_bindings::table
        .select((
            iam_bindings::id,
            iam_bindings::subject_kind,
            iam_bindings::subject,
            iam_bindings::role
        ))
        .order(iam_bindings::id.asc())
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(id, subject_kind, subject, role)| Binding {
            id,
            subject_kind,
            subject,
            role,
        })
        .collect())
}

/// Inside a write transaction: makes sure role `$name` has its row (bindings reference it).
/// A built-in role that hasinit has not stored yet is stored from the code's definition,
/// without an audit row of its own (it is no change of the role); any other missing role is
/// `NotFound`.
macro_rules! ensure_role_row {
    ($c:ident, $name:expr, $now:expr) => {{
        let stored: i64 = $crate::store::schema::iam_roles::table
            .filter($crate::store::schema::iam_roles::name.eq($name))
            .count()
            .get_result($c)?;
        if stored == 0 {
            let Some(builtin) = shared::permissions::builtin_role($name) else {
                return Err(diesel::result::Error::NotFound);
            };
            use $crate::store::schema::iam_roles as role_rows;
            diesel::insert_into(role_rows::table)
                .values((
                    role_rows::name.eq($name),
                    role_rows::description.eq(builtin.description),
                    role_rows::builtin.eq(true),
                    role_rows::permissions
                        .eq(serde_json::to_string(builtin.permissions).unwrap_or_default()),
                    role_rows::created_at.eq($now),
                    role_rows::updated_at.eq($now),
                ))
                .execute($c)?;
        }
    }};
}
pub(crate) use ensure_role_row;

/// Creates a binding and its one audit row, in one transaction (see [`ensure_role_row`]).
pub fn create_binding(conn: &mut DbConn, actor: &Actor, b: &Binding) -> QueryResult<Binding> {
    crate::store::write(conn, |c| {
        db!(c, |c| {
            ensure_role_row!(c, &b.role, now_ms());
            let id: i64 = diesel::insert_into(iam_bindings::table)
                .values((
                    iam_bindings::subject_kind.eq(&b.subject_kind),
                    iam_bindings::subject.eq(&b.subject),
                    iam_bindings::role.eq(&b.role),
                    iam_bindings::created_at.eq(now_ms()),
                ))
                .returning(iam_bindings::id)
                .get_result(c)?;
            let created = Binding { id, ..b.clone() };
            c.audit(
                &actor
                    .event("binding.create", "binding", Some(id.to_string()))
                    .after(&created),
            )?;
            QueryResult::Ok(created)
        })
    })
}

pub fn delete_binding(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<(), StoreError> {
    let before = bindings(conn)?
        .into_iter()
        .find(|b| b.id == id)
        .ok_or(DbError::NotFound)?;
    super::keeping_an_admin(conn, |c| {
        db!(c, |c| {
            diesel::delete(iam_bindings::table.find(id)).execute(c)?;
            c.audit(
                &actor
                    .event("binding.delete", "binding", Some(id.to_string()))
                    .before(&before),
            )
        })
    })
}

pub fn permissions(conn: &mut DbConn) -> QueryResult<Vec<PermissionInfo>> {
    let stored: Vec<(String, String, String)> = db!(conn, |c| iam_permissions::table
        .select((
            iam_permissions::name,
            iam_permissions::description,
            iam_permissions::description_zh
        ))
        .load(c))?;
    let stored: HashMap<String, (String, String)> =
        stored.into_iter().map(|(n, d, z)| (n, (d, z))).collect();
    Ok(Permission::ALL
        .iter()
        .map(|p| {
            let (d, z) = p.description();
            let (d, z) = stored
                .get(p.as_str())
                .cloned()
                .unwrap_or_else(|| (d.into(), z.into()));
            PermissionInfo {
                name: p.as_str().into(),
                description: d,
                description_zh: z,
            }
        })
        .collect())
}

/// What the permission checks read: every role's permissions and every binding.
#[derive(Debug, Default, Clone)]
pub struct AccessSnapshot {
    roles: HashMap<String, PermSet>,
    users: HashMap<String, Vec<String>>,
    groups: HashMap<String, Vec<String>>,
}

impl AccessSnapshot {
    pub fn load(conn: &mut DbConn) -> QueryResult<Self> {
        let mut s = Self::default();
        for r in roles(conn)? {
            let perms =
                PermSet::parse(r.permissions.iter().map(String::as_str)).unwrap_or_else(|e| {
                    tracing::warn!(role = %r.name, error = %e, "role names an unknown permission");
                    PermSet::parse(
                        r.permissions
                            .iter()
                            .map(String::as_str)
                            .filter(|p| Permission::parse(p).is_some()),
                    )
                    .unwrap_or_default()
                });
            s.roles.insert(r.name, perms);
        }
        for b in bindings(conn)? {
            let map = if b.subject_kind == "group" {
                &mut s.groups
            } else {
                &mut s.users
            };
            map.entry(b.subject).or_default().push(b.role);
        }
        Ok(s)
    }

    /// The roles of a user (by username) with the given IdP groups.
    pub fn roles_of(&self, username: &str, groups: &[String]) -> Vec<String> {
        let mut out: Vec<String> = self.users.get(username).cloned().unwrap_or_default();
        for g in groups {
            out.extend(self.groups.get(g).cloned().unwrap_or_default());
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    pub fn permissions_of_roles(&self, roles: &[String]) -> PermSet {
        roles
            .iter()
            .filter_map(|r| self.roles.get(r))
            .fold(PermSet::default(), |a, b| a.union(*b))
    }
}
