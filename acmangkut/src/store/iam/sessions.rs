//! Browser sessions and pending OIDC sign-ins. Only hashes of session ids are stored.

use super::users::UserRow;
use crate::db;
use crate::store::schema::{iam_oidc_logins, iam_sessions, iam_users};
use crate::store::{DbConn, now_ms};
use diesel::prelude::*;
use diesel::result::QueryResult;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = iam_sessions)]
pub struct NewSession {
    pub id_hash: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub groups: String,
    pub peer: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A live session with its user.
#[derive(Debug, Clone)]
pub struct SessionWithUser {
    pub csrf_token: String,
    pub groups: Vec<String>,
    pub user: UserRow,
}

pub fn create(conn: &mut DbConn, s: &NewSession) -> QueryResult<()> {
    db!(conn, |c| diesel::insert_into(iam_sessions::table)
        .values(s)
        .execute(c)
        .map(|_| ()))
}

/// The unexpired session of this id hash and its user.
pub fn find(conn: &mut DbConn, id_hash: &str) -> QueryResult<Option<SessionWithUser>> {
    let row: Option<(String, String, UserRow)> = db!(conn, |c| iam_sessions::table
        .inner_join(iam_users::table)
        .filter(iam_sessions::id_hash.eq(id_hash))
        .filter(iam_sessions::expires_at.gt(now_ms()))
        .select((
            iam_sessions::csrf_token,
            iam_sessions::groups,
            UserRow::as_select()
        ))
        .first(c)
        .optional())?;
    Ok(row.map(|(csrf_token, groups, user)| SessionWithUser {
        csrf_token,
        groups: serde_json::from_str(&groups).unwrap_or_default(),
        user,
    }))
}

pub fn delete(conn: &mut DbConn, id_hash: &str) -> QueryResult<usize> {
    db!(conn, |c| diesel::delete(
        iam_sessions::table.filter(iam_sessions::id_hash.eq(id_hash))
    )
    .execute(c))
}

pub fn prune(conn: &mut DbConn) -> QueryResult<usize> {
    let now = now_ms();
    db!(conn, |c| {
        let n = diesel::delete(iam_sessions::table.filter(iam_sessions::expires_at.le(now)))
            .execute(c)?;
        let m = diesel::delete(iam_oidc_logins::table.filter(iam_oidc_logins::expires_at.le(now)))
            .execute(c)?;
        QueryResult::Ok(n + m)
    })
}

#[derive(Debug, Clone, Insertable, Queryable)]
#[diesel(table_name = iam_oidc_logins)]
pub struct OidcLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub next_url: String,
    pub expires_at: i64,
}

pub fn start_oidc_login(conn: &mut DbConn, l: &OidcLogin) -> QueryResult<()> {
    db!(conn, |c| diesel::insert_into(iam_oidc_logins::table)
        .values(l)
        .execute(c)
        .map(|_| ()))
}

/// Takes (reads and deletes) the pending sign-in of `state`: each state is usable once.
pub fn take_oidc_login(conn: &mut DbConn, state: &str) -> QueryResult<Option<OidcLogin>> {
    crate::store::write(conn, |c| {
        db!(c, |c| {
            let l: Option<OidcLogin> = iam_oidc_logins::table
                .find(state)
                .filter(iam_oidc_logins::expires_at.gt(now_ms()))
                .first(c)
                .optional()?;
            diesel::delete(iam_oidc_logins::table.find(state)).execute(c)?;
            QueryResult::Ok(l)
        })
    })
}
