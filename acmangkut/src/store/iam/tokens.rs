//! API tokens: created by a user for themself, shown once, stored as a SHA-256 hash.

use super::users::UserRow;
use crate::db;
use crate::store::audit::{Actor, AuditWrite};
use crate::store::schema::{iam_api_tokens, iam_users};
use crate::store::{DbConn, now_ms, to_datetime};
use diesel::prelude::*;
use diesel::result::{Error as DbError, QueryResult};
use serde::Serialize;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = iam_api_tokens)]
pub struct NewToken {
    pub user_id: i64,
    pub name: String,
    pub token_hash: String,
    pub permissions: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = iam_api_tokens)]
pub struct TokenRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub permissions: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A token as listed (never its secret or hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub permissions: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl TokenRow {
    pub fn permission_names(&self) -> Vec<String> {
        serde_json::from_str(&self.permissions).unwrap_or_default()
    }

    pub fn into_api(self) -> ApiToken {
        ApiToken {
            id: self.id,
            name: self.name.clone(),
            permissions: self.permission_names(),
            created_at: to_datetime(self.created_at),
            expires_at: to_datetime(self.expires_at),
            last_used_at: self.last_used_at.map(to_datetime),
            revoked_at: self.revoked_at.map(to_datetime),
        }
    }
}

pub fn create(conn: &mut DbConn, actor: &Actor, t: &NewToken) -> QueryResult<ApiToken> {
    crate::store::write(conn, |c| {
        db!(c, |c| {
            let id: i64 = diesel::insert_into(iam_api_tokens::table)
                .values(t)
                .returning(iam_api_tokens::id)
                .get_result(c)?;
            let row: TokenRow = iam_api_tokens::table
                .find(id)
                .select(TokenRow::as_select())
                .first(c)?;
            let api = row.into_api();
            c.audit(
                &actor
                    .event("token.create", "token", Some(id.to_string()))
                    .after(&api),
            )?;
            QueryResult::Ok(api)
        })
    })
}

pub fn list_for(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<ApiToken>> {
    let rows: Vec<TokenRow> = db!(conn, |c| iam_api_tokens::table
        .filter(iam_api_tokens::user_id.eq(user_id))
        .select(TokenRow::as_select())
        .order(iam_api_tokens::id.desc())
        .load(c))?;
    Ok(rows.into_iter().map(TokenRow::into_api).collect())
}

/// Revokes one of `user_id`'s tokens; someone else's token is `NotFound`.
pub fn revoke(conn: &mut DbConn, actor: &Actor, user_id: i64, id: i64) -> QueryResult<()> {
    let now = now_ms();
    crate::store::write(conn, |c| {
        db!(c, |c| {
            let n = diesel::update(
                iam_api_tokens::table
                    .find(id)
                    .filter(iam_api_tokens::user_id.eq(user_id))
                    .filter(iam_api_tokens::revoked_at.is_null()),
            )
            .set(iam_api_tokens::revoked_at.eq(now))
            .execute(c)?;
            if n == 0 {
                return Err(DbError::NotFound);
            }
            c.audit(&actor.event("token.revoke", "token", Some(id.to_string())))
        })
    })
}

/// The live token of this hash and its (enabled) owner.
pub fn find(conn: &mut DbConn, hash: &str) -> QueryResult<Option<(TokenRow, UserRow)>> {
    db!(conn, |c| iam_api_tokens::table
        .inner_join(iam_users::table)
        .filter(iam_api_tokens::token_hash.eq(hash))
        .filter(iam_api_tokens::revoked_at.is_null())
        .filter(iam_api_tokens::expires_at.gt(now_ms()))
        .select((TokenRow::as_select(), UserRow::as_select()))
        .first(c)
        .optional())
}

/// Records last use of several tokens at once (batched off the request path).
pub fn touch(conn: &mut DbConn, used: &[(i64, i64)]) -> QueryResult<()> {
    db!(conn, |c| {
        for (id, at) in used {
            diesel::update(iam_api_tokens::table.find(id))
                .set(iam_api_tokens::last_used_at.eq(at))
                .execute(c)?;
        }
        QueryResult::Ok(())
    })
}
