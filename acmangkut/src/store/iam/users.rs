//! User accounts: built-in (argon2id hash here) and OIDC users (recorded at first sign-in so
//! sessions, tokens and the audit log can point at them). A user's roles are its bindings of
//! kind `user`.

use crate::db;
use crate::store::audit::{Actor, AuditWrite};
use crate::store::schema::{iam_bindings, iam_users};
use crate::store::{DbConn, StoreError, now_ms, to_datetime};
use diesel::prelude::*;
use diesel::result::{Error as DbError, QueryResult};
use serde::Serialize;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = iam_users)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub source: String,
    pub break_glass: bool,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_sign_in_at: Option<i64>,
}

/// A user as the API shows it (never the hash).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    /// `local` (built-in account) or `oidc`.
    pub source: String,
    /// Usable only while IAM is degraded (the emergency switch is closed).
    pub break_glass: bool,
    pub disabled: bool,
    pub roles: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub last_sign_in_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl UserRow {
    fn into_api(self, roles: Vec<String>) -> User {
        User {
            id: self.id,
            username: self.username,
            display_name: self.display_name,
            source: self.source,
            break_glass: self.break_glass,
            disabled: self.disabled,
            roles,
            created_at: to_datetime(self.created_at),
            updated_at: to_datetime(self.updated_at),
            last_sign_in_at: self.last_sign_in_at.map(to_datetime),
        }
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = iam_users)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub source: String,
    pub break_glass: bool,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A change to a user; `None` leaves the field as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = iam_users)]
pub struct UserChanges {
    pub display_name: Option<String>,
    pub password_hash: Option<Option<String>>,
    pub break_glass: Option<bool>,
    pub disabled: Option<bool>,
    pub updated_at: Option<i64>,
}

macro_rules! roles_of {
    ($c:ident, $username:expr) => {
        iam_bindings::table
            .filter(iam_bindings::subject_kind.eq("user"))
            .filter(iam_bindings::subject.eq($username))
            .select(iam_bindings::role)
            .order(iam_bindings::role.asc())
            .load::<String>($c)
    };
}

macro_rules! set_roles {
    ($c:ident, $username:expr, $roles:expr) => {{
        diesel::delete(
            iam_bindings::table
                .filter(iam_bindings::subject_kind.eq("user"))
                .filter(iam_bindings::subject.eq($username)),
        )
        .execute($c)?;
        let now = now_ms();
        for r in $roles {
            // Built-in roles exist in code before hasinit stores them; bindings need the row.
            super::access::ensure_role_row!($c, r, now);
            diesel::insert_into(iam_bindings::table)
                .values((
                    iam_bindings::subject_kind.eq("user"),
                    iam_bindings::subject.eq($username),
                    iam_bindings::role.eq(r),
                    iam_bindings::created_at.eq(now),
                ))
                .execute($c)?;
        }
    }};
}

pub fn create(
    conn: &mut DbConn,
    actor: &Actor,
    new: &NewUser,
    roles: &[String],
) -> QueryResult<User> {
    let id = crate::store::write(conn, |c| {
        db!(c, |c| {
            let id: i64 = diesel::insert_into(iam_users::table)
                .values(new)
                .returning(iam_users::id)
                .get_result(c)?;
            set_roles!(c, &new.username, roles);
            let row = iam_users::table
                .find(id)
                .select(UserRow::as_select())
                .first(c)?;
            let after = row.into_api(roles.to_vec());
            c.audit(
                &actor
                    .event("user.create", "user", Some(id.to_string()))
                    .after(&after),
            )?;
            QueryResult::Ok(id)
        })
    })?;
    get(conn, id)
}

pub fn get(conn: &mut DbConn, id: i64) -> QueryResult<User> {
    db!(conn, |c| {
        let row: UserRow = iam_users::table
            .find(id)
            .select(UserRow::as_select())
            .first(c)?;
        let roles = roles_of!(c, &row.username)?;
        QueryResult::Ok(row.into_api(roles))
    })
}

