//! A custom plugin: a kind of check with default parameters for its rules.

use super::field::{Field, Kind};
use super::{Definition, Note};
use crate::engine::Error;
use crate::engine::checks::Checker;
use crate::engine::inspection::save;
use crate::store::DbConn;
use crate::store::audit::Actor;
use crate::store::inspection::plugins as store;
use crate::ui::fields::Fields;
use crate::ui::i18n::Tr;
use serde_json::Value;
use shared::check::PluginKind;
use shared::inspection::PluginInput;

pub struct Plugins;

/// The fields every definition starts with.
pub fn name_and_description(t: Tr) -> [Field; 2] {
    [
        Field::new("name", t.get("ifm.name"), Kind::Text),
        Field::new("description", t.get("ifm.description"), Kind::Area).optional(),
    ]
}

/// The stored object as the API shows it.
pub fn as_json(v: &impl serde::Serialize) -> Result<Value, Error> {
    serde_json::to_value(v).map_err(|e| Error::Internal(e.into()))
}

impl Definition for Plugins {
    type Input = PluginInput;
    type Ctx = ();
    const NOUN: &'static str = "plugin";
    const BASE: &'static str = "/inspection/plugins";
    const LIST: &'static str = "/inspection/plugins";
    const TITLES: [&'static str; 2] = ["ifm.plugin_new", "ifm.plugin_edit"];

    fn load(
        c: &mut DbConn,
        id: Option<i64>,
        _posted: Option<&Fields>,
    ) -> Result<((), Option<Value>), Error> {
        let stored = id.map(|id| store::get(c, id)).transpose()?;
        Ok(((), stored.as_ref().map(as_json).transpose()?))
    }

    fn fields(t: Tr, _: &()) -> Vec<Field> {
        let [name, description] = name_and_description(t);
        vec![
            name,
            Field::new("kind", t.get("ifm.kind"), Kind::Select)
                .options(PluginKind::ALL.map(PluginKind::as_str))
                .value(PluginKind::PageProbe.as_str()),
            description,
            Field::new("defaults", t.get("ifm.defaults"), Kind::Json)
                .help(t.get("ifm.defaults_help"))
                .optional(),
        ]
    }

    fn notes(t: Tr, _: &(), fields: &[Field]) -> Vec<Note> {
        let kind = fields
            .iter()
            .find(|f| f.name == "kind")
            .map(|f| f.value.as_str());
        let Some(kind) = kind.and_then(PluginKind::parse) else {
            return Vec::new();
        };
        let schema = serde_json::to_value(kind.schema()).unwrap_or(Value::Null);
        vec![Note {
            id: "kind-schema",
            title: t.get("insp.schema").into(),
            lines: vec![serde_json::to_string_pretty(&schema).unwrap_or_default()],
            pre: true,
        }]
    }

    fn save(
        c: &mut DbConn,
        _: &Checker,
        actor: &Actor,
        id: Option<i64>,
        input: PluginInput,
    ) -> Result<i64, Error> {
        Ok(save::plugin(c, actor, id, &input)?.id)
    }

    fn delete(c: &mut DbConn, actor: &Actor, id: i64) -> Result<(), Error> {
        Ok(store::delete(c, actor, id)?)
    }

    fn shown_at(id: i64, notice: &str) -> String {
        format!("/inspection/plugins?notice={notice}#plugin-{id}")
    }
}
