//! Notification channels and the outbox of deliveries. A delivery is written in the same
//! transaction as the run that causes it, claimed by any replica with a lease, and every
//! attempt is recorded; a failed attempt schedules the next with back-off until the limit.

use crate::db;
use crate::store::StoreError;
use crate::store::audit::{Actor, audited, audited_insert};
use crate::store::schema::{
    notification_attempts as a, notification_channels as ch, notification_deliveries as d, plans,
};
use crate::store::{DbConn, now_ms, to_datetime};
use diesel::prelude::*;
use serde::Serialize;
use shared::plan::PlanDocument;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ch)]
pub struct ChannelRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub definition: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn list(conn: &mut DbConn) -> Result<Vec<ChannelRow>, StoreError> {
    Ok(db!(conn, |c| ch::table
        .order(ch::name.asc())
        .select(ChannelRow::as_select())
        .load(c))?)
}

pub fn row(conn: &mut DbConn, id: i64) -> Result<ChannelRow, StoreError> {
    crate::find_row!(conn, ch::table, ChannelRow, id, "channel")
}

pub fn row_by_name(conn: &mut DbConn, name: &str) -> Result<Option<ChannelRow>, StoreError> {
    Ok(crate::find_by!(
        conn,
        ch::table,
        ch::name,
        name,
        ChannelRow::as_select()
    )?)
}

/// `audit_after` is the redacted spec: secrets never reach the audit log.
pub fn create(
    conn: &mut DbConn,
    actor: &Actor,
    name: &str,
    kind: &str,
    definition: &str,
    audit_after: &impl Serialize,
) -> Result<ChannelRow, StoreError> {
    let now = now_ms();
    let insert = |c: &mut DbConn| {
        db!(c, |c| diesel::insert_into(ch::table)
            .values((
                ch::name.eq(name),
                ch::kind.eq(kind),
                ch::definition.eq(definition),
                ch::created_at.eq(now),
                ch::updated_at.eq(now),
            ))
            .returning(ch::id)
            .get_result(c))
        .map_err(StoreError::from)
    };
    let id = audited_insert(conn, insert, |id| {
        actor
            .event(
                "channel.create",
                "notification_channel",
                Some(id.to_string()),
            )
            .after(audit_after)
    })?;
    row(conn, id)
}

pub fn update(
    conn: &mut DbConn,
    actor: &Actor,
    id: i64,
    name: &str,
    kind: &str,
    definition: &str,
    audit_after: &impl Serialize,
) -> Result<ChannelRow, StoreError> {
    let old = row(conn, id)?;
    if old.name != name {
        refuse_if_notified(conn, &old.name, "a new name would break them")?;
    }
    let now = now_ms();
    let event = actor.event(
        "channel.update",
        "notification_channel",
        Some(id.to_string()),
    );
    audited(conn, &event.after(audit_after), |c| {
        db!(c, |c| diesel::update(ch::table.find(id))
            .set((
                ch::name.eq(name),
                ch::kind.eq(kind),
                ch::definition.eq(definition),
                ch::updated_at.eq(now),
            ))
            .execute(c))
        .map_err(StoreError::from)
    })?;
    row(conn, id)
}

/// 409 when tasks or plans notify channel `name` (both name their channels).
fn refuse_if_notified(conn: &mut DbConn, name: &str, why: &str) -> Result<(), StoreError> {
    let mut users = Vec::new();
    let tasks = super::tasks::notifying(conn, name)?;
    if !tasks.is_empty() {
        users.push(format!("tasks ({})", tasks.join(", ")));
    }
    let plans = plans_notifying(conn, name)?;
    if !plans.is_empty() {
        users.push(format!("plans ({})", plans.join(", ")));
    }
    if users.is_empty() {
        return Ok(());
    }
    Err(super::in_use(format!(
        "channel `{name}` is named by {}; {why}",
        users.join(" and ")
    )))
}

/// The plans (up to five, by name) whose latest version names channel `name`. Read from the
/// table, not through `store::plans`, which builds on this module.
fn plans_notifying(conn: &mut DbConn, name: &str) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String, String)> = db!(conn, |c| plans::table
        .order(plans::name.asc())
        .select((plans::name, plans::definition))
        .load(c))?;
    let mut names = Vec::new();
    for (plan, definition) in rows {
        let doc: PlanDocument = super::parse("plan", &definition)?;
        if doc.channels().any(|c| c == name) {
            names.push(plan);
        }
        if names.len() == 5 {
            break;
        }
    }
    Ok(names)
}

