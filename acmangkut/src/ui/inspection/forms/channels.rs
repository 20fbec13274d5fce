//! A notification channel. Secrets and passwords are write-only: the form never shows a stored
//! one, and one left empty on edit keeps it (`ChannelSpec::keep_secrets_from`). Every kind's
//! fields are on the form; only the chosen kind's are sent.

use super::field::{Field, Kind};
use super::plugins::as_json;
use super::{Definition, Note};
use crate::engine::Error;
use crate::engine::checks::Checker;
use crate::engine::inspection::define::{Channel, ChannelInput};
use crate::engine::inspection::save;
use crate::store::DbConn;
use crate::store::audit::Actor;
use crate::store::inspection::channels as store;
use crate::ui::fields::Fields;
use crate::ui::i18n::Tr;
use serde_json::Value;

pub struct Channels;

/// Each kind and the `spec` keys it takes.
const KINDS: [(&str, &[&str]); 5] = [
    ("webhook", &["url", "secret", "headers"]),
    ("slack", &["url"]),
    ("dingtalk", &["url", "secret"]),
    ("feishu", &["url", "secret"]),
    (
        "email",
        &["host", "port", "tls", "username", "password", "from", "to"],
    ),
];

/// `(key, catalog key, kind)` of every `spec` field after `kind`.
const SPEC: [(&str, &str, Kind); 10] = [
    ("url", "ifm.url", Kind::Text),
    ("secret", "ifm.secret", Kind::Secret),
    ("headers", "ifm.headers", Kind::Pairs),
    ("host", "ifm.host", Kind::Text),
    ("port", "ifm.port", Kind::Number),
    ("tls", "ifm.tls", Kind::Select),
    ("username", "ifm.username", Kind::Text),
    ("password", "ifm.password", Kind::Secret),
    ("from", "ifm.from", Kind::Text),
    ("to", "ifm.to", Kind::Lines),
];

/// Which kinds take `key`, as help beside its field.
fn kinds_taking(key: &str) -> String {
    let kinds: Vec<&str> = KINDS
        .iter()
        .filter(|(_, keys)| keys.contains(&key))
        .map(|(k, _)| *k)
        .collect();
    kinds.join(", ")
}

impl Definition for Channels {
    type Input = ChannelInput;
    type Ctx = ();
    const NOUN: &'static str = "channel";
    const BASE: &'static str = "/inspection/channels";
    const LIST: &'static str = "/inspection/channels";
    const TITLES: [&'static str; 2] = ["ifm.channel_new", "ifm.channel_edit"];

    fn load(
        c: &mut DbConn,
        id: Option<i64>,
        _posted: Option<&Fields>,
    ) -> Result<((), Option<Value>), Error> {
        let stored = id
            .map(|id| Channel::from_row(&store::row(c, id)?))
            .transpose()?;
        Ok(((), stored.as_ref().map(as_json).transpose()?))
    }

    fn fields(t: Tr, _: &()) -> Vec<Field> {
        let mut fields = vec![
            Field::new("name", t.get("ifm.name"), Kind::Text),
            Field::new("spec.kind", t.get("ifm.channel_kind"), Kind::Select)
                .options(KINDS.map(|(k, _)| k))
                .value("webhook"),
        ];
        fields.extend(SPEC.iter().map(|(key, label, kind)| {
            let mut help = kinds_taking(key);
            if *kind == Kind::Secret {
                help = format!("{help}. {}", t.get("ifm.secret_help"));
            }
            let f = Field::new(format!("spec.{key}"), t.get(label), *kind)
                .help(help)
                .optional();
            if *key == "tls" {
                let tls = ["", "starttls", "tls", "none"];
                f.labelled(tls.map(|v| (v.to_string(), if v.is_empty() { "—" } else { v }.into())))
            } else {
                f
            }
        }));
        fields
    }

    fn notes(t: Tr, _: &(), _: &[Field]) -> Vec<Note> {
        vec![Note {
            id: "secrets",
            title: t.get("ifm.secrets_title").into(),
            lines: vec![t.get("ifm.secrets_note").into()],
            pre: false,
        }]
    }

    /// Keeps only the chosen kind's keys (the API refuses the others).
    fn to_api(body: &mut Value) -> Result<(), (String, String)> {
        let Some(spec) = body.get_mut("spec").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        let kind = spec.get("kind").and_then(Value::as_str).unwrap_or_default();
        if let Some((_, keys)) = KINDS.iter().find(|(k, _)| *k == kind) {
            spec.retain(|k, _| k == "kind" || keys.contains(&k.as_str()));
        }
        Ok(())
    }

    fn save(
        c: &mut DbConn,
        _: &Checker,
        actor: &Actor,
        id: Option<i64>,
        input: ChannelInput,
    ) -> Result<i64, Error> {
        Ok(save::channel(c, actor, id, input)?.id)
    }

    fn delete(c: &mut DbConn, actor: &Actor, id: i64) -> Result<(), Error> {
        Ok(store::delete(c, actor, id)?)
    }

    fn shown_at(id: i64, notice: &str) -> String {
        format!("/inspection/channels?notice={notice}#channel-{id}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_chosen_kinds_keys_are_sent() {
        let mut body = serde_json::json!({
            "name": "ops",
            "spec": {"kind": "slack", "url": "https://h/x", "host": "smtp", "to": []}
        });
        Channels::to_api(&mut body).expect("a slack spec");
        assert_eq!(
            body["spec"],
            serde_json::json!({"kind": "slack", "url": "https://h/x"})
        );
    }
}
