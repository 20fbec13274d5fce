//! Task schedules: the cron parser is [`shared::schedule`] (plan triggers use it too).

pub use shared::schedule::Schedule;

/// The next slot of a task after `after_ms`: `None` when it has no schedule, is disabled, or the
/// stored schedule no longer parses (it was validated when saved).
pub fn next_slot(task: &shared::inspection::TaskInput, after_ms: i64) -> Option<i64> {
    if !task.enabled {
        return None;
    }
    let expr = task.schedule.as_deref()?;
    Schedule::parse(expr, &task.timezone)
        .ok()?
        .next_after(after_ms)
}
