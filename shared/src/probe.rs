//! Probe specs and results: the contract between acmangkut (which stores them) and pageinspect
//! (which executes them). Field names follow Prometheus' blackbox_exporter where one exists.

use crate::condition::{Condition, ConditionResult};
use crate::notify::{REDACTED, UrlSecret, mask_url, restore_url, sensitive_name};
use crate::problem::ApiError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MAX_TIMEOUT_MS: u64 = 60_000;
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    Http,
    Tcp,
    Dns,
    Tls,
    /// A real page load in headless Chromium, with optional login steps.
    Browser,
}

impl ProbeKind {
    pub const ALL: [ProbeKind; 5] = [Self::Http, Self::Tcp, Self::Dns, Self::Tls, Self::Browser];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Tcp => "tcp",
            Self::Dns => "dns",
            Self::Tls => "tls",
            Self::Browser => "browser",
        }
    }
}

/// Which address family to try first when a name resolves to both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IpPreference {
    #[default]
    Any,
    Ipv4,
    Ipv6,
}

/// One probe, as sent to `POST /api/v1/probe`.
///
/// `target` is a URL for `http` (`http://host/path`), `host:port` for `tcp` and `tls`, and a
/// domain name for `dns`. Kind-specific fields are ignored by other kinds but validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    pub kind: ProbeKind,
    pub target: String,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
    #[serde(default, skip_serializing_if = "IpPreference::is_any")]
    pub ip_preference: IpPreference,
    /// http: request method (default GET).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// http: request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// http: request body; tcp: bytes to send after connecting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// http: redirects to follow (default 10; 0 means none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_redirects: Option<u32>,
    /// http, tls: skip certificate verification (default false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_verify: bool,
    /// tcp: a substring the first response bytes must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// dns: record type (A, AAAA, CNAME, MX, TXT, NS; default A).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_type: Option<String>,
    /// dns: the server to ask (`ip:port`); default: the system resolver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_server: Option<String>,
    /// dns: answers that must all be present.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_answers: Vec<String>,
    /// browser: steps run in order before the checks (log in, navigate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<BrowserStep>,
    /// browser: console errors matching any of these globs are not counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub console_error_allow: Vec<String>,
    /// browser: how long, in ms, no request may be in flight before the network counts as idle
    /// ([NETWORK_IDLE_TIME]; default 500, at most 10000; 0: idle as soon as none is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_idle_quiet_ms: Option<u64>,
    /// browser: keep a PNG screenshot when the probe fails (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub screenshot_on_failure: bool,
    /// Extra attempts after a failed one (0-5); every attempt is reported.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// Pause between attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay_ms: Option<u64>,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

pub const MAX_RETRIES: u32 = 5;
/// Default and largest `network_idle_quiet_ms`.
pub const DEFAULT_NETWORK_IDLE_QUIET_MS: u64 = 500;
pub const MAX_NETWORK_IDLE_QUIET_MS: u64 = 10_000;
pub const MAX_STEPS: usize = 30;

/// One step of a browser probe. Secret values are referenced by name and resolved by
/// pageinspect (from its secrets directory), so they are never stored or reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum BrowserStep {
    /// Navigate to a URL (absolute, or relative to the target).
    Goto {
        url: String,
    },
    /// Type into the element matching `selector`: a literal `value` or the secret `secret`.
    Fill {
        selector: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
    },
    Click {
        selector: String,
    },
    /// Wait until an element matching `selector` exists.
    WaitFor {
        selector: String,
    },
    /// Wait until a navigation (e.g. after a form submit) has loaded.
    WaitForNavigation {},
}

impl BrowserStep {
    /// A description safe to log and report: names the secret, never its value.
    pub fn describe(&self) -> String {
        match self {
            Self::Goto { url } => format!("goto {url}"),
            Self::Fill {
                selector,
                secret: Some(name),
                ..
            } => format!("fill {selector} with secret:{name}"),
            Self::Fill { selector, .. } => format!("fill {selector}"),
            Self::Click { selector } => format!("click {selector}"),
            Self::WaitFor { selector } => format!("wait for {selector}"),
            Self::WaitForNavigation {} => "wait for navigation".into(),
        }
    }

