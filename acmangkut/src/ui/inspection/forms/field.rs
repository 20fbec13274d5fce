//! One field of a definition form, named by the API's JSON path (`name`, `params.target`,
//! `spec.url`), so the API's errors land beside the field they name; the conversions between
//! what the browser sends and the API's JSON, both ways, are written once for every form.

use crate::ui::fields::Fields;
use serde_json::{Map, Value};

/// How a field is typed and what JSON it makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One line of text: a JSON string.
    Text,
    /// A number as typed (text that is not a number goes as a string, for the API to refuse).
    Number,
    /// Several lines of text: a JSON string.
    Area,
    /// A JSON document.
    Json,
    /// JSON when it parses as JSON, else the text as a string (a parameter of any type).
    Any,
    /// One of `options`: a JSON string.
    Select,
    /// "", `true` or `false`: unset or a JSON boolean.
    Bool,
    /// A checkbox: a JSON boolean.
    Check,
    /// Any of `options`: a JSON array of strings.
    Checks,
    /// One string per line: a JSON array.
    Lines,
    /// `key=value` per line: a JSON object of strings.
    Pairs,
    /// Write-only: never shown back; left empty it is not sent (the stored one is kept).
    Secret,
}

#[derive(Debug, Clone)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Debug, Clone)]
pub struct Field {
    /// The API's path of the value, and the form input's name.
    pub name: String,
    pub label: String,
    pub help: String,
    pub kind: Kind,
    /// As typed, or as stored (`on` for a ticked checkbox).
    pub value: String,
    pub options: Vec<Choice>,
    pub error: String,
    /// Left empty, the value is not sent (the API's default applies).
    pub optional: bool,
}

impl Field {
    pub fn new(name: impl Into<String>, label: impl Into<String>, kind: Kind) -> Self {
        Self {
            name: name.into(),
            label: label.into(),
            help: String::new(),
            kind,
            value: String::new(),
            options: Vec::new(),
            error: String::new(),
            optional: false,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = help.into();
        self
    }

    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    pub fn value(mut self, v: impl Into<String>) -> Self {
        self.value = v.into();
        self
    }

    /// Options valued and labelled alike.
    pub fn options<S: AsRef<str>>(mut self, values: impl IntoIterator<Item = S>) -> Self {
        self.options = values
            .into_iter()
            .map(|v| Choice {
                value: v.as_ref().to_string(),
                label: v.as_ref().to_string(),
                selected: false,
            })
            .collect();
        self
    }

    /// Options with their own labels.
    pub fn labelled(mut self, options: impl IntoIterator<Item = (String, String)>) -> Self {
        self.options = options
            .into_iter()
            .map(|(value, label)| Choice {
                value,
                label,
                selected: false,
            })
            .collect();
        self
    }

    /// What the template draws: `input`, `textarea`, `select`, `check` or `checks`.
    pub fn widget(&self) -> &'static str {
        match self.kind {
            Kind::Text | Kind::Number | Kind::Secret | Kind::Any => "input",
            Kind::Area | Kind::Json | Kind::Lines | Kind::Pairs => "textarea",
            Kind::Select | Kind::Bool => "select",
            Kind::Check => "check",
            Kind::Checks => "checks",
        }
    }

