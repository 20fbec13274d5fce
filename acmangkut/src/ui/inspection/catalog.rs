//! The inspection catalog, read-only: `/inspection/rules` (with filters), `/inspection/rules/{id}`
//! (definition and version history), `/inspection/plugins` (built-in and custom, with their
//! parameter schema) and `/inspection/channels` (secrets redacted, recent deliveries).
//! They are defined in YAML (`/inspection/config`) or through the API.

use super::report::{DeliveryView, delivery_views};
use super::{Read, Words, id_of};
use crate::engine::inspection::define::Channel;
use crate::store::inspection::rules::RuleFilter;
use crate::store::inspection::{channels, plugins, rules};
use crate::ui::i18n::Tr;
use crate::ui::views::{Chrome, Opt};
use crate::ui::{Ui, UiError, when};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Serialize;
use shared::inspection::{Level, Rule, RuleVersion};

/// Deliveries loaded for the channels page, and shown per channel.
const CHANNEL_DELIVERIES: i64 = 200;
const PER_CHANNEL: usize = 10;

/// Pretty JSON for a `<pre>`.
pub fn pretty(v: &impl Serialize) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

pub struct RuleRowView {
    pub id: i64,
    pub name: String,
    pub plugin: String,
    pub kind: &'static str,
    pub level: &'static str,
    pub level_label: &'static str,
    pub version: i32,
    pub labels: Vec<(String, String)>,
    pub tasks: i64,
    pub updated: String,
}

#[derive(Template)]
#[template(path = "inspection/rules.html")]
pub struct RulesPage {
    pub c: Chrome,
    pub t: Tr,
    pub rules: Vec<RuleRowView>,
    pub levels: Vec<Opt>,
    pub plugin: String,
    pub q: String,
    pub filter_error: bool,
}

fn rule_row(ui: &Ui, w: &Words, r: &Rule) -> RuleRowView {
    RuleRowView {
        id: r.id,
        name: r.input.name.clone(),
        plugin: r.input.plugin.clone(),
        kind: r.plugin_kind.as_str(),
        level: r.input.level.as_str(),
        level_label: w.level(r.input.level),
        version: r.version,
        labels: r
            .input
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        tasks: r.tasks,
        updated: when(ui, Some(r.updated_at)),
    }
}