    fn validate(&self, field: &str) -> Result<(), ApiError> {
        let selector_ok = |s: &str| !s.trim().is_empty() && s.len() <= 500;
        match self {
            Self::Goto { url } if url.trim().is_empty() || url.len() > 2048 => Err(
                ApiError::invalid(format!("{field}.url"), "must be 1 to 2048 characters"),
            ),
            Self::Fill {
                selector,
                value,
                secret,
            } => {
                if !selector_ok(selector) {
                    return Err(ApiError::invalid(
                        format!("{field}.selector"),
                        "must be a CSS selector",
                    ));
                }
                match (value, secret) {
                    (Some(_), None) => Ok(()),
                    (None, Some(name)) if valid_secret_name(name) => Ok(()),
                    (None, Some(_)) => Err(ApiError::invalid(
                        format!("{field}.secret"),
                        SECRET_NAME_RULE,
                    )),
                    _ => Err(ApiError::invalid(
                        field,
                        "give exactly one of value and secret",
                    )),
                }
            }
            Self::Click { selector } | Self::WaitFor { selector } if !selector_ok(selector) => Err(
                ApiError::invalid(format!("{field}.selector"), "must be a CSS selector"),
            ),
            _ => Ok(()),
        }
    }
}

/// What [`valid_secret_name`] accepts, for messages.
pub const SECRET_NAME_RULE: &str =
    "secret names are 1-64 characters of a-z, A-Z, 0-9, '-', '_', '.', not starting with '.'";

/// A name of a file in a secrets directory (never a path: no '/', no leading '.').
pub fn valid_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

impl IpPreference {
    fn is_any(&self) -> bool {
        *self == IpPreference::Any
    }
}

pub const DNS_RECORD_TYPES: [&str; 6] = ["A", "AAAA", "CNAME", "MX", "TXT", "NS"];
const HTTP_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl ProbeSpec {
    /// A plain spec of `kind` against `target` with defaults elsewhere.
    pub fn new(kind: ProbeKind, target: impl Into<String>) -> Self {
        Self {
            kind,
            target: target.into(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            conditions: Vec::new(),
            ip_preference: IpPreference::Any,
            method: None,
            headers: BTreeMap::new(),
            body: None,
            max_redirects: None,
            insecure_skip_verify: false,
            expect: None,
            record_type: None,
            dns_server: None,
            expected_answers: Vec::new(),
            steps: Vec::new(),
            console_error_allow: Vec::new(),
            network_idle_quiet_ms: None,
            screenshot_on_failure: true,
            retries: 0,
            retry_delay_ms: None,
        }
    }

    /// browser: the quiet time after which the network counts as idle.
    pub fn network_idle_quiet(&self) -> std::time::Duration {
        std::time::Duration::from_millis(
            self.network_idle_quiet_ms
                .unwrap_or(DEFAULT_NETWORK_IDLE_QUIET_MS),
        )
    }

    /// Checks what serde cannot; `prefix` is prepended to field names (`probe.`).
    pub fn validate(&self, prefix: &str) -> Result<Vec<Condition>, ApiError> {
        let f = |name: &str| format!("{prefix}{name}");
        if self.timeout_ms == 0 || self.timeout_ms > MAX_TIMEOUT_MS {
            return Err(ApiError::invalid(
                f("timeout_ms"),
                format!("must be between 1 and {MAX_TIMEOUT_MS}"),
            ));
        }
        let target = self.target.trim();
        if target.is_empty() || target.len() > 2048 {
            return Err(ApiError::invalid(
                f("target"),
                "must be 1 to 2048 characters",
            ));
        }
        if self.retries > MAX_RETRIES {
            return Err(ApiError::invalid(
                f("retries"),
                format!("must be at most {MAX_RETRIES}"),
            ));
        }
        if self.retry_delay_ms.is_some_and(|d| d > MAX_TIMEOUT_MS) {
            return Err(ApiError::invalid(
                f("retry_delay_ms"),
                format!("must be at most {MAX_TIMEOUT_MS}"),
            ));
        }
        if self
            .network_idle_quiet_ms
            .is_some_and(|q| q > MAX_NETWORK_IDLE_QUIET_MS)
        {
            return Err(ApiError::invalid(
                f("network_idle_quiet_ms"),
                format!("must be at most {MAX_NETWORK_IDLE_QUIET_MS}"),
            ));
        }
        if self.kind != ProbeKind::Browser && !self.steps.is_empty() {
            return Err(ApiError::invalid(
                f("steps"),
                "only browser probes have steps",
            ));
        }
        if self.steps.len() > MAX_STEPS {
            return Err(ApiError::invalid(
                f("steps"),
                format!("at most {MAX_STEPS} steps"),
            ));
        }
        for (i, step) in self.steps.iter().enumerate() {
            step.validate(&f(&format!("steps[{i}]")))?;
        }
        match self.kind {
            ProbeKind::Http | ProbeKind::Browser => {
                let url = url::Url::parse(target).map_err(|e| {
                    ApiError::invalid(f("target"), format!("not an absolute URL ({e})"))
                })?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(ApiError::invalid(
                        f("target"),
                        "the scheme must be http or https",
                    ));
                }
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(ApiError::invalid(f("target"), "the URL has no host"));
                }
                if let Some(m) = &self.method
                    && !HTTP_METHODS.contains(&m.to_ascii_uppercase().as_str())
                {
                    return Err(ApiError::invalid(
                        f("method"),
                        format!("unsupported method {m}"),
                    ));
                }
                if self.max_redirects.is_some_and(|n| n > 30) {
                    return Err(ApiError::invalid(f("max_redirects"), "must be at most 30"));
                }
                for name in self.headers.keys() {
                    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                        return Err(ApiError::invalid(
                            f(&format!("headers.{name}")),
                            "not a valid header name",
                        ));
                    }
                }
            }
            ProbeKind::Tcp | ProbeKind::Tls => {
                split_host_port(target).ok_or_else(|| {
                    ApiError::invalid(f("target"), "must be host:port (IPv6 as [addr]:port)")
                })?;
            }
            ProbeKind::Dns => {
                if target.contains(['/', ':', ' ']) {
                    return Err(ApiError::invalid(f("target"), "must be a domain name"));
                }
                if let Some(t) = &self.record_type
                    && !DNS_RECORD_TYPES.contains(&t.to_ascii_uppercase().as_str())
                {
                    return Err(ApiError::invalid(
                        f("record_type"),
                        format!("must be one of {}", DNS_RECORD_TYPES.join(", ")),
                    ));
                }
                if let Some(s) = &self.dns_server
                    && s.parse::<std::net::SocketAddr>().is_err()
                {
                    return Err(ApiError::invalid(f("dns_server"), "must be ip:port"));
                }
            }
        }
        crate::condition::parse_all(&self.conditions, &f("conditions"))
    }
}

