//! Config as code: every kind of definition exported and applied as one YAML document, matched
//! by name (operations by code). [`apply`] composes the per-kind appliers ([`monitors`];
//! [`inspection`]: plugins, channels, rules, tasks; [`operations`]; [`plans`]) in one
//! transaction, in the order
//! later kinds refer to earlier ones (a plan names operations and channels). It is idempotent
//! (a second apply of the same document reports everything unchanged and writes nothing),
//! never deletes what the document leaves out, and a dry run does the same work and rolls it
//! back. A bad object refuses the whole document, its error naming the field path
//! (`plans[0].stages[1].steps[0].operation.code`).
//!
//! Which kinds a caller exports and applies is their permissions' business: [`Kind`] names the
//! permission that reads and the one that writes each.

pub mod dir;
pub mod inspection;
pub mod monitors;
pub mod operations;
pub mod plans;

use crate::engine::Error;
use crate::store::audit::Actor;
use crate::store::{self, DbConn};
use serde::{Deserialize, Serialize};
use shared::inspection::{PluginInput, RuleInput, TaskInput};
use shared::monitor::MonitorInput;
use shared::permissions::Permission;
use shared::plan::PlanDocument;

pub use crate::engine::inspection::define::ChannelInput;
pub use operations::OperationEntry;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Monitors by name (their definitions; credentials redacted on export).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monitors: Vec<MonitorInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<ChannelInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskInput>,
    /// Atomic operations by code, each with its lifecycle status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<OperationEntry>,
    /// Disaster-recovery plans by name (their latest version).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<PlanDocument>,
}

/// The groups of sections a permission pair covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `monitors`: `monitors:read` / `monitors:write`.
    Monitors,
    /// `plugins`, `channels`, `rules`, `tasks`: `inspections:read` / `inspections:write`.
    Inspection,
    /// `operations`: `plans:read` / `plans:write`, as the catalog's API.
    Operations,
    /// `plans`: `plans:read` / `plans:write`.
    Plans,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Self::Monitors,
        Self::Inspection,
        Self::Operations,
        Self::Plans,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monitors => "monitors",
            Self::Inspection => "inspection",
            Self::Operations => "operations",
            Self::Plans => "plans",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn read(self) -> Permission {
        match self {
            Self::Monitors => Permission::MonitorsRead,
            Self::Inspection => Permission::InspectionsRead,
            Self::Operations | Self::Plans => Permission::PlansRead,
        }
    }

    pub fn write(self) -> Permission {
        match self {
            Self::Monitors => Permission::MonitorsWrite,
            Self::Inspection => Permission::InspectionsWrite,
            Self::Operations | Self::Plans => Permission::PlansWrite,
        }
    }

    /// The document's first non-empty section of this kind, if any (what an apply writes).
    pub fn section_in(self, doc: &Document) -> Option<&'static str> {
        match self {
            Self::Monitors => (!doc.monitors.is_empty()).then_some("monitors"),
            Self::Inspection => [
                ("plugins", doc.plugins.is_empty()),
                ("channels", doc.channels.is_empty()),
                ("rules", doc.rules.is_empty()),
                ("tasks", doc.tasks.is_empty()),
            ]
            .into_iter()
            .find(|(_, empty)| !empty)
            .map(|(s, _)| s),
            Self::Operations => (!doc.operations.is_empty()).then_some("operations"),
            Self::Plans => (!doc.plans.is_empty()).then_some("plans"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
}

impl Outcome {
    pub(crate) fn add(&mut self, name: &str, change: Change) {
        match change {
            Change::Created => self.created.push(name.into()),
            Change::Updated => self.updated.push(name.into()),
            Change::Unchanged => self.unchanged.push(name.into()),
        }
    }
}

pub(crate) enum Change {
    Created,
    Updated,
    Unchanged,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApplyResult {
    pub dry_run: bool,
    pub monitors: Outcome,
    pub plugins: Outcome,
    pub channels: Outcome,
    pub rules: Outcome,
    pub tasks: Outcome,
    pub operations: Outcome,
    pub plans: Outcome,
}

impl ApplyResult {
    /// Each section's outcome, by name.
    pub fn sections(&self) -> [(&'static str, &Outcome); 7] {
        [
            ("monitors", &self.monitors),
            ("plugins", &self.plugins),
            ("channels", &self.channels),
            ("rules", &self.rules),
            ("tasks", &self.tasks),
            ("operations", &self.operations),
            ("plans", &self.plans),
        ]
    }

    /// Objects created, updated and unchanged over every section.
    pub fn totals(&self) -> (usize, usize, usize) {
        self.sections().iter().fold((0, 0, 0), |(c, u, n), (_, o)| {
            (
                c + o.created.len(),
                u + o.updated.len(),
                n + o.unchanged.len(),
            )
        })
    }
}

/// Parses a YAML document; errors name the field (`rules[2].level`) and the line.
pub fn parse(yaml: &[u8]) -> Result<Document, Error> {
    let text = std::str::from_utf8(yaml)
        .map_err(|_| Error::Malformed("the document is not UTF-8 text".into()))?;
    if text.trim().is_empty() {
        return Ok(Document::default());
    }
    crate::engine::from_yaml(text)
}

pub fn render(doc: &Document) -> Result<String, Error> {
    serde_yaml_ng::to_string(doc).map_err(Error::internal)
}

/// Everything of `kinds` defined now (custom plugins only; channel and probe secrets redacted;
/// built-in operations as shipped left out).
pub fn export(conn: &mut DbConn, kinds: &[Kind]) -> Result<Document, Error> {
    let mut doc = Document::default();
    for kind in kinds {
        match kind {
            Kind::Monitors => doc.monitors = monitors::export(conn)?,
            Kind::Inspection => inspection::export(conn, &mut doc)?,
            Kind::Operations => doc.operations = operations::export(conn)?,
            Kind::Plans => doc.plans = plans::export(conn)?,
        }
    }
    Ok(doc)
}

/// Refuses (naming the section) a document with monitors, operations or plans, for the places
/// that apply the inspection kinds only (`/api/v1/inspection/config:apply`, the console's page).
pub fn only_inspection(doc: &Document) -> Result<(), Error> {
    for kind in [Kind::Monitors, Kind::Operations, Kind::Plans] {
        if let Some(section) = kind.section_in(doc) {
            return Err(Error::invalid(
                section,
                "the inspection config holds plugins, channels, rules and tasks: apply \
                 monitors, operations and plans at /api/v1/config:apply",
            ));
        }
    }
    Ok(())
}

/// Places an error where its object sits in the document (`rules[2]`): the edge prefixes
/// the error's field with it.
pub(crate) fn at(prefix: String) -> impl Fn(Error) -> Error {
    move |e| Error::At {
        prefix: prefix.clone(),
        inner: Box::new(e),
    }
}

/// Refuses a name (`section[i].field`) given twice in one section.
fn refuse_repeats(section: &str, field: &str, names: &[&String]) -> Result<(), Error> {
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(Error::invalid(
                format!("{section}[{i}].{field}"),
                format!("`{n}` is defined twice"),
            ));
        }
    }
    Ok(())
}

/// What the appliers consult besides the database.
pub struct Context<'a> {
    /// The executor and checker the plan engine and the inspection rules consult.
    pub engines: &'a crate::engine::plans::Context,
    pub actor: &'a Actor,
}

