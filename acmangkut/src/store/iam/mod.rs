//! IAM rows: users, sessions and sign-ins, API tokens, roles and bindings, the manifest.

pub mod access;
pub mod manifest;
pub mod sessions;
pub mod tokens;
pub mod users;

use crate::db;
use crate::store::schema::{iam_bindings, iam_users};
use crate::store::{DbConn, StoreError};
use diesel::prelude::*;
use diesel::result::QueryResult;

/// Runs `change` in one write transaction and refuses it (409, nothing written) when it leaves
/// no enabled account bound to the `admin` role while one was before: the last admin cannot be
/// deleted, disabled or unbound, whichever way it is tried.
pub fn keeping_an_admin<T>(
    conn: &mut DbConn,
    change: impl FnOnce(&mut DbConn) -> QueryResult<T>,
) -> Result<T, StoreError> {
    crate::store::write(conn, |c| {
        let before = admins(c)?;
        let out = change(c)?;
        if before > 0 && admins(c)? == 0 {
            return Err(StoreError::conflict(
                "this would leave no enabled user holding the `admin` role; \
                 give the role to another user first",
            ));
        }
        Ok(out)
    })
}

/// Enabled accounts bound to `admin` by name.
fn admins(conn: &mut DbConn) -> QueryResult<i64> {
    db!(conn, |c| iam_users::table
        .filter(iam_users::disabled.eq(false))
        .filter(
            iam_users::username.eq_any(
                iam_bindings::table
                    .filter(iam_bindings::subject_kind.eq("user"))
                    .filter(iam_bindings::role.eq("admin"))
                    .select(iam_bindings::subject)
            )
        )
        .count()
        .get_result(c))
}
