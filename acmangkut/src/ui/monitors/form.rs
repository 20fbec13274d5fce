//! The monitor form: its raw values as the browser sends them, the parse into a
//! [`MonitorInput`], and the mapping of validation errors back onto form fields.

use crate::ui::i18n::Lang;
use serde::Deserialize;
use shared::ApiError;
use shared::monitor::{Monitor, MonitorInput};
use shared::probe::{BrowserStep, DEFAULT_TIMEOUT_MS, IpPreference, ProbeKind, ProbeSpec};
use std::collections::BTreeMap;

/// Declares [`MonitorForm`] and [`FIELDS`] from one list, with by-name access to each field
/// ([`MonitorForm::text`], [`MonitorForm::set`], [`MonitorForm::clear`]) for the parser, the
/// template and error mapping, so the field list is written once.
macro_rules! monitor_form {
    ($($(#[doc = $doc:literal])* $field:ident: $ty:ty,)*) => {
        /// Every field of the form, exactly as typed (so a failed submission is shown back
        /// unchanged).
        #[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
        #[serde(default)]
        pub struct MonitorForm {
            $($(#[doc = $doc])* pub $field: $ty,)*
        }

        /// The form's field names, in the order they are shown.
        pub const FIELDS: &[&str] = &[$(stringify!($field)),*];

        impl MonitorForm {
            fn field_mut(&mut self, name: &str) -> Option<&mut dyn FieldValue> {
                match name {
                    $(stringify!($field) => Some(&mut self.$field),)*
                    _ => None,
                }
            }

            /// The typed text of field `name`; `None` for checkboxes and unknown names.
            pub fn text(&self, name: &str) -> Option<&str> {
                match name {
                    $(stringify!($field) => FieldValue::text(&self.$field),)*
                    _ => None,
                }
            }
        }
    };
}

monitor_form! {
    name: String,
    description: String,
    kind: String,
    target: String,
    timeout_ms: String,
    interval_seconds: String,
    failure_threshold: String,
    success_threshold: String,
    conditions: String,
    labels: String,
    method: String,
    headers: String,
    body: String,
    max_redirects: String,
    /// A checkbox: present (any value) when ticked.
    insecure_skip_verify: Option<String>,
    expect: String,
    record_type: String,
    dns_server: String,
    expected_answers: String,
    ip_preference: String,
    /// The ticked location checkboxes, one name per line (the browser sends one `locations`
    /// pair per ticked box).
    locations: String,
    location_failure_threshold: String,
    degraded_threshold_ms: String,
    retries: String,
    retry_delay_ms: String,
    /// Browser steps, one per line in the syntax of [`parse_step`].
    steps: String,
    /// Console error globs, one per line.
    console_error_allow: String,
    network_idle_quiet_ms: String,
    /// A checkbox: present (any value) when ticked.
    screenshot_on_failure: Option<String>,
}

/// A form field's value: text as typed, or a checkbox (`Some` when ticked).
trait FieldValue {
    fn set(&mut self, v: String);
    fn clear(&mut self);
    fn text(&self) -> Option<&str>;
}

impl FieldValue for String {
    fn set(&mut self, v: String) {
        *self = v;
    }
    fn clear(&mut self) {
        String::clear(self);
    }
    fn text(&self) -> Option<&str> {
        Some(self)
    }
}

impl FieldValue for Option<String> {
    fn set(&mut self, v: String) {
        *self = Some(v);
    }
    fn clear(&mut self) {
        *self = None;
    }
    fn text(&self) -> Option<&str> {
        None
    }
}

/// What is wrong with one field, in the words of the catalog (`key`) or of the validator.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// The form field (`target`, `labels`, …) or `""` for the whole form.
    pub field: String,
    pub message: Message,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A catalog key, optionally at a 1-based line of a multi-line field.
    Key {
        key: &'static str,
        line: Option<usize>,
    },
    /// Free text from the validator (English), optionally at a line.
    Text { text: String, line: Option<usize> },
}

impl FieldError {
    fn key(field: &str, key: &'static str, line: Option<usize>) -> Self {
        Self {
            field: field.to_string(),
            message: Message::Key { key, line },
        }
    }

    pub fn render(&self, lang: Lang) -> String {
        let (text, line) = match &self.message {
            Message::Key { key, line } => (lang.t(key).to_string(), *line),
            Message::Text { text, line } => (text.clone(), *line),
        };
        match line {
            Some(n) => format!("{} {n}: {text}", lang.t("err.line")),
            None => text,
        }
    }
}

/// Lines of a textarea that carry something, with their 1-based line numbers.
fn lines(s: &str) -> impl Iterator<Item = (usize, &str)> {
    s.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl MonitorForm {
    /// The blank form of `/monitors/new`, with the defaults filled in.
    pub fn blank() -> Self {
        Self {
            kind: "http".into(),
            timeout_ms: DEFAULT_TIMEOUT_MS.to_string(),
            interval_seconds: "60".into(),
            failure_threshold: "1".into(),
            success_threshold: "1".into(),
            ip_preference: "any".into(),
            location_failure_threshold: "1".into(),
            retries: "0".into(),
            screenshot_on_failure: Some("on".into()),
            ..Self::default()
        }
    }

    /// Parses an `application/x-www-form-urlencoded` body; unknown keys (and the `_csrf`
    /// token, which the authentication middleware checked) are ignored.
    pub fn from_urlencoded(body: &[u8]) -> Self {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        let mut f = Self::default();
        for (k, v) in pairs {
            if k == "locations" {
                // One pair per ticked box; a single pair may also carry several lines.
                for name in v.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    if !f.locations.is_empty() {
                        f.locations.push('\n');
                    }
                    f.locations.push_str(name);
                }
            } else if let Some(field) = f.field_mut(&k) {
                field.set(v);
            }
        }
        f
    }

    /// The form showing an existing monitor (for editing).
    pub fn from_monitor(m: &Monitor) -> Self {
        let p = &m.probe;
        let join = |it: &mut dyn Iterator<Item = String>| it.collect::<Vec<_>>().join("\n");
        Self {
            name: m.name.clone(),
            description: m.description.clone(),
            kind: p.kind.as_str().into(),
            target: p.target.clone(),
            timeout_ms: p.timeout_ms.to_string(),
            interval_seconds: m.interval_seconds.to_string(),
            failure_threshold: m.failure_threshold.to_string(),
            success_threshold: m.success_threshold.to_string(),
            conditions: p.conditions.join("\n"),
            labels: join(&mut m.labels.iter().map(|(k, v)| format!("{k}={v}"))),
            method: p.method.clone().unwrap_or_default(),
            headers: join(&mut p.headers.iter().map(|(k, v)| format!("{k}: {v}"))),
            body: p.body.clone().unwrap_or_default(),
            max_redirects: p.max_redirects.map(|n| n.to_string()).unwrap_or_default(),
            insecure_skip_verify: p.insecure_skip_verify.then(|| "on".into()),
            expect: p.expect.clone().unwrap_or_default(),
            record_type: p.record_type.clone().unwrap_or_default(),
            dns_server: p.dns_server.clone().unwrap_or_default(),
            expected_answers: p.expected_answers.join("\n"),
            ip_preference: ip_preference_str(p.ip_preference).into(),
            locations: m.locations.join("\n"),
            location_failure_threshold: m.location_failure_threshold.to_string(),
            degraded_threshold_ms: m
                .degraded_threshold_ms
                .map(|n| n.to_string())
                .unwrap_or_default(),
            retries: p.retries.to_string(),
            retry_delay_ms: p.retry_delay_ms.map(|n| n.to_string()).unwrap_or_default(),
            steps: join(&mut p.steps.iter().map(format_step)),
            console_error_allow: p.console_error_allow.join("\n"),
            network_idle_quiet_ms: p
                .network_idle_quiet_ms
                .map(|n| n.to_string())
                .unwrap_or_default(),
            screenshot_on_failure: p.screenshot_on_failure.then(|| "on".into()),
        }
    }

    /// The names of the ticked locations.
    pub fn location_names(&self) -> Vec<&str> {
        lines(&self.locations).map(|(_, l)| l).collect()
    }

    /// The [`MonitorInput`] the form describes, or every field that does not parse.
    /// Semantic checks are left to [`MonitorInput::validate`].
    pub fn parse(&self) -> Result<MonitorInput, Vec<FieldError>> {
        let mut errors = Vec::new();
        let kind = ProbeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == self.kind.trim());
        if kind.is_none() {
            errors.push(FieldError::key("kind", "err.kind", None));
        }
        let timeout_ms = number(
            &mut errors,
            "timeout_ms",
            &self.timeout_ms,
            DEFAULT_TIMEOUT_MS,
        );
        let interval_seconds = number(&mut errors, "interval_seconds", &self.interval_seconds, 60);
        let failure_threshold =
            number(&mut errors, "failure_threshold", &self.failure_threshold, 1);
        let success_threshold =
            number(&mut errors, "success_threshold", &self.success_threshold, 1);
        let max_redirects = if self.max_redirects.trim().is_empty() {
            None
        } else {
            Some(number(&mut errors, "max_redirects", &self.max_redirects, 0))
        };
        let ip_preference = match self.ip_preference.trim() {
            "" | "any" => IpPreference::Any,
            "ipv4" => IpPreference::Ipv4,
            "ipv6" => IpPreference::Ipv6,
            _ => {
                errors.push(FieldError::key("ip_preference", "err.ip_preference", None));
                IpPreference::Any
            }
        };
        let location_failure_threshold = number(
            &mut errors,
            "location_failure_threshold",
            &self.location_failure_threshold,
            1,
        );
        let degraded_threshold_ms = optional_number(
            &mut errors,
            "degraded_threshold_ms",
            &self.degraded_threshold_ms,
        );
        let retries = number(&mut errors, "retries", &self.retries, 0);
        let retry_delay_ms = optional_number(&mut errors, "retry_delay_ms", &self.retry_delay_ms);
        let network_idle_quiet_ms = optional_number(
            &mut errors,
            "network_idle_quiet_ms",
            &self.network_idle_quiet_ms,
        );
        let mut steps = Vec::new();
        for (n, line) in lines(&self.steps) {
            match parse_step(line) {
                Ok(step) => steps.push(step),
                Err(key) => errors.push(FieldError::key("steps", key, Some(n))),
            }
        }
        let labels = pairs(&mut errors, "labels", &self.labels, '=', "err.label_line");
        let headers = pairs(
            &mut errors,
            "headers",
            &self.headers,
            ':',
            "err.header_line",
        );
        let (Some(kind), true) = (kind, errors.is_empty()) else {
            return Err(errors);
        };
        Ok(MonitorInput {
            name: self.name.clone(),
            description: self.description.clone(),
            probe: ProbeSpec {
                timeout_ms,
                conditions: lines(&self.conditions)
                    .map(|(_, l)| l.to_string())
                    .collect(),
                ip_preference,
                method: opt(&self.method),
                headers,
                body: (!self.body.is_empty()).then(|| self.body.clone()),
                max_redirects,
                insecure_skip_verify: self.insecure_skip_verify.is_some(),
                expect: opt(&self.expect),
                record_type: opt(&self.record_type),
                dns_server: opt(&self.dns_server),
                expected_answers: lines(&self.expected_answers)
                    .map(|(_, l)| l.to_string())
                    .collect(),
                steps,
                console_error_allow: lines(&self.console_error_allow)
                    .map(|(_, l)| l.to_string())
                    .collect(),
                network_idle_quiet_ms,
                // Only browser probes take screenshots; other kinds keep the default.
                screenshot_on_failure: kind != ProbeKind::Browser
                    || self.screenshot_on_failure.is_some(),
                retries,
                retry_delay_ms,
                ..ProbeSpec::new(kind, self.target.clone())
            },
            interval_seconds,
            labels,
            failure_threshold,
            success_threshold,
            degraded_threshold_ms,
            locations: self
                .location_names()
                .into_iter()
                .map(str::to_string)
                .collect(),
            location_failure_threshold,
        })
    }

    /// Parse errors, plus the first validation error of the rest of the form (fields that do
    /// not parse are taken at their defaults), so one round trip shows as much as possible.
    pub fn check(&self) -> Result<MonitorInput, Vec<FieldError>> {
        let mut errors = match self.parse() {
            Ok(input) => {
                return input
                    .validate()
                    .map(|()| input)
                    .map_err(|e| vec![self.field_error(&e)]);
            }
            Err(errors) => errors,
        };
        if errors.iter().any(|e| e.field == "kind") {
            return Err(errors);
        }
        let mut rest = self.clone();
        for e in &errors {
            if let Some(field) = rest.field_mut(&e.field) {
                field.clear();
            }
        }
        if let Ok(input) = rest.parse()
            && let Err(e) = input.validate()
        {
            let fe = self.field_error(&e);
            if !errors.iter().any(|x| x.field == fe.field) {
                errors.push(fe);
            }
        }
        Err(errors)
    }

    /// Puts a validation or store error onto the form field it is about.
    ///
    /// `probe.target` → `target`; `probe.conditions[2]` → `conditions` at the line of the
    /// third condition; `labels.Bad` and `probe.headers.X` → `labels` / `headers` at that
    /// key's line; `probe.steps[1].selector` → `steps` at the second step's line;
    /// `locations[0]` → `locations`, naming the location. Anything unknown lands on the whole
    /// form.
    pub fn field_error(&self, e: &ApiError) -> FieldError {
        let raw = e.field.as_deref().unwrap_or("");
        let path = raw.strip_prefix("probe.").unwrap_or(raw);
        let text = |line| Message::Text {
            text: e.detail.clone(),
            line,
        };
        let index_of = |rest: &str| rest.split(']').next().and_then(|i| i.parse::<usize>().ok());
        if let Some(rest) = path.strip_prefix("steps[") {
            let line = index_of(rest).and_then(|i| lines(&self.steps).nth(i).map(|(n, _)| n));
            return FieldError {
                field: "steps".into(),
                message: text(line),
            };
        }
        if let Some(rest) = path.strip_prefix("locations[") {
            let name = index_of(rest).and_then(|i| self.location_names().get(i).copied());
            return FieldError {
                field: "locations".into(),
                message: Message::Text {
                    text: match name {
                        Some(n) => format!("{n}: {}", e.detail),
                        None => e.detail.clone(),
                    },
                    line: None,
                },
            };
        }
        if let Some(rest) = path.strip_prefix("conditions[") {
            let index = rest
                .trim_end_matches(']')
                .parse::<usize>()
                .ok()
                .and_then(|i| lines(&self.conditions).nth(i).map(|(n, _)| n));
            return FieldError {
                field: "conditions".into(),
                message: text(index),
            };
        }
        for (prefix, field, sep) in [("labels.", "labels", '='), ("headers.", "headers", ':')] {
            if let Some(key) = path.strip_prefix(prefix) {
                let source = if field == "labels" {
                    &self.labels
                } else {
                    &self.headers
                };
                let line = lines(source)
                    .find(|(_, l)| l.split_once(sep).is_some_and(|(k, _)| k.trim() == key))
                    .map(|(n, _)| n);
                return FieldError {
                    field: field.into(),
                    message: text(line),
                };
            }
        }
        let field = if FIELDS.contains(&path) { path } else { "" };
        FieldError {
            field: field.into(),
            message: text(None),
        }
    }
}

/// One browser step in the form's syntax:
///
/// - `goto URL` (absolute, or relative to the target: `goto /login`)
/// - `fill SELECTOR = VALUE` (a literal value; `fill #q =` types nothing)
/// - `fill SELECTOR secret:NAME` (a secret pageinspect resolves; never stored here)
/// - `click SELECTOR`, `wait_for SELECTOR`
/// - `wait_for_navigation`
///
/// The error is a catalog key.
pub fn parse_step(line: &str) -> Result<BrowserStep, &'static str> {
    let line = line.trim();
    let (action, rest) = match line.split_once(char::is_whitespace) {
        Some((a, r)) => (a, r.trim()),
        None => (line, ""),
    };
    let arg = |rest: &str| {
        (!rest.is_empty())
            .then(|| rest.to_string())
            .ok_or("err.step_arg")
    };
    match action {
        "goto" => Ok(BrowserStep::Goto { url: arg(rest)? }),
        "click" => Ok(BrowserStep::Click {
            selector: arg(rest)?,
        }),
        "wait_for" => Ok(BrowserStep::WaitFor {
            selector: arg(rest)?,
        }),
        "wait_for_navigation" if rest.is_empty() => Ok(BrowserStep::WaitForNavigation {}),
        "wait_for_navigation" => Err("err.step_no_arg"),
        "fill" => {
            let (selector, value, secret) = if let Some((sel, value)) = rest.split_once(" = ") {
                (sel, Some(value.to_string()), None)
            } else if let Some(sel) = rest.strip_suffix(" =") {
                (sel, Some(String::new()), None)
            } else if let Some((sel, name)) = rest.rsplit_once(char::is_whitespace)
                && let Some(name) = name.strip_prefix("secret:")
            {
                (sel, None, Some(name.to_string()))
            } else {
                return Err("err.step_fill");
            };
            Ok(BrowserStep::Fill {
                selector: arg(selector.trim())?,
                value,
                secret,
            })
        }
        _ => Err("err.step_action"),
    }
}

/// A step in the syntax [`parse_step`] reads.
pub fn format_step(step: &BrowserStep) -> String {
    match step {
        BrowserStep::Goto { url } => format!("goto {url}"),
        BrowserStep::Fill {
            selector,
            value: Some(v),
            ..
        } => format!("fill {selector} = {v}"),
        BrowserStep::Fill {
            selector,
            secret: Some(name),
            ..
        } => format!("fill {selector} secret:{name}"),
        BrowserStep::Fill { selector, .. } => format!("fill {selector}"),
        BrowserStep::Click { selector } => format!("click {selector}"),
        BrowserStep::WaitFor { selector } => format!("wait_for {selector}"),
        BrowserStep::WaitForNavigation {} => "wait_for_navigation".into(),
    }
}

fn ip_preference_str(p: IpPreference) -> &'static str {
    match p {
        IpPreference::Any => "any",
        IpPreference::Ipv4 => "ipv4",
        IpPreference::Ipv6 => "ipv6",
    }
}