pub fn find_by_username(conn: &mut DbConn, username: &str) -> QueryResult<Option<UserRow>> {
    db!(conn, |c| iam_users::table
        .filter(iam_users::username.eq(username))
        .select(UserRow::as_select())
        .first(c)
        .optional())
}

/// Users, optionally only those bound to `role`.
pub fn list(conn: &mut DbConn, role: Option<&str>) -> QueryResult<Vec<User>> {
    db!(conn, |c| {
        let rows: Vec<UserRow> = iam_users::table
            .select(UserRow::as_select())
            .order(iam_users::id.asc())
            .load(c)?;
        let bindings: Vec<(String, String)> = iam_bindings::table
            .filter(iam_bindings::subject_kind.eq("user"))
            .select((iam_bindings::subject, iam_bindings::role))
            .order(iam_bindings::role.asc())
            .load(c)?;
        let mut out = Vec::new();
        for r in rows {
            let roles: Vec<String> = bindings
                .iter()
                .filter(|(s, _)| *s == r.username)
                .map(|(_, role)| role.clone())
                .collect();
            if role.is_none_or(|want| roles.iter().any(|r| r == want)) {
                out.push(r.into_api(roles));
            }
        }
        QueryResult::Ok(out)
    })
}

pub fn update(
    conn: &mut DbConn,
    actor: &Actor,
    id: i64,
    changes: &UserChanges,
    roles: Option<&[String]>,
) -> Result<User, StoreError> {
    let before = get(conn, id)?;
    super::keeping_an_admin(conn, |c| {
        db!(c, |c| {
            let n = diesel::update(iam_users::table.find(id))
                .set(changes)
                .execute(c)?;
            if n == 0 {
                return Err(DbError::NotFound);
            }
            if let Some(roles) = roles {
                set_roles!(c, &before.username, roles);
            }
            let row: UserRow = iam_users::table
                .find(id)
                .select(UserRow::as_select())
                .first(c)?;
            let after = row.into_api(roles_of!(c, &before.username)?);
            let mut ev = actor
                .event("user.update", "user", Some(id.to_string()))
                .before(&before)
                .after(&after);
            if changes.password_hash.is_some() {
                ev = ev.detail("password changed");
            }
            c.audit(&ev)?;
            QueryResult::Ok(())
        })
    })?;
    Ok(get(conn, id)?)
}

pub fn delete(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<(), StoreError> {
    let before = get(conn, id)?;
    super::keeping_an_admin(conn, |c| {
        db!(c, |c| {
            diesel::delete(
                iam_bindings::table
                    .filter(iam_bindings::subject_kind.eq("user"))
                    .filter(iam_bindings::subject.eq(&before.username)),
            )
            .execute(c)?;
            if diesel::delete(iam_users::table.find(id)).execute(c)? == 0 {
                return Err(DbError::NotFound);
            }
            c.audit(
                &actor
                    .event("user.delete", "user", Some(id.to_string()))
                    .before(&before),
            )
        })
    })
}

/// The OIDC user of `username`, created at its first sign-in.
pub fn upsert_oidc(conn: &mut DbConn, username: &str, display_name: &str) -> QueryResult<UserRow> {
    if let Some(u) = find_by_username(conn, username)? {
        return Ok(u);
    }
    let now = now_ms();
    let new = NewUser {
        username: username.to_string(),
        display_name: display_name.to_string(),
        password_hash: None,
        source: "oidc".into(),
        break_glass: false,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    let inserted = crate::store::write(conn, |c| {
        db!(c, |c| diesel::insert_into(iam_users::table)
            .values(&new)
            .execute(c))
    });
    match inserted {
        // Two first sign-ins at once: the other one created it.
        Ok(_)
        | Err(DbError::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            find_by_username(conn, username)?.ok_or(DbError::NotFound)
        }
        Err(e) => Err(e),
    }
}

pub fn touch_sign_in(conn: &mut DbConn, id: i64) -> QueryResult<()> {
    db!(conn, |c| diesel::update(iam_users::table.find(id))
        .set(iam_users::last_sign_in_at.eq(now_ms()))
        .execute(c)
        .map(|_| ()))
}
