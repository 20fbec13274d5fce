//! The probe condition language, in the style Gatus users know.
//!
//! ```text
//! condition := operand OP operand          OP := == | != | < | <= | > | >=
//! operand   := placeholder | len(placeholder) | any(v, v, …) | pat(glob) | literal
//! placeholder := [STATUS] | [RESPONSE_TIME] | [BODY] | [BODY].json.path[0] | [HEADER].name
//!              | [CERTIFICATE_EXPIRATION] | [CONNECTED] | [IP] | [DNS_RCODE]
//!              | [DOM].css | [DOM](css) | [DOM_VISIBLE].css | [DOM_TEXT].css     (browser)
//!              | [TITLE] | [JS_ERRORS] | [CONSOLE_ERRORS] | [FAILED_REQUESTS]   (browser)
//!              | [LOAD_TIME] | [NETWORK_IDLE_TIME]                              (browser, ms)
//! ```
//! `[DOM].sel` is `true` when an element matches, `[DOM_VISIBLE].sel` when one is visible, and
//! `[DOM_TEXT].sel` is the text of the first match. A selector containing `>`, `<`, `=` or `!`
//! goes in parentheses: `[DOM](ul > li.item) == true`.
//! Numbers compare numerically; durations (`500ms`, `30s`, `5m`, `48h`, `7d`) compare in
//! milliseconds, the unit of `[RESPONSE_TIME]` and `[CERTIFICATE_EXPIRATION]`. Everything else
//! compares as text. A placeholder with no value (no body on a TCP probe) fails the condition.

use crate::problem::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One evaluated condition: what it said, whether it held, what value was seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConditionResult {
    pub condition: String,
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
}

pub const MAX_CONDITIONS: usize = 32;
pub const MAX_CONDITION_LEN: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    Status,
    ResponseTime,
    /// `[BODY]`, or a path into the JSON body (`[BODY].data.items[0].name`).
    Body(Option<String>),
    /// `[HEADER].content-type` (case-insensitive).
    Header(String),
    CertificateExpiration,
    Connected,
    Ip,
    DnsRcode,
    /// browser: does an element match the selector?
    Dom(String),
    DomVisible(String),
    DomText(String),
    Title,
    JsErrors,
    ConsoleErrors,
    FailedRequests,
    LoadTime,
    NetworkIdleTime,
}

impl Placeholder {
    /// The CSS selector a browser must query to resolve this placeholder.
    pub fn selector(&self) -> Option<&str> {
        match self {
            Self::Dom(s) | Self::DomVisible(s) | Self::DomText(s) => Some(s),
            _ => None,
        }
    }
}

/// Every CSS selector the conditions ask about, without duplicates, in order.
pub fn dom_selectors(conditions: &[Condition]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in conditions {
        for operand in [&c.left, &c.right] {
            if let Operand::Placeholder(p) | Operand::Len(p) = operand
                && let Some(sel) = p.selector()
                && !out.iter().any(|s| s == sel)
            {
                out.push(sel.to_string());
            }
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Placeholder(Placeholder),
    Len(Placeholder),
    Any(Vec<String>),
    Pat(String),
    Literal(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }
}

/// A parsed condition; `text` is what the user wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub text: String,
    pub left: Operand,
    pub op: Op,
    pub right: Operand,
}

/// Where and why a condition does not parse; `position` counts characters from 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub position: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at position {}: {}", self.position, self.message)
    }
}

/// Parses every condition of a probe; the error names `field[i]`, the condition and position.
pub fn parse_all(conditions: &[String], field: &str) -> Result<Vec<Condition>, ApiError> {
    if conditions.len() > MAX_CONDITIONS {
        return Err(ApiError::invalid(
            field,
            format!("at most {MAX_CONDITIONS} conditions"),
        ));
    }
    conditions
        .iter()
        .enumerate()
        .map(|(i, c)| {
            parse(c).map_err(|e| {
                ApiError::field(
                    ErrorCode::InvalidCondition,
                    format!("{field}[{i}]"),
                    format!("condition `{c}` does not parse {e}"),
                )
            })
        })
        .collect()
}

const OPERATORS: [(&str, Op); 6] = [
    ("==", Op::Eq),
    ("!=", Op::Ne),
    ("<=", Op::Le),
    (">=", Op::Ge),
    ("<", Op::Lt),
    (">", Op::Gt),
];