    pub fn input_type(&self) -> &'static str {
        match self.kind {
            Kind::Number => "number",
            Kind::Secret => "password",
            _ => "text",
        }
    }

    pub fn rows(&self) -> u8 {
        if self.kind == Kind::Json { 8 } else { 3 }
    }

    pub fn checked(&self) -> bool {
        !self.value.is_empty()
    }

    /// Marks the option that matches `value` when none is marked (a new form's default).
    pub fn sync_selection(&mut self) {
        if self.widget() == "select" && self.options.iter().all(|o| !o.selected) {
            self.select_value();
        }
    }

    /// Marks the option that matches `value` (a select).
    fn select_value(&mut self) {
        let value = [self.value.clone()];
        self.select(&value);
    }

    /// Marks the options that match `value` (select) or the ticked values (checks).
    fn select(&mut self, ticked: &[String]) {
        for o in &mut self.options {
            o.selected = ticked.contains(&o.value);
        }
    }

    /// A `Bool` field's options: unset, yes, no.
    pub fn bool_options(mut self, unset: &str) -> Self {
        self.options = [("", unset), ("true", "true"), ("false", "false")]
            .into_iter()
            .map(|(v, l)| Choice {
                value: v.into(),
                label: l.into(),
                selected: false,
            })
            .collect();
        self
    }

    /// The JSON this field contributes; `Ok(None)`: nothing (left empty, optional).
    fn to_json(&self) -> Result<Option<Value>, String> {
        let v = self.value.as_str();
        let empty = v.trim().is_empty();
        let omissible = self.optional || matches!(self.kind, Kind::Secret | Kind::Bool);
        if empty && omissible && !matches!(self.kind, Kind::Check | Kind::Checks) {
            return Ok(None);
        }
        Ok(Some(match self.kind {
            Kind::Text | Kind::Area | Kind::Select | Kind::Secret => Value::String(v.into()),
            Kind::Number => number(v.trim()),
            Kind::Json => serde_json::from_str(v).map_err(|e| format!("is not JSON: {e}"))?,
            Kind::Any => serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.into())),
            Kind::Bool => Value::Bool(v.trim() == "true"),
            Kind::Check => Value::Bool(!empty),
            Kind::Checks => Value::Array(
                self.options
                    .iter()
                    .filter(|o| o.selected)
                    .map(|o| Value::String(o.value.clone()))
                    .collect(),
            ),
            Kind::Lines => Value::Array(
                lines(v)
                    .map(|(_, l)| Value::String(l.to_string()))
                    .collect(),
            ),
            Kind::Pairs => Value::Object(pairs(v)?),
        }))
    }

    /// Shows a stored value (`None`: absent); secrets are never shown.
    fn show(&mut self, stored: Option<&Value>) {
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        self.value = match (self.kind, stored) {
            (Kind::Secret, _) | (_, None) => String::new(),
            (Kind::Json, Some(v)) => serde_json::to_string_pretty(v).unwrap_or_default(),
            (Kind::Check, Some(v)) => (if v.as_bool() == Some(true) { "on" } else { "" }).into(),
            (Kind::Lines, Some(Value::Array(a))) => {
                a.iter().map(text).collect::<Vec<_>>().join("\n")
            }
            (Kind::Checks, Some(Value::Array(a))) => {
                let ticked: Vec<String> = a.iter().map(text).collect();
                self.select(&ticked);
                String::new()
            }
            (Kind::Pairs, Some(Value::Object(m))) => m
                .iter()
                .map(|(k, v)| format!("{k}={}", text(v)))
                .collect::<Vec<_>>()
                .join("\n"),
            (_, Some(v)) => text(v),
        };
        if matches!(self.kind, Kind::Select | Kind::Bool) {
            self.select_value();
        }
    }

    /// Takes what the browser sent for this field.
    fn take(&mut self, posted: &Fields) {
        match self.kind {
            Kind::Checks => {
                self.select(&posted.all(&self.name));
            }
            Kind::Check => self.value = (if posted.has(&self.name) { "on" } else { "" }).into(),
            Kind::Secret => self.value = posted.get(&self.name).to_string(),
            _ => {
                self.value = posted.get(&self.name).to_string();
                if matches!(self.kind, Kind::Select | Kind::Bool) {
                    self.select_value();
                }
            }
        }
    }
}

fn number(v: &str) -> Value {
    if let Ok(n) = v.parse::<i64>() {
        return Value::from(n);
    }
    match v.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
        Some(n) => Value::Number(n),
        None => Value::String(v.into()),
    }
}

/// Lines that carry something, trimmed, with their 1-based numbers.
pub fn lines(s: &str) -> impl Iterator<Item = (usize, &str)> {
    s.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
}

/// `key=value` lines as an object.
pub fn pairs(s: &str) -> Result<Map<String, Value>, String> {
    let mut map = Map::new();
    for (n, line) in lines(s) {
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("line {n}: write key=value"))?;
        map.insert(k.trim().into(), Value::String(v.trim().into()));
    }
    Ok(map)
}

/// The value at a dotted path.
pub fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, key| v.get(key))
}

/// Sets the value at a dotted path, making objects on the way.
pub fn set(root: &mut Value, path: &str, value: Value) {
    let mut at = root;
    for key in path.split('.') {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        let Value::Object(map) = at else { return };
        at = map.entry(key.to_string()).or_insert(Value::Null);
    }
    *at = value;
}

