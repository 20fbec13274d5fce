//! Chart geometry, computed server-side and drawn as inline SVG by the templates: plain
//! functions of data, tested without HTTP.

use crate::store::monitors::rollups::HourPoint;
use chrono::{DateTime, Utc};

pub mod gantt;

const HOUR_MS: i64 = 3_600_000;

/// A labelled position along one axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub pos: f64,
    pub label: String,
}

/// One plotted check.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub ok: bool,
    /// Tooltip / text fallback: `2024-05-01 10:00:00 UTC: 120 ms`.
    pub label: String,
}

/// A line chart of latency over time; failures are also drawn as red markers.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyChart {
    pub width: f64,
    pub height: f64,
    /// The plot area: left, top, right, bottom.
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
    /// `x,y x,y …` for `<polyline points>`.
    pub line: String,
    pub points: Vec<Point>,
    pub failures: usize,
    pub y_ticks: Vec<Tick>,
    pub x_ticks: Vec<Tick>,
    /// Top of the y axis in milliseconds.
    pub max_ms: f64,
}

impl LatencyChart {
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    pub fn failed_points(&self) -> impl Iterator<Item = &Point> {
        self.points.iter().filter(|p| !p.ok)
    }

    /// Where `v` (in the chart's unit) is drawn on the y axis.
    pub fn y_of(&self, v: f64) -> f64 {
        round1(self.bottom - (v.clamp(0.0, self.max_ms) / self.max_ms) * (self.bottom - self.top))
    }
}