pub fn parse(text: &str) -> Result<Condition, ParseError> {
    if text.chars().count() > MAX_CONDITION_LEN {
        return Err(ParseError {
            position: MAX_CONDITION_LEN,
            message: format!("longer than {MAX_CONDITION_LEN} characters"),
        });
    }
    let chars: Vec<char> = text.chars().collect();
    let (op_at, op_len, op) = find_operator(&chars).ok_or_else(|| ParseError {
        position: first_gap(&chars),
        message: "expected an operator (==, !=, <, <=, >, >=)".into(),
    })?;
    let left_text: String = chars[..op_at].iter().collect();
    let right_text: String = chars[op_at + op_len..].iter().collect();
    let left = parse_operand(&left_text, 0)?;
    let right = parse_operand(&right_text, op_at + op_len)?;
    for (operand, at) in [(&left, 0), (&right, op_at + op_len)] {
        if matches!(operand, Operand::Any(_) | Operand::Pat(_)) && !matches!(op, Op::Eq | Op::Ne) {
            return Err(ParseError {
                position: at,
                message: "any() and pat() need == or !=".into(),
            });
        }
    }
    if let Operand::Literal(l) = &right {
        let rest: Vec<char> = l.chars().collect();
        if let Some((at, _, _)) = find_operator(&rest).filter(|(at, len, _)| {
            at.checked_sub(1).is_some_and(|p| rest[p] == ' ') && rest.get(at + len) == Some(&' ')
        }) {
            let skipped = right_text.chars().take_while(|c| c.is_whitespace()).count();
            return Err(ParseError {
                position: op_at + op_len + skipped + at,
                message: "a second operator; put a CSS selector containing > or < in \
                          parentheses: [DOM](ul > li)"
                    .into(),
            });
        }
    }
    if matches!(left, Operand::Any(_) | Operand::Pat(_))
        && matches!(right, Operand::Any(_) | Operand::Pat(_))
    {
        return Err(ParseError {
            position: op_at + op_len,
            message: "only one side may be any() or pat()".into(),
        });
    }
    Ok(Condition {
        text: text.to_string(),
        left,
        op,
        right,
    })
}

/// The first operator outside brackets and parentheses: `(index, length, op)`.
fn find_operator(chars: &[char]) -> Option<(usize, usize, Op)> {
    let mut depth = 0i32;
    for i in 0..chars.len() {
        match chars[i] {
            '[' | '(' => depth += 1,
            ']' | ')' => depth -= 1,
            _ if depth == 0 => {
                for (sym, op) in OPERATORS {
                    let s: Vec<char> = sym.chars().collect();
                    if chars[i..].starts_with(&s) {
                        return Some((i, s.len(), op));
                    }
                }
            }
            _ => {}
        }
    }
    None
}

/// Where an operator was expected: after the first token.
fn first_gap(chars: &[char]) -> usize {
    let start = chars.iter().position(|c| !c.is_whitespace()).unwrap_or(0);
    chars[start..]
        .iter()
        .position(|c| c.is_whitespace())
        .map_or(chars.len(), |p| start + p)
}

fn parse_operand(raw: &str, offset: usize) -> Result<Operand, ParseError> {
    let lead = raw.chars().take_while(|c| c.is_whitespace()).count();
    let at = offset + lead;
    let s = raw.trim();
    let err = |position: usize, message: String| ParseError { position, message };
    if s.is_empty() {
        return Err(err(at, "expected a value".into()));
    }
    if s.starts_with('[') {
        return parse_placeholder(s, at).map(Operand::Placeholder);
    }
    for (name, kind) in [("any(", 0), ("pat(", 1), ("len(", 2)] {
        if let Some(rest) = s.strip_prefix(name) {
            let inner = rest.strip_suffix(')').ok_or_else(|| {
                err(
                    at + s.chars().count(),
                    format!("{name}…) is missing its closing parenthesis"),
                )
            })?;
            return match kind {
                0 => {
                    let items: Vec<String> =
                        inner.split(',').map(|v| v.trim().to_string()).collect();
                    if items.iter().any(String::is_empty) {
                        return Err(err(at + 4, "any() needs non-empty values".into()));
                    }
                    Ok(Operand::Any(items))
                }
                1 if inner.is_empty() => Err(err(at + 4, "pat() needs a pattern".into())),
                1 => Ok(Operand::Pat(inner.to_string())),
                _ => parse_placeholder(inner.trim(), at + 4).map(Operand::Len),
            };
        }
    }
    Ok(Operand::Literal(s.to_string()))
}

