//! Configuration and secrets (literal or from the environment) and the `${name}`
//! substitution chaostoolkit-lib applies with Python's `string.Template`.

use super::pyvalue;
use crate::problem::ApiError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// A configuration entry: a literal, or read from the environment at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    Literal(Value),
    Env {
        key: String,
        default: Option<Value>,
        env_var_type: Option<EnvVarType>,
    },
    /// `{"type": "probe", ...}`: a value computed by running a probe; refused.
    Dynamic(Value),
}

/// A secret: a literal, or read from the environment at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretValue {
    Literal(Value),
    Env {
        key: String,
    },
    /// `{"type": "vault", ...}`: refused (HAS keeps its own secrets).
    Vault(Value),
}

/// How an environment variable's text is converted (`env_var_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvVarType {
    #[serde(alias = "string")]
    Str,
    #[serde(alias = "integer")]
    Int,
    #[serde(alias = "number")]
    Float,
    Bytes,
    Bool,
    Json,
}

fn env_entry(v: &Value) -> Option<(&str, &Map<String, Value>)> {
    let o = v.as_object()?;
    Some((o.get("type")?.as_str()?, o))
}

fn key_of<E: serde::de::Error>(o: &Map<String, Value>) -> Result<String, E> {
    match o.get("key") {
        Some(Value::String(k)) if !k.is_empty() => Ok(k.clone()),
        _ => Err(E::custom(
            "an `env` entry needs a `key`: the variable's name",
        )),
    }
}

impl<'de> Deserialize<'de> for ConfigValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(match env_entry(&v) {
            Some(("env", o)) => {
                let env_var_type = match o.get("env_var_type") {
                    None | Some(Value::Null) => None,
                    Some(t) => Some(EnvVarType::deserialize(t).map_err(|_| {
                        serde::de::Error::custom(
                            "env_var_type must be one of str, int, float, bytes, bool, json",
                        )
                    })?),
                };
                ConfigValue::Env {
                    key: key_of::<D::Error>(o)?,
                    default: o.get("default").cloned(),
                    env_var_type,
                }
            }
            Some(("probe", _)) => ConfigValue::Dynamic(v),
            _ => ConfigValue::Literal(v),
        })
    }
}

impl Serialize for ConfigValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Literal(v) | Self::Dynamic(v) => v.serialize(s),
            Self::Env {
                key,
                default,
                env_var_type,
            } => {
                let mut o = Map::new();
                o.insert("type".into(), json!("env"));
                o.insert("key".into(), json!(key));
                if let Some(d) = default {
                    o.insert("default".into(), d.clone());
                }
                if let Some(t) = env_var_type {
                    o.insert("env_var_type".into(), json!(t));
                }
                o.serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for SecretValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(match env_entry(&v) {
            Some(("env", o)) => SecretValue::Env {
                key: key_of::<D::Error>(o)?,
            },
            Some(("vault", _)) => SecretValue::Vault(v),
            _ => SecretValue::Literal(v),
        })
    }
}

impl Serialize for SecretValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Literal(v) | Self::Vault(v) => v.serialize(s),
            Self::Env { key } => json!({"type": "env", "key": key}).serialize(s),
        }
    }
}

impl ConfigValue {
    pub(super) fn validate(&self, at: &str) -> Result<(), ApiError> {
        match self {
            Self::Dynamic(_) => Err(ApiError::invalid(
                at,
                "dynamic configuration (a probe run before the experiment) is not supported; \
                 use a literal or an env entry",
            )),
            _ => Ok(()),
        }
    }
}

impl SecretValue {
    pub(super) fn validate(&self, at: &str) -> Result<(), ApiError> {
        match self {
            Self::Vault(_) => Err(ApiError::invalid(
                at,
                "vault secrets are not supported; use a literal or an env entry",
            )),
            _ => Ok(()),
        }
    }
}

impl EnvVarType {
    /// Python's `convert_to_type`; `None` when the text does not convert.
    fn convert(self, text: &str) -> Option<Value> {
        let t = text.trim();
        match self {
            Self::Str | Self::Bytes => Some(json!(text)),
            Self::Int => t.replace('_', "").parse::<i64>().ok().map(Value::from),
            Self::Float => t
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number),
            Self::Bool => Some(json!(!matches!(
                text.to_lowercase().as_str(),
                "false" | "0" | "no"
            ))),
            Self::Json if text.is_empty() => Some(json!(text)),
            Self::Json => serde_json::from_str(text).ok(),
        }
    }
}

