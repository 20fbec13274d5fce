//! Actions: what changes the world. The common currency of disaster-recovery plans (operation
//! steps and their compensations), fault drills (inject and recover) and inspection scripts run
//! on a target host; features compose these values and hand them to acmangkut's one executor
//! (`engine::executor`), never run anything themselves.
//!
//! - `http`: a request (method, URL, headers, body), an expected status and optional conditions
//!   on the answer in the probe condition language;
//! - `command`: an executable allow-listed in acmangkut's config, run with its argv and no shell;
//! - `ssh`: the same, on a host named in acmangkut's config (address, user, key, pinned host
//!   key; the host lists what may run there), never on an address given here.
//!
//! Strings are templates (`{{ var }}`, [`crate::template`]); secrets are referenced by name
//! (`{{ secret.NAME }}`) and resolved by the executor, so no credential is stored with an action.
//! `idempotent: true` lets the executor re-run an action whose outcome a crash left unknown.

use crate::problem::ApiError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MAX_ACTION_TIMEOUT_MS: u64 = 3_600_000;
pub const DEFAULT_ACTION_TIMEOUT_MS: u64 = 30_000;
pub const MAX_URL_LEN: usize = 8192;
pub const MAX_BODY_LEN: usize = 256 * 1024;
pub const MAX_HEADERS: usize = 32;
pub const MAX_ARGS: usize = 64;
pub const MAX_ARG_LEN: usize = 4096;
pub const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
/// Template variables that name a secret: `{{ secret.NAME }}`.
pub const SECRET_PREFIX: &str = "secret.";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Http(HttpAction),
    Command(CommandAction),
    /// A [`CommandAction`] with its `host`.
    Ssh(CommandAction),
}

/// An HTTP request that must answer `expect_status` and satisfy `conditions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpAction {
    #[serde(default = "default_method")]
    pub method: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Statuses that count as done; empty: any 2xx.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect_status: Vec<u16>,
    /// Conditions on the answer (`[BODY].state == promoted`); all must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub idempotent: bool,
}

/// An allow-listed executable with its arguments, run without a shell: by acmangkut itself
/// (`command`) or on `host` over SSH (`ssh`, where the argv is quoted for the remote shell).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandAction {
    /// `ssh` only: a name listed in acmangkut's `executor.hosts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// A name listed in `inspection.commands` (`command`) or in the host's `commands` (`ssh`).
    pub command: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// The exit code that counts as done (default 0).
    #[serde(default)]
    pub expect_exit_code: i32,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub idempotent: bool,
}

impl Action {
    /// Checks what serde cannot; `prefix` names the field (`steps[2].do.`).
    pub fn validate(&self, prefix: &str) -> Result<(), ApiError> {
        let f = |name: &str| format!("{prefix}{name}");
        self.validate_secrets(prefix)?;
        match self {
            Self::Http(h) => {
                if !METHODS.contains(&h.method.as_str()) {
                    return Err(ApiError::invalid(
                        f("method"),
                        format!("must be one of {}", METHODS.join(", ")),
                    ));
                }
                if h.url.trim().is_empty() || h.url.len() > MAX_URL_LEN {
                    return Err(ApiError::invalid(
                        f("url"),
                        format!("must be 1 to {MAX_URL_LEN} characters"),
                    ));
                }
                // A URL may be a template (`{{ base }}/promote`): check the scheme only when
                // it is written out.
                let written_out = !h.url.starts_with("{{");
                let http = h.url.starts_with("http://") || h.url.starts_with("https://");
                if written_out && !http {
                    return Err(ApiError::invalid(f("url"), "must be an http(s) URL"));
                }
                if h.headers.len() > MAX_HEADERS {
                    return Err(ApiError::invalid(
                        f("headers"),
                        format!("at most {MAX_HEADERS} headers"),
                    ));
                }
                for (name, value) in &h.headers {
                    header(name, value, &f(&format!("headers.{name}")))?;
                }
                if h.body.as_ref().is_some_and(|b| b.len() > MAX_BODY_LEN) {
                    return Err(ApiError::invalid(
                        f("body"),
                        format!("at most {MAX_BODY_LEN} bytes"),
                    ));
                }
                if let Some(i) = h
                    .expect_status
                    .iter()
                    .position(|s| !(100..=599).contains(s))
                {
                    return Err(ApiError::invalid(
                        f(&format!("expect_status[{i}]")),
                        "must be an HTTP status between 100 and 599",
                    ));
                }
                crate::condition::parse_all(&h.conditions, &f("conditions"))?;
                timeout(h.timeout_ms, &f("timeout_ms"))
            }
            Self::Command(c) | Self::Ssh(c) => {
                match (self, &c.host) {
                    (Self::Ssh(_), Some(h)) => name(h, &f("host"), "a host in executor.hosts")?,
                    (Self::Ssh(_), None) => name("", &f("host"), "a host in executor.hosts")?,
                    (_, Some(_)) => {
                        let why = "is for `ssh` actions; a `command` runs on acmangkut's host";
                        return Err(ApiError::invalid(f("host"), why));
                    }
                    (_, None) => {}
                }
                name(&c.command, &f("command"), "an allow-listed executable")?;
                argv(&c.args, &f("args"))?;
                timeout(c.timeout_ms, &f("timeout_ms"))
            }
        }
    }