fn parse_placeholder(s: &str, at: usize) -> Result<Placeholder, ParseError> {
    let close = s.find(']').ok_or_else(|| ParseError {
        position: at,
        message: "placeholder is missing its closing ]".into(),
    })?;
    let name = &s[1..close];
    let rest = &s[close + 1..];
    if matches!(name, "DOM" | "DOM_VISIBLE" | "DOM_TEXT") {
        let selector = rest
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .or_else(|| rest.strip_prefix('.'))
            .map(str::trim)
            .filter(|sel| !sel.is_empty())
            .ok_or_else(|| ParseError {
                position: at + s[..=close].chars().count(),
                message: format!(
                    "[{name}] needs a CSS selector: [{name}].#app or [{name}](ul > li)"
                ),
            })?
            .to_string();
        return Ok(match name {
            "DOM" => Placeholder::Dom(selector),
            "DOM_VISIBLE" => Placeholder::DomVisible(selector),
            _ => Placeholder::DomText(selector),
        });
    }
    let path = match rest.strip_prefix('.') {
        Some(p) if !p.is_empty() && !p.contains(char::is_whitespace) => Some(p.to_string()),
        Some(_) => {
            return Err(ParseError {
                position: at + s[..=close].chars().count(),
                message: "expected a path after `.`".into(),
            });
        }
        None if rest.is_empty() => None,
        None => {
            return Err(ParseError {
                position: at + s[..=close].chars().count(),
                message: format!("unexpected `{rest}` after [{name}]"),
            });
        }
    };
    let no_path = |p: Placeholder| match &path {
        None => Ok(p),
        Some(_) => Err(ParseError {
            position: at + s[..=close].chars().count(),
            message: format!("[{name}] takes no path"),
        }),
    };
    match name {
        "STATUS" => no_path(Placeholder::Status),
        "RESPONSE_TIME" => no_path(Placeholder::ResponseTime),
        "CERTIFICATE_EXPIRATION" => no_path(Placeholder::CertificateExpiration),
        "CONNECTED" => no_path(Placeholder::Connected),
        "IP" => no_path(Placeholder::Ip),
        "DNS_RCODE" => no_path(Placeholder::DnsRcode),
        "TITLE" => no_path(Placeholder::Title),
        "JS_ERRORS" => no_path(Placeholder::JsErrors),
        "CONSOLE_ERRORS" => no_path(Placeholder::ConsoleErrors),
        "FAILED_REQUESTS" => no_path(Placeholder::FailedRequests),
        "LOAD_TIME" => no_path(Placeholder::LoadTime),
        "NETWORK_IDLE_TIME" => no_path(Placeholder::NetworkIdleTime),
        "BODY" => Ok(Placeholder::Body(path)),
        "HEADER" => path
            .map(|p| Placeholder::Header(p.to_ascii_lowercase()))
            .ok_or(ParseError {
                position: at + s.chars().count(),
                message: "[HEADER] needs a header name: [HEADER].content-type".into(),
            }),
        other => Err(ParseError {
            position: at,
            message: format!(
                "unknown placeholder [{other}]; known: STATUS, RESPONSE_TIME, BODY, HEADER, \
                 CERTIFICATE_EXPIRATION, CONNECTED, IP, DNS_RCODE, DOM, DOM_VISIBLE, DOM_TEXT, \
                 TITLE, JS_ERRORS, CONSOLE_ERRORS, FAILED_REQUESTS, LOAD_TIME, NETWORK_IDLE_TIME"
            ),
        }),
    }
}

/// What a probe saw; every field is optional because not every kind sees everything.
#[derive(Debug, Default, Clone)]
pub struct Observation<'a> {
    pub status: Option<u16>,
    pub response_time_ms: Option<f64>,
    pub body: Option<&'a str>,
    pub headers: Vec<(String, String)>,
    pub certificate_expiration_ms: Option<i64>,
    pub connected: Option<bool>,
    pub ip: Option<String>,
    pub dns_rcode: Option<String>,
    /// browser facts; `None` for other kinds (their conditions then fail as `<missing>`).
    pub title: Option<String>,
    pub js_errors: Option<usize>,
    pub console_errors: Option<usize>,
    pub failed_requests: Option<usize>,
    pub load_time_ms: Option<f64>,
    pub network_idle_ms: Option<f64>,
    /// What the page had for each selector of [`dom_selectors`].
    pub dom: Vec<DomFacts>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomFacts {
    pub selector: String,
    pub present: bool,
    pub visible: bool,
    pub text: Option<String>,
}