pub async fn rules(auth: Read, ui: Ui) -> Result<HttpResponse, UiError> {
    let t = ui.tr();
    let w = Words::new(t);
    let level_param = ui.param("level").unwrap_or("").trim().to_string();
    let level = Level::parse(&level_param);
    let filter_error = !level_param.is_empty() && level.is_none();
    let plugin = ui.param("plugin").unwrap_or("").trim().to_string();
    let q = ui.param("q").unwrap_or("").trim().to_string();
    let (plugin_name, search) = (plugin.clone(), q.clone());
    let found = auth
        .store
        .run(move |c| {
            let plugin_id = match plugin_name.as_str() {
                "" => None,
                name => Some(plugins::row_by_name(c, name)?.map_or(-1, |p| p.id)),
            };
            let filter = RuleFilter {
                plugin_id,
                level,
                search: (!search.is_empty()).then_some(search),
            };
            rules::list(c, &filter)
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let levels = std::iter::once(Opt {
        value: "",
        label: t.get("insp.any_level").into(),
        selected: level.is_none(),
    })
    .chain(Level::ALL.into_iter().map(|l| Opt {
        value: l.as_str(),
        label: w.level(l).into(),
        selected: level == Some(l),
    }))
    .collect();
    ui.render(&RulesPage {
        c: ui.chrome(t.get("insp.rules"), "inspection"),
        t,
        rules: found.iter().map(|r| rule_row(&ui, &w, r)).collect(),
        levels,
        plugin,
        q,
        filter_error,
    })
}

pub struct VersionView {
    pub version: i32,
    pub created: String,
    pub level_label: &'static str,
    pub level: &'static str,
    /// The whole definition at that version.
    pub definition: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "inspection/rule.html")]
pub struct RulePage {
    pub c: Chrome,
    pub t: Tr,
    pub rule: RuleRowView,
    pub description: String,
    pub suggestion: String,
    pub params: String,
    pub created: String,
    pub versions: Vec<VersionView>,
}

pub fn version_views(
    ui: &Ui,
    w: &Words,
    current: i32,
    versions: &[RuleVersion],
) -> Vec<VersionView> {
    versions
        .iter()
        .map(|v| VersionView {
            version: v.version,
            created: when(ui, Some(v.created_at)),
            level: v.rule.level.as_str(),
            level_label: w.level(v.rule.level),
            definition: pretty(&v.rule),
            current: v.version == current,
        })
        .collect()
}

pub async fn rule(auth: Read, ui: Ui, id: web::Path<String>) -> Result<HttpResponse, UiError> {
    let id = id_of(&ui, &id, "rule")?;
    let (rule, versions) = auth
        .store
        .run(move |c| Ok::<_, shared::ApiError>((rules::get(c, id)?, rules::versions(c, id)?)))
        .await
        .map_err(|e| ui.fail(e))?;
    let t = ui.tr();
    let w = Words::new(t);
    ui.render(&RulePage {
        c: ui.chrome(rule.input.name.clone(), "inspection"),
        t,
        description: rule.input.description.clone(),
        suggestion: rule.input.suggestion.clone(),
        params: pretty(&rule.input.params),
        created: when(&ui, Some(rule.created_at)),
        versions: version_views(&ui, &w, rule.version, &versions),
        rule: rule_row(&ui, &w, &rule),
    })
}

pub struct PluginView {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    pub builtin: bool,
    pub description: String,
    pub rules: i64,
    pub defaults: String,
    pub schema: String,
    pub updated: String,
}

#[derive(Template)]
#[template(path = "inspection/plugins.html")]
pub struct PluginsPage {
    pub c: Chrome,
    pub t: Tr,
    pub plugins: Vec<PluginView>,
}

pub async fn plugins(auth: Read, ui: Ui) -> Result<HttpResponse, UiError> {
    let list = auth
        .store
        .run(plugins::list)
        .await
        .map_err(|e| ui.fail(e))?;
    let t = ui.tr();
    let empty = |v: &serde_json::Value| v.as_object().is_some_and(|m| m.is_empty());
    ui.render(&PluginsPage {
        c: ui.chrome(t.get("insp.plugins"), "inspection"),
        t,
        plugins: list
            .into_iter()
            .map(|p| PluginView {
                id: p.id,
                kind: p.kind.as_str(),
                builtin: p.builtin,
                description: p.description,
                rules: p.rules,
                defaults: if empty(&p.defaults) {
                    String::new()
                } else {
                    pretty(&p.defaults)
                },
                schema: pretty(&p.schema),
                updated: when(&ui, Some(p.updated_at)),
                name: p.name,
            })
            .collect(),
    })
}

pub struct ChannelView {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    /// The spec with its secrets redacted.
    pub spec: String,
    pub updated: String,
    pub deliveries: Vec<DeliveryView>,
}

#[derive(Template)]
#[template(path = "inspection/channels.html")]
pub struct ChannelsPage {
    pub c: Chrome,
    pub t: Tr,
    pub channels: Vec<ChannelView>,
}

pub async fn channels(auth: Read, ui: Ui) -> Result<HttpResponse, UiError> {
    let (list, history) = auth
        .store
        .run(|c| {
            let list = channels::list(c)?
                .iter()
                .map(Channel::from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let history = channels::history(c, None, None, CHANNEL_DELIVERIES)?;
            Ok::<_, shared::ApiError>((list, history))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let t = ui.tr();
    ui.render(&ChannelsPage {
        c: ui.chrome(t.get("insp.channels"), "inspection"),
        t,
        channels: list
            .into_iter()
            .map(|ch| {
                let mine = history
                    .iter()
                    .filter(|d| d.channel == ch.name)
                    .take(PER_CHANNEL);
                ChannelView {
                    id: ch.id,
                    kind: ch.spec.kind_str(),
                    spec: pretty(&ch.spec),
                    updated: when(&ui, Some(ch.updated_at)),
                    deliveries: delivery_views(&ui, mine),
                    name: ch.name,
                }
            })
            .collect(),
    })
}