/// Splits `host:port` (or `[v6]:port`); `None` when it is not of that shape.
pub fn split_host_port(target: &str) -> Option<(&str, u16)> {
    let (host, port) = target.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = port.parse::<u16>().ok().filter(|p| *p != 0)?;
    (!host.is_empty() && !host.contains(['/', ' '])).then_some((host, port))
}

/// Why a probe failed. Stable strings: stored in the database and used in metrics labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    Timeout,
    ConnectionRefused,
    ConnectionError,
    DnsFailure,
    TlsError,
    ConditionFailed,
    BodyTooLarge,
    TooManyRedirects,
    InvalidResponse,
    /// acmangkut could not reach pageinspect: says nothing about the target.
    ExecutorUnavailable,
    /// The target resolved to an address on pageinspect's egress deny list.
    TargetDenied,
    /// The browser crashed, hung or could not start; says nothing about the page.
    BrowserError,
    /// A browser step (fill, click, wait) could not be done.
    StepFailed,
    Internal,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::ConnectionRefused => "connection_refused",
            Self::ConnectionError => "connection_error",
            Self::DnsFailure => "dns_failure",
            Self::TlsError => "tls_error",
            Self::ConditionFailed => "condition_failed",
            Self::BodyTooLarge => "body_too_large",
            Self::TooManyRedirects => "too_many_redirects",
            Self::InvalidResponse => "invalid_response",
            Self::ExecutorUnavailable => "executor_unavailable",
            Self::TargetDenied => "target_denied",
            Self::BrowserError => "browser_error",
            Self::StepFailed => "step_failed",
            Self::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
}