impl Condition {
    pub fn evaluate(&self, obs: &Observation<'_>) -> ConditionResult {
        let left = resolve(&self.left, obs);
        let right = resolve(&self.right, obs);
        let observed = match (&self.left, &self.right) {
            (Operand::Placeholder(_) | Operand::Len(_), _) => left.clone(),
            (_, Operand::Placeholder(_) | Operand::Len(_)) => right.clone(),
            _ => None,
        };
        let success = match (&left, &right) {
            (Some(l), Some(r)) => self.compare(l, r),
            _ => false,
        };
        ConditionResult {
            condition: self.text.clone(),
            success,
            observed: Some(observed.map_or_else(|| "<missing>".into(), |v| truncate(&v, 200))),
        }
    }

    fn compare(&self, left: &str, right: &str) -> bool {
        let matches = |value: &str, other: &Operand| match other {
            Operand::Any(items) => items.iter().any(|i| equal(value, i)),
            Operand::Pat(p) => glob(p, value),
            _ => false,
        };
        let eq = match (&self.left, &self.right) {
            (_, r @ (Operand::Any(_) | Operand::Pat(_))) => matches(left, r),
            (l @ (Operand::Any(_) | Operand::Pat(_)), _) => matches(right, l),
            _ => equal(left, right),
        };
        match self.op {
            Op::Eq => eq,
            Op::Ne => !eq,
            op => match (number(left), number(right)) {
                (Some(l), Some(r)) => match op {
                    Op::Lt => l < r,
                    Op::Le => l <= r,
                    Op::Gt => l > r,
                    _ => l >= r,
                },
                _ => false,
            },
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.left, self.op.as_str(), self.right)
    }
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status => f.write_str("[STATUS]"),
            Self::ResponseTime => f.write_str("[RESPONSE_TIME]"),
            Self::Body(None) => f.write_str("[BODY]"),
            Self::Body(Some(p)) => write!(f, "[BODY].{p}"),
            Self::Header(h) => write!(f, "[HEADER].{h}"),
            Self::CertificateExpiration => f.write_str("[CERTIFICATE_EXPIRATION]"),
            Self::Connected => f.write_str("[CONNECTED]"),
            Self::Ip => f.write_str("[IP]"),
            Self::DnsRcode => f.write_str("[DNS_RCODE]"),
            Self::Dom(s) => write_selector(f, "DOM", s),
            Self::DomVisible(s) => write_selector(f, "DOM_VISIBLE", s),
            Self::DomText(s) => write_selector(f, "DOM_TEXT", s),
            Self::Title => f.write_str("[TITLE]"),
            Self::JsErrors => f.write_str("[JS_ERRORS]"),
            Self::ConsoleErrors => f.write_str("[CONSOLE_ERRORS]"),
            Self::FailedRequests => f.write_str("[FAILED_REQUESTS]"),
            Self::LoadTime => f.write_str("[LOAD_TIME]"),
            Self::NetworkIdleTime => f.write_str("[NETWORK_IDLE_TIME]"),
        }
    }
}

fn write_selector(f: &mut fmt::Formatter<'_>, name: &str, sel: &str) -> fmt::Result {
    if sel.contains(['>', '<', '=', '!', '(', ')']) {
        write!(f, "[{name}]({sel})")
    } else {
        write!(f, "[{name}].{sel}")
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Placeholder(p) => write!(f, "{p}"),
            Self::Len(p) => write!(f, "len({p})"),
            Self::Any(v) => write!(f, "any({})", v.join(", ")),
            Self::Pat(p) => write!(f, "pat({p})"),
            Self::Literal(l) => f.write_str(l),
        }
    }
}

fn resolve(operand: &Operand, obs: &Observation<'_>) -> Option<String> {
    match operand {
        Operand::Placeholder(p) => placeholder_value(p, obs),
        Operand::Len(p) => placeholder_value(p, obs).map(|v| v.chars().count().to_string()),
        Operand::Literal(l) => Some(l.clone()),
        // any()/pat() are matched, not resolved; they stand in for "some value".
        Operand::Any(_) | Operand::Pat(_) => Some(String::new()),
    }
}

