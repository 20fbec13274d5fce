//! Checks: one gate that passes, fails or errors. The common currency of inspections now and of
//! drills (steady state, abort conditions) and plans (gates) next: features compose these
//! values and hand them to acmangkut's one evaluator (`engine::checks`), never re-implement them.
//!
//! A check is a value: a probe run by pageinspect (page, TCP, DNS, TLS), a PromQL query against
//! a configured Prometheus, a read-only SQL query against a configured data source, or an
//! allow-listed command. Data sources are named, not embedded: credentials live in acmangkut's
//! config, so rules can be kept in git and applied to several environments.

use crate::probe::{ProbeKind, ProbeSpec};
use crate::problem::ApiError;
use serde::{Deserialize, Serialize};

pub const MAX_QUERY_LEN: usize = 8192;
pub const MAX_ARGS: usize = crate::action::MAX_ARGS;
pub const MAX_CHECK_TIMEOUT_MS: u64 = 300_000;
pub const DEFAULT_CHECK_TIMEOUT_MS: u64 = 10_000;
/// Evidence kept per finding (query output excerpt, command output).
pub const MAX_EVIDENCE_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum Check {
    /// Sent to pageinspect (`http`, `browser`, `tcp`, `dns`, `tls`).
    Probe(ProbeSpec),
    Promql(PromqlCheck),
    Sql(SqlCheck),
    Command(CommandCheck),
}

impl Check {
    /// Checks what serde cannot; `prefix` names the field (`params.`).
    pub fn validate(&self, prefix: &str) -> Result<(), ApiError> {
        let f = |name: &str| format!("{prefix}{name}");
        match self {
            Self::Probe(p) => p.validate(prefix).map(drop),
            Self::Promql(p) => {
                source_name(&p.source, &f("source"))?;
                query_text(&p.query, &f("query"))?;
                timeout(p.timeout_ms, &f("timeout_ms"))?;
                Threshold::parse(&p.condition).map_err(|e| ApiError::invalid(f("condition"), e))?;
                Ok(())
            }
            Self::Sql(s) => {
                source_name(&s.source, &f("source"))?;
                query_text(&s.query, &f("query"))?;
                timeout(s.timeout_ms, &f("timeout_ms"))?;
                Threshold::parse(&s.condition).map_err(|e| ApiError::invalid(f("condition"), e))?;
                Ok(())
            }
            Self::Command(c) => {
                if c.host
                    .as_ref()
                    .is_some_and(|h| h.trim().is_empty() || h.len() > 256)
                {
                    return Err(ApiError::invalid(
                        f("host"),
                        "must name a host in executor.hosts (or be left out: run here)",
                    ));
                }
                if c.command.trim().is_empty() || c.command.len() > 256 {
                    return Err(ApiError::invalid(
                        f("command"),
                        "must name an allow-listed executable",
                    ));
                }
                if c.args.len() > MAX_ARGS || c.args.iter().any(|a| a.len() > 4096) {
                    return Err(ApiError::invalid(
                        f("args"),
                        format!("at most {MAX_ARGS} arguments of up to 4096 bytes"),
                    ));
                }
                timeout(c.timeout_ms, &f("timeout_ms"))?;
                if let Some(cond) = &c.output_condition {
                    Threshold::parse(cond)
                        .map_err(|e| ApiError::invalid(f("output_condition"), e))?;
                }
                Ok(())
            }
        }
    }

    /// What the check looks at, for reports: the probe's target, the query, the command.
    pub fn subject(&self) -> String {
        match self {
            Self::Probe(p) => format!("{} {}", p.kind.as_str(), p.target),
            Self::Promql(p) => format!("promql[{}] {}", p.source, p.query),
            Self::Sql(s) => format!("sql[{}] {}", s.source, s.query),
            Self::Command(c) => crate::action::Action::Command(c.action()).summary(),
        }
    }

    pub fn timeout_ms(&self) -> u64 {
        match self {
            Self::Probe(p) => p.timeout_ms * (1 + u64::from(p.retries)),
            Self::Promql(p) => p.timeout_ms,
            Self::Sql(s) => s.timeout_ms,
            Self::Command(c) => c.timeout_ms,
        }
    }
}

fn source_name(s: &str, field: &str) -> Result<(), ApiError> {
    if s.is_empty()
        || s.len() > 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
    {
        return Err(ApiError::invalid(
            field,
            "must name a configured source (1-64 characters of a-z, 0-9, '-', '_')",
        ));
    }
    Ok(())
}

