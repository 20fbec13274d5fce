//! `/inspection`: every task with its last run and next slot, the scores of the latest runs as
//! a chart, and how many risk events are open at each level.

use super::chart::{ScoreChart, ScorePoint, score_chart};
use super::{Read, Words, run_badge, score_class, score_text};
use crate::store::inspection::{risks, runs, tasks};
use crate::ui::i18n::Tr;
use crate::ui::views::Chrome;
use crate::ui::{Ui, UiError, when};
use actix_web::HttpResponse;
use askama::Template;
use shared::inspection::{Level, Run, Task};

/// Runs in the chart and the table of recent runs.
const RECENT_RUNS: i64 = 20;
const CHART_WIDTH: f64 = 720.0;
const CHART_HEIGHT: f64 = 180.0;

pub struct TaskRowView {
    pub id: i64,
    pub name: String,
    pub schedule: String,
    pub enabled: bool,
    pub last_run: Option<RunCell>,
    pub next_run: String,
}

/// A run in a table: link, state badge, score.
pub struct RunCell {
    pub id: i64,
    pub state_class: &'static str,
    pub state: &'static str,
    pub score: String,
    pub score_class: &'static str,
    pub at: String,
}

pub struct RecentRunView {
    pub cell: RunCell,
    pub task_id: i64,
    pub task: String,
    pub trigger: &'static str,
    pub passed: i64,
    pub failed: i64,
    pub errors: i64,
}

pub struct LevelCard {
    pub level: &'static str,
    pub label: &'static str,
    pub count: i64,
}

#[derive(Template)]
#[template(path = "inspection/overview.html")]
pub struct OverviewPage {
    pub c: Chrome,
    pub t: Tr,
    pub tasks: Vec<TaskRowView>,
    pub cards: Vec<LevelCard>,
    pub open_total: i64,
    pub chart: ScoreChart,
    /// "3 runs; latest 87.5" for screen readers.
    pub chart_text: String,
    pub runs: Vec<RecentRunView>,
    /// The runs table has a task column (the task page leaves it out).
    pub show_task: bool,
}

/// A schedule as people read it: `0 8 * * * (Asia/Shanghai)`, or "on demand".
pub fn schedule_text(t: Tr, schedule: Option<&str>, timezone: &str) -> String {
    match schedule {
        Some(s) => format!("{s} ({timezone})"),
        None => t.get("insp.on_demand").to_string(),
    }
}

pub fn run_cell(ui: &Ui, w: &Words, r: &Run) -> RunCell {
    let (state_class, state) = run_badge(w, r.state);
    RunCell {
        id: r.id,
        state_class,
        state,
        score: score_text(r.score),
        score_class: score_class(r.score),
        at: when(
            ui,
            Some(r.finished_at.or(r.started_at).unwrap_or(r.queued_at)),
        ),
    }
}

/// `schedule` or `manual` in this language.
pub fn trigger_label(t: Tr, trigger: &str) -> &'static str {
    if trigger == "manual" {
        t.get("insp.trigger.manual")
    } else {
        t.get("insp.trigger.schedule")
    }
}

/// A row of a runs table.
pub fn run_row(ui: &Ui, w: &Words, r: &Run) -> RecentRunView {
    RecentRunView {
        cell: run_cell(ui, w, r),
        task_id: r.task_id,
        task: r.task_name.clone(),
        trigger: trigger_label(ui.tr(), &r.trigger),
        passed: r.passed,
        failed: r.failed,
        errors: r.errors,
    }
}

fn task_row(ui: &Ui, w: &Words, task: &Task) -> TaskRowView {
    let i = &task.input;
    TaskRowView {
        id: task.id,
        name: i.name.clone(),
        schedule: schedule_text(ui.tr(), i.schedule.as_deref(), &i.timezone),
        enabled: i.enabled,
        last_run: task.last_run.as_ref().map(|r| run_cell(ui, w, r)),
        next_run: when(ui, task.next_run_at),
    }
}

/// Open risk events per level, most severe first, with every level present.
pub fn level_cards(w: &Words, counts: &[(String, i64)]) -> Vec<LevelCard> {
    Level::ALL
        .into_iter()
        .map(|l| LevelCard {
            level: l.as_str(),
            label: w.level(l),
            count: counts
                .iter()
                .filter(|(k, _)| k == l.as_str())
                .map(|(_, n)| n)
                .sum(),
        })
        .collect()
}

pub async fn show(state: Read, ui: Ui) -> Result<HttpResponse, UiError> {
    let (tasks, recent, counts) = state
        .store
        .run(|c| {
            Ok::<_, shared::ApiError>((
                tasks::list(c)?,
                runs::list(c, None, (RECENT_RUNS, 0))?.items,
                risks::open_counts(c)?,
            ))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let t = ui.tr();
    let w = Words::new(t);
    let points: Vec<ScorePoint<'_>> = recent
        .iter()
        .rev()
        .map(|r| ScorePoint {
            run_id: r.id,
            task: &r.task_name,
            score: r.score,
        })
        .collect();
    let chart = score_chart(&points, CHART_WIDTH, CHART_HEIGHT);
    let chart_text = format!(
        "{}: {}; {}: {}",
        t.get("insp.runs"),
        recent.len(),
        t.get("insp.latest_score"),
        score_text(recent.iter().find_map(|r| r.score))
    );
    let cards = level_cards(&w, &counts);
    let page = OverviewPage {
        c: ui.chrome(t.get("insp.title"), "inspection"),
        t,
        tasks: tasks.iter().map(|task| task_row(&ui, &w, task)).collect(),
        open_total: cards.iter().map(|c| c.count).sum(),
        cards,
        chart,
        chart_text,
        runs: recent.iter().map(|r| run_row(&ui, &w, r)).collect(),
        show_task: true,
    };
    ui.render(&page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::i18n::Lang;

    #[test]
    fn every_level_has_a_card_even_without_events() {
        let w = Words::new(Tr(Lang::En));
        let cards = level_cards(&w, &[("low".into(), 4), ("high".into(), 1)]);
        let got: Vec<(&str, i64)> = cards.iter().map(|c| (c.level, c.count)).collect();
        assert_eq!(got, [("high", 1), ("medium", 0), ("low", 4)]);
    }

    #[test]
    fn a_task_without_a_schedule_runs_on_demand() {
        let t = Tr(Lang::En);
        assert_eq!(
            schedule_text(t, Some("0 8 * * *"), "Asia/Shanghai"),
            "0 8 * * * (Asia/Shanghai)"
        );
        assert_eq!(schedule_text(t, None, "UTC"), t.get("insp.on_demand"));
        assert_eq!(trigger_label(Tr(Lang::ZhCn), "manual"), "手动");
    }
}