fn placeholder_value(p: &Placeholder, obs: &Observation<'_>) -> Option<String> {
    match p {
        Placeholder::Status => obs.status.map(|s| s.to_string()),
        Placeholder::ResponseTime => obs.response_time_ms.map(|ms| format!("{}", ms.round())),
        Placeholder::Body(None) => obs.body.map(str::to_string),
        Placeholder::Body(Some(path)) => {
            let value: serde_json::Value = serde_json::from_str(obs.body?).ok()?;
            json_path(&value, path).map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        }
        Placeholder::Header(name) => obs
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone()),
        Placeholder::CertificateExpiration => {
            obs.certificate_expiration_ms.map(|ms| ms.to_string())
        }
        Placeholder::Connected => obs.connected.map(|c| c.to_string()),
        Placeholder::Ip => obs.ip.clone(),
        Placeholder::DnsRcode => obs.dns_rcode.clone(),
        Placeholder::Title => obs.title.clone(),
        Placeholder::JsErrors => obs.js_errors.map(|n| n.to_string()),
        Placeholder::ConsoleErrors => obs.console_errors.map(|n| n.to_string()),
        Placeholder::FailedRequests => obs.failed_requests.map(|n| n.to_string()),
        Placeholder::LoadTime => obs.load_time_ms.map(|ms| format!("{}", ms.round())),
        Placeholder::NetworkIdleTime => obs.network_idle_ms.map(|ms| format!("{}", ms.round())),
        Placeholder::Dom(sel) | Placeholder::DomVisible(sel) | Placeholder::DomText(sel) => {
            let facts = obs.dom.iter().find(|d| &d.selector == sel)?;
            match p {
                Placeholder::Dom(_) => Some(facts.present.to_string()),
                Placeholder::DomVisible(_) => Some(facts.visible.to_string()),
                _ => facts.text.clone(),
            }
        }
    }
}

/// `a.b[2].c` into a JSON value.
fn json_path<'v>(mut value: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    for segment in path.split('.') {
        let (key, indexes) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if !key.is_empty() {
            value = value.get(key)?;
        }
        for idx in indexes.split('[').filter(|s| !s.is_empty()) {
            value = value.get(idx.strip_suffix(']')?.parse::<usize>().ok()?)?;
        }
    }
    Some(value)
}

fn equal(a: &str, b: &str) -> bool {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => (x - y).abs() < f64::EPSILON,
        _ => a == b,
    }
}

