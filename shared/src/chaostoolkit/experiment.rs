//! The experiment document: serde model and the checks chaostoolkit-lib's validator makes
//! (`ensure_experiment_is_valid`), plus HAS's refusals, each naming the field.

use super::vars::{ConfigValue, SecretValue, Vars};
use crate::problem::ApiError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The largest experiment document HAS reads (JSON or YAML).
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// A Chaos Toolkit experiment. Keys HAS does not know are ignored, as the library ignores
/// them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub title: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub contributions: Map<String, Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configuration: BTreeMap<String, ConfigValue>,
    /// Scopes of named secrets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, BTreeMap<String, SecretValue>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<Value>,
    /// Python control modules: refused when not empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controls: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,
    #[serde(
        rename = "steady-state-hypothesis",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub steady_state_hypothesis: Option<Hypothesis>,
    /// Required by the library, may be empty (the hypothesis is then checked twice).
    pub method: Vec<Activity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollbacks: Vec<Activity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry: Option<Dry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hypothesis {
    pub title: String,
    #[serde(default)]
    pub probes: Vec<Activity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controls: Option<Vec<Value>>,
}

/// A probe or an action, or a reference (`{"ref": "name"}`) to one declared elsewhere in the
/// experiment. After [`Experiment::validate`], an activity without `ref` has a kind, a name
/// and a provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ActivityKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// Checked only for the hypothesis' probes (probes in the method are never checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<Tolerance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pauses: Option<Pauses>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<bool>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controls: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry: Option<Dry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivityKind {
    Probe,
    Action,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Provider {
    Http(HttpProvider),
    Process(ProcessProvider),
    /// Parsed so that the refusal can name the activity; never run.
    Python(PythonProvider),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpProvider {
    pub url: String,
    /// `GET` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// The query string of a GET; otherwise a JSON body when `Content-Type` is
    /// `application/json`, else form data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HttpTimeout>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_tls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// In the specification; the library does not use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_status: Option<Value>,
}

/// An HTTP timeout: seconds, `[connect, read]` seconds, or a `${name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a number of seconds, [connect, read] or a \"${name}\""
)]
pub enum HttpTimeout {
    Seconds(f64),
    ConnectRead([f64; 2]),
    Var(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessProvider {
    /// Resolved on `PATH` where the activity runs.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<ProcessArguments>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
}

/// A process' arguments: a list (argv), a map (flattened into key, value pairs, empty values
/// dropped), or a string run through the shell after the path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a list, a map or a string of arguments")]
pub enum ProcessArguments {
    List(Vec<Value>),
    Map(Map<String, Value>),
    Shell(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PythonProvider {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub func: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pauses {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Pause>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Pause>,
}

/// Seconds, or a `${name}` from the configuration or secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a number of seconds or a \"${name}\"")]
pub enum Pause {
    Seconds(f64),
    Var(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dry {
    Probes,
    Actions,
    Activities,
    Pause,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Runtime {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollbacks: Option<RuntimeRollbacks>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hypothesis: Option<RuntimeHypothesis>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeRollbacks {
    pub strategy: RollbackStrategy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeHypothesis {
    pub strategy: HypothesisStrategy,
    /// Seconds between checks under `during-method-only` and `continuously`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_fast: Option<bool>,
}

/// Which rollbacks play: `default` unless the run failed or was interrupted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RollbackStrategy {
    #[default]
    Default,
    Always,
    Never,
    Deviated,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HypothesisStrategy {
    #[default]
    Default,
    BeforeMethodOnly,
    AfterMethodOnly,
    DuringMethodOnly,
    Continuously,
}

impl Experiment {
    /// Loads the configuration and secrets, reading `env` entries through `env` (the
    /// process environment, or a test's). A missing variable without a default, or one that
    /// does not convert, is an error naming the entry.
    pub fn vars(&self, env: impl Fn(&str) -> Option<String>) -> Result<Vars, ApiError> {
        Vars::load(&self.configuration, &self.secrets, env)
    }

    /// Parses a JSON or YAML document (JSON when it starts with `{`) and validates it.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(ApiError::invalid(
                "experiment",
                format!("the document exceeds {MAX_DOCUMENT_BYTES} bytes"),
            ));
        }
        let experiment: Self = if text.trim_start().starts_with('{') {
            crate::extract::parse(text.as_bytes())?
        } else {
            crate::extract::parse_yaml(text)?
        };
        experiment.validate()?;
        Ok(experiment)
    }

    /// What chaostoolkit-lib's validator checks, and what HAS refuses; the error names the
    /// field.
    pub fn validate(&self) -> Result<(), ApiError> {
        required(&self.title, "title")?;
        required(&self.description, "description")?;
        for (i, tag) in self.tags.iter().enumerate() {
            required(tag, &format!("tags[{i}]"))?;
        }
        no_controls(self.controls.as_ref(), "controls")?;
        for (i, e) in self.extensions.iter().enumerate() {
            if e.get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(ApiError::invalid(
                    format!("extensions[{i}].name"),
                    "an extension needs a name",
                ));
            }
        }
        for (k, v) in &self.configuration {
            v.validate(&format!("configuration.{k}"))?;
        }
        for (scope, names) in &self.secrets {
            for (k, v) in names {
                v.validate(&format!("secrets.{scope}.{k}"))?;
            }
        }
        let names = self.activity_names();
        if let Some(h) = &self.steady_state_hypothesis {
            let at = "steady-state-hypothesis";
            required(&h.title, &format!("{at}.title"))?;
            no_controls(h.controls.as_ref(), &format!("{at}.controls"))?;
            for (i, p) in h.probes.iter().enumerate() {
                let at = format!("{at}.probes[{i}]");
                p.validate(&at, &names)?;
                let Some(t) = &p.tolerance else {
                    return Err(ApiError::invalid(
                        format!("{at}.tolerance"),
                        "a hypothesis probe needs a tolerance",
                    ));
                };
                t.validate(&format!("{at}.tolerance"), &names)?;
            }
        }
        for (i, a) in self.method.iter().enumerate() {
            a.validate(&format!("method[{i}]"), &names)?;
        }
        for (i, a) in self.rollbacks.iter().enumerate() {
            a.validate(&format!("rollbacks[{i}]"), &names)?;
        }
        Ok(())
    }

    /// Every activity in the hypothesis, the method and the rollbacks, in that order.
    pub fn activities(&self) -> impl Iterator<Item = &Activity> {
        let probes = self.steady_state_hypothesis.iter().flat_map(|h| &h.probes);
        probes.chain(&self.method).chain(&self.rollbacks)
    }

    /// The activity a `ref` names: the first declared with that name (as the library's cache
    /// finds it).
    pub fn lookup(&self, name: &str) -> Option<&Activity> {
        self.activities()
            .find(|a| a.reference.is_none() && a.name.as_deref() == Some(name))
    }

    /// The rollback strategy the experiment asks for (`runtime.rollbacks.strategy`).
    pub fn rollback_strategy(&self) -> RollbackStrategy {
        self.runtime
            .as_ref()
            .and_then(|r| r.rollbacks.as_ref())
            .map(|r| r.strategy)
            .unwrap_or_default()
    }

    fn activity_names(&self) -> BTreeSet<&str> {
        self.activities()
            .filter(|a| a.reference.is_none())
            .filter_map(|a| a.name.as_deref())
            .collect()
    }
}

impl Activity {
    /// Whether this is a `{"ref": ...}` to another activity.
    pub fn is_ref(&self) -> bool {
        self.reference.is_some()
    }

    /// The activity's name, or its `ref`.
    pub fn label(&self) -> &str {
        self.name
            .as_deref()
            .or(self.reference.as_deref())
            .unwrap_or("")
    }

    /// Runs in the background (the method waits for it at its end).
    pub fn in_background(&self) -> bool {
        self.background == Some(true)
    }

    pub(super) fn validate(&self, at: &str, names: &BTreeSet<&str>) -> Result<(), ApiError> {
        if let Some(r) = &self.reference {
            required(r, &format!("{at}.ref"))?;
            if !names.contains(r.as_str()) {
                return Err(ApiError::invalid(
                    format!("{at}.ref"),
                    format!("no activity named `{r}` in the experiment"),
                ));
            }
            return Ok(());
        }
        if self.kind.is_none() {
            return Err(ApiError::invalid(
                format!("{at}.type"),
                "an activity needs a type: probe or action",
            ));
        }
        let name = self.name.as_deref().unwrap_or("");
        required(name, &format!("{at}.name"))?;
        let Some(provider) = &self.provider else {
            return Err(ApiError::invalid(
                format!("{at}.provider"),
                format!("activity `{name}` needs a provider"),
            ));
        };
        provider.validate(&format!("{at}.provider"), name)?;
        if let Some(t) = self.timeout
            && !(t.is_finite() && t >= 0.0)
        {
            return Err(ApiError::invalid(
                format!("{at}.timeout"),
                "must be a number of seconds, 0 or more",
            ));
        }
        if let Some(p) = &self.pauses {
            for (which, pause) in [("before", &p.before), ("after", &p.after)] {
                if let Some(pause) = pause {
                    pause.validate(&format!("{at}.pauses.{which}"))?;
                }
            }
        }
        no_controls(self.controls.as_ref(), &format!("{at}.controls"))
    }
}

impl Provider {
    fn validate(&self, at: &str, activity: &str) -> Result<(), ApiError> {
        match self {
            Self::Python(p) => Err(ApiError::invalid(
                at,
                format!(
                    "activity `{activity}` uses the python provider (module `{}`, func `{}`): \
                     HAS runs no Python code; use an http or process provider",
                    p.module.as_deref().unwrap_or(""),
                    p.func.as_deref().unwrap_or(""),
                ),
            )),
            Self::Http(h) => {
                required(&h.url, &format!("{at}.url"))?;
                if let Some(m) = &h.method {
                    let token = !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic());
                    if !token {
                        return Err(ApiError::invalid(
                            format!("{at}.method"),
                            "must be an HTTP method such as GET or POST",
                        ));
                    }
                }
                match &h.timeout {
                    Some(HttpTimeout::Seconds(s)) if !(s.is_finite() && *s > 0.0) => Err(
                        ApiError::invalid(format!("{at}.timeout"), "must be above 0"),
                    ),
                    Some(HttpTimeout::ConnectRead(p))
                        if p.iter().any(|s| !(s.is_finite() && *s > 0.0)) =>
                    {
                        Err(ApiError::invalid(
                            format!("{at}.timeout"),
                            "must be above 0",
                        ))
                    }
                    Some(HttpTimeout::Var(v)) => var_only(v, &format!("{at}.timeout")),
                    _ => Ok(()),
                }
            }
            Self::Process(p) => {
                required(&p.path, &format!("{at}.path"))?;
                match p.timeout {
                    Some(t) if !(t.is_finite() && t > 0.0) => Err(ApiError::invalid(
                        format!("{at}.timeout"),
                        "must be above 0",
                    )),
                    _ => Ok(()),
                }
            }
        }
    }
}

impl Pause {
    fn validate(&self, at: &str) -> Result<(), ApiError> {
        match self {
            Self::Seconds(s) if !(s.is_finite() && *s >= 0.0) => Err(ApiError::invalid(
                at,
                "must be a number of seconds, 0 or more",
            )),
            Self::Seconds(_) => Ok(()),
            Self::Var(v) => var_only(v, at),
        }
    }
}

/// A string that is one `${name}` (as the library requires of a pause).
fn var_only(v: &str, at: &str) -> Result<(), ApiError> {
    let inner = v.strip_prefix("${").and_then(|r| r.strip_suffix('}'));
    match inner {
        Some(name) if !name.is_empty() => Ok(()),
        _ => Err(ApiError::invalid(
            at,
            "must be a number or a \"${name}\" from the configuration or secrets",
        )),
    }
}

pub(super) fn required(value: &str, at: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::invalid(at, "is required and must not be empty"));
    }
    Ok(())
}

fn no_controls(controls: Option<&Vec<Value>>, at: &str) -> Result<(), ApiError> {
    match controls {
        Some(c) if !c.is_empty() => Err(ApiError::invalid(
            at,
            "controls are Python modules: HAS runs no Python code",
        )),
        _ => Ok(()),
    }
}

/// What a hypothesis probe's output must be for the steady state to hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Tolerance {
    /// `output == b`.
    Bool(bool),
    /// An output with a `status` (HTTP code, process exit code): `status == n`; else
    /// `output == n`. Always an integer (the library refuses a float).
    Int(Number),
    /// `output == s`, exactly (it does not search a process' stdout).
    String(String),
    /// An output with a `status`: `status in list`; else a 2-element list is the inclusive
    /// range `[lo, hi]`; else `output in list`.
    List(Vec<Value>),
    /// `{"type": "range"}`: the output (or its `target`) as a number within `[lo, hi]`.
    Range {
        range: [Number; 2],
        target: Option<String>,
    },
    /// `{"type": "regex"}`: the pattern found in the output (or its `target`: stdout, stderr,
    /// body).
    Regex {
        pattern: String,
        target: Option<String>,
    },
    /// `{"type": "jsonpath"}`.
    JsonPath(JsonPathTolerance),
    /// `{"type": "probe"}`: another probe given the output as its `value` argument; met when
    /// it succeeds with a true value.
    Probe(Box<Activity>),
}

/// A JSONPath query on the output (a string is decoded as JSON first): without `expect`
/// and `count` it must match something; with `count`, that many values; with `expect`,
/// exactly those values (a scalar `expect` is a list of one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonPathTolerance {
    pub path: String,
    /// `Some(Value::Null)` is an `expect: null`, which differs from no `expect`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub expect: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A key that is present is `Some`, even when it is `null`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct RangeForm {
    range: Vec<Value>,
    #[serde(default)]
    target: Option<String>,
}