fn number<T: std::str::FromStr>(
    errors: &mut Vec<FieldError>,
    field: &str,
    raw: &str,
    default: T,
) -> T {
    let raw = raw.trim();
    if raw.is_empty() {
        return default;
    }
    raw.parse().unwrap_or_else(|_| {
        errors.push(FieldError::key(field, "err.number", None));
        default
    })
}

fn optional_number<T: std::str::FromStr>(
    errors: &mut Vec<FieldError>,
    field: &str,
    raw: &str,
) -> Option<T> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    raw.parse().map_or_else(
        |_| {
            errors.push(FieldError::key(field, "err.number", None));
            None
        },
        Some,
    )
}

/// `key<sep>value` lines into a map; malformed lines and repeated keys are errors.
fn pairs(
    errors: &mut Vec<FieldError>,
    field: &str,
    raw: &str,
    sep: char,
    bad_line: &'static str,
) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for (n, line) in lines(raw) {
        match line.split_once(sep) {
            Some((k, v)) if !k.trim().is_empty() => {
                if map
                    .insert(k.trim().to_string(), v.trim().to_string())
                    .is_some()
                {
                    errors.push(FieldError::key(field, "err.label_dup", Some(n)));
                }
            }
            _ => errors.push(FieldError::key(field, bad_line, Some(n))),
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn form(pairs: &[(&str, &str)]) -> MonitorForm {
        let body = serde_urlencoded::to_string(pairs).expect("encodes");
        MonitorForm::from_urlencoded(body.as_bytes())
    }

    #[test]
    fn every_listed_field_is_parsed_by_its_name_and_cleared_by_it() {
        for name in FIELDS {
            let f = form(&[(name, "x")]);
            assert_ne!(f, MonitorForm::default(), "{name} is parsed");
            let mut cleared = f.clone();
            cleared.field_mut(name).expect(name).clear();
            assert_eq!(cleared, MonitorForm::default(), "{name} is cleared");
        }
    }

    #[test]
    fn the_csrf_token_of_a_signed_in_form_is_not_part_of_the_monitor() {
        let plain = [("name", "web"), ("target", "https://example.com/")];
        let with_token = [
            ("_csrf", "abc123"),
            ("name", "web"),
            ("target", "https://example.com/"),
        ];
        assert_eq!(form(&with_token), form(&plain));
    }

    #[test]
    fn a_complete_form_becomes_the_input_it_describes() {
        let f = form(&[
            ("name", "web"),
            ("kind", "http"),
            ("target", "https://example.com/"),
            ("timeout_ms", "2000"),
            ("interval_seconds", "30"),
            ("failure_threshold", "3"),
            ("success_threshold", "2"),
            (
                "conditions",
                "[STATUS] == 200\r\n\r\n[RESPONSE_TIME] < 500\r\n",
            ),
            ("labels", "env=prod\nteam = web"),
            ("headers", "Accept: text/html\nX-Token: a:b"),
            ("method", "HEAD"),
            ("max_redirects", "3"),
            ("insecure_skip_verify", "on"),
        ]);
        let input = f.parse().expect("parses");
        input.validate().expect("valid");
        assert_eq!(input.interval_seconds, 30);
        assert_eq!(input.probe.conditions.len(), 2);
        assert_eq!(input.labels.get("team").map(String::as_str), Some("web"));
        assert_eq!(
            input.probe.headers.get("X-Token").map(String::as_str),
            Some("a:b")
        );
        assert!(input.probe.insecure_skip_verify);
        assert_eq!(input.probe.max_redirects, Some(3));
    }

    #[test]
    fn unparseable_values_are_reported_per_field() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, Option<usize>);
        let cases: [Case<'_>; 6] = [
            (&[("kind", "ftp")], "kind", None),
            (
                &[("kind", "http"), ("timeout_ms", "fast")],
                "timeout_ms",
                None,
            ),
            (
                &[("kind", "http"), ("interval_seconds", "-1x")],
                "interval_seconds",
                None,
            ),
            (
                &[("kind", "http"), ("labels", "env=prod\n\nnoequals")],
                "labels",
                Some(3),
            ),
            (
                &[("kind", "http"), ("headers", "Accept text")],
                "headers",
                Some(1),
            ),
            (
                &[("kind", "tcp"), ("labels", "a=1\na=2")],
                "labels",
                Some(2),
            ),
        ];
        for (pairs, field, line) in cases {
            let errors = form(pairs).parse().expect_err(field);
            assert_eq!(errors[0].field, field, "{pairs:?}");
            let got_line = match &errors[0].message {
                Message::Key { line, .. } | Message::Text { line, .. } => *line,
            };
            assert_eq!(got_line, line, "{pairs:?}");
        }
    }

    #[test]
    fn validation_errors_land_on_the_field_and_line_they_are_about() {
        let f = form(&[
            ("name", "x"),
            ("kind", "http"),
            ("target", "http://h/"),
            ("conditions", "[STATUS] == 200\n\n[STATUS] = 1"),
            ("labels", "ok=1\nBad=2"),
        ]);
        let input = f.parse().expect("parses");
        let e = input.validate().expect_err("bad label key");
        let fe = f.field_error(&e);
        assert_eq!(
            (fe.field.as_str(), fe.render(Lang::En).starts_with("line 2")),
            ("labels", true)
        );
        let e = ApiError::invalid("probe.conditions[1]", "does not parse");
        let fe = f.field_error(&e);
        assert_eq!(fe.field, "conditions");
        assert!(fe.render(Lang::En).starts_with("line 3: "), "{fe:?}");
        for (field, want) in [
            ("probe.target", "target"),
            ("interval_seconds", "interval_seconds"),
            ("probe.timeout_ms", "timeout_ms"),
            ("something.else", ""),
        ] {
            assert_eq!(f.field_error(&ApiError::invalid(field, "x")).field, want);
        }
    }

    #[test]
    fn check_reports_parse_and_validation_errors_together() {
        let f = form(&[
            ("name", "x"),
            ("kind", "http"),
            ("target", "nope"),
            ("interval_seconds", "soon"),
            ("labels", "broken"),
        ]);
        let fields: Vec<String> = f
            .check()
            .expect_err("bad")
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["interval_seconds", "labels", "target"]);
        let ok = form(&[("name", "x"), ("kind", "tcp"), ("target", "h:1")]);
        assert!(ok.check().is_ok());
    }

    fn arb_form() -> impl Strategy<Value = MonitorForm> {
        let s = || ".{0,40}";
        (
            (s(), s(), s(), s(), s(), s(), s()),
            (s(), s(), s(), s(), s(), s(), proptest::option::of(s())),
            (s(), s(), s(), s(), s(), s(), s(), proptest::option::of(s())),
        )
            .prop_map(
                |((a, b, c, d, e, f, g), (h, i, j, k, l, m, n), (o, p, q, r, s2, t, u, v))| {
                    MonitorForm {
                        name: a,
                        kind: b,
                        target: c,
                        timeout_ms: d,
                        interval_seconds: e,
                        labels: f,
                        headers: g,
                        conditions: h,
                        max_redirects: i,
                        failure_threshold: j,
                        success_threshold: k,
                        ip_preference: l,
                        body: m,
                        insecure_skip_verify: n,
                        locations: o,
                        location_failure_threshold: p,
                        degraded_threshold_ms: q,
                        retries: r,
                        retry_delay_ms: s2,
                        steps: t,
                        console_error_allow: u,
                        screenshot_on_failure: v,
                        ..MonitorForm::default()
                    }
                },
            )
    }

    /// Steps that [`parse_step`] must read back exactly.
    fn arb_step() -> impl Strategy<Value = BrowserStep> {
        let selector = || {
            prop_oneof![
                "[#.]?[a-z][a-z0-9_-]{0,10}",
                "[a-z]{1,6} [#.]?[a-z][a-z0-9_-]{0,6}",
                "input\\[name=[a-z]{1,8}\\]",
                "button\\[type=submit\\]",
            ]
        };
        let value = "[A-Za-z0-9!@#%^&*()_+=:;,.?/ -]{0,20}".prop_map(|v| v.trim().to_string());
        prop_oneof![
            "(/|https://example.com/)[a-z0-9/?=&_.-]{0,20}"
                .prop_map(|url| BrowserStep::Goto { url }),
            (selector(), value).prop_map(|(selector, v)| BrowserStep::Fill {
                selector,
                value: Some(v),
                secret: None,
            }),
            (selector(), "[A-Za-z0-9_-][A-Za-z0-9_.-]{0,20}").prop_map(|(selector, name)| {
                BrowserStep::Fill {
                    selector,
                    value: None,
                    secret: Some(name),
                }
            }),
            selector().prop_map(|selector| BrowserStep::Click { selector }),
            selector().prop_map(|selector| BrowserStep::WaitFor { selector }),
            Just(BrowserStep::WaitForNavigation {}),
        ]
    }

    fn valid_form() -> impl Strategy<Value = MonitorForm> {
        (
            (
                "[a-z][a-z0-9 ]{0,20}",
                prop::sample::select(vec!["http", "tcp", "dns", "tls", "browser"]),
                1u64..=60_000,
                1i64..=86_400,
                1i32..=100,
                prop::collection::btree_map(
                    "[a-z][a-z0-9_.-]{0,10}",
                    "[A-Za-z0-9 _.-]{0,12}",
                    0..4,
                ),
                prop::collection::vec("\\[STATUS\\] == [1-5][0-9][0-9]", 0..3),
                proptest::option::of(0u32..=30),
                any::<bool>(),
            ),
            (
                prop::collection::btree_set("[a-z][a-z0-9_-]{0,8}", 0..4),
                1i32..=4,
                proptest::option::of(1i64..=600_000),
                0u32..=5,
                proptest::option::of(0u64..=60_000),
                prop::collection::vec(arb_step(), 0..6),
                prop::collection::vec("[a-zA-Z0-9*?]([a-zA-Z0-9*?:. ]{0,10}[a-zA-Z0-9*?])?", 0..3),
                any::<bool>(),
            ),
        )
            .prop_map(
                |(
                    (name, kind, timeout, interval, thr, labels, conds, redirects, insecure),
                    (locs, k, degraded, retries, delay, steps, allow, shot),
                )| {
                    let target = match kind {
                        "http" | "browser" => "http://example.com/health".to_string(),
                        "dns" => "example.com".to_string(),
                        _ => "example.com:443".to_string(),
                    };
                    let kind = ProbeKind::ALL
                        .into_iter()
                        .find(|k| k.as_str() == kind)
                        .unwrap_or(ProbeKind::Http);
                    let browser = kind == ProbeKind::Browser;
                    let locations: Vec<String> = locs.into_iter().collect();
                    let m = Monitor {
                        id: 1,
                        name: name.trim().to_string(),
                        description: String::new(),
                        probe: ProbeSpec {
                            timeout_ms: timeout,
                            conditions: conds,
                            max_redirects: redirects,
                            insecure_skip_verify: insecure,
                            steps: if browser { steps } else { Vec::new() },
                            console_error_allow: allow,
                            screenshot_on_failure: shot || !browser,
                            retries,
                            retry_delay_ms: delay,
                            ..ProbeSpec::new(kind, target)
                        },
                        interval_seconds: interval,
                        labels: labels
                            .into_iter()
                            .map(|(k, v)| (k, v.trim().to_string()))
                            .collect(),
                        failure_threshold: thr,
                        success_threshold: thr,
                        degraded_threshold_ms: degraded,
                        location_failure_threshold: k.min(locations.len().max(1) as i32),
                        locations,
                        state: shared::monitor::MonitorState::Pending,
                        paused: false,
                        next_run_at: chrono::DateTime::default(),
                        last_checked_at: None,
                        state_changed_at: chrono::DateTime::default(),
                        created_at: chrono::DateTime::default(),
                        updated_at: chrono::DateTime::default(),
                    };
                    MonitorForm::from_monitor(&m)
                },
            )
    }

    #[test]
    fn the_documented_step_syntax_parses() {
        let f = form(&[
            ("name", "login"),
            ("kind", "browser"),
            ("target", "https://app.example/"),
            (
                "steps",
                "goto /login\r\nfill #user = alice\r\n\r\nfill #password secret:login-password\n\
                 click button[type=submit]\nwait_for_navigation\nwait_for #welcome",
            ),
            ("console_error_allow", "*favicon*\n\nThird-party *"),
            ("locations", "default"),
            ("locations", "eu"),
            ("location_failure_threshold", "2"),
            ("degraded_threshold_ms", "1500"),
            ("retries", "2"),
            ("retry_delay_ms", "250"),
        ]);
        let input = f.check().expect("valid");
        assert_eq!(
            input.probe.steps,
            vec![
                BrowserStep::Goto {
                    url: "/login".into()
                },
                BrowserStep::Fill {
                    selector: "#user".into(),
                    value: Some("alice".into()),
                    secret: None
                },
                BrowserStep::Fill {
                    selector: "#password".into(),
                    value: None,
                    secret: Some("login-password".into())
                },
                BrowserStep::Click {
                    selector: "button[type=submit]".into()
                },
                BrowserStep::WaitForNavigation {},
                BrowserStep::WaitFor {
                    selector: "#welcome".into()
                },
            ]
        );
        assert_eq!(
            input.probe.console_error_allow,
            ["*favicon*", "Third-party *"]
        );
        assert!(!input.probe.screenshot_on_failure, "the box was not ticked");
        assert_eq!(input.locations, ["default", "eu"]);
        assert_eq!(input.location_failure_threshold, 2);
        assert_eq!(input.degraded_threshold_ms, Some(1500));
        assert_eq!(
            (input.probe.retries, input.probe.retry_delay_ms),
            (2, Some(250))
        );
    }

    #[test]
    fn bad_steps_and_new_fields_are_reported_at_their_field_and_line() {
        for (steps, line) in [
            ("goto /\njump #x", 2),
            ("click", 1),
            ("goto /\n\nfill #a", 3),
            ("wait_for_navigation now", 1),
            ("fill = x", 1),
        ] {
            let f = form(&[
                ("kind", "browser"),
                ("target", "http://h/"),
                ("steps", steps),
            ]);
            let errors = f.parse().expect_err(steps);
            assert_eq!(errors[0].field, "steps", "{steps}");
            assert!(
                errors[0]
                    .render(Lang::En)
                    .starts_with(&format!("line {line}: ")),
                "{steps}: {:?}",
                errors[0]
            );
        }
        let f = form(&[
            ("name", "x"),
            ("kind", "browser"),
            ("target", "http://h/"),
            ("steps", "goto /\n\nclick  \t x\nfill #p secret:bad/name"),
            ("locations", "default"),
            ("locations", "Bad"),
        ]);
        let input = f.parse().expect("parses");
        let e = ApiError::invalid("probe.steps[2].secret", "bad secret");
        let fe = f.field_error(&e);
        assert_eq!(fe.field, "steps");
        assert!(fe.render(Lang::En).starts_with("line 4: "), "{fe:?}");
        let fe = f.field_error(&input.validate().expect_err("bad location"));
        assert_eq!(fe.field, "locations");
        assert!(fe.render(Lang::En).starts_with("Bad: "), "{fe:?}");
        for (field, want) in [
            ("location_failure_threshold", "location_failure_threshold"),
            ("degraded_threshold_ms", "degraded_threshold_ms"),
            ("probe.retries", "retries"),
            ("probe.retry_delay_ms", "retry_delay_ms"),
            ("probe.steps", "steps"),
        ] {
            assert_eq!(f.field_error(&ApiError::invalid(field, "x")).field, want);
        }
        let fields: Vec<String> = form(&[
            ("name", "x"),
            ("kind", "http"),
            ("target", "http://h/"),
            ("retries", "many"),
            ("degraded_threshold_ms", "0"),
        ])
        .check()
        .expect_err("bad")
        .into_iter()
        .map(|e| e.field)
        .collect();
        assert_eq!(fields, ["retries", "degraded_threshold_ms"]);
    }

    proptest! {
        #[test]
        fn parsing_never_panics(
            f in arb_form(),
            bytes in prop::collection::vec(any::<u8>(), 0..200),
        ) {
            let _ = MonitorForm::from_urlencoded(&bytes).parse();
            if let Ok(input) = f.parse() {
                let _ = input.validate().map_err(|e| f.field_error(&e).render(Lang::ZhCn));
            }
        }

        #[test]
        fn step_parsing_never_panics(line in ".{0,60}") {
            let _ = parse_step(&line);
        }

        #[test]
        fn valid_steps_round_trip(step in arb_step()) {
            let line = format_step(&step);
            prop_assert_eq!(parse_step(&line), Ok(step.clone()), "{}", line);
        }

        #[test]
        fn valid_forms_round_trip(f in valid_form()) {
            let body = serde_urlencoded::to_string(&f).expect("encodes");
            let back = MonitorForm::from_urlencoded(body.as_bytes());
            prop_assert_eq!(&back, &f);
            let input = back.parse().expect("parses");
            prop_assert!(input.validate().is_ok(), "{:?}", input.validate());
            let m = Monitor {
                name: input.name.clone(),
                description: input.description.clone(),
                probe: input.probe.clone(),
                interval_seconds: input.interval_seconds,
                labels: input.labels.clone(),
                failure_threshold: input.failure_threshold,
                success_threshold: input.success_threshold,
                degraded_threshold_ms: input.degraded_threshold_ms,
                locations: input.locations.clone(),
                location_failure_threshold: input.location_failure_threshold,
                id: 1,
                state: shared::monitor::MonitorState::Up,
                paused: false,
                next_run_at: chrono::DateTime::default(),
                last_checked_at: None,
                state_changed_at: chrono::DateTime::default(),
                created_at: chrono::DateTime::default(),
                updated_at: chrono::DateTime::default(),
            };
            prop_assert_eq!(MonitorForm::from_monitor(&m), f);
        }
    }
}
