//! The score chart of the overview: one bar per run (oldest left), scores on a fixed 0-100
//! axis, each bar a link to its report. Plain geometry, drawn as inline SVG by the template.

use super::{score_class, score_text};
use crate::ui::charts::Tick;

/// One run's bar.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreBar {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// `a-good`, `a-warn`, `a-bad`, or `a-none` (no score: a grey stub).
    pub class: &'static str,
    pub href: String,
    /// `#12 nightly: 87.5`: the tooltip and the text fallback.
    pub label: String,
    /// The x-axis label (`#12`).
    pub tick: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScoreChart {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
    pub bars: Vec<ScoreBar>,
    pub y_ticks: Vec<Tick>,
}

impl ScoreChart {
    pub fn is_empty(&self) -> bool {
        self.bars.is_empty()
    }
}

/// A run as the chart needs it.
pub struct ScorePoint<'a> {
    pub run_id: i64,
    pub task: &'a str,
    pub score: Option<f64>,
}

/// Bars keep the width of this many slots when there are fewer runs (they fill from the left).
pub const MIN_SLOTS: usize = 20;

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Lays out `points` (oldest first) in a `width × height` box with room for the axes.
pub fn score_chart(points: &[ScorePoint<'_>], width: f64, height: f64) -> ScoreChart {
    let (left, top, right, bottom) = (36.0, 8.0, width - 8.0, height - 22.0);
    let slot = (right - left) / points.len().max(MIN_SLOTS) as f64;
    let y_of = |v: f64| bottom - v.clamp(0.0, 100.0) / 100.0 * (bottom - top);
    let bars = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            // A run without a score still shows where it is: a stub of 2 units.
            let y = p.score.map_or(bottom - 2.0, y_of);
            ScoreBar {
                x: round1(left + i as f64 * slot + slot * 0.15),
                y: round1(y),
                width: round1((slot * 0.7).max(1.0)),
                height: round1(bottom - y),
                class: score_class(p.score),
                href: format!("/inspection/runs/{}", p.run_id),
                label: format!("#{} {}: {}", p.run_id, p.task, score_text(p.score)),
                tick: format!("#{}", p.run_id),
            }
        })
        .collect();
    let y_ticks = [0.0, 50.0, 100.0]
        .into_iter()
        .map(|v| Tick {
            pos: round1(y_of(v)),
            label: format!("{v:.0}"),
        })
        .collect();
    ScoreChart {
        width,
        height,
        left,
        top,
        right,
        bottom,
        bars,
        y_ticks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_stand_on_the_axis_and_reach_their_score() {
        let points = [
            ScorePoint {
                run_id: 1,
                task: "nightly",
                score: Some(100.0),
            },
            ScorePoint {
                run_id: 2,
                task: "nightly",
                score: Some(50.0),
            },
            ScorePoint {
                run_id: 3,
                task: "hourly",
                score: None,
            },
        ];
        let c = score_chart(&points, 336.0, 130.0);
        assert_eq!(c.bars.len(), 3);
        for b in &c.bars {
            assert!((b.y + b.height - c.bottom).abs() < 0.11, "{b:?}");
            assert!(b.x >= c.left && b.x + b.width <= c.right, "{b:?}");
        }
        assert!((c.bars[0].y - c.top).abs() < 0.11, "100 reaches the top");
        assert!((c.bars[1].height - (c.bottom - c.top) / 2.0).abs() < 0.11);
        assert_eq!(c.bars[2].class, "a-none");
        assert_eq!(c.bars[2].height, 2.0);
        assert_eq!(c.bars[1].label, "#2 nightly: 50.0");
        assert_eq!(c.bars[0].href, "/inspection/runs/1");
        assert!(c.bars[0].x < c.bars[1].x, "oldest left");
        assert_eq!(c.y_ticks.len(), 3);
    }

    #[test]
    fn a_few_runs_keep_narrow_bars_and_many_runs_fill_the_width() {
        let many: Vec<ScorePoint<'_>> = (0..40)
            .map(|i| ScorePoint {
                run_id: i,
                task: "t",
                score: Some(80.0),
            })
            .collect();
        let few = score_chart(&many[..2], 336.0, 130.0);
        let full = score_chart(&many, 336.0, 130.0);
        assert!(few.bars[0].width > full.bars[0].width);
        assert!(
            few.bars[1].x + few.bars[1].width < few.right / 2.0,
            "fills from the left"
        );
        let last = full.bars.last().expect("bars");
        assert!(last.x + last.width <= full.right && last.x + last.width > full.right - 10.0);
    }

    #[test]
    fn no_runs_is_an_empty_chart() {
        let c = score_chart(&[], 336.0, 130.0);
        assert!(c.is_empty());
    }
}
