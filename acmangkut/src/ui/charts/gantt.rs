//! The timeline of a plan execution: a Gantt-like chart with one lane per step under its
//! stage's heading and one bar per attempt (a rollback's attempts on the same lane), on a
//! shared time axis from the first start to the last end (or now, for what still runs).

use super::{Tick, format_time, round1};

/// One attempt (or a step's whole run, for steps without actions: waits, approvals).
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub start: i64,
    /// None: still running (drawn up to now).
    pub end: Option<i64>,
    /// CSS class: `bar-ok`, `bar-failed`, `bar-running`, `bar-undo-ok`, …
    pub class: &'static str,
    /// What it was (`attempt 2: fail`); the bar's tooltip, after its times.
    pub label: String,
}

/// A step's lane.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    pub stage: usize,
    pub label: String,
    pub spans: Vec<Span>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GanttBar {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub class: &'static str,
    pub label: String,
}

/// A row's text: a stage heading or a step's name.
#[derive(Debug, Clone, PartialEq)]
pub struct RowLabel {
    pub y: f64,
    pub text: String,
    pub stage: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gantt {
    pub width: f64,
    pub height: f64,
    /// The plot area (labels to the left of `left`, the time axis below `bottom`).
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    /// A bar's height.
    pub bar: f64,
    pub rows: Vec<RowLabel>,
    pub bars: Vec<GanttBar>,
    /// Elapsed time since the first start.
    pub ticks: Vec<Tick>,
}

/// Height of a row.
pub const ROW: f64 = 16.0;
const LABELS: f64 = 200.0;
const MIN_BAR: f64 = 2.0;

/// `+45 s`, `+12 min`, `+2 h` after the start.
fn elapsed(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        s if s < 120 => format!("+{s} s"),
        s if s < 7200 => format!("+{} min", s / 60),
        s => format!("+{} h", s / 3600),
    }
}

/// Lays `lanes` (plan order) out in a chart `width` wide; `stages` names the headings;
/// `now` ends what has not ended.
pub fn gantt(stages: &[String], lanes: &[Lane], now: i64, width: f64) -> Gantt {
    let (left, right, top) = (LABELS, width - 12.0, 4.0);
    let spans = lanes.iter().flat_map(|l| &l.spans);
    let t0 = spans.clone().map(|s| s.start).min().unwrap_or(now);
    let t1 = spans
        .map(|s| s.end.unwrap_or(now).max(s.start))
        .max()
        .unwrap_or(now)
        .max(t0 + 1);
    let scale = (right - left) / (t1 - t0) as f64;
    let x_of = |t: i64| left + (t - t0) as f64 * scale;
    let (mut rows, mut bars) = (Vec::new(), Vec::new());
    let mut y = top;
    let mut stage = None;
    for lane in lanes {
        if stage != Some(lane.stage) {
            stage = Some(lane.stage);
            let text = stages.get(lane.stage).cloned().unwrap_or_default();
            rows.push(RowLabel {
                y: round1(y + ROW - 4.0),
                text,
                stage: true,
            });
            y += ROW;
        }
        rows.push(RowLabel {
            y: round1(y + ROW - 4.0),
            text: lane.label.clone(),
            stage: false,
        });
        for s in &lane.spans {
            let end = s.end.unwrap_or(now).max(s.start);
            let x = x_of(s.start);
            bars.push(GanttBar {
                x: round1(x),
                y: round1(y + 2.0),
                width: round1((x_of(end) - x).max(MIN_BAR)),
                class: s.class,
                label: format!(
                    "{} → {}: {}",
                    format_time(s.start),
                    s.end.map(format_time).unwrap_or_else(|| "…".into()),
                    s.label
                ),
            });
        }
        y += ROW;
    }
    let bottom = y.max(top + ROW);
    let ticks = (0..=4)
        .map(|i| {
            let t = t0 + (t1 - t0) * i / 4;
            Tick {
                pos: round1(x_of(t)),
                label: elapsed(t - t0),
            }
        })
        .collect();
    Gantt {
        width,
        height: bottom + 20.0,
        left,
        right,
        top,
        bottom,
        bar: ROW - 4.0,
        rows,
        bars,
        ticks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: i64, end: Option<i64>, class: &'static str) -> Span {
        Span {
            start,
            end,
            class,
            label: class.into(),
        }
    }

    #[test]
    fn bars_share_one_time_axis_and_stages_head_their_lanes() {
        let lanes = [
            Lane {
                stage: 0,
                label: "fence".into(),
                spans: vec![
                    span(1_000, Some(2_000), "bar-failed"),
                    span(3_000, Some(5_000), "bar-ok"),
                    span(9_000, Some(11_000), "bar-undo-ok"),
                ],
            },
            Lane {
                stage: 1,
                label: "promote".into(),
                spans: vec![span(5_000, None, "bar-running")],
            },
        ];
        let g = gantt(&["prepare".into(), "switch".into()], &lanes, 11_000, 600.0);
        assert_eq!(g.bars.len(), 4, "one bar per attempt, the undo included");
        assert_eq!(g.bars[0].x, g.left, "the first start is the left edge");
        assert_eq!(
            g.bars[2].x + g.bars[2].width,
            g.right,
            "the last end the right"
        );
        assert_eq!(g.bars[3].x + g.bars[3].width, g.right, "running: up to now");
        assert!(
            g.bars[3].y > g.bars[0].y,
            "the second stage's lane is lower"
        );
        let texts: Vec<(&str, bool)> = g.rows.iter().map(|r| (r.text.as_str(), r.stage)).collect();
        assert_eq!(
            texts,
            [
                ("prepare", true),
                ("fence", false),
                ("switch", true),
                ("promote", false)
            ]
        );
        assert_eq!(g.ticks.first().map(|t| t.label.as_str()), Some("+0 s"));
        assert_eq!(g.ticks.last().map(|t| t.label.as_str()), Some("+10 s"));
        assert!(g.bars[1].label.ends_with("bar-ok"), "{}", g.bars[1].label);
    }

    #[test]
    fn nothing_started_yet_still_draws_and_instants_stay_visible() {
        let lanes = [Lane {
            stage: 0,
            label: "approve".into(),
            spans: vec![],
        }];
        let g = gantt(&["only".into()], &lanes, 5, 400.0);
        assert!(g.bars.is_empty() && g.rows.len() == 2 && g.height > g.bottom);
        let instant = [Lane {
            stage: 0,
            label: "x".into(),
            spans: vec![
                span(10, Some(10), "bar-ok"),
                span(10, Some(20_000), "bar-ok"),
            ],
        }];
        let g = gantt(&["s".into()], &instant, 20_000, 400.0);
        assert_eq!(g.bars[0].width, MIN_BAR);
    }
}
