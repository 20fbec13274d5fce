//! The safety lever: one cluster-wide setting (every replica reads it), changed with its
//! audit row in the caller's transaction.

use crate::store::audit::Actor;
use crate::store::inspection::to_json;
use crate::store::{DbConn, StoreError, now_ms, settings, to_datetime};
use shared::drill::Lever;

pub const KEY: &str = "drills.lever";

pub fn get(conn: &mut DbConn) -> Result<Lever, StoreError> {
    Ok(match settings::get(conn, KEY)? {
        Some(json) => crate::store::inspection::parse("drill lever", &json)?,
        None => Lever::default(),
    })
}

/// Sets the lever (audited as `setting.set` of `drills.lever`, old and new value).
pub fn set(
    conn: &mut DbConn,
    actor: &Actor,
    engaged: bool,
    comment: &str,
) -> Result<Lever, StoreError> {
    let lever = Lever {
        engaged,
        changed_by: actor.name.clone(),
        changed_at: Some(to_datetime(now_ms())),
        comment: comment.to_string(),
    };
    settings::set(conn, actor, KEY, &to_json(&lever))?;
    Ok(lever)
}