/// Fills every field from the stored object's JSON.
pub fn show_all(fields: &mut [Field], stored: &Value) {
    for f in fields {
        f.show(get(stored, &f.name));
    }
}

/// Fills every field from what the browser sent.
pub fn take_all(fields: &mut [Field], posted: &Fields) {
    for f in fields {
        f.take(posted);
    }
}

/// The API's JSON body the fields make; a field whose text does not convert gets its error.
pub fn to_body(fields: &mut [Field]) -> Option<Value> {
    let mut body = Value::Object(Map::new());
    let mut ok = true;
    for f in fields.iter_mut() {
        match f.to_json() {
            Ok(Some(v)) => set(&mut body, &f.name, v),
            Ok(None) => {}
            Err(e) => {
                f.error = e;
                ok = false;
            }
        }
    }
    ok.then_some(body)
}

/// Puts an error where it belongs: on the field its path names (or the field holding that
/// path: `targets[2]` on `targets`, `spec.to[0]` on `spec.to`), else in `general` with its path.
pub fn place(fields: &mut [Field], general: &mut Vec<String>, path: Option<&str>, detail: &str) {
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        general.push(detail.to_string());
        return;
    };
    let holds = |name: &str| {
        path == name
            || path
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['.', '[']))
    };
    let best = fields
        .iter_mut()
        .filter(|f| holds(&f.name))
        .max_by_key(|f| f.name.len());
    match best {
        Some(f) if f.name == path => add(&mut f.error, detail),
        Some(f) => add(&mut f.error, &format!("{path}: {detail}")),
        None => general.push(format!("{path}: {detail}")),
    }
}

fn add(to: &mut String, text: &str) {
    if !to.is_empty() {
        to.push_str("; ");
    }
    to.push_str(text);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, kind: Kind, value: &str) -> Field {
        Field::new(name, name, kind).value(value)
    }

    #[test]
    fn fields_make_the_api_body_by_path() {
        let mut fields = vec![
            field("name", Kind::Text, "web"),
            field("spec.port", Kind::Number, "25"),
            field("spec.to", Kind::Lines, "a@x\n\n b@x "),
            field("labels", Kind::Pairs, "team=ops"),
            field("spec.secret", Kind::Secret, ""),
            field("enabled", Kind::Check, ""),
            field("timeout", Kind::Number, "soon"),
        ];
        let body = to_body(&mut fields).expect("every field converts");
        assert_eq!(
            body,
            serde_json::json!({
                "name": "web", "spec": {"port": 25, "to": ["a@x", "b@x"]},
                "labels": {"team": "ops"}, "enabled": false, "timeout": "soon"
            })
        );
    }

    #[test]
    fn a_value_that_does_not_convert_is_the_fields_error() {
        let mut fields = vec![
            field("defaults", Kind::Json, "{nope"),
            field("labels", Kind::Pairs, "x"),
        ];
        assert!(to_body(&mut fields).is_none());
        assert!(fields[0].error.starts_with("is not JSON"));
        assert_eq!(fields[1].error, "line 1: write key=value");
    }

    #[test]
    fn errors_land_on_the_field_holding_their_path() {
        let mut fields = vec![
            field("spec", Kind::Text, ""),
            field("spec.to", Kind::Lines, ""),
        ];
        let mut general = Vec::new();
        place(&mut fields, &mut general, Some("spec.to[1]"), "bad");
        place(&mut fields, &mut general, Some("spec"), "odd");
        place(&mut fields, &mut general, Some("other"), "gone");
        place(&mut fields, &mut general, None, "whole");
        assert_eq!(fields[1].error, "spec.to[1]: bad");
        assert_eq!(fields[0].error, "odd");
        assert_eq!(general, ["other: gone", "whole"]);
    }

    #[test]
    fn stored_values_show_back_but_secrets_do_not() {
        let stored = serde_json::json!({"spec": {"secret": "s3", "to": ["a", "b"]}, "on": true});
        let mut fields = vec![
            field("spec.secret", Kind::Secret, "x"),
            field("spec.to", Kind::Lines, ""),
            field("on", Kind::Check, ""),
        ];
        show_all(&mut fields, &stored);
        assert_eq!(fields[0].value, "");
        assert_eq!(fields[1].value, "a\nb");
        assert!(fields[2].checked());
    }
}