fn query_text(q: &str, field: &str) -> Result<(), ApiError> {
    if q.trim().is_empty() || q.len() > MAX_QUERY_LEN {
        return Err(ApiError::invalid(
            field,
            format!("must be 1 to {MAX_QUERY_LEN} characters"),
        ));
    }
    Ok(())
}

fn timeout(ms: u64, field: &str) -> Result<(), ApiError> {
    if ms == 0 || ms > MAX_CHECK_TIMEOUT_MS {
        return Err(ApiError::invalid(
            field,
            format!("must be between 1 and {MAX_CHECK_TIMEOUT_MS}"),
        ));
    }
    Ok(())
}

fn default_source() -> String {
    "default".into()
}

fn default_timeout() -> u64 {
    DEFAULT_CHECK_TIMEOUT_MS
}

/// An instant PromQL query; every returned sample must satisfy `condition` (`< 0.9`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromqlCheck {
    /// Name of a Prometheus in `inspection.prometheus` (default `default`).
    #[serde(default = "default_source")]
    pub source: String,
    pub query: String,
    /// `OP NUMBER` (`> 0`, `<= 0.9`, `== 1`) applied to each sample.
    pub condition: String,
    /// What an empty result means (default `fail`: the thing measured is missing).
    #[serde(default)]
    pub on_empty: OnEmpty,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

/// A read-only SQL query; `condition` applies to the first column of the first row, or to the
/// number of rows when `subject` is `row_count`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlCheck {
    /// Name of a data source in `inspection.datasources` (PostgreSQL or MySQL/MariaDB).
    #[serde(default = "default_source")]
    pub source: String,
    pub query: String,
    pub condition: String,
    #[serde(default)]
    pub subject: SqlSubject,
    #[serde(default)]
    pub on_empty: OnEmpty,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SqlSubject {
    #[default]
    Value,
    RowCount,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnEmpty {
    Pass,
    #[default]
    Fail,
    Error,
}

/// An allow-listed executable run by acmangkut (never through a shell), here or on `host`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandCheck {
    /// Run on this host over SSH (a name in `executor.hosts`, which lists what may run there);
    /// left out: run by acmangkut itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// A name listed in `inspection.commands`, or in the host's `commands`.
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// The exit code that passes (default 0).
    #[serde(default)]
    pub expect_exit_code: i32,
    /// stdout must contain this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_contains: Option<String>,
    /// stdout must not contain this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_not_contains: Option<String>,
    /// `OP VALUE` applied to the trimmed stdout (a number, or text for `==`/`!=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_condition: Option<String>,
}

impl CommandCheck {
    /// The same argv as an action, for the executor: `ssh` on its host, else `command`. A
    /// check only looks, so running it again is harmless (`idempotent`).
    pub fn action(&self) -> crate::action::CommandAction {
        crate::action::CommandAction {
            host: self.host.clone(),
            command: self.command.clone(),
            args: self.args.clone(),
            expect_exit_code: self.expect_exit_code,
            timeout_ms: self.timeout_ms,
            idempotent: true,
        }
    }
}

/// pass / fail / error: `fail` means the thing inspected is wrong, `error` that the check could
/// not tell (data source down, timeout, bad query).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Pass,
    Fail,
    Error,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pass" => Some(Self::Pass),
            "fail" => Some(Self::Fail),
            "error" => Some(Self::Error),
            _ => None,
        }
    }
}

/// What one evaluation found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckOutcome {
    pub status: CheckStatus,
    /// The value observed (a sample, a first column, an exit code, a status code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Why, for a human: the probe's failure, the query output excerpt, the command's output.
    pub evidence: String,
    pub duration_ms: u64,
}

impl CheckOutcome {
    pub fn error(evidence: impl Into<String>, duration_ms: u64) -> Self {
        Self {
            status: CheckStatus::Error,
            value: None,
            evidence: excerpt(&evidence.into()),
            duration_ms,
        }
    }
}

/// Cuts `s` to [`MAX_EVIDENCE_BYTES`] on a character boundary, marking the cut.
pub fn excerpt(s: &str) -> String {
    if s.len() <= MAX_EVIDENCE_BYTES {
        return s.to_string();
    }
    let mut end = MAX_EVIDENCE_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &s[..end], s.len())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// `OP VALUE`: the threshold of PromQL, SQL and command checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub op: CmpOp,
    /// A number, or text (only with `==` and `!=`; quotes optional).
    pub number: Option<f64>,
    pub text: String,
}