    pub fn idempotent(&self) -> bool {
        match self {
            Self::Http(h) => h.idempotent,
            Self::Command(c) | Self::Ssh(c) => c.idempotent,
        }
    }

    pub fn timeout_ms(&self) -> u64 {
        match self {
            Self::Http(h) => h.timeout_ms,
            Self::Command(c) | Self::Ssh(c) => c.timeout_ms,
        }
    }

    /// What the action does, for timelines and evidence: `POST https://…`, `host: argv…`.
    pub fn summary(&self) -> String {
        match self {
            Self::Http(h) => format!("{} {}", h.method, h.url),
            Self::Command(c) | Self::Ssh(c) => {
                let argv =
                    std::iter::once(c.command.as_str()).chain(c.args.iter().map(String::as_str));
                let line = argv.collect::<Vec<_>>().join(" ");
                match &c.host {
                    Some(host) => format!("{host}: {line}"),
                    None => line,
                }
            }
        }
    }

    /// Each use of a secret, as `(field path, secret name)`: `("headers.Authorization",
    /// "pg-token")` for `{{ secret.pg-token }}` in that header.
    pub fn secrets(
        &self,
    ) -> Result<Vec<(String, String)>, (String, crate::template::TemplateError)> {
        let value = serde_json::to_value(self).unwrap_or_default();
        let uses = crate::template::json_uses(&value)?;
        Ok(uses
            .into_iter()
            .filter_map(|(path, var)| {
                let name = var.strip_prefix(SECRET_PREFIX)?.to_string();
                Some((path, name))
            })
            .collect())
    }

    /// Secrets are named well and used only where they stay between acmangkut and the peer:
    /// an `http` action's URL, headers and body. Never in an argv: every user of the machine
    /// it runs on can read a process's arguments (`ps`, `/proc/PID/cmdline`), and `ssh` sends
    /// them as the remote command line, which the remote host logs and shows the same way.
    fn validate_secrets(&self, prefix: &str) -> Result<(), ApiError> {
        let uses = self
            .secrets()
            .map_err(|(path, e)| ApiError::invalid(format!("{prefix}{path}"), e.to_string()))?;
        for (path, name) in uses {
            let field = format!("{prefix}{path}");
            if !crate::probe::valid_secret_name(&name) {
                return Err(ApiError::invalid(
                    field,
                    format!(
                        "`{SECRET_PREFIX}{name}`: {}",
                        crate::probe::SECRET_NAME_RULE
                    ),
                ));
            }
            let why = match self {
                Self::Http(_)
                    if path == "url" || path == "body" || path.starts_with("headers.") =>
                {
                    continue;
                }
                Self::Http(_) => "secrets may be used in the url, headers and body only",
                Self::Command(_) | Self::Ssh(_) => {
                    "secrets are never passed in an argv, which every user of the host can \
                     read (ps); let the program read its secret itself, or use an http action"
                }
            };
            return Err(ApiError::invalid(field, why));
        }
        Ok(())
    }

