//! Atomic operations (原子操作): the catalog of reusable, parameterised actions that plans
//! (`kind: plan`) and fault drills (`kind: fault`: inject = `do`, recover = `undo`) reference by
//! a stable `code` such as `db.promote-standby`.
//!
//! An operation declares typed [`Param`]s; its `do` and optional `undo` [`Action`]s use them as
//! template variables (`{{ standby }}`), plus secrets by name (`{{ secret.NAME }}`), nothing
//! else. [`parameters_schema`] turns the parameters into a JSON schema (what the API shows and
//! what editors complete against) and [`check_values`] checks a map of values against them on
//! use, naming the offending value `parameters.<name>`.
//!
//! Lifecycle: `draft → published → deprecated` ([`OperationStatus::transition`]). Each change of
//! the document adds a version; a plan version pins the operation versions it uses. Only a
//! published operation may be newly referenced; a deprecated one keeps serving the plan versions
//! that already pin it; a referenced one cannot be deleted.
//!
//! Parameter types (`type`), each with the JSON a value takes:
//! - `string`: any text (at most [`MAX_VALUE_LEN`] bytes, no NUL);
//! - `integer`: a whole number (`3`; the string `"3"` also reads, since templated values
//!   render to text);
//! - `number`: a finite number (`0.5`, `"0.5"`);
//! - `boolean`: `true` / `false` (or the strings `"true"` / `"false"`);
//! - `duration`: a string of whole numbers with units `ms`, `s`, `m`, `h`, `d`: `250ms`, `90s`,
//!   `1h30m` ([`parse_duration`]);
//! - `host`: the name of a host in acmangkut's `executor.hosts` (`db-2`): a-z, A-Z, 0-9, `-`,
//!   `_`, `.`; whether the host exists is for acmangkut to say;
//! - `url`: an absolute `http://` or `https://` URL.

use crate::action::{Action, DEFAULT_ACTION_TIMEOUT_MS, MAX_ACTION_TIMEOUT_MS, MAX_URL_LEN};
use crate::inspection::{validate_name, validate_text};
use crate::problem::{ApiError, ErrorCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const MAX_CODE_LEN: usize = 100;
pub const MAX_PARAMS: usize = 64;
pub const MAX_PARAM_NAME: usize = 64;
/// The longest string value a parameter takes.
pub const MAX_VALUE_LEN: usize = 8192;
/// [`validate_code`] as a JSON Schema `pattern` (with `maxLength` [`MAX_CODE_LEN`]).
pub const CODE_PATTERN: &str = r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$";
/// [`validate_param_name`] as a JSON Schema `pattern`.
pub const PARAM_NAME_PATTERN: &str = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$";
/// [`parse_duration`] as a JSON Schema `pattern`.
pub const DURATION_PATTERN: &str = r"^([0-9]+(ms|s|m|h|d))+$";
/// A `host` value as a JSON Schema `pattern`.
pub const HOST_PATTERN: &str = r"^[A-Za-z0-9._-]{1,256}$";

/// Codes: 1-100 characters; dot-separated segments that start with a lower-case letter and go
/// on with a-z, 0-9, `-`, `_` ([`CODE_PATTERN`]): `db.promote-standby`, `net.drop_packets`.
/// A code never changes once created: plans refer to it.
pub fn validate_code(code: &str, field: &str) -> Result<(), ApiError> {
    let segment = |s: &str| {
        let mut b = s.bytes();
        b.next().is_some_and(|c| c.is_ascii_lowercase())
            && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
    };
    if code.is_empty() || code.len() > MAX_CODE_LEN || !code.split('.').all(segment) {
        return Err(ApiError::invalid(
            field,
            format!(
                "must be 1 to {MAX_CODE_LEN} characters: dot-separated segments of a-z, 0-9, \
                 '-', '_', each starting with a letter (`db.promote-standby`)"
            ),
        ));
    }
    Ok(())
}

/// Parameter names are template variables: a letter or `_`, then letters, digits, `_`; at most
/// [`MAX_PARAM_NAME`] characters ([`PARAM_NAME_PATTERN`]).
pub fn validate_param_name(name: &str, field: &str) -> Result<(), ApiError> {
    let mut b = name.bytes();
    let ok = name.len() <= MAX_PARAM_NAME
        && b.next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_');
    if !ok {
        return Err(ApiError::invalid(
            field,
            format!(
                "must be 1 to {MAX_PARAM_NAME} characters of a-z, A-Z, 0-9, '_', not starting \
                 with a digit"
            ),
        ));
    }
    Ok(())
}

/// Reads `250ms`, `90s`, `1h30m`, `2d` as milliseconds; `None` when it is not one or overflows.
pub fn parse_duration(s: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            let factor = match rest.bytes().next()? {
                b's' => 1_000,
                b'm' => 60_000,
                b'h' => 3_600_000,
                b'd' => 86_400_000,
                _ => return None,
            };
            (factor, 1)
        };
        rest = &rest[len..];
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    Some(total)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// A step of a disaster-recovery plan; `undo` is its compensation on rollback.
    Plan,
    /// A fault of a drill: `do` injects it, `undo` (required) recovers from it.
    Fault,
}

