//! Tolerances of hypothesis probes and their verdict, with chaostoolkit-lib's rules
//! (`hypothesis.py`, `within_tolerance`).

use super::experiment::{Activity, ProcessArguments, Provider};
use super::pyvalue;
use super::vars::{Vars, substitute, substitute_str};
use crate::problem::ApiError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value, json};
use std::cmp::Ordering;
use std::collections::BTreeSet;

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

/// Why a provider call failed (`ActivityFailed` in the library): connection refused, a
/// timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityFailed(pub String);

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

    pub(super) fn validate(&self, at: &str, names: &BTreeSet<&str>) -> Result<(), ApiError> {
        match self {
            // A pattern with a `${name}` is checked once expanded, when it runs.
            Self::Regex { pattern, .. } if !pattern.contains("${") => {
                let expanded = pyvalue::str(&substitute_str(pattern, &Vars::default()));
                regex(&expanded)
                    .map(drop)
                    .map_err(|m| ApiError::invalid(format!("{at}.pattern"), m))
            }
            Self::JsonPath(j) => {
                let path = j.path.trim();
                if path.is_empty() {
                    return Err(ApiError::invalid(format!("{at}.path"), "must not be empty"));
                }
                if path.contains("${") {
                    return Ok(());
                }
                serde_json_path::JsonPath::parse(path)
                    .map(drop)
                    .map_err(|e| ApiError::invalid(format!("{at}.path"), format!("{e}")))
            }
            Self::Probe(a) => {
                if a.is_ref() {
                    return Err(ApiError::invalid(
                        format!("{at}.ref"),
                        "a probe tolerance is written out, not a ref",
                    ));
                }
                a.validate(at, names)?;
                let takes_value = match &a.provider {
                    Some(Provider::Http(h)) => h.arguments.as_ref().is_some_and(Value::is_object),
                    Some(Provider::Process(p)) => {
                        matches!(p.arguments, Some(ProcessArguments::Map(_)))
                    }
                    _ => false,
                };
                match takes_value {
                    true => Ok(()),
                    false => Err(ApiError::invalid(
                        format!("{at}.provider.arguments"),
                        "a probe tolerance needs its arguments as a map: the output is \
                         passed as its `value`",
                    )),
                }
            }
            _ => Ok(()),
        }
    }

    /// The tolerance with `${name}` expanded where the library expands it: a string
    /// tolerance, a regex pattern, a JSONPath path and expect.
    pub fn substituted(&self, vars: &Vars) -> Self {
        let text = |s: &str| pyvalue::str(&substitute_str(s, vars));
        match self {
            Self::String(s) => match substitute_str(s, vars) {
                Value::String(s) => Self::String(s),
                other => Self::from_value(other.clone())
                    .unwrap_or_else(|_| Self::String(pyvalue::str(&other))),
            },
            Self::Regex { pattern, target } => Self::Regex {
                pattern: text(pattern),
                target: target.clone(),
            },
            Self::JsonPath(j) => Self::JsonPath(JsonPathTolerance {
                path: text(&j.path),
                expect: j.expect.as_ref().map(|e| substitute(e, vars)),
                ..j.clone()
            }),
            other => other.clone(),
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

/// Compiles a pattern the library would `re.search` with. Python's look-around and
/// back-references are refused (the regex crate has none).
fn regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| format!("not a supported regular expression: {e}"))
}

/// The library's `value.get(target, value)`: `None` where it raises (the value is not a
/// map).
fn targeted<'a>(value: &'a Value, target: &Option<String>) -> Option<&'a Value> {
    match (target, value) {
        (None, v) => Some(v),
        (Some(t), Value::Object(o)) => Some(o.get(t).unwrap_or(value)),
        (Some(_), _) => None,
    }
}

/// Python's `Decimal(value)` as a float; `None` where it raises or is NaN.
fn decimal(v: &Value) -> Option<f64> {
    let f = match v {
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().replace('_', "").parse::<f64>().ok()?,
        _ => return None,
    };
    (!f.is_nan()).then_some(f)
}

/// Whether `value` (an activity's output) is within `tolerance`, by chaostoolkit-lib's
/// rules. `run_probe` runs a probe tolerance's activity given the output as its `value`.
/// Where the library raises instead of answering (a regex on a map, a range on `null`,
/// comparing a number with a string), the answer is `false`. Expand `${name}` first
/// ([`Tolerance::substituted`]).
pub fn within_tolerance(
    tolerance: &Tolerance,
    value: &Value,
    run_probe: impl FnOnce(&Activity, &Value) -> Result<Value, ActivityFailed>,
) -> bool {
    let status = value.as_object().and_then(|o| o.get("status"));
    match tolerance {
        Tolerance::Bool(b) => pyvalue::eq(value, &json!(b)),
        Tolerance::String(s) => pyvalue::eq(value, &json!(s)),
        Tolerance::Int(n) => pyvalue::eq(status.unwrap_or(value), &Value::Number(n.clone())),
        Tolerance::List(items) => match (status, items.as_slice()) {
            (Some(s), _) => pyvalue::contains(items, s),
            (None, [lo, hi]) => {
                pyvalue::cmp(lo, value).is_some_and(Ordering::is_le)
                    && pyvalue::cmp(value, hi).is_some_and(Ordering::is_le)
            }
            (None, _) => pyvalue::contains(items, value),
        },
        Tolerance::Range { range, target } => {
            let bounds = (range[0].as_f64(), range[1].as_f64());
            match (targeted(value, target).and_then(decimal), bounds) {
                (Some(v), (Some(lo), Some(hi))) => lo <= v && v <= hi,
                _ => false,
            }
        }
        Tolerance::Regex { pattern, target } => match (targeted(value, target), regex(pattern)) {
            (Some(Value::String(s)), Ok(rx)) => rx.is_match(s),
            _ => false,
        },
        Tolerance::JsonPath(j) => jsonpath(j, value),
        Tolerance::Probe(activity) => {
            run_probe(activity.as_ref(), value).is_ok_and(|out| pyvalue::truthy(&out))
        }
    }
}

fn jsonpath(j: &JsonPathTolerance, value: &Value) -> bool {
    let Some(target) = targeted(value, &j.target) else {
        return false;
    };
    let decoded;
    let doc = match target {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v) => {
                decoded = v;
                &decoded
            }
            Err(_) => target,
        },
        other => other,
    };
    let Ok(path) = serde_json_path::JsonPath::parse(j.path.trim()) else {
        return false;
    };
    let found: Vec<&Value> = path.query(doc).all();
    match (&j.expect, j.count) {
        (Some(Value::Array(want)), _) => {
            found.len() == want.len() && found.iter().zip(want).all(|(f, w)| pyvalue::eq(f, w))
        }
        (Some(want), _) => found.len() == 1 && pyvalue::eq(found[0], want),
        (None, Some(n)) => found.len() as u64 == n,
        (None, None) => !found.is_empty(),
    }
}