/// Seconds spent in each phase, named as blackbox_exporter's `probe_http_duration_seconds`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PhaseTimings {
    pub resolve: f64,
    pub connect: f64,
    pub tls: f64,
    pub processing: f64,
    pub transfer: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProbeResult {
    pub kind: ProbeKind,
    pub target: String,
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<FailureReason>,
    /// A human explanation of the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub duration_seconds: f64,
    pub phases: PhaseTimings,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_expiry: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_ip: Option<String>,
    #[serde(default)]
    pub conditions: Vec<ConditionResult>,
    /// The `location` label of the pageinspect that ran the probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// 1 for the first attempt; retries count up.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// Earlier failed attempts of this probe (when `retries` > 0), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_attempts: Vec<ProbeResult>,
    /// browser: what the page did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<BrowserReport>,
    /// browser: a PNG screenshot (base64) taken on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screenshot_png_base64: Option<String>,
}

fn first_attempt() -> u32 {
    1
}

/// What a browser probe saw, besides the conditions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BrowserReport {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Milliseconds from navigation start to the load event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_time_ms: Option<f64>,
    /// Milliseconds until no request had been in flight for 500 ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_idle_ms: Option<f64>,
    #[serde(default)]
    pub js_errors: Vec<String>,
    /// Console errors not matched by `console_error_allow`.
    #[serde(default)]
    pub console_errors: Vec<String>,
    /// Sub-requests to the page's own origin that failed (network error or status >= 400).
    #[serde(default)]
    pub failed_requests: Vec<String>,
    #[serde(default)]
    pub steps: Vec<StepReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepReport {
    /// [`BrowserStep::describe`]: never a secret value.
    pub step: String,
    pub success: bool,
    pub duration_seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ProbeResult {
    /// A failed result with no timings (the probe never got going).
    pub fn failed(spec: &ProbeSpec, reason: FailureReason, error: impl Into<String>) -> Self {
        Self {
            kind: spec.kind,
            target: spec.target.clone(),
            success: false,
            failure_reason: Some(reason),
            error: Some(error.into()),
            started_at: Utc::now(),
            duration_seconds: 0.0,
            phases: PhaseTimings::default(),
            status_code: None,
            certificate_expiry: None,
            resolved_ip: None,
            conditions: Vec::new(),
            location: None,
            attempt: 1,
            previous_attempts: Vec::new(),
            browser: None,
            screenshot_png_base64: None,
        }
    }
}

/// Body of `POST /api/v1/probes:batch`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub probes: Vec<ProbeSpec>,
}

/// Answer of `POST /api/v1/probes:batch`: results in request order.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchResponse {
    pub results: Vec<ProbeResult>,
}

/// Redaction of a probe's credentials for exports, as channels do it
/// ([`ChannelSpec::redacted`](crate::notify::ChannelSpec::redacted)): the password and
/// sensitive query parameters of an http or browser target, and header values whose names say
/// they are credentials (`Authorization`, `X-Api-Key`, `Cookie`…), read [`REDACTED`].
impl ProbeSpec {
    fn url_target(&self) -> bool {
        matches!(self.kind, ProbeKind::Http | ProbeKind::Browser)
    }

    /// The spec with its credentials replaced with [`REDACTED`].
    pub fn redacted(&self) -> Self {
        let mut r = self.clone();
        if r.url_target() {
            r.target = mask_url(&r.target, UrlSecret::Sensitive);
        }
        for (name, value) in r.headers.iter_mut() {
            if sensitive_name(name) {
                *value = REDACTED.into();
            }
        }
        r
    }

    /// Puts back what [`redacted`](Self::redacted) hid, from the stored `old` spec: a target
    /// equal to the old one's masked form, and [`REDACTED`] header values while the target
    /// stays the same (a credential follows its destination, as a channel's does).
    pub fn keep_secrets_from(&mut self, old: &Self) {
        if self.url_target() && old.url_target() {
            restore_url(&mut self.target, &old.target, UrlSecret::Sensitive);
        }
        if self.target != old.target {
            return;
        }
        for (name, value) in self.headers.iter_mut() {
            if let Some(old) = old.headers.get(name)
                && value == REDACTED
            {
                value.clone_from(old);
            }
        }
    }