impl Threshold {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (op, rest) = [
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<=", CmpOp::Le),
            (">=", CmpOp::Ge),
            ("<", CmpOp::Lt),
            (">", CmpOp::Gt),
        ]
        .iter()
        .find_map(|(p, op)| s.strip_prefix(p).map(|r| (*op, r.trim())))
        .ok_or_else(|| {
            format!("`{s}` must start with ==, !=, <, <=, > or >= followed by a value")
        })?;
        if rest.is_empty() {
            return Err(format!("`{s}` has no value after the operator"));
        }
        let number = rest.parse::<f64>().ok().filter(|n| n.is_finite());
        let text = rest
            .strip_prefix('\'')
            .and_then(|r| r.strip_suffix('\''))
            .or_else(|| rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')))
            .unwrap_or(rest)
            .to_string();
        if number.is_none() && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            return Err(format!(
                "`{rest}` is not a number; only == and != compare text"
            ));
        }
        Ok(Self { op, number, text })
    }

    /// Whether `observed` satisfies the threshold. Numbers compare numerically when both sides
    /// are numbers; otherwise `==`/`!=` compare text and the ordering operators fail.
    pub fn holds(&self, observed: &str) -> bool {
        let observed = observed.trim();
        match (self.number, observed.parse::<f64>().ok()) {
            (Some(want), Some(got)) if !got.is_nan() => match self.op {
                CmpOp::Eq => got == want,
                CmpOp::Ne => got != want,
                CmpOp::Lt => got < want,
                CmpOp::Le => got <= want,
                CmpOp::Gt => got > want,
                CmpOp::Ge => got >= want,
            },
            _ => match self.op {
                CmpOp::Eq => observed == self.text,
                CmpOp::Ne => observed != self.text,
                _ => false,
            },
        }
    }
}

/// The kinds of inspection plugin: each builds one kind of [`Check`] from a rule's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PluginKind {
    /// HTTP or browser page probe through pageinspect.
    PageProbe,
    Tcp,
    Dns,
    Tls,
    Promql,
    Sql,
    Command,
}

impl PluginKind {
    pub const ALL: [PluginKind; 7] = [
        Self::PageProbe,
        Self::Tcp,
        Self::Dns,
        Self::Tls,
        Self::Promql,
        Self::Sql,
        Self::Command,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PageProbe => "page_probe",
            Self::Tcp => "tcp",
            Self::Dns => "dns",
            Self::Tls => "tls",
            Self::Promql => "promql",
            Self::Sql => "sql",
            Self::Command => "command",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The JSON schema of this kind's parameters (from the same types that parse them).
    pub fn schema(self) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::PartialSchema;
        match self {
            Self::PageProbe | Self::Tcp | Self::Dns | Self::Tls => ProbeSpec::schema(),
            Self::Promql => PromqlCheck::schema(),
            Self::Sql => SqlCheck::schema(),
            Self::Command => CommandCheck::schema(),
        }
    }

