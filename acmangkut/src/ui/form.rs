//! The monitor form: its raw values as the browser sends them, the parse into a
//! [`MonitorInput`], and the mapping of validation errors back onto form fields.

use super::i18n::Lang;
use serde::Deserialize;
use shared::ApiError;
use shared::monitor::{Monitor, MonitorInput};
use shared::probe::{DEFAULT_TIMEOUT_MS, IpPreference, ProbeKind, ProbeSpec};
use std::collections::BTreeMap;

/// Every field of the form, exactly as typed (so a failed submission is shown back unchanged).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct MonitorForm {
    pub name: String,
    pub description: String,
    pub kind: String,
    pub target: String,
    pub timeout_ms: String,
    pub interval_seconds: String,
    pub failure_threshold: String,
    pub success_threshold: String,
    pub conditions: String,
    pub labels: String,
    pub method: String,
    pub headers: String,
    pub body: String,
    pub max_redirects: String,
    /// A checkbox: present (any value) when ticked.
    pub insecure_skip_verify: Option<String>,
    pub expect: String,
    pub record_type: String,
    pub dns_server: String,
    pub expected_answers: String,
    pub ip_preference: String,
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
            ..Self::default()
        }
    }

    /// Parses an `application/x-www-form-urlencoded` body; unknown keys are ignored.
    pub fn from_urlencoded(body: &[u8]) -> Self {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        let mut f = Self::default();
        for (k, v) in pairs {
            let slot = match k.as_str() {
                "name" => &mut f.name,
                "description" => &mut f.description,
                "kind" => &mut f.kind,
                "target" => &mut f.target,
                "timeout_ms" => &mut f.timeout_ms,
                "interval_seconds" => &mut f.interval_seconds,
                "failure_threshold" => &mut f.failure_threshold,
                "success_threshold" => &mut f.success_threshold,
                "conditions" => &mut f.conditions,
                "labels" => &mut f.labels,
                "method" => &mut f.method,
                "headers" => &mut f.headers,
                "body" => &mut f.body,
                "max_redirects" => &mut f.max_redirects,
                "expect" => &mut f.expect,
                "record_type" => &mut f.record_type,
                "dns_server" => &mut f.dns_server,
                "expected_answers" => &mut f.expected_answers,
                "ip_preference" => &mut f.ip_preference,
                "insecure_skip_verify" => {
                    f.insecure_skip_verify = Some(v);
                    continue;
                }
                _ => continue,
            };
            *slot = v;
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
        }
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
                ..ProbeSpec::new(kind, self.target.clone())
            },
            interval_seconds,
            labels,
            failure_threshold,
            success_threshold,
            degraded_threshold_ms: None,
            locations: Vec::new(),
            location_failure_threshold: 1,
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
            match e.field.as_str() {
                "timeout_ms" => rest.timeout_ms.clear(),
                "interval_seconds" => rest.interval_seconds.clear(),
                "failure_threshold" => rest.failure_threshold.clear(),
                "success_threshold" => rest.success_threshold.clear(),
                "max_redirects" => rest.max_redirects.clear(),
                "ip_preference" => rest.ip_preference.clear(),
                "labels" => rest.labels.clear(),
                "headers" => rest.headers.clear(),
                _ => {}
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
    /// key's line. Anything unknown lands on the whole form.
    pub fn field_error(&self, e: &ApiError) -> FieldError {
        let raw = e.field.as_deref().unwrap_or("");
        let path = raw.strip_prefix("probe.").unwrap_or(raw);
        let text = |line| Message::Text {
            text: e.detail.clone(),
            line,
        };
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

/// The form's field names, in the order they are shown.
pub const FIELDS: [&str; 20] = [
    "name",
    "description",
    "kind",
    "target",
    "timeout_ms",
    "interval_seconds",
    "failure_threshold",
    "success_threshold",
    "conditions",
    "labels",
    "method",
    "headers",
    "body",
    "max_redirects",
    "insecure_skip_verify",
    "expect",
    "record_type",
    "dns_server",
    "expected_answers",
    "ip_preference",
];

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
        )
            .prop_map(
                |((a, b, c, d, e, f, g), (h, i, j, k, l, m, n))| MonitorForm {
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
                    ..MonitorForm::default()
                },
            )
    }

    fn valid_form() -> impl Strategy<Value = MonitorForm> {
        (
            "[a-z][a-z0-9 ]{0,20}",
            prop::sample::select(vec!["http", "tcp", "dns", "tls"]),
            1u64..=60_000,
            1i64..=86_400,
            1i32..=100,
            prop::collection::btree_map("[a-z][a-z0-9_.-]{0,10}", "[A-Za-z0-9 _.-]{0,12}", 0..4),
            prop::collection::vec("\\[STATUS\\] == [1-5][0-9][0-9]", 0..3),
            proptest::option::of(0u32..=30),
            any::<bool>(),
        )
            .prop_map(
                |(name, kind, timeout, interval, thr, labels, conds, redirects, insecure)| {
                    let target = match kind {
                        "http" => "http://example.com/health".to_string(),
                        "dns" => "example.com".to_string(),
                        _ => "example.com:443".to_string(),
                    };
                    let kind = ProbeKind::ALL
                        .into_iter()
                        .find(|k| k.as_str() == kind)
                        .unwrap_or(ProbeKind::Http);
                    let m = Monitor {
                        id: 1,
                        name: name.trim().to_string(),
                        description: String::new(),
                        probe: ProbeSpec {
                            timeout_ms: timeout,
                            conditions: conds,
                            max_redirects: redirects,
                            insecure_skip_verify: insecure,
                            ..ProbeSpec::new(kind, target)
                        },
                        interval_seconds: interval,
                        labels: labels
                            .into_iter()
                            .map(|(k, v)| (k, v.trim().to_string()))
                            .collect(),
                        failure_threshold: thr,
                        success_threshold: thr,
                        degraded_threshold_ms: None,
                        locations: Vec::new(),
                        location_failure_threshold: 1,
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

    proptest! {
        #[test]
        fn parsing_never_panics(f in arb_form(), bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = MonitorForm::from_urlencoded(&bytes).parse();
            if let Ok(input) = f.parse() {
                let _ = input.validate().map_err(|e| f.field_error(&e).render(Lang::ZhCn));
            }
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