    /// Every `{{ var }}` the action's strings use, in order of first use, without repeats.
    pub fn variables(&self) -> Result<Vec<String>, (String, crate::template::TemplateError)> {
        let value = serde_json::to_value(self).unwrap_or_default();
        crate::template::json_variables(&value)
    }
}

fn name(s: &str, field: &str, what: &str) -> Result<(), ApiError> {
    if s.trim().is_empty() || s.len() > 256 {
        return Err(ApiError::invalid(field, format!("must name {what}")));
    }
    Ok(())
}

fn argv(args: &[String], field: &str) -> Result<(), ApiError> {
    if args.len() > MAX_ARGS {
        return Err(ApiError::invalid(
            field,
            format!("at most {MAX_ARGS} arguments"),
        ));
    }
    if let Some(i) = args
        .iter()
        .position(|a| a.len() > MAX_ARG_LEN || a.contains('\0'))
    {
        return Err(ApiError::invalid(
            format!("{field}[{i}]"),
            format!("at most {MAX_ARG_LEN} bytes, no NUL"),
        ));
    }
    Ok(())
}

fn header(name: &str, value: &str, field: &str) -> Result<(), ApiError> {
    let token = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(ApiError::invalid(field, "is not a valid header name"));
    }
    if value.len() > 8192 || value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(ApiError::invalid(field, "at most 8192 bytes on one line"));
    }
    Ok(())
}

fn timeout(ms: u64, field: &str) -> Result<(), ApiError> {
    if ms == 0 || ms > MAX_ACTION_TIMEOUT_MS {
        return Err(ApiError::invalid(
            field,
            format!("must be between 1 and {MAX_ACTION_TIMEOUT_MS}"),
        ));
    }
    Ok(())
}

fn default_method() -> String {
    "GET".into()
}