/// The smallest of 1, 2, 2.5, 5 × 10ⁿ that is at least `v` (axis tops that read well).
pub fn nice_ceiling(v: f64) -> f64 {
    if !v.is_finite() || v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|c| *c >= v * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

pub fn format_time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

fn format_ms(ms: f64) -> String {
    if ms >= 100.0 || ms == 0.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

/// Lays out `(started_at ms, duration seconds, success)` points, oldest first, in a
/// `width × height` box with room for the axes and their labels (`unit` is the suffix, `ms`).
pub fn latency_chart(
    series: &[(i64, f64, bool)],
    width: f64,
    height: f64,
    unit: &str,
) -> LatencyChart {
    let ms: Vec<(i64, f64, bool)> = series
        .iter()
        .map(|&(t, s, ok)| (t, s * 1000.0, ok))
        .collect();
    line_chart(&ms, (width, height), unit, 0.0)
}

/// [`latency_chart`] of values already in `unit`, the y axis reaching at least `floor` (a line
/// drawn at an objective stays on the chart).
pub fn line_chart(
    series: &[(i64, f64, bool)],
    (width, height): (f64, f64),
    unit: &str,
    floor: f64,
) -> LatencyChart {
    let (left, top, right, bottom) = (72.0, 12.0, width - 24.0, height - 28.0);
    let max_ms = nice_ceiling(
        series
            .iter()
            .map(|p| p.1)
            .filter(|v| v.is_finite())
            .fold(floor, f64::max),
    );
    let (t0, t1) = match (series.first(), series.last()) {
        (Some(a), Some(b)) => (a.0, b.0),
        _ => (0, 0),
    };
    let span = (t1 - t0).max(0) as f64;
    let x_of = |t: i64| {
        if span == 0.0 {
            (left + right) / 2.0
        } else {
            left + (t - t0) as f64 / span * (right - left)
        }
    };
    let y_of = |ms: f64| bottom - (ms.clamp(0.0, max_ms) / max_ms) * (bottom - top);
    let points: Vec<Point> = series
        .iter()
        .map(|&(t, v, ok)| {
            let ms = if v.is_finite() { v } else { 0.0 };
            Point {
                x: round1(x_of(t)),
                y: round1(y_of(ms)),
                ok,
                label: format!("{}: {} {unit}", format_time(t), format_ms(ms)),
            }
        })
        .collect();
    let line = points
        .iter()
        .map(|p| format!("{},{}", p.x, p.y))
        .collect::<Vec<_>>()
        .join(" ");
    let y_ticks = (0..=4)
        .map(|i| {
            let ms = max_ms * f64::from(i) / 4.0;
            Tick {
                pos: round1(y_of(ms)),
                label: format!("{} {unit}", format_ms(ms)),
            }
        })
        .collect();
    let clock = |t: i64| {
        DateTime::<Utc>::from_timestamp_millis(t)
            .map(|d| {
                if span > 86_400_000.0 {
                    d.format("%m-%d %H:%M").to_string()
                } else {
                    d.format("%H:%M").to_string()
                }
            })
            .unwrap_or_default()
    };
    let x_ticks = if series.is_empty() {
        Vec::new()
    } else if span == 0.0 {
        vec![Tick {
            pos: round1(x_of(t0)),
            label: clock(t0),
        }]
    } else {
        (0..=4)
            .map(|i| {
                let t = t0 + ((t1 - t0) as f64 * f64::from(i) / 4.0) as i64;
                Tick {
                    pos: round1(x_of(t)),
                    label: clock(t),
                }
            })
            .collect()
    };
    LatencyChart {
        width,
        height,
        left,
        top,
        right,
        bottom,
        line,
        failures: points.iter().filter(|p| !p.ok).count(),
        points,
        y_ticks,
        x_ticks,
        max_ms,
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// One hour of the availability bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub x: f64,
    pub width: f64,
    /// CSS class: `a-good` (≥ 99.5 %), `a-warn` (≥ 95 %), `a-bad`, or `a-none` (no checks).
    pub class: &'static str,
    pub availability: Option<f64>,
    pub checks: i64,
    pub hour_start: i64,
    /// `2024-05-01 10:00 UTC: 99.8 % (1200 checks)` (or "no data").
    pub label: String,
}

pub fn availability_class(availability: Option<f64>) -> &'static str {
    match availability {
        None => "a-none",
        Some(a) if a >= 99.5 => "a-good",
        Some(a) if a >= 95.0 => "a-warn",
        Some(_) => "a-bad",
    }
}

/// One segment per hour for the `hours` hours ending with the one holding `now` (oldest first),
/// across `width` units; hours without rollups are grey.
pub fn hour_segments(
    points: &[HourPoint],
    now_ms: i64,
    hours: i64,
    width: f64,
    no_data: &str,
    checks_word: &str,
) -> Vec<Segment> {
    let last = now_ms - now_ms.rem_euclid(HOUR_MS);
    let first = last - (hours - 1) * HOUR_MS;
    let w = width / hours.max(1) as f64;
    (0..hours)
        .map(|i| {
            let hour_start = first + i * HOUR_MS;
            let (checks, successes) = points
                .iter()
                .filter(|p| p.hour_start == hour_start)
                .fold((0, 0), |(c, s), p| (c + p.checks, s + p.successes));
            let availability = (checks > 0).then(|| successes as f64 * 100.0 / checks as f64);
            let when = DateTime::<Utc>::from_timestamp_millis(hour_start)
                .map(|d| d.format("%Y-%m-%d %H:00 UTC").to_string())
                .unwrap_or_default();
            let label = match availability {
                Some(a) => format!("{when}: {} ({checks} {checks_word})", percent(a)),
                None => format!("{when}: {no_data}"),
            };
            Segment {
                x: round1(i as f64 * w),
                width: round1(w),
                class: availability_class(availability),
                availability,
                checks,
                hour_start,
                label,
            }
        })
        .collect()
}

/// `99.95 %` style: two decimals below 100, none at 100.
pub fn percent(a: f64) -> String {
    if a >= 100.0 {
        "100 %".into()
    } else {
        format!("{:.2} %", (a * 100.0).floor() / 100.0)
    }
}

/// One bar of the dashboard's "monitors by state" chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub state: &'static str,
    pub label: String,
    pub count: i64,
    pub y: f64,
    pub width: f64,
}

/// Horizontal bars, one per `(state, label, count)`, scaled so the largest fills `max_width`.
pub fn state_bars(counts: &[(&'static str, String, i64)], max_width: f64, row: f64) -> Vec<Bar> {
    let max = counts.iter().map(|c| c.2).max().unwrap_or(0).max(1) as f64;
    counts
        .iter()
        .enumerate()
        .map(|(i, (state, label, count))| Bar {
            state,
            label: label.clone(),
            count: *count,
            y: i as f64 * row,
            width: round1((*count).max(0) as f64 / max * max_width),
        })
        .collect()
}

/// One hour's bar of a count chart.
#[derive(Debug, Clone, PartialEq)]
pub struct CountBar {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub count: i64,
    /// `2024-05-01 10:00 UTC: 3 events`, the bar's tooltip and text fallback.
    pub label: String,
}

/// Vertical bars of counts per hour, with a y axis from zero.
#[derive(Debug, Clone, PartialEq)]
pub struct CountChart {
    pub width: f64,
    pub height: f64,
    /// The plot area: left, top, right, bottom.
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
    pub bars: Vec<CountBar>,
    pub y_ticks: Vec<Tick>,
    /// Every sixth hour, labelled `HH:00` (UTC).
    pub x_ticks: Vec<Tick>,
    pub total: i64,
}

/// How many of `times` (ms) fall in each of the `hours` hours ending with the one holding
/// `now_ms`: `(hour start, count)`, oldest first. Times outside the window are not counted.
pub fn per_hour(times: &[i64], now_ms: i64, hours: i64) -> Vec<(i64, i64)> {
    let last = now_ms - now_ms.rem_euclid(HOUR_MS);
    let first = last - (hours.max(1) - 1) * HOUR_MS;
    let mut counts: Vec<(i64, i64)> = (0..hours.max(1))
        .map(|i| (first + i * HOUR_MS, 0))
        .collect();
    for &t in times {
        if t >= first && t < last + HOUR_MS {
            counts[((t - first) / HOUR_MS) as usize].1 += 1;
        }
    }
    counts
}

/// Lays out `(hour start, count)` as bars in a `width × height` box, with room for the axes;
/// `word` names what is counted (`events`).
pub fn count_chart(counts: &[(i64, i64)], width: f64, height: f64, word: &str) -> CountChart {
    let (left, top, right, bottom) = (40.0, 8.0, width - 8.0, height - 22.0);
    let max = counts.iter().map(|c| c.1).max().unwrap_or(0);
    let y_max = nice_ceiling(max as f64);
    let slot = (right - left) / counts.len().max(1) as f64;
    let y_of = |v: f64| bottom - v.clamp(0.0, y_max) / y_max * (bottom - top);
    let hour = |t: i64, f: &str| {
        DateTime::<Utc>::from_timestamp_millis(t)
            .map(|d| d.format(f).to_string())
            .unwrap_or_default()
    };
    let bars = counts
        .iter()
        .enumerate()
        .map(|(i, &(start, count))| {
            let y = round1(y_of(count as f64));
            CountBar {
                x: round1(left + i as f64 * slot + 1.0),
                y,
                width: round1((slot - 2.0).max(1.0)),
                height: round1(bottom - y),
                count,
                label: format!("{}: {count} {word}", hour(start, "%Y-%m-%d %H:00 UTC")),
            }
        })
        .collect();
    let number = |v: f64| {
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    let y_ticks = [0.0, y_max / 2.0, y_max]
        .into_iter()
        .map(|v| Tick {
            pos: round1(y_of(v)),
            label: number(v),
        })
        .collect();
    let x_ticks = counts
        .iter()
        .enumerate()
        .filter(|(_, (start, _))| start.rem_euclid(6 * HOUR_MS) == 0)
        .map(|(i, (start, _))| Tick {
            pos: round1(left + (i as f64 + 0.5) * slot),
            label: hour(*start, "%H:00"),
        })
        .collect();
    CountChart {
        width,
        height,
        left,
        top,
        right,
        bottom,
        bars,
        y_ticks,
        x_ticks,
        total: counts.iter().map(|c| c.1).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round_numbers_above_the_data() {
        for (v, want) in [
            (0.0, 1.0),
            (0.7, 1.0),
            (1.0, 1.0),
            (1.2, 2.0),
            (2.2, 2.5),
            (3.0, 5.0),
            (180.0, 200.0),
            (999.0, 1000.0),
            (f64::NAN, 1.0),
        ] {
            assert_eq!(nice_ceiling(v), want, "{v}");
        }
    }

    #[test]
    fn latency_points_fill_the_plot_area_from_oldest_to_newest() {
        let series = [(0, 0.05, true), (1_000, 0.1, false), (2_000, 0.2, true)];
        let c = latency_chart(&series, 600.0, 200.0, "ms");
        assert_eq!(c.max_ms, 200.0);
        assert_eq!(c.points[0].x, c.left);
        assert_eq!(c.points[2].x, c.right);
        assert_eq!(c.points[2].y, c.top, "the slowest point touches the top");
        assert_eq!(c.points[1].y, (c.top + c.bottom) / 2.0);
        assert_eq!(c.failures, 1);
        assert_eq!(c.failed_points().count(), 1);
        assert_eq!(c.y_ticks.first().map(|t| t.label.as_str()), Some("0 ms"));
        assert_eq!(c.y_ticks.last().map(|t| t.label.as_str()), Some("200 ms"));
        assert_eq!(c.line.split(' ').count(), 3);
        assert!(
            c.points[1].label.ends_with("100 ms"),
            "{}",
            c.points[1].label
        );
    }

    #[test]
    fn a_single_or_no_point_still_draws() {
        let c = latency_chart(&[(5, 0.0, false)], 600.0, 200.0, "ms");
        assert_eq!(c.points[0].x, (c.left + c.right) / 2.0);
        assert_eq!(c.points[0].y, c.bottom);
        let empty = latency_chart(&[], 600.0, 200.0, "ms");
        assert!(empty.is_empty() && empty.x_ticks.is_empty());
    }

    #[test]
    fn hourly_segments_cover_every_hour_and_grey_the_gaps() {
        let now = 10 * HOUR_MS + 1_234;
        let points = [
            HourPoint {
                hour_start: 10 * HOUR_MS,
                checks: 100,
                successes: 100,
            },
            HourPoint {
                hour_start: 8 * HOUR_MS,
                checks: 100,
                successes: 90,
            },
            HourPoint {
                hour_start: 3 * HOUR_MS,
                checks: 1,
                successes: 1,
            },
        ];
        let s = hour_segments(&points, now, 4, 240.0, "no data", "checks");
        assert_eq!(s.len(), 4);
        assert_eq!(
            s.iter().map(|s| s.class).collect::<Vec<_>>(),
            ["a-none", "a-bad", "a-none", "a-good"],
            "the hour outside the window is ignored"
        );
        assert_eq!(
            s.iter().map(|s| s.x).collect::<Vec<_>>(),
            [0.0, 60.0, 120.0, 180.0]
        );
        assert_eq!(s[1].availability, Some(90.0));
        assert!(s[0].label.ends_with("no data"));
        assert!(s[3].label.contains("100 % (100 checks)"), "{}", s[3].label);
    }

    #[test]
    fn availability_colours_have_thresholds() {
        assert_eq!(availability_class(Some(99.5)), "a-good");
        assert_eq!(availability_class(Some(99.4)), "a-warn");
        assert_eq!(availability_class(Some(94.9)), "a-bad");
        assert_eq!(percent(99.999), "99.99 %");
    }

    #[test]
    fn bars_scale_to_the_largest_count() {
        let b = state_bars(
            &[
                ("up", "Up".into(), 4),
                ("down", "Down".into(), 1),
                ("paused", "P".into(), 0),
            ],
            200.0,
            30.0,
        );
        assert_eq!(
            b.iter().map(|b| b.width).collect::<Vec<_>>(),
            [200.0, 50.0, 0.0]
        );
        assert_eq!(b[2].y, 60.0);
        let none = state_bars(&[("up", "Up".into(), 0)], 200.0, 30.0);
        assert_eq!(none[0].width, 0.0);
    }
    #[test]
    fn events_are_counted_in_the_hour_they_happened_and_old_ones_are_left_out() {
        let now = 30 * HOUR_MS + 10;
        let times = [
            now,
            30 * HOUR_MS,
            29 * HOUR_MS + 5,
            27 * HOUR_MS - 1,
            20 * HOUR_MS,
            now + HOUR_MS,
        ];
        let c = per_hour(&times, now, 4);
        assert_eq!(
            c,
            [
                (27 * HOUR_MS, 0),
                (28 * HOUR_MS, 0),
                (29 * HOUR_MS, 1),
                (30 * HOUR_MS, 2)
            ],
            "hour 26 and the future are outside the window"
        );
    }

    #[test]
    fn count_bars_stand_on_the_axis_and_the_largest_reaches_a_round_top() {
        let counts = [(0, 0), (HOUR_MS, 3), (2 * HOUR_MS, 1), (6 * HOUR_MS, 0)];
        let c = count_chart(&counts, 440.0, 130.0, "events");
        assert_eq!(c.total, 4);
        assert!(
            c.bars
                .iter()
                .all(|b| (b.y + b.height - c.bottom).abs() < 0.11)
        );
        assert_eq!(c.bars[0].height, 0.0);
        assert_eq!(c.y_ticks.last().map(|t| t.label.as_str()), Some("5"));
        assert_eq!(c.y_ticks[1].label, "2.5");
        let tallest = c.bars[1].height;
        assert!(
            (tallest - (c.bottom - c.top) * 3.0 / 5.0).abs() < 0.11,
            "{tallest}"
        );
        assert!(
            c.bars[1].x > c.bars[0].x + c.bars[0].width,
            "bars do not touch"
        );
        assert_eq!(
            c.x_ticks
                .iter()
                .map(|t| t.label.as_str())
                .collect::<Vec<_>>(),
            ["00:00", "06:00"]
        );
        assert_eq!(c.bars[1].label, "1970-01-01 01:00 UTC: 3 events");
        let empty = count_chart(&[(0, 0)], 440.0, 130.0, "events");
        assert_eq!(empty.y_ticks.last().map(|t| t.label.as_str()), Some("1"));
    }
}
