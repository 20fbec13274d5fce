//! Schedules: cron expressions (5 fields, or 6 with seconds) in an IANA time zone. The one
//! parser of inspection tasks' schedules and plans' schedule triggers.

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// A parsed schedule; errors name what is wrong in the user's words.
pub struct Schedule {
    cron: Cron,
    tz: Tz,
}

impl Schedule {
    pub fn parse(expr: &str, timezone: &str) -> Result<Self, (&'static str, String)> {
        let tz: Tz = timezone.parse().map_err(|_| {
            (
                "timezone",
                format!("`{timezone}` is not an IANA time zone (e.g. Asia/Shanghai, UTC)"),
            )
        })?;
        let fields = expr.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err((
                "schedule",
                format!(
                    "`{expr}` has {fields} fields; give 5 (minute hour day month weekday) \
                     or 6 (with seconds first)"
                ),
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(expr)
            .map_err(|e| {
                (
                    "schedule",
                    format!("`{expr}` is not a cron expression: {e}"),
                )
            })?;
        Ok(Self { cron, tz })
    }

    /// The first slot strictly after `after_ms` (Unix ms), as Unix ms: whole seconds, the
    /// finest a cron expression names (croner keeps the sub-second part of `after` otherwise).
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let after = Utc
            .timestamp_millis_opt(after_ms - after_ms.rem_euclid(1000))
            .single()?
            .with_timezone(&self.tz);
        self.cron
            .find_next_occurrence(&after, false)
            .ok()
            .map(|t| t.with_timezone(&Utc).timestamp_millis())
    }
}

impl Schedule {
    /// The next `n` slots after `after_ms`, as wall-clock times in the schedule's zone (what a
    /// form previews).
    pub fn next_slots(&self, after_ms: i64, n: usize) -> Vec<chrono::DateTime<Tz>> {
        let mut at = after_ms;
        let mut slots = Vec::with_capacity(n);
        while slots.len() < n {
            let Some(next) = self.next_after(at) else {
                break;
            };
            let Some(t) = Utc.timestamp_millis_opt(next).single() else {
                break;
            };
            slots.push(t.with_timezone(&self.tz));
            at = next;
        }
        slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_at_eight_in_shanghai_is_midnight_utc() {
        let s = Schedule::parse("0 8 * * *", "Asia/Shanghai").expect("valid");
        // 2026-11-27 00:00:00 UTC = 08:00 in Shanghai; strictly after it comes the next day.
        let base = Utc
            .with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
            .unwrap()
            .timestamp_millis();
        let next = s.next_after(base).expect("a slot");
        assert_eq!(
            next,
            Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(
            s.next_after(next).expect("a slot"),
            Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
    }

    #[test]
    fn seconds_are_optional_and_errors_are_named() {
        let s = Schedule::parse("*/5 * * * * *", "UTC").expect("six fields");
        let next = s.next_after(1_000).expect("slot");
        assert_eq!(next, 5_000);
        assert_eq!(s.next_after(5_417), Some(10_000), "slots are whole seconds");
        let daily = Schedule::parse("0 8 * * *", "UTC").expect("valid");
        assert_eq!(daily.next_after(417), Some(8 * 3_600_000));
        assert_eq!(
            Schedule::parse("0 8 * *", "UTC").err().map(|e| e.0),
            Some("schedule")
        );
        assert_eq!(
            Schedule::parse("61 8 * * *", "UTC").err().map(|e| e.0),
            Some("schedule")
        );
        assert_eq!(
            Schedule::parse("0 8 * * *", "Mars/Olympus")
                .err()
                .map(|e| e.0),
            Some("timezone")
        );
    }

    #[test]
    fn the_next_slots_follow_each_other_in_the_schedules_zone() {
        let s = Schedule::parse("30 8 * * 1-5", "Asia/Shanghai").expect("valid");
        // Friday 2026-11-27 12:00 UTC: next are Monday to Friday at 08:30 in Shanghai.
        let base = Utc
            .with_ymd_and_hms(2026, 11, 27, 12, 0, 0)
            .single()
            .expect("a time");
        let slots: Vec<String> = s
            .next_slots(base.timestamp_millis(), 5)
            .iter()
            .map(|t| t.format("%a %d %H:%M %Z").to_string())
            .collect();
        assert_eq!(
            slots,
            [
                "Mon 30 08:30 CST",
                "Tue 01 08:30 CST",
                "Wed 02 08:30 CST",
                "Thu 03 08:30 CST",
                "Fri 04 08:30 CST"
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(expr in "[0-9*/,\\- LW#?a-zA-Z]{0,40}", tz in "[A-Za-z/_]{0,20}") {
            if let Ok(s) = Schedule::parse(&expr, &tz) {
                let _ = s.next_after(0);
            }
        }
    }
}