pub fn delete(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<(), StoreError> {
    let old = row(conn, id)?;
    refuse_if_notified(conn, &old.name, "remove it from them first")?;
    let event = actor.event(
        "channel.delete",
        "notification_channel",
        Some(id.to_string()),
    );
    audited(conn, &event.detail(old.name), |c| {
        db!(c, |c| diesel::delete(ch::table.find(id)).execute(c)).map_err(StoreError::from)
    })
    .map(drop)
}

/// Queues a message for a channel (inside the caller's transaction).
pub fn enqueue(
    conn: &mut DbConn,
    channel_id: i64,
    run_id: Option<i64>,
    message: &str,
) -> Result<(), StoreError> {
    let now = now_ms();
    db!(conn, |c| diesel::insert_into(d::table)
        .values((
            d::channel_id.eq(channel_id),
            d::run_id.eq(run_id),
            d::message.eq(message),
            d::state.eq("pending"),
            d::next_attempt_at.eq(now),
            d::created_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = d)]
pub struct DeliveryRow {
    pub id: i64,
    pub channel_id: i64,
    pub run_id: Option<i64>,
    pub message: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub last_error: Option<String>,
}

pub fn deliveries(
    conn: &mut DbConn,
    ids: &[i64],
) -> Result<Vec<(DeliveryRow, ChannelRow)>, StoreError> {
    Ok(db!(conn, |c| d::table
        .inner_join(ch::table)
        .filter(d::id.eq_any(ids))
        .select((DeliveryRow::as_select(), ChannelRow::as_select()))
        .load(c))?)
}

/// One attempt's outcome.
pub struct AttemptRecord {
    pub ok: bool,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// Records an attempt and moves the delivery on: `sent`, `failed` (no attempts left) or back
/// to `pending` at `retry_at`. Only while `owner` holds the lease.
pub fn record_attempt(
    conn: &mut DbConn,
    owner: &str,
    id: i64,
    attempt: i32,
    r: &AttemptRecord,
    retry_at: Option<i64>,
) -> Result<(), StoreError> {
    let now = now_ms();
    let state = match (r.ok, retry_at) {
        (true, _) => "sent",
        (false, Some(_)) => "pending",
        (false, None) => "failed",
    };
    crate::store::write(conn, |c| {
        db!(c, |c| {
            let n = diesel::update(
                d::table
                    .filter(d::id.eq(id))
                    .filter(d::lease_owner.eq(owner)),
            )
            .set((
                d::state.eq(state),
                d::attempts.eq(attempt),
                d::next_attempt_at.eq(retry_at.unwrap_or(now)),
                d::lease_owner.eq(None::<String>),
                d::lease_expires_at.eq(None::<i64>),
                d::finished_at.eq((state != "pending").then_some(now)),
                d::last_error.eq(&r.error),
            ))
            .execute(c)?;
            if n == 0 {
                return Ok(());
            }
            diesel::insert_into(a::table)
                .values((
                    a::delivery_id.eq(id),
                    a::attempt.eq(attempt),
                    a::at.eq(now),
                    a::ok.eq(r.ok),
                    a::status_code.eq(r.status_code.map(i32::from)),
                    a::error.eq(&r.error),
                    a::duration_ms.eq(i64::try_from(r.duration_ms).unwrap_or(i64::MAX)),
                ))
                .execute(c)?;
            Ok::<_, StoreError>(())
        })
    })
}

/// A delivery with its attempts, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: i64,
    pub channel: String,
    pub channel_kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    pub attempts: i32,
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub attempt_log: Vec<Attempt>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    pub attempt: i32,
    pub at: chrono::DateTime<chrono::Utc>,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// Deliveries of a run, or of a channel, newest first, with every attempt.
pub fn history(
    conn: &mut DbConn,
    run_id: Option<i64>,
    channel_id: Option<i64>,
    limit: i64,
) -> Result<Vec<Delivery>, StoreError> {
    let rows: Vec<(DeliveryRow, ChannelRow)> = db!(conn, |c| {
        let mut q = d::table
            .inner_join(ch::table)
            .select((DeliveryRow::as_select(), ChannelRow::as_select()))
            .into_boxed();
        if let Some(r) = run_id {
            q = q.filter(d::run_id.eq(r));
        }
        if let Some(chan) = channel_id {
            q = q.filter(d::channel_id.eq(chan));
        }
        q.order(d::id.desc()).limit(limit).load(c)
    })?;
    let ids: Vec<i64> = rows.iter().map(|(r, _)| r.id).collect();
    type AttemptCols = (i64, i32, i64, bool, Option<i32>, Option<String>, i64);
    let attempts: Vec<AttemptCols> = db!(conn, |c| a::table
        .filter(a::delivery_id.eq_any(&ids))
        .order(a::id.asc())
        .select((
            a::delivery_id,
            a::attempt,
            a::at,
            a::ok,
            a::status_code,
            a::error,
            a::duration_ms
        ))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(r, c)| Delivery {
            id: r.id,
            channel: c.name,
            channel_kind: c.kind,
            run_id: r.run_id,
            state: r.state,
            attempts: r.attempts,
            created_at: to_datetime(r.created_at),
            finished_at: r.finished_at.map(to_datetime),
            last_error: r.last_error,
            attempt_log: attempts
                .iter()
                .filter(|x| x.0 == r.id)
                .map(|x| Attempt {
                    attempt: x.1,
                    at: to_datetime(x.2),
                    ok: x.3,
                    status_code: x.4,
                    error: x.5.clone(),
                    duration_ms: x.6,
                })
                .collect(),
        })
        .collect())
}