#[derive(Deserialize)]
struct RegexForm {
    pattern: String,
    #[serde(default)]
    target: Option<String>,
}

impl Tolerance {
    /// Reads a tolerance as the library types it (bool, int, str, list, dict).
    pub fn from_value(v: Value) -> Result<Self, String> {
        let e = |x: serde_json::Error| x.to_string();
        Ok(match v {
            Value::Bool(b) => Self::Bool(b),
            Value::Number(n) if n.is_i64() || n.is_u64() => Self::Int(n),
            Value::Number(_) => {
                return Err("a number tolerance must be an integer; use a range for others".into());
            }
            Value::String(s) => Self::String(s),
            Value::Array(items) => Self::List(items),
            Value::Null => return Err("a tolerance must not be null".into()),
            Value::Object(o) => match o.get("type").and_then(Value::as_str) {
                Some("range") => {
                    let f: RangeForm = serde_json::from_value(Value::Object(o)).map_err(e)?;
                    let nums: Vec<Number> = f
                        .range
                        .iter()
                        .filter_map(|v| v.as_number().cloned())
                        .collect();
                    let [lo, hi]: [Number; 2] = nums
                        .try_into()
                        .ok()
                        .filter(|_| f.range.len() == 2)
                        .ok_or("`range` must be a list of two numbers")?;
                    Self::Range {
                        range: [lo, hi],
                        target: f.target,
                    }
                }
                Some("regex") => {
                    let f: RegexForm = serde_json::from_value(Value::Object(o)).map_err(e)?;
                    Self::Regex {
                        pattern: f.pattern,
                        target: f.target,
                    }
                }
                Some("jsonpath") => {
                    Self::JsonPath(serde_json::from_value(Value::Object(o)).map_err(e)?)
                }
                Some("probe") => Self::Probe(Box::new(
                    serde_json::from_value(Value::Object(o)).map_err(e)?,
                )),
                Some(other) => {
                    return Err(format!(
                        "tolerance type `{other}` is not one of range, regex, jsonpath, probe"
                    ));
                }
                None => {
                    return Err("a tolerance map needs a `type`: range, regex, jsonpath or \
                                probe"
                        .into());
                }
            },
        })
    }

    /// The tolerance as the experiment writes it.
    pub fn to_value(&self) -> Value {
        let with_target = |mut o: Map<String, Value>, t: &Option<String>| {
            if let Some(t) = t {
                o.insert("target".into(), json!(t));
            }
            Value::Object(o)
        };
        match self {
            Self::Bool(b) => json!(b),
            Self::Int(n) => Value::Number(n.clone()),
            Self::String(s) => json!(s),
            Self::List(items) => Value::Array(items.clone()),
            Self::Range { range, target } => {
                let o = json!({"type": "range", "range": range});
                with_target(o.as_object().cloned().unwrap_or_default(), target)
            }
            Self::Regex { pattern, target } => {
                let o = json!({"type": "regex", "pattern": pattern});
                with_target(o.as_object().cloned().unwrap_or_default(), target)
            }
            Self::JsonPath(j) => {
                let mut o = json!(j);
                if let Some(m) = o.as_object_mut() {
                    m.insert("type".into(), json!("jsonpath"));
                }
                o
            }
            Self::Probe(a) => json!(a),
        }
    }
}

impl<'de> Deserialize<'de> for Tolerance {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::from_value(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Tolerance {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}
