//! How a monitor's state follows its results: N consecutive failures take it down, M
//! consecutive successes bring it up. Pure, so it is tested without a database; applied by
//! [`super::results::record_batch`] in the transaction that records the results.

use shared::monitor::MonitorState;
use shared::probe::{FailureReason, ProbeResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    pub state: MonitorState,
    pub consecutive_failures: i32,
    pub consecutive_successes: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    Success,
    /// Passed, but slower than the monitor's degraded threshold.
    Degraded,
    Failure,
    /// The executor was unreachable: the target's health is unknown, nothing changes.
    Unknown,
}

/// One check's verdict from its locations' final results: it fails when at least
/// `failure_threshold` locations failed; results that say nothing about the target (executor
/// or browser unavailable) are left out; a pass slower than `degraded_ms` is degraded.
pub fn verdict(
    results: &[&ProbeResult],
    failure_threshold: i32,
    degraded_ms: Option<i64>,
) -> Observed {
    let known: Vec<&&ProbeResult> = results
        .iter()
        .filter(|r| {
            !matches!(
                r.failure_reason,
                Some(FailureReason::ExecutorUnavailable | FailureReason::BrowserError)
            )
        })
        .collect();
    if known.is_empty() {
        return Observed::Unknown;
    }
    let failed = known.iter().filter(|r| !r.success).count();
    // With fewer known locations than the threshold, all of them failing is enough.
    let needed = usize::try_from(failure_threshold.max(1))
        .unwrap_or(1)
        .min(known.len());
    if failed >= needed {
        return Observed::Failure;
    }
    let slow = degraded_ms.is_some_and(|limit| {
        known
            .iter()
            .any(|r| r.success && r.duration_seconds * 1000.0 > limit as f64)
    });
    if slow {
        Observed::Degraded
    } else {
        Observed::Success
    }
}

/// The health after one more result; thresholds are at least 1.
pub fn next(
    h: Health,
    observed: Observed,
    failure_threshold: i32,
    success_threshold: i32,
) -> Health {
    if h.state == MonitorState::Paused {
        return h;
    }
    let mut n = h;
    match observed {
        Observed::Unknown => return h,
        Observed::Success | Observed::Degraded => {
            n.consecutive_successes = h.consecutive_successes.saturating_add(1);
            n.consecutive_failures = 0;
            let healthy = if observed == Observed::Degraded {
                MonitorState::Degraded
            } else {
                MonitorState::Up
            };
            let already_up = matches!(h.state, MonitorState::Up | MonitorState::Degraded);
            if already_up || n.consecutive_successes >= success_threshold.max(1) {
                n.state = healthy;
            }
        }
        Observed::Failure => {
            n.consecutive_failures = h.consecutive_failures.saturating_add(1);
            n.consecutive_successes = 0;
            if h.state != MonitorState::Down && n.consecutive_failures >= failure_threshold.max(1) {
                n.state = MonitorState::Down;
            }
        }
    }
    n
}

/// The first scheduled time after `now` on the monitor's grid (`scheduled + k·interval`), so a
/// replica that falls behind skips missed runs instead of bursting them.
pub fn next_run_at(scheduled: i64, interval_ms: i64, now: i64) -> i64 {
    let interval = interval_ms.max(1);
    let next = scheduled + interval;
    if next > now {
        next
    } else {
        next + ((now - next) / interval + 1) * interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MonitorState::*;

    fn h(state: MonitorState) -> Health {
        Health {
            state,
            consecutive_failures: 0,
            consecutive_successes: 0,
        }
    }

    fn run(start: MonitorState, seq: &[Observed], f: i32, s: i32) -> Vec<MonitorState> {
        let mut cur = h(start);
        seq.iter()
            .map(|o| {
                cur = next(cur, *o, f, s);
                cur.state
            })
            .collect()
    }

    #[test]
    fn it_takes_n_consecutive_failures_to_go_down() {
        use Observed::*;
        assert_eq!(
            run(
                Up,
                &[Failure, Failure, Success, Failure, Failure, Failure],
                3,
                1
            ),
            [Up, Up, Up, Up, Up, Down]
        );
    }

    #[test]
    fn it_takes_m_consecutive_successes_to_come_up() {
        use Observed::*;
        assert_eq!(
            run(Down, &[Success, Failure, Success, Success], 1, 2),
            [Down, Down, Down, Up]
        );
    }

    #[test]
    fn unknown_results_change_nothing_and_paused_stays_paused() {
        use Observed::*;
        assert_eq!(run(Up, &[Unknown, Unknown, Unknown], 1, 1), [Up, Up, Up]);
        assert_eq!(run(Paused, &[Failure, Success], 1, 1), [Paused, Paused]);
        assert_eq!(run(Pending, &[Success], 1, 1), [Up]);
        assert_eq!(run(Pending, &[Failure], 1, 1), [Down]);
    }

    #[test]
    fn degraded_follows_slow_passes_and_recovers_on_fast_ones() {
        use Observed::*;
        assert_eq!(
            run(Up, &[Degraded, Degraded, Success], 2, 2),
            [MonitorState::Degraded, MonitorState::Degraded, Up]
        );
        assert_eq!(
            run(Down, &[Degraded, Degraded], 1, 2),
            [Down, MonitorState::Degraded]
        );
    }

    fn result(success: bool, reason: Option<FailureReason>, ms: f64) -> ProbeResult {
        let spec = shared::probe::ProbeSpec::new(shared::probe::ProbeKind::Http, "http://x/");
        let mut r = ProbeResult::failed(&spec, reason.unwrap_or(FailureReason::Timeout), "x");
        r.success = success;
        r.failure_reason = reason;
        r.duration_seconds = ms / 1000.0;
        r
    }

    #[test]
    fn a_check_fails_when_k_of_n_locations_fail() {
        let ok = result(true, None, 50.0);
        let bad = result(false, Some(FailureReason::Timeout), 50.0);
        let gone = result(false, Some(FailureReason::ExecutorUnavailable), 0.0);
        assert_eq!(verdict(&[&ok, &bad, &ok], 2, None), Observed::Success);
        assert_eq!(verdict(&[&bad, &bad, &ok], 2, None), Observed::Failure);
        assert_eq!(verdict(&[&ok, &bad, &ok], 1, None), Observed::Failure);
        assert_eq!(verdict(&[&gone, &gone], 1, None), Observed::Unknown);
        assert_eq!(
            verdict(&[&gone, &bad], 2, None),
            Observed::Failure,
            "the only known location failed"
        );
        let slow = result(true, None, 900.0);
        assert_eq!(verdict(&[&ok, &slow], 1, Some(500)), Observed::Degraded);
        assert_eq!(verdict(&[&ok, &slow], 1, None), Observed::Success);
    }

    #[test]
    fn a_late_run_skips_to_the_next_slot_on_the_grid() {
        assert_eq!(next_run_at(1_000, 10_000, 1_500), 11_000);
        assert_eq!(next_run_at(1_000, 10_000, 35_000), 41_000);
        assert_eq!(next_run_at(1_000, 10_000, 11_000), 21_000);
    }

    proptest::proptest! {
        #[test]
        fn next_run_is_always_in_the_future_on_the_grid(
            s in 0i64..1_000_000_000, i in 1i64..100_000_000, late in 0i64..1_000_000_000
        ) {
            let now = s + late;
            let n = next_run_at(s, i, now);
            proptest::prop_assert!(n > now);
            proptest::prop_assert!(n - now <= i);
            proptest::prop_assert_eq!((n - s) % i, 0);
        }
    }
}