/// A plain number, or a duration converted to milliseconds.
pub fn number(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<f64>() {
        return n.is_finite().then_some(n);
    }
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    let factor = match unit {
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    Some(n * factor)
}

/// Glob match with `*` (any run) and `?` (one character), iterative so it cannot blow the stack.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn http_obs(body: &str) -> Observation<'_> {
        Observation {
            status: Some(200),
            response_time_ms: Some(120.0),
            body: Some(body),
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
            certificate_expiration_ms: Some(72 * 3_600_000),
            connected: Some(true),
            ip: Some("127.0.0.1".into()),
            ..Observation::default()
        }
    }

    #[test]
    fn the_documented_conditions_hold_on_a_healthy_response() {
        let body = r#"{"status":"UP","items":[{"n":3}]}"#;
        for c in [
            "[STATUS] == 200",
            "[STATUS] == any(200, 301)",
            "[RESPONSE_TIME] < 300",
            "[BODY].status == UP",
            "[BODY] == pat(*UP*)",
            "[CERTIFICATE_EXPIRATION] > 48h",
            "[CONNECTED] == true",
            "[HEADER].content-type == pat(*json*)",
            "[BODY].items[0].n >= 3",
            "len([BODY].status) == 2",
            "[STATUS] != 500",
        ] {
            let cond = parse(c).unwrap_or_else(|e| panic!("{c}: {e}"));
            let r = cond.evaluate(&http_obs(body));
            assert!(r.success, "{c} should hold, saw {:?}", r.observed);
        }
    }

    #[test]
    fn failing_conditions_report_the_value_seen() {
        let cond = parse("[STATUS] == 201").expect("parses");
        let r = cond.evaluate(&http_obs(""));
        assert!(!r.success);
        assert_eq!(r.observed.as_deref(), Some("200"));
        let r = parse("[BODY].missing == x")
            .expect("parses")
            .evaluate(&http_obs("{}"));
        assert!(!r.success);
        assert_eq!(r.observed.as_deref(), Some("<missing>"));
    }

    #[test]
    fn parse_errors_give_a_position() {
        let cases = [
            ("[STATUS] = 200", 8, "operator"),
            ("[STATUSS] == 200", 0, "unknown placeholder"),
            ("[STATUS] == ", 12, "expected a value"),
            ("[HEADER] == x", 8, "header name"),
            ("[STATUS] < pat(2*)", 10, "need == or !="),
            ("[BODY] == pat(*ok*", 18, "closing"),
        ];
        for (text, pos, msg) in cases {
            let e = parse(text).expect_err(text);
            assert_eq!(e.position, pos, "{text}: {e}");
            assert!(e.message.contains(msg), "{text}: {e}");
        }
    }

    #[test]
    fn browser_placeholders_read_the_page_facts() {
        let conds: Vec<Condition> = [
            "[DOM].#app .ready == true",
            "[DOM_VISIBLE](ul > li.item) == true",
            "[DOM_TEXT].h1 == pat(Welcome*)",
            "[JS_ERRORS] == 0",
            "[LOAD_TIME] < 2000",
            "[TITLE] == Shop",
        ]
        .iter()
        .map(|c| parse(c).unwrap_or_else(|e| panic!("{c}: {e}")))
        .collect();
        assert_eq!(dom_selectors(&conds), ["#app .ready", "ul > li.item", "h1"]);
        let facts = |sel: &str, text: Option<&str>| DomFacts {
            selector: sel.into(),
            present: true,
            visible: true,
            text: text.map(Into::into),
        };
        let obs = Observation {
            title: Some("Shop".into()),
            js_errors: Some(0),
            load_time_ms: Some(812.4),
            dom: vec![
                facts("#app .ready", None),
                facts("ul > li.item", None),
                facts("h1", Some("Welcome back")),
            ],
            ..Observation::default()
        };
        for c in &conds {
            let r = c.evaluate(&obs);
            assert!(r.success, "{}: {:?}", c.text, r.observed);
        }
        let e = parse("[DOM].ul > li == true").expect_err("ambiguous");
        assert!(e.message.contains("parentheses"), "{e}");
        assert_eq!(
            parse("[DOM](ul > li) == true").expect("ok").to_string(),
            "[DOM](ul > li) == true"
        );
    }

    #[test]
    fn durations_compare_in_milliseconds() {
        assert_eq!(number("48h"), Some(172_800_000.0));
        assert_eq!(number("500ms"), Some(500.0));
        assert_eq!(number("1.5s"), Some(1_500.0));
        assert_eq!(number("abc"), None);
    }

    #[test]
    fn glob_handles_stars_and_question_marks() {
        assert!(glob("*ok*", "it is ok!"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(glob("***", ""));
    }

    fn placeholder() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("[STATUS]".to_string()),
            Just("[RESPONSE_TIME]".to_string()),
            Just("[BODY]".to_string()),
            "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}".prop_map(|p| format!("[BODY].{p}")),
            "[a-z][a-z-]{0,10}".prop_map(|h| format!("[HEADER].{h}")),
            Just("[CONNECTED]".to_string()),
        ]
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_any_input(s in "\\PC{0,80}") {
            let _ = parse(&s);
        }

        #[test]
        fn parse_never_panics_on_condition_shaped_input(
            s in "[\\[\\]()a-zA-Z_.=!<>*?, 0-9]{0,60}"
        ) {
            if let Ok(c) = parse(&s) {
                let _ = c.evaluate(&Observation::default());
            }
        }

        #[test]
        fn generated_conditions_parse_and_print_back(
            left in placeholder(),
            op in prop_oneof![Just("=="), Just("!="), Just("<"), Just("<="), Just(">"), Just(">=")],
            right in "[a-zA-Z0-9_]{1,10}",
        ) {
            let text = format!("{left} {op} {right}");
            let c = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(c.to_string(), text.clone());
            let again = parse(&c.to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(again, c);
        }

        #[test]
        fn glob_star_matches_everything(s in "\\PC{0,40}") {
            prop_assert!(glob("*", &s));
            let pattern = format!("*{}*", s);
            let text = format!("x{}y", s);
            prop_assert!(glob(&pattern, &text));
        }
    }
}