fn default_timeout() -> u64 {
    DEFAULT_ACTION_TIMEOUT_MS
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(v: serde_json::Value) -> Action {
        serde_json::from_value(v).expect("an action")
    }

    #[test]
    fn each_kind_reads_with_its_defaults() {
        let a = parse(serde_json::json!({"action": "http", "url": "http://db-proxy/switch"}));
        let Action::Http(h) = &a else { panic!("http") };
        assert_eq!((h.method.as_str(), h.timeout_ms), ("GET", 30_000));
        assert!(!a.idempotent());
        let a = parse(serde_json::json!({"action": "ssh", "host": "db2",
            "command": "pg_ctl", "args": ["promote"], "idempotent": true}));
        assert!(a.idempotent());
        assert_eq!(a.summary(), "db2: pg_ctl promote");
        a.validate("do.").expect("valid");
        let unknown = serde_json::from_value::<Action>(
            serde_json::json!({"action": "command", "command": "x", "shell": true}),
        );
        assert!(unknown.is_err(), "unknown fields are refused");
    }

    #[test]
    fn each_mistake_names_its_field() {
        let cases = [
            (
                serde_json::json!({"action": "http", "method": "BREW", "url": "http://x"}),
                "do.method",
            ),
            (
                serde_json::json!({"action": "http", "url": "ftp://x"}),
                "do.url",
            ),
            (
                serde_json::json!({"action": "http", "url": "http://x",
                "headers": {"X-A": "a\r\nb"}}),
                "do.headers.X-A",
            ),
            (
                serde_json::json!({"action": "http", "url": "http://x", "expect_status": [200, 9]}),
                "do.expect_status[1]",
            ),
            (
                serde_json::json!({"action": "http", "url": "http://x", "conditions": ["[NOPE]"]}),
                "do.conditions[0]",
            ),
            (
                serde_json::json!({"action": "command", "command": " "}),
                "do.command",
            ),
            (
                serde_json::json!({"action": "command", "command": "x", "timeout_ms": 0}),
                "do.timeout_ms",
            ),
            (
                serde_json::json!({"action": "ssh", "command": "pg_ctl"}),
                "do.host",
            ),
            (
                serde_json::json!({"action": "command", "host": "db", "command": "x"}),
                "do.host",
            ),
            (
                serde_json::json!({"action": "ssh", "host": "db", "command": "a",
                "args": ["a", "b\u{0}"]}),
                "do.args[1]",
            ),
        ];
        for (json, field) in cases {
            let e = parse(json.clone()).validate("do.").expect_err("refused");
            assert_eq!(e.field.as_deref(), Some(field), "{json}: {}", e.detail);
        }
    }

    #[test]
    fn variables_are_found_in_every_string() {
        let a = parse(serde_json::json!({"action": "http", "method": "POST",
            "url": "{{ base }}/promote", "headers": {"Authorization": "Bearer {{ secret.tok }}"},
            "body": "{\"node\": \"{{ node }}\"}"}));
        let mut vars = a.variables().expect("well formed");
        vars.sort();
        assert_eq!(vars, ["base", "node", "secret.tok"]);
    }

    #[test]
    fn secrets_are_named_well_and_only_where_they_stay_with_the_peer() {
        let a = parse(serde_json::json!({"action": "http", "method": "POST",
            "url": "https://x/{{ secret.path }}", "headers": {"Authorization": "{{ secret.tok }}"},
            "body": "{{ secret.tok }}"}));
        a.validate("do.")
            .expect("url, headers and body may use secrets");
        let mut uses = a.secrets().expect("well formed");
        uses.sort();
        let at = |p: &str, n: &str| (p.to_string(), n.to_string());
        assert_eq!(
            uses,
            [
                at("body", "tok"),
                at("headers.Authorization", "tok"),
                at("url", "path")
            ]
        );
        let cases = [
            (
                serde_json::json!({"action": "command", "command": "psql",
                    "args": ["-c", "{{ secret.pw }}"]}),
                "do.args[1]",
                "never passed in an argv",
            ),
            (
                serde_json::json!({"action": "ssh", "host": "db", "command": "x",
                    "args": ["{{ secret.pw }}"]}),
                "do.args[0]",
                "never passed in an argv",
            ),
            (
                serde_json::json!({"action": "http", "url": "http://x",
                    "conditions": ["[BODY].t == {{ secret.pw }}"]}),
                "do.conditions[0]",
                "url, headers and body only",
            ),
            (
                serde_json::json!({"action": "http", "url": "http://x/{{ secret... }}"}),
                "do.url",
                "secret names are",
            ),
        ];
        for (json, field, why) in cases {
            let e = parse(json.clone()).validate("do.").expect_err("refused");
            assert_eq!(e.field.as_deref(), Some(field), "{json}: {}", e.detail);
            assert!(e.detail.contains(why), "{json}: {}", e.detail);
        }
    }

    proptest! {
        /// Any JSON document either is refused by serde or validation, or survives a round
        /// trip unchanged; nothing panics.
        #[test]
        fn any_document_round_trips_or_is_refused(
            kind in prop_oneof![Just("http"), Just("command"), Just("ssh"), Just("x")],
            text in "\\PC{0,40}",
            args in proptest::collection::vec("\\PC{0,12}", 0..4),
            timeout in proptest::option::of(0u64..4_000_000),
            idempotent in any::<bool>(),
        ) {
            let mut v = serde_json::json!({"action": kind, "url": text, "command": text,
                "host": text, "args": args, "idempotent": idempotent});
            if let Some(t) = timeout {
                v["timeout_ms"] = t.into();
            }
            // Drop the fields a kind does not have, as a client writing that kind would.
            let keep: &[&str] = match kind {
                "http" => &["action", "url", "timeout_ms", "idempotent"],
                "command" => &["action", "command", "args", "timeout_ms", "idempotent"],
                _ => &["action", "host", "command", "args", "timeout_ms", "idempotent"],
            };
            if let Some(o) = v.as_object_mut() {
                o.retain(|k, _| keep.contains(&k.as_str()));
            }
            if let Ok(a) = serde_json::from_value::<Action>(v) {
                let _ = a.validate("");
                let _ = a.variables();
                let written = serde_json::to_value(&a).expect("serialises");
                let back: Action = serde_json::from_value(written).expect("what we write we read");
                prop_assert_eq!(back, a);
            }
        }
    }
}
