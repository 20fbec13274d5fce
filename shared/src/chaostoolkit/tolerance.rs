//! The verdict on hypothesis probes' tolerances, with chaostoolkit-lib's rules
//! (`hypothesis.py`, `within_tolerance`); the [`Tolerance`] type itself is part of the
//! experiment's model (a probe tolerance holds an activity).

use super::experiment::{Activity, JsonPathTolerance, ProcessArguments, Provider, Tolerance};
use super::pyvalue;
use super::vars::{Vars, substitute, substitute_str};
use crate::problem::ApiError;
use serde_json::{Value, json};
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// Why a provider call failed (`ActivityFailed` in the library): connection refused, a
/// timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityFailed(pub String);

impl Tolerance {
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