impl OperationKind {
    pub const ALL: [OperationKind; 2] = [Self::Plan, Self::Fault];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plan => "plan",
            Self::Fault => "fault",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// `draft → published → deprecated`, one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OperationStatus {
    /// Being written: changes add versions; nothing may reference it yet.
    Draft,
    /// New plan versions may pin any of its versions (the latest by default); changes still add
    /// versions, which pinned plan versions do not see.
    Published,
    /// Kept for the plan versions that pin it; no new references, no changes.
    Deprecated,
}

impl OperationStatus {
    pub const ALL: [OperationStatus; 3] = [Self::Draft, Self::Published, Self::Deprecated];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Deprecated => "deprecated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The one allowed step from `self` to `next`.
    pub fn can_become(self, next: Self) -> bool {
        matches!(
            (self, next),
            (Self::Draft, Self::Published) | (Self::Published, Self::Deprecated)
        )
    }

    /// [`Self::can_become`] as an answer: a 409 naming `status` when the step is not allowed.
    pub fn transition(self, next: Self) -> Result<Self, ApiError> {
        if self.can_become(next) {
            return Ok(next);
        }
        Err(ApiError::field(
            ErrorCode::Conflict,
            "status",
            format!(
                "a {} operation cannot become {} (draft → published → deprecated)",
                self.as_str(),
                next.as_str()
            ),
        ))
    }

    /// New references (a plan version being saved) may name it.
    pub fn referenceable(self) -> bool {
        self == Self::Published
    }

    /// Its document may change (adding a version).
    pub fn editable(self) -> bool {
        self != Self::Deprecated
    }
}

/// The type of a parameter's value; see the module documentation for what each accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    String,
    Integer,
    Number,
    Boolean,
    Duration,
    Host,
    Url,
}

