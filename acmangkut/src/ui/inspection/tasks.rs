//! `/inspection/tasks/{id}`: a task's definition (rules, targets, schedule in its time zone,
//! notifications) and its runs, newest first, in pages; "run now".

use super::overview::{RecentRunView, run_row, schedule_text};
use super::{Read, Run, Words, id_of, pairs_text};
use crate::store::inspection::{rules, runs, tasks};
use crate::ui::fields::Form;
use crate::ui::i18n::Tr;
use crate::ui::views::Chrome;
use crate::ui::{Ui, UiError, when};
use actix_web::{HttpResponse, web};
use askama::Template;
use shared::inspection::{NotifyWhen, Rule, Task};

pub const PER_PAGE: i64 = 20;

pub struct TaskRuleView {
    /// `None` when no rule has the name any more.
    pub id: Option<i64>,
    pub name: String,
    pub level: &'static str,
    pub level_label: &'static str,
    pub plugin: String,
}

pub struct NotifyView {
    pub channel: String,
    pub min_level: &'static str,
    pub when: &'static str,
}

pub struct TaskView {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub schedule: String,
    pub next_run: String,
    pub timeout: String,
    pub concurrency: usize,
    pub rules: Vec<TaskRuleView>,
    /// `(name, variables)`.
    pub targets: Vec<(String, String)>,
    pub notify: Vec<NotifyView>,
    pub created: String,
    pub updated: String,
}

#[derive(Template)]
#[template(path = "inspection/task.html")]
pub struct TaskPage {
    pub c: Chrome,
    pub t: Tr,
    pub task: TaskView,
    pub runs: Vec<RecentRunView>,
    pub show_task: bool,
    pub total: i64,
    pub first: i64,
    pub last: i64,
    pub prev_url: Option<String>,
    pub next_url: Option<String>,
}

/// The task as the page shows it; `all_rules` is every rule (looked up by name).
pub fn task_view(ui: &Ui, w: &Words, task: &Task, all_rules: &[Rule]) -> TaskView {
    let t = ui.tr();
    let i = &task.input;
    TaskView {
        id: task.id,
        name: i.name.clone(),
        description: i.description.clone(),
        enabled: i.enabled,
        schedule: schedule_text(t, i.schedule.as_deref(), &i.timezone),
        next_run: when(ui, task.next_run_at),
        timeout: crate::ui::interval(ui, i.timeout_seconds.try_into().unwrap_or(i64::MAX)),
        concurrency: i.concurrency,
        rules: i
            .rules
            .iter()
            .map(|name| {
                let rule = all_rules.iter().find(|r| &r.input.name == name);
                let level = rule.map_or(shared::inspection::Level::Low, |r| r.input.level);
                TaskRuleView {
                    id: rule.map(|r| r.id),
                    name: name.clone(),
                    level: level.as_str(),
                    level_label: rule.map_or("–", |_| w.level(level)),
                    plugin: rule.map(|r| r.input.plugin.clone()).unwrap_or_default(),
                }
            })
            .collect(),
        targets: i
            .targets
            .iter()
            .map(|target| (target.name.clone(), pairs_text(&target.vars)))
            .collect(),
        notify: i
            .notify
            .iter()
            .map(|n| NotifyView {
                channel: n.channel.clone(),
                min_level: w.level(n.min_level),
                when: match n.when {
                    NotifyWhen::Failures => t.get("insp.notify.failures"),
                    NotifyWhen::Always => t.get("insp.notify.always"),
                },
            })
            .collect(),
        created: when(ui, Some(task.created_at)),
        updated: when(ui, Some(task.updated_at)),
    }
}

pub async fn show(auth: Read, ui: Ui, id: web::Path<String>) -> Result<HttpResponse, UiError> {
    let id = id_of(&ui, &id, "task")?;
    let page = ui.page();
    let offset = (page - 1) * PER_PAGE;
    let (task, all_rules, found) = auth
        .store
        .run(move |c| {
            let task = tasks::get(c, id)?;
            Ok::<_, shared::ApiError>((
                task,
                rules::list(c, &Default::default())?,
                runs::list(c, Some(id), (PER_PAGE, offset))?,
            ))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let t = ui.tr();
    let w = Words::new(t);
    let runs: Vec<RecentRunView> = found.items.iter().map(|r| run_row(&ui, &w, r)).collect();
    let shown = runs.len() as i64;
    let url = |p: i64| format!("/inspection/tasks/{id}?page={p}");
    ui.render(&TaskPage {
        c: ui.chrome(task.input.name.clone(), "inspection"),
        t,
        task: task_view(&ui, &w, &task, &all_rules),
        runs,
        show_task: false,
        total: found.total,
        first: if shown == 0 { 0 } else { offset + 1 },
        last: offset + shown,
        prev_url: (page > 1).then(|| url(page - 1)),
        next_url: (offset + shown < found.total).then(|| url(page + 1)),
    })
}

pub async fn run_now(
    auth: Run,
    Form { ui, .. }: Form,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let id = id_of(&ui, &id, "task")?;
    let actor = auth.actor();
    let run = auth
        .store
        .run(move |c| {
            let task = tasks::row(c, id)?;
            runs::enqueue_manual(c, &actor, task.id, &task.name)
        })
        .await
        .map_err(|e| ui.fail(e))?;
    tracing::info!(
        task.id = id,
        run.id = run.id,
        "inspection run queued from the console"
    );
    Ok(ui.redirect(format!("/inspection/tasks/{id}?notice=inspection_queued")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::i18n::Lang;
    use shared::inspection::TaskInput;

    fn ui() -> Ui {
        let req =
            actix_web::test::TestRequest::with_uri("/inspection/tasks/1?lang=en").to_http_request();
        Ui::of(&req)
    }

    #[test]
    fn a_task_shows_its_rules_targets_and_notifications() {
        let input: TaskInput = serde_json::from_value(serde_json::json!({
            "name": "nightly",
            "rules": ["disk", "gone"],
            "targets": [{"name": "db1", "vars": {"port": "5432"}}],
            "schedule": "0 2 * * *",
            "timezone": "Asia/Shanghai",
            "notify": [{"channel": "ops", "min_level": "medium", "when": "always"}]
        }))
        .expect("task");
        let now = chrono::Utc::now();
        let task = Task {
            id: 7,
            input,
            next_run_at: None,
            last_run: None,
            created_at: now,
            updated_at: now,
        };
        let rule = Rule {
            id: 3,
            input: serde_json::from_value(serde_json::json!({
                "name": "disk", "plugin": "command", "level": "high"
            }))
            .expect("rule"),
            plugin_kind: shared::check::PluginKind::Command,
            version: 2,
            tasks: 1,
            created_at: now,
            updated_at: now,
        };
        let ui = ui();
        let v = task_view(&ui, &Words::new(Tr(Lang::En)), &task, &[rule]);
        assert_eq!(v.schedule, "0 2 * * * (Asia/Shanghai)");
        assert_eq!(v.rules[0].id, Some(3));
        assert_eq!(v.rules[0].level, "high");
        assert_eq!(v.rules[1].id, None, "a rule no longer there has no link");
        assert_eq!(v.targets, [("db1".to_string(), "port=5432".to_string())]);
        assert_eq!(v.notify[0].min_level, "Medium");
        assert_eq!(v.next_run, ui.lang.t("never"));
    }
}