pub fn apply(
    conn: &mut DbConn,
    ctx: &Context<'_>,
    doc: &Document,
    dry_run: bool,
) -> Result<ApplyResult, Error> {
    refuse_repeats(
        "monitors",
        "name",
        &doc.monitors.iter().map(|x| &x.name).collect::<Vec<_>>(),
    )?;
    refuse_repeats(
        "plugins",
        "name",
        &doc.plugins.iter().map(|x| &x.name).collect::<Vec<_>>(),
    )?;
    refuse_repeats(
        "channels",
        "name",
        &doc.channels.iter().map(|x| &x.name).collect::<Vec<_>>(),
    )?;
    refuse_repeats(
        "rules",
        "name",
        &doc.rules.iter().map(|x| &x.name).collect::<Vec<_>>(),
    )?;
    refuse_repeats(
        "tasks",
        "name",
        &doc.tasks.iter().map(|x| &x.name).collect::<Vec<_>>(),
    )?;
    let codes: Vec<&String> = doc.operations.iter().map(|x| &x.operation.code).collect();
    refuse_repeats("operations", "operation.code", &codes)?;
    refuse_repeats(
        "plans",
        "name",
        &doc.plans.iter().map(|x| &x.name).collect::<Vec<_>>(),
    )?;
    let change = |c: &mut DbConn| {
        let mut out = ApplyResult {
            dry_run,
            ..Default::default()
        };
        monitors::apply(c, ctx.actor, &doc.monitors, &mut out.monitors)?;
        inspection::apply(c, ctx, doc, &mut out)?;
        operations::apply(c, ctx.actor, &doc.operations, &mut out.operations)?;
        plans::apply(c, ctx, &doc.plans, &mut out.plans)?;
        Ok(out)
    };
    if dry_run {
        store::dry_run(conn, change)
    } else {
        store::write(conn, change)
    }
}

#[cfg(test)]
mod tests;