    /// The field (`target`, `headers.NAME`) still holding [`REDACTED`] after
    /// [`keep_secrets_from`](Self::keep_secrets_from): a value nobody gave.
    pub fn redaction_left(&self) -> Option<String> {
        if self.target.contains(REDACTED) {
            return Some("target".into());
        }
        self.headers
            .iter()
            .find(|(_, v)| *v == REDACTED)
            .map(|(k, _)| format!("headers.{k}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_request_shape_parses() {
        let s: ProbeSpec = serde_json::from_str(concat!(
            r#"{"kind":"http","target":"http://host/path","timeout_ms":2000,"#,
            r#""conditions":["[STATUS] == 200"]}"#,
        ))
        .expect("parses");
        assert_eq!(s.kind, ProbeKind::Http);
        assert_eq!(s.validate("").expect("valid").len(), 1);
    }

    #[test]
    fn validation_names_the_field() {
        let cases = [
            (ProbeSpec::new(ProbeKind::Http, "example.com/x"), "target"),
            (ProbeSpec::new(ProbeKind::Http, "ftp://x/"), "target"),
            (ProbeSpec::new(ProbeKind::Tcp, "host"), "target"),
            (
                ProbeSpec {
                    timeout_ms: 0,
                    ..ProbeSpec::new(ProbeKind::Tcp, "h:1")
                },
                "timeout_ms",
            ),
            (
                ProbeSpec {
                    conditions: vec!["[STATUS] = 200".into()],
                    ..ProbeSpec::new(ProbeKind::Http, "http://x/")
                },
                "conditions[0]",
            ),
            (
                ProbeSpec {
                    network_idle_quiet_ms: Some(MAX_NETWORK_IDLE_QUIET_MS + 1),
                    ..ProbeSpec::new(ProbeKind::Browser, "http://x/")
                },
                "network_idle_quiet_ms",
            ),
        ];
        for (spec, field) in cases {
            let e = spec.validate("probe.").expect_err("must fail");
            assert_eq!(
                e.field.as_deref(),
                Some(format!("probe.{field}").as_str()),
                "{e}"
            );
        }
    }

    #[test]
    fn host_port_splits_ipv6() {
        assert_eq!(split_host_port("[::1]:443"), Some(("::1", 443)));
        assert_eq!(split_host_port("a.b:80"), Some(("a.b", 80)));
        assert_eq!(split_host_port("a.b:0"), None);
        assert_eq!(split_host_port("a.b"), None);
    }

    fn with_credentials(target: &str) -> ProbeSpec {
        let mut spec = ProbeSpec::new(ProbeKind::Http, target);
        spec.headers
            .insert("Authorization".into(), "Bearer s3cr3t".into());
        spec.headers.insert("Accept".into(), "text/html".into());
        spec
    }

    #[test]
    fn redaction_hides_credentials_and_an_unchanged_target_gets_them_back() {
        let old = with_credentials("https://u:pw@example.com/x?api_key=k1&page=2");
        let shown = old.redacted();
        assert_eq!(shown.headers["Authorization"], REDACTED);
        assert_eq!(shown.headers["Accept"], "text/html");
        assert!(!shown.target.contains("pw") && !shown.target.contains("k1"));
        assert!(shown.target.contains("page=2"), "{}", shown.target);
        assert_eq!(shown.redaction_left().as_deref(), Some("target"));
        let mut back = shown.clone();
        back.keep_secrets_from(&old);
        assert_eq!(back, old);
        assert_eq!(back.redaction_left(), None);
        // Pointed elsewhere, the stored credentials stay behind.
        let mut moved = shown;
        moved.target = "https://elsewhere.example/".into();
        moved.keep_secrets_from(&old);
        assert_eq!(
            moved.redaction_left().as_deref(),
            Some("headers.Authorization")
        );
        // A tcp target is not a URL: left alone.
        let tcp = ProbeSpec::new(ProbeKind::Tcp, "db:5432");
        assert_eq!(tcp.redacted(), tcp);
    }

    proptest::proptest! {
        #[test]
        fn redacted_specs_restore_from_the_stored_one(
            host in "[a-z]{1,10}",
            password in "[a-zA-Z0-9]{1,12}",
            token in "[ -~]{0,30}",
            header in "[A-Za-z-]{1,20}",
        ) {
            let mut old = with_credentials(&format!("http://user:{password}@{host}/p?token=t"));
            old.headers.insert(header, token);
            let mut back = old.redacted();
            back.keep_secrets_from(&old);
            proptest::prop_assert_eq!(back, old);
        }
    }
}