impl ParamType {
    pub const ALL: [ParamType; 7] = [
        Self::String,
        Self::Integer,
        Self::Number,
        Self::Boolean,
        Self::Duration,
        Self::Host,
        Self::Url,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Duration => "duration",
            Self::Host => "host",
            Self::Url => "url",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The JSON schema of one value (without description or default).
    pub fn schema(self) -> Value {
        match self {
            Self::String => json!({"type": "string", "maxLength": MAX_VALUE_LEN}),
            Self::Integer => json!({"type": "integer"}),
            Self::Number => json!({"type": "number"}),
            Self::Boolean => json!({"type": "boolean"}),
            Self::Duration => json!({"type": "string", "pattern": DURATION_PATTERN,
                "description": "whole numbers with units ms, s, m, h, d: 90s, 1h30m"}),
            Self::Host => json!({"type": "string", "pattern": HOST_PATTERN,
                "description": "a host named in executor.hosts"}),
            Self::Url => json!({"type": "string", "format": "uri", "pattern": "^https?://",
                "maxLength": MAX_URL_LEN}),
        }
    }

    /// Checks `v` and returns it in its canonical JSON form (`"3"` → `3` for an integer);
    /// the error is the reason, for the caller to attach to a field.
    pub fn read(self, v: &Value) -> Result<Value, String> {
        let text = v.as_str();
        let want = |what: &str| Err(format!("must be {what}"));
        match self {
            Self::String => match text {
                Some(s) if s.len() <= MAX_VALUE_LEN && !s.contains('\0') => Ok(v.clone()),
                _ => want(&format!(
                    "a string of at most {MAX_VALUE_LEN} bytes, no NUL"
                )),
            },
            Self::Integer => {
                let n = match (v, text) {
                    (Value::Number(n), _) => n.as_i64(),
                    (_, Some(s)) => s.trim().parse::<i64>().ok(),
                    _ => None,
                };
                match n {
                    Some(n) => Ok(Value::from(n)),
                    None => want("an integer"),
                }
            }
            Self::Number => {
                let n = match (v, text) {
                    (Value::Number(n), _) => n.as_f64(),
                    (_, Some(s)) => s.trim().parse::<f64>().ok(),
                    _ => None,
                };
                match n
                    .filter(|f| f.is_finite())
                    .and_then(serde_json::Number::from_f64)
                {
                    // Keep integers as written (`3`, not `3.0`).
                    Some(_) if v.is_number() => Ok(v.clone()),
                    Some(n) => Ok(Value::Number(n)),
                    None => want("a finite number"),
                }
            }
            Self::Boolean => match (v, text) {
                (Value::Bool(_), _) => Ok(v.clone()),
                (_, Some("true")) => Ok(Value::Bool(true)),
                (_, Some("false")) => Ok(Value::Bool(false)),
                _ => want("true or false"),
            },
            Self::Duration => match text {
                Some(s) if parse_duration(s).is_some() => Ok(v.clone()),
                _ => want("a duration such as 90s, 5m or 1h30m"),
            },
            Self::Host => match text {
                Some(s) if valid_host(s) => Ok(v.clone()),
                _ => want("a host name of executor.hosts (a-z, A-Z, 0-9, '-', '_', '.')"),
            },
            Self::Url => match text {
                Some(s) if s.len() <= MAX_URL_LEN && valid_url(s) => Ok(v.clone()),
                _ => want("an absolute http:// or https:// URL"),
            },
        }
    }
}

fn valid_host(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn valid_url(s: &str) -> bool {
    url::Url::parse(s)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// One typed parameter of an operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Param {
    /// The template variable the actions use (`{{ standby }}`): [`PARAM_NAME_PATTERN`].
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// A value must be given on use. A parameter with a `default` is never missing, so it
    /// cannot also be required.
    #[serde(default)]
    pub required: bool,
    /// Used when no value is given; must be a value of `type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

impl Param {
    /// `field` names the parameter (`parameters[2]`).
    pub fn validate(&self, field: &str) -> Result<(), ApiError> {
        validate_param_name(&self.name, &format!("{field}.name"))?;
        validate_text(&self.description, &format!("{field}.description"))?;
        if let Some(d) = &self.default {
            if self.required {
                return Err(ApiError::invalid(
                    format!("{field}.required"),
                    "a parameter with a default is never missing: drop `required` or the default",
                ));
            }
            self.kind
                .read(d)
                .map_err(|why| ApiError::invalid(format!("{field}.default"), why))?;
        }
        Ok(())
    }
}

/// The JSON schema (an object, draft 2020-12 vocabulary) of the parameter values `params`
/// accept: their types, descriptions and defaults, which are required, and no other names.
pub fn parameters_schema(params: &[Param]) -> Value {
    let mut properties = Map::new();
    for p in params {
        let mut s = p.kind.schema();
        if let Some(o) = s.as_object_mut() {
            o.insert("x-type".into(), p.kind.as_str().into());
            if !p.description.is_empty() {
                o.insert("description".into(), p.description.clone().into());
            }
            if let Some(d) = &p.default {
                o.insert("default".into(), d.clone());
            }
        }
        properties.insert(p.name.clone(), s);
    }
    let required: Vec<&str> = params
        .iter()
        .filter(|p| p.required)
        .map(|p| p.name.as_str())
        .collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// Checks `values` against `params`: every name declared, every value of its type, every
/// required one given. Errors name `{prefix}<name>` (`parameters.standby`). Returns the values
/// to use: canonical ([`ParamType::read`]), with defaults filled in; an optional parameter
/// without value or default is absent (see [`template_vars`]).
pub fn check_values(
    params: &[Param],
    values: &Map<String, Value>,
    prefix: &str,
) -> Result<BTreeMap<String, Value>, ApiError> {
    if let Some(unknown) = values
        .keys()
        .find(|k| !params.iter().any(|p| &p.name == *k))
    {
        return Err(ApiError::invalid(
            format!("{prefix}{unknown}"),
            format!("the operation has no parameter `{unknown}`"),
        ));
    }
    let mut out = BTreeMap::new();
    for p in params {
        let field = || format!("{prefix}{}", p.name);
        match (values.get(&p.name), &p.default) {
            (Some(v), _) => {
                let v = p
                    .kind
                    .read(v)
                    .map_err(|why| ApiError::invalid(field(), why))?;
                out.insert(p.name.clone(), v);
            }
            (None, Some(d)) => {
                out.insert(p.name.clone(), d.clone());
            }
            (None, None) if p.required => {
                return Err(ApiError::invalid(field(), "is required"));
            }
            (None, None) => {}
        }
    }
    Ok(out)
}

/// Template variables for the actions from values [`check_values`] returned: strings as they
/// are, other values as JSON text (`3`, `true`); an optional parameter without a value is the
/// empty string.
pub fn template_vars(
    params: &[Param],
    values: &BTreeMap<String, Value>,
) -> BTreeMap<String, String> {
    params
        .iter()
        .map(|p| {
            let text = match values.get(&p.name) {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            };
            (p.name.clone(), text)
        })
        .collect()
}

fn default_timeout_ms() -> u64 {
    DEFAULT_ACTION_TIMEOUT_MS
}

/// An operation document: what is created, changed (adding a version) and pinned by plans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationInput {
    /// Unique and stable ([`CODE_PATTERN`]): `db.promote-standby`.
    #[schema(max_length = 100, pattern = "^[a-z][a-z0-9_-]*(\\.[a-z][a-z0-9_-]*)*$")]
    pub code: String,
    /// 1-100 characters, no control characters, no spaces at either end.
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub kind: OperationKind,
    /// Typed parameters; the actions use them as `{{ name }}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Param>,
    /// What the operation does (a fault: the injection).
    #[serde(rename = "do")]
    pub do_action: Action,
    /// What reverses it: a plan's compensation on rollback; a fault's recovery (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<Action>,
    /// The time a step using the operation gets unless it says otherwise (an attempt of the
    /// action is also bounded by the action's own `timeout_ms`).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

impl OperationInput {
    /// Everything serde cannot check, the first mistake named by its field path
    /// (`parameters[1].default`, `undo.url`).
    pub fn validate(&self) -> Result<(), ApiError> {
        validate_code(&self.code, "code")?;
        validate_name(&self.name, "name")?;
        validate_text(&self.description, "description")?;
        if self.parameters.len() > MAX_PARAMS {
            return Err(ApiError::invalid(
                "parameters",
                format!("at most {MAX_PARAMS} parameters"),
            ));
        }
        for (i, p) in self.parameters.iter().enumerate() {
            let field = format!("parameters[{i}]");
            p.validate(&field)?;
            if self.parameters[..i].iter().any(|o| o.name == p.name) {
                return Err(ApiError::invalid(
                    format!("{field}.name"),
                    format!("`{}` is declared twice", p.name),
                ));
            }
        }
        self.do_action.validate("do.")?;
        self.uses_only_parameters(&self.do_action, "do")?;
        match (&self.undo, self.kind) {
            (Some(undo), _) => {
                undo.validate("undo.")?;
                self.uses_only_parameters(undo, "undo")?;
            }
            (None, OperationKind::Fault) => {
                return Err(ApiError::invalid(
                    "undo",
                    "a fault needs an undo action: the recovery",
                ));
            }
            (None, OperationKind::Plan) => {}
        }
        if self.timeout_ms == 0 || self.timeout_ms > MAX_ACTION_TIMEOUT_MS {
            return Err(ApiError::invalid(
                "timeout_ms",
                format!("must be between 1 and {MAX_ACTION_TIMEOUT_MS}"),
            ));
        }
        Ok(())
    }

    /// An action's templates name only parameters and `secret.*`; `field` is `do` or `undo`.
    fn uses_only_parameters(&self, action: &Action, field: &str) -> Result<(), ApiError> {
        let value = serde_json::to_value(action).unwrap_or_default();
        let at = |path: String| format!("{field}.{path}");
        let used = crate::template::json_variables(&value)
            .map_err(|(path, e)| ApiError::invalid(at(path), e.to_string()))?;
        let mut known: BTreeMap<String, String> = self
            .parameters
            .iter()
            .map(|p| (p.name.clone(), String::new()))
            .collect();
        for s in used.into_iter().filter(|v| v.starts_with("secret.")) {
            known.insert(s, String::new());
        }
        crate::template::render_json(&value, &known).map_err(|(path, e)| {
            let why = match e {
                crate::template::TemplateError::Unknown { name } => format!(
                    "uses `{{{{ {name} }}}}`, which is neither a parameter nor `secret.NAME`"
                ),
                other => other.to_string(),
            };
            ApiError::invalid(at(path), why)
        })?;
        Ok(())
    }

    /// [`parameters_schema`] of this operation.
    pub fn parameters_schema(&self) -> Value {
        parameters_schema(&self.parameters)
    }

    /// [`check_values`] against this operation's parameters.
    pub fn check_values(
        &self,
        values: &Map<String, Value>,
        prefix: &str,
    ) -> Result<BTreeMap<String, Value>, ApiError> {
        check_values(&self.parameters, values, prefix)
    }
}

/// An operation as the catalog lists it: its latest document, status and counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Operation {
    pub id: i64,
    #[serde(flatten)]
    pub input: OperationInput,
    pub status: OperationStatus,
    /// The latest version; starts at 1, each change adds one.
    pub version: i32,
    /// Plan versions that pin any version of it.
    pub references: i64,
    /// JSON schema of the parameter values ([`parameters_schema`]).
    #[schema(value_type = Object)]
    pub parameters_schema: Value,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated_by: Option<String>,
}

/// One version of an operation's document, as a plan version pins it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OperationVersion {
    pub code: String,
    pub version: i32,
    pub operation: OperationInput,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// A plan version that pins a version of an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OperationReference {
    pub plan_name: String,
    pub plan_version: i32,
    pub operation_version: i32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn promote() -> Value {
        json!({
            "code": "db.promote-standby",
            "name": "Promote the standby",
            "kind": "plan",
            "parameters": [
                {"name": "standby", "type": "host", "required": true},
                {"name": "wait", "type": "duration", "default": "30s"},
                {"name": "api", "type": "url", "default": "http://127.0.0.1:9/x"}
            ],
            "do": {"action": "ssh", "host": "{{ standby }}", "command": "pg_ctl",
                "args": ["promote", "-t", "{{ wait }}"]},
            "undo": {"action": "http", "method": "POST", "url": "{{ api }}/demote",
                "headers": {"Authorization": "Bearer {{ secret.token }}"}}
        })
    }

    fn parse(v: Value) -> OperationInput {
        serde_json::from_value(v).expect("a document")
    }

    #[test]
    fn a_document_reads_with_its_defaults_and_validates() {
        let op = parse(promote());
        op.validate().expect("valid");
        assert_eq!(op.timeout_ms, DEFAULT_ACTION_TIMEOUT_MS);
        assert_eq!(op.description, "");
        let written = serde_json::to_value(&op).expect("serialises");
        assert_eq!(written["do"]["action"], "ssh");
        assert_eq!(parse(written), op);
    }

    #[test]
    fn each_mistake_names_its_field() {
        let with = |path: &[&str], v: Value| {
            let mut doc = promote();
            let mut at = &mut doc;
            for (i, k) in path.iter().enumerate() {
                if i + 1 == path.len() {
                    at[*k] = v.clone();
                } else if let Ok(n) = k.parse::<usize>() {
                    at = &mut at[n];
                } else {
                    at = &mut at[*k];
                }
            }
            doc
        };
        let cases = [
            (with(&["code"], json!("DB.Promote")), "code"),
            (with(&["code"], json!("db..promote")), "code"),
            (with(&["code"], json!("db.1promote")), "code"),
            (with(&["name"], json!(" ")), "name"),
            (
                with(&["parameters", "0", "name"], json!("1st")),
                "parameters[0].name",
            ),
            (
                with(&["parameters", "1", "name"], json!("standby")),
                "parameters[1].name",
            ),
            (
                with(&["parameters", "1", "default"], json!("soon")),
                "parameters[1].default",
            ),
            (
                with(&["parameters", "1", "required"], json!(true)),
                "parameters[1].required",
            ),
            (
                with(&["parameters", "2", "default"], json!("ftp://x")),
                "parameters[2].default",
            ),
            (with(&["do", "args"], json!(["{{ nope }}"])), "do.args[0]"),
            (with(&["do", "command"], json!("")), "do.command"),
            (with(&["undo", "url"], json!("{{ api }/x")), "undo.url"),
            (with(&["kind"], json!("fault")).tap_remove("undo"), "undo"),
            (with(&["timeout_ms"], json!(0)), "timeout_ms"),
        ];
        for (doc, field) in cases {
            let e = parse(doc.clone()).validate().expect_err("refused");
            assert_eq!(e.field.as_deref(), Some(field), "{doc}: {}", e.detail);
        }
    }

    trait TapRemove {
        fn tap_remove(self, key: &str) -> Self;
    }

    impl TapRemove for Value {
        fn tap_remove(mut self, key: &str) -> Self {
            if let Some(o) = self.as_object_mut() {
                o.remove(key);
            }
            self
        }
    }

    #[test]
    fn values_are_checked_and_defaults_filled_in() {
        let op = parse(promote());
        let map = |v: Value| v.as_object().cloned().expect("an object");
        let got = op
            .check_values(&map(json!({"standby": "db-2"})), "parameters.")
            .expect("valid");
        assert_eq!(got["wait"], "30s");
        let vars = template_vars(&op.parameters, &got);
        assert_eq!(vars["standby"], "db-2");
        let cases = [
            (json!({}), "parameters.standby"),
            (json!({"standby": "db 2"}), "parameters.standby"),
            (
                json!({"standby": "db", "wait": "5 minutes"}),
                "parameters.wait",
            ),
            (json!({"standby": "db", "extra": 1}), "parameters.extra"),
        ];
        for (values, field) in cases {
            let e = op
                .check_values(&map(values.clone()), "parameters.")
                .expect_err("refused");
            assert_eq!(e.field.as_deref(), Some(field), "{values}: {}", e.detail);
        }
        let ints = [Param {
            name: "n".into(),
            kind: ParamType::Integer,
            required: true,
            default: None,
            description: String::new(),
        }];
        let got = check_values(&ints, &map(json!({"n": "42"})), "").expect("text reads");
        assert_eq!(got["n"], json!(42));
        assert!(check_values(&ints, &map(json!({"n": 4.5})), "").is_err());
    }

    #[test]
    fn the_schema_lists_types_defaults_and_required_names() {
        let s = parse(promote()).parameters_schema();
        assert_eq!(s["required"], json!(["standby"]));
        assert_eq!(s["properties"]["wait"]["default"], "30s");
        assert_eq!(s["properties"]["standby"]["x-type"], "host");
        assert_eq!(s["additionalProperties"], false);
    }

    #[test]
    fn status_moves_one_way() {
        use OperationStatus::*;
        assert_eq!(Draft.transition(Published).expect("publish"), Published);
        assert_eq!(
            Published.transition(Deprecated).expect("deprecate"),
            Deprecated
        );
        for (from, to) in [
            (Draft, Deprecated),
            (Published, Draft),
            (Deprecated, Published),
        ] {
            let e = from.transition(to).expect_err("refused");
            assert_eq!(
                (e.code, e.field.as_deref()),
                (ErrorCode::Conflict, Some("status"))
            );
        }
        assert!(Published.referenceable() && !Deprecated.referenceable());
        assert!(!Draft.referenceable() && !Deprecated.editable());
    }

    #[test]
    fn durations_read_in_milliseconds() {
        assert_eq!(parse_duration("250ms"), Some(250));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration("2d"), Some(172_800_000));
        for bad in ["", "5", "m", "5x", "1h 30m", "99999999999999999999s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,16}".prop_map(Value::from),
            prop_oneof![
                Just("30s"),
                Just("db-1"),
                Just("http://x/y"),
                Just("{{ p }}")
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            proptest::collection::vec(inner, 0..3).prop_map(Value::from)
        })
    }

    fn any_param() -> impl Strategy<Value = Value> {
        (
            prop_oneof![Just("p".to_string()), "[A-Za-z_0-9 ]{0,8}"],
            prop_oneof![
                Just("string"),
                Just("integer"),
                Just("number"),
                Just("boolean"),
                Just("duration"),
                Just("host"),
                Just("url"),
                Just("other")
            ],
            any::<bool>(),
            proptest::option::of(any_json()),
        )
            .prop_map(|(name, kind, required, default)| {
                let mut p = json!({"name": name, "type": kind, "required": required});
                if let Some(d) = default {
                    p["default"] = d;
                }
                p
            })
    }

    proptest! {
        /// Any document is refused by serde, or validates or not without panicking, and what
        /// we write reads back the same.
        #[test]
        fn any_document_round_trips_or_is_refused(
            code in prop_oneof![Just("db.promote".to_string()), "\\PC{0,12}"],
            kind in prop_oneof![Just("plan"), Just("fault"), Just("x")],
            params in proptest::collection::vec(any_param(), 0..4),
            url in prop_oneof![Just("http://h/{{ p }}".to_string()), "\\PC{0,16}"],
            undo in any::<bool>(),
            timeout in proptest::option::of(0u64..4_000_000),
            values in proptest::collection::btree_map("[a-z_]{1,3}|p", any_json(), 0..4),
        ) {
            let action = json!({"action": "http", "url": url});
            let mut v = json!({"code": code, "name": "n", "kind": kind, "parameters": params,
                "do": action});
            if undo {
                v["undo"] = action;
            }
            if let Some(t) = timeout {
                v["timeout_ms"] = t.into();
            }
            if let Ok(op) = serde_json::from_value::<OperationInput>(v) {
                let _ = op.validate();
                let _ = op.parameters_schema();
                let values: Map<String, Value> = values.into_iter().collect();
                if let Ok(got) = op.check_values(&values, "parameters.") {
                    let _ = template_vars(&op.parameters, &got);
                }
                let written = serde_json::to_value(&op).expect("serialises");
                let back: OperationInput =
                    serde_json::from_value(written).expect("what we write we read");
                prop_assert_eq!(back, op);
            }
        }

        #[test]
        fn reading_any_value_never_panics_and_is_stable(
            v in any_json(),
            kind in proptest::sample::select(ParamType::ALL.to_vec()),
        ) {
            if let Ok(canonical) = kind.read(&v) {
                prop_assert_eq!(kind.read(&canonical), Ok(canonical.clone()));
            }
        }

        #[test]
        fn duration_parsing_never_panics(s in "\\PC{0,12}|[0-9]{1,22}(ms|s|m|h|d|x)") {
            let _ = parse_duration(&s);
        }
    }
}