/// The values `${name}` finds: the configuration first, then each secret scope (in the
/// order of the scope names).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vars {
    pub configuration: Map<String, Value>,
    pub secrets: Vec<(String, Map<String, Value>)>,
}

impl Vars {
    /// Loads an experiment's configuration and secrets ([`Experiment::vars`]).
    ///
    /// [`Experiment::vars`]: super::Experiment::vars
    pub(super) fn load(
        configuration: &BTreeMap<String, ConfigValue>,
        secrets: &BTreeMap<String, BTreeMap<String, SecretValue>>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ApiError> {
        let mut vars = Vars::default();
        for (name, entry) in configuration {
            let at = format!("configuration.{name}");
            let value = match entry {
                ConfigValue::Literal(v) => v.clone(),
                ConfigValue::Dynamic(_) => {
                    return Err(ApiError::invalid(
                        at,
                        "dynamic configuration is not supported",
                    ));
                }
                ConfigValue::Env {
                    key,
                    default,
                    env_var_type,
                } => match (env(key), default) {
                    (Some(text), _) => convert(*env_var_type, &text, &at, key)?,
                    (None, Some(Value::String(text))) => convert(*env_var_type, text, &at, key)?,
                    (None, Some(d)) => d.clone(),
                    (None, None) => {
                        return Err(ApiError::invalid(
                            at,
                            format!(
                                "the environment variable `{key}` is not set and has no default"
                            ),
                        ));
                    }
                },
            };
            vars.configuration.insert(name.clone(), value);
        }
        for (scope, names) in secrets {
            let mut loaded = Map::new();
            for (name, entry) in names {
                let at = format!("secrets.{scope}.{name}");
                let value = match entry {
                    SecretValue::Literal(v) => v.clone(),
                    SecretValue::Vault(_) => {
                        return Err(ApiError::invalid(at, "vault secrets are not supported"));
                    }
                    SecretValue::Env { key } => match env(key) {
                        Some(text) => Value::String(text),
                        None => {
                            return Err(ApiError::invalid(
                                at,
                                format!("the environment variable `{key}` is not set"),
                            ));
                        }
                    },
                };
                loaded.insert(name.clone(), value);
            }
            vars.secrets.push((scope.clone(), loaded));
        }
        Ok(vars)
    }

    /// The value of `name`: the configuration's, else the first scope's that has it.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.configuration
            .get(name)
            .or_else(|| self.secrets.iter().find_map(|(_, s)| s.get(name)))
    }
}

fn convert(ty: Option<EnvVarType>, text: &str, at: &str, key: &str) -> Result<Value, ApiError> {
    let ty = ty.unwrap_or(EnvVarType::Str);
    ty.convert(text).ok_or_else(|| {
        let name = serde_json::to_value(ty).unwrap_or_default();
        ApiError::invalid(
            at,
            format!(
                "the environment variable `{key}` is not a {}",
                pyvalue::str(&name)
            ),
        )
    })
}

/// `${name}` and `$name` replaced in every string of `value` (keys are left alone), as the
/// library's `substitute` does: a string that is exactly one `${name}` becomes the value
/// itself (a number stays a number); inside a longer string it is Python's `str()` of it;
/// `$$` is a `$`; an unknown name is left as written.
pub fn substitute(value: &Value, vars: &Vars) -> Value {
    match value {
        Value::String(s) => substitute_str(s, vars),
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, vars)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), substitute(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// [`substitute`] on one string.
pub fn substitute_str(s: &str, vars: &Vars) -> Value {
    if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}'))
        && identifier_len(name) == name.len()
        && !name.is_empty()
        && let Some(v) = vars.get(name)
    {
        return v.clone();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let (name, written) = match after.strip_prefix('{') {
            Some(inner) => {
                let n = identifier_len(inner);
                match inner[n..].starts_with('}') {
                    true if n > 0 => (&inner[..n], n + 3),
                    _ => ("", 1),
                }
            }
            None => {
                let n = identifier_len(after);
                (&after[..n], n + 1)
            }
        };
        match vars.get(name).filter(|_| !name.is_empty()) {
            Some(v) => out.push_str(&pyvalue::str(v)),
            None => out.push_str(&rest[at..at + written]),
        }
        rest = &rest[at + written..];
    }
    out.push_str(rest);
    Value::String(out)
}

/// The length of the ASCII identifier (`[_a-zA-Z][_a-zA-Z0-9]*`) at the start of `s`.
fn identifier_len(s: &str) -> usize {
    let b = s.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => b
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
            .count(),
        _ => 0,
    }
}