    /// Builds the check from parameters (a JSON object), naming the offending parameter as
    /// `{prefix}{path}` on error. Structure only: [`Check::validate`] checks the values.
    pub fn check(self, params: &serde_json::Value, prefix: &str) -> Result<Check, ApiError> {
        let serde_json::Value::Object(map) = params else {
            return Err(ApiError::invalid(
                prefix.trim_end_matches('.'),
                "must be an object",
            ));
        };
        let mut map = map.clone();
        let probe_kind = match self {
            Self::PageProbe => Some(ProbeKind::Http),
            Self::Tcp => Some(ProbeKind::Tcp),
            Self::Dns => Some(ProbeKind::Dns),
            Self::Tls => Some(ProbeKind::Tls),
            _ => None,
        };
        if let Some(k) = probe_kind {
            map.entry("kind")
                .or_insert_with(|| serde_json::Value::String(k.as_str().into()));
        }
        let value = serde_json::Value::Object(map);
        let named = |e: serde_path_to_error::Error<serde_json::Error>| {
            let path = e.path().to_string();
            let detail = e.into_inner().to_string();
            let field = match crate::extract::field_path(&path, &detail) {
                Some(f) => format!("{prefix}{f}"),
                None => prefix.trim_end_matches('.').to_string(),
            };
            ApiError::invalid(field, detail)
        };
        let check = match self {
            Self::Promql => Check::Promql(serde_path_to_error::deserialize(&value).map_err(named)?),
            Self::Sql => Check::Sql(serde_path_to_error::deserialize(&value).map_err(named)?),
            Self::Command => {
                Check::Command(serde_path_to_error::deserialize(&value).map_err(named)?)
            }
            _ => {
                let spec: ProbeSpec = serde_path_to_error::deserialize(&value).map_err(named)?;
                let allowed = match self {
                    Self::PageProbe => matches!(spec.kind, ProbeKind::Http | ProbeKind::Browser),
                    _ => Some(spec.kind) == probe_kind,
                };
                if !allowed {
                    return Err(ApiError::invalid(
                        format!("{prefix}kind"),
                        format!(
                            "a {} plugin runs {} probes",
                            self.as_str(),
                            if self == Self::PageProbe {
                                "http or browser".to_string()
                            } else {
                                probe_kind.map(ProbeKind::as_str).unwrap_or("").to_string()
                            }
                        ),
                    ));
                }
                Check::Probe(spec)
            }
        };
        Ok(check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thresholds_parse_and_compare() {
        let t = Threshold::parse("< 0.9").expect("parses");
        assert!(t.holds("0.5") && !t.holds("0.9") && !t.holds("abc"));
        let t = Threshold::parse("== 'ok'").expect("parses");
        assert!(t.holds(" ok ") && !t.holds("nok"));
        let t = Threshold::parse(">=3").expect("parses");
        assert!(t.holds("3") && t.holds("3.5") && !t.holds("2"));
        assert!(Threshold::parse("> abc").is_err());
        assert!(Threshold::parse("0.5").is_err());
        assert!(Threshold::parse("<").is_err());
        assert!(Threshold::parse("== NaN").expect("text").holds("NaN"));
    }

    #[test]
    fn plugin_params_name_the_bad_parameter() {
        let e = PluginKind::Promql
            .check(&json!({"query": "up", "condition": 1}), "params.")
            .expect_err("bad type");
        assert_eq!(e.field.as_deref(), Some("params.condition"));
        let e = PluginKind::Tcp
            .check(&json!({"target": "h:1", "kind": "http"}), "params.")
            .expect_err("wrong kind");
        assert_eq!(e.field.as_deref(), Some("params.kind"));
        let e = PluginKind::Sql
            .check(
                &json!({"query": "select 1", "condition": "> 0", "x": 1}),
                "params.",
            )
            .expect_err("unknown");
        assert_eq!(e.field.as_deref(), Some("params.x"));
        let c = PluginKind::PageProbe
            .check(&json!({"target": "http://a/"}), "params.")
            .expect("defaults to http");
        assert!(matches!(c, Check::Probe(ref p) if p.kind == ProbeKind::Http));
        c.validate("params.").expect("valid");
        let c = PluginKind::Promql
            .check(&json!({"query": "up", "condition": "~ 1"}), "params.")
            .expect("structure ok");
        assert_eq!(
            c.validate("params.").expect_err("bad").field.as_deref(),
            Some("params.condition")
        );
    }

    #[test]
    fn checks_round_trip_as_tagged_values() {
        let c = PluginKind::Command
            .check(&json!({"command": "df", "args": ["-h"]}), "")
            .expect("ok");
        let v = serde_json::to_value(&c).expect("ser");
        assert_eq!(v["check"], "command");
        assert_eq!(
            v.get("host"),
            None,
            "no host: runs here, and says nothing about it"
        );
        assert_eq!(serde_json::from_value::<Check>(v).expect("de"), c);
        let c = PluginKind::Command
            .check(
                &json!({"host": "db-1", "command": "df", "args": ["-h"]}),
                "",
            )
            .expect("ok");
        assert_eq!(c.subject(), "db-1: df -h");
        let v = serde_json::to_value(&c).expect("ser");
        assert_eq!(serde_json::from_value::<Check>(v).expect("de"), c);
        let c = PluginKind::Command
            .check(&json!({"host": " ", "command": "df"}), "params.")
            .expect("structure ok");
        let e = c.validate("params.").expect_err("blank host");
        assert_eq!(e.field.as_deref(), Some("params.host"));
    }

    #[test]
    fn excerpts_cut_on_char_boundaries() {
        let s = "界".repeat(MAX_EVIDENCE_BYTES);
        let e = excerpt(&s);
        assert!(e.len() < s.len() && e.contains("bytes in all"));
    }

    proptest::proptest! {
        #[test]
        fn threshold_parse_never_panics(s in ".{0,40}", v in ".{0,20}") {
            if let Ok(t) = Threshold::parse(&s) {
                let _ = t.holds(&v);
            }
        }

        #[test]
        fn numeric_thresholds_agree_with_f64(a in -1e6f64..1e6, b in -1e6f64..1e6) {
            let t = Threshold::parse(&format!("< {b}")).expect("parses");
            proptest::prop_assert_eq!(t.holds(&a.to_string()), a < b);
        }
    }
}
