//! Notification channels: where inspection reports go, and the message they carry.
//!
//! A [`ChannelSpec`] is one destination: a generic webhook (JSON body, HMAC-signed when it has a
//! secret), a Slack-compatible incoming webhook, a DingTalk or Feishu (Lark) robot, or email over
//! SMTP. acmangkut stores channels and queues deliveries; `acmangkut::engine::notify::Sender`
//! makes one delivery attempt.
//!
//! Credentials never leave acmangkut in the clear: [`ChannelSpec::redacted`] (API reads, YAML
//! export, `Debug`) replaces secrets, passwords, sensitive header values and the token parts of
//! robot URLs with [`REDACTED`], and [`ChannelSpec::keep_secrets_from`] puts the stored values
//! back when such a spec is applied again.

use crate::problem::ApiError;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use url::Url;

/// What a credential reads as once redacted; also accepted on input as "keep the stored one".
pub const REDACTED: &str = "******";
pub const MAX_URL_LEN: usize = 2048;
pub const MAX_SECRET_LEN: usize = 512;
pub const MAX_HEADERS: usize = 32;
pub const MAX_RECIPIENTS: usize = 50;
pub const DEFAULT_SMTP_PORT: u16 = 587;
/// Headers a generic webhook sets itself; configured headers cannot replace them.
pub const RESERVED_HEADERS: [&str; 6] = [
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
    "x-has-signature",
    "x-has-event",
];

/// One notification channel. `Debug` prints the [`redacted`](Self::redacted) form.
#[derive(Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelSpec {
    /// POSTs the event (`Message::payload`) as JSON; signed in `X-HAS-Signature` when `secret`
    /// is set.
    Webhook {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<String>)]
        secret: Option<Secret>,
        /// Extra request headers (an `Authorization` token, a tenant id).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
    },
    /// A Slack incoming webhook, or any service that accepts Slack's `{"text": …}`.
    Slack { url: String },
    /// A DingTalk custom robot; `secret` is its "加签" signing secret (`SEC…`).
    Dingtalk {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<String>)]
        secret: Option<Secret>,
    },
    /// A Feishu (Lark) custom bot; `secret` is its signature-verification secret.
    Feishu {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<String>)]
        secret: Option<Secret>,
    },
    /// Plain-text email over SMTP.
    Email {
        host: String,
        #[serde(default = "default_smtp_port")]
        port: u16,
        #[serde(default)]
        tls: SmtpTls,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<String>)]
        password: Option<Secret>,
        /// `ops@example.com` or `HAS <ops@example.com>`.
        from: String,
        to: Vec<String>,
    },
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain connect, then `STARTTLS` (required: a server that does not offer it fails).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// No encryption at all: only for a relay on loopback or a trusted network.
    None,
}

/// What a channel delivers: every sender renders `title`, `text` and `link` its own way; the
/// generic webhook sends `payload` (the full JSON event) as is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub title: String,
    /// Plain text or light markdown.
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Where to read more (the run in the console).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The event for generic webhooks; when null they get `{title, text, level, link}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

fn default_smtp_port() -> u16 {
    DEFAULT_SMTP_PORT
}

/// Which part of a channel's URL is a credential.
#[derive(Clone, Copy)]
pub(crate) enum UrlSecret {
    /// Only a userinfo password and query parameters with sensitive names (generic webhooks).
    Sensitive,
    /// The whole path (Slack `/services/T…/B…/…`, Feishu `/open-apis/bot/v2/hook/<token>`).
    Path,
    /// One query parameter (DingTalk `access_token`).
    Query(&'static str),
}

impl ChannelSpec {
    pub fn kind_str(&self) -> &'static str {
        match self {
            Self::Webhook { .. } => "webhook",
            Self::Slack { .. } => "slack",
            Self::Dingtalk { .. } => "dingtalk",
            Self::Feishu { .. } => "feishu",
            Self::Email { .. } => "email",
        }
    }

    /// Checks what serde cannot; `prefix` names the field (`spec.`).
    pub fn validate(&self, prefix: &str) -> Result<(), ApiError> {
        let f = |name: &str| format!("{prefix}{name}");
        match self {
            Self::Webhook {
                url,
                secret,
                headers,
            } => {
                http_url(url, &f("url"))?;
                secret_value(secret.as_ref(), &f("secret"))?;
                if headers.len() > MAX_HEADERS {
                    return Err(ApiError::invalid(
                        f("headers"),
                        format!("at most {MAX_HEADERS} headers"),
                    ));
                }
                for (name, value) in headers {
                    header(name, value, &f(&format!("headers.{name}")))?;
                }
                Ok(())
            }
            Self::Slack { url } => http_url(url, &f("url")),
            Self::Dingtalk { url, secret } | Self::Feishu { url, secret } => {
                http_url(url, &f("url"))?;
                secret_value(secret.as_ref(), &f("secret"))
            }
            Self::Email {
                host,
                port,
                tls: _,
                username,
                password,
                from,
                to,
            } => {
                let host_ok = host.parse::<std::net::IpAddr>().is_ok()
                    || host.len() <= 253
                        && matches!(url::Host::parse(host), Ok(url::Host::Domain(_)));
                if !host_ok {
                    return Err(ApiError::invalid(
                        f("host"),
                        "must be a host name or an IP address",
                    ));
                }
                if *port == 0 {
                    return Err(ApiError::invalid(f("port"), "must be between 1 and 65535"));
                }
                match (username, password) {
                    (Some(u), Some(_)) if u.is_empty() || u.len() > 256 || has_control(u) => {
                        return Err(ApiError::invalid(
                            f("username"),
                            "must be 1 to 256 characters",
                        ));
                    }
                    (Some(_), Some(p)) => secret_value(Some(p), &f("password"))?,
                    (Some(_), None) => {
                        return Err(ApiError::invalid(
                            f("password"),
                            "is required with a username",
                        ));
                    }
                    (None, Some(_)) => {
                        return Err(ApiError::invalid(
                            f("username"),
                            "is required with a password",
                        ));
                    }
                    (None, None) => {}
                }
                if parse_mailbox(from).is_none() {
                    return Err(ApiError::invalid(f("from"), MAILBOX_HINT));
                }
                if to.is_empty() || to.len() > MAX_RECIPIENTS {
                    return Err(ApiError::invalid(
                        f("to"),
                        format!("list 1 to {MAX_RECIPIENTS} recipients"),
                    ));
                }
                for (i, rcpt) in to.iter().enumerate() {
                    if parse_mailbox(rcpt).is_none() {
                        return Err(ApiError::invalid(f(&format!("to[{i}]")), MAILBOX_HINT));
                    }
                }
                Ok(())
            }
        }
    }

    /// The spec as API reads, exports and logs show it: secrets, passwords, sensitive header
    /// values and the credential part of URLs replaced with [`REDACTED`].
    pub fn redacted(&self) -> Self {
        let mut r = self.clone();
        if let Some((url, how, secret)) = r.http_parts() {
            *url = mask_url(url, how);
            if let Some(secret) = secret {
                hide(secret);
            }
        }
        match &mut r {
            Self::Webhook { headers, .. } => {
                for (name, value) in headers.iter_mut() {
                    if sensitive_name(name) {
                        *value = REDACTED.into();
                    }
                }
            }
            Self::Email { password, .. } => hide(password),
            _ => {}
        }
        r
    }

    /// Puts back what [`redacted`](Self::redacted) hid, from the stored `old` spec of the same
    /// kind: a masked URL equal to the old one's masked form, and an absent, empty or
    /// [`REDACTED`] secret, password or header value.
    ///
    /// Secrets follow their destination: they are kept only while the URL (email: host, port and
    /// username) stays the same, so nobody who may edit a channel but not read it can point it
    /// at their own server and collect the stored credential. To drop a secret, replace the
    /// channel.
    pub fn keep_secrets_from(&mut self, old: &Self) {
        if self.kind_str() != old.kind_str() {
            return;
        }
        let mut old = old.clone();
        let same_url = match (self.http_parts(), old.http_parts()) {
            (Some((url, how, secret)), Some((old_url, _, old_secret))) => {
                restore_url(url, old_url, how);
                if let (Some(secret), Some(old_secret)) = (secret, old_secret)
                    && url == old_url
                {
                    restore(secret, old_secret);
                }
                url == old_url
            }
            _ => false,
        };
        match (self, &old) {
            (Self::Webhook { headers, .. }, Self::Webhook { headers: old_h, .. }) if same_url => {
                for (name, value) in headers.iter_mut() {
                    if let Some(old) = old_h.get(name)
                        && is_placeholder(value)
                    {
                        value.clone_from(old);
                    }
                }
            }
            (
                Self::Email {
                    host,
                    port,
                    username,
                    password,
                    ..
                },
                Self::Email {
                    host: h,
                    port: p,
                    username: u,
                    password: old_password,
                    ..
                },
            ) if (&*host, &*port, &*username) == (h, p, u) => restore(password, old_password),
            _ => {}
        }
    }

    /// An HTTP channel's URL, which part of it is a credential, and its signing secret.
    fn http_parts(&mut self) -> Option<(&mut String, UrlSecret, Option<&mut Option<Secret>>)> {
        match self {
            Self::Webhook { url, secret, .. } => Some((url, UrlSecret::Sensitive, Some(secret))),
            Self::Slack { url } => Some((url, UrlSecret::Path, None)),
            Self::Dingtalk { url, secret } => {
                Some((url, UrlSecret::Query("access_token"), Some(secret)))
            }
            Self::Feishu { url, secret } => Some((url, UrlSecret::Path, Some(secret))),
            Self::Email { .. } => None,
        }
    }
}

/// The [`redacted`](ChannelSpec::redacted) spec, as JSON.
impl fmt::Debug for ChannelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_string(&self.redacted()) {
            Ok(json) => write!(f, "ChannelSpec{json}"),
            Err(_) => write!(f, "ChannelSpec {{ kind: {} }}", self.kind_str()),
        }
    }
}

const MAILBOX_HINT: &str = "must be an email address (ops@example.com or Name <ops@example.com>)";

/// Splits `Name <local@domain>` or `local@domain` into the display name and the address, or
/// `None` when it is not one. Stricter than RFC 5322 (ASCII dot-atom local parts, host-name
/// domains, no quoting) so that every accepted value is one an SMTP client takes as is.
pub fn parse_mailbox(s: &str) -> Option<(Option<&str>, &str)> {
    let s = s.trim();
    let (name, addr) = match s.split_once('<') {
        Some((name, rest)) => {
            let addr = rest.strip_suffix('>')?;
            let name = name.trim();
            let name_ok = name
                .chars()
                .all(|c| !c.is_control() && !"<>\"\\,;:@()[]".contains(c));
            if !name_ok {
                return None;
            }
            ((!name.is_empty()).then_some(name), addr)
        }
        None => (None, s),
    };
    let (local, domain) = addr.split_once('@')?;
    let atom = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~-".contains(&b))
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let ok = local.len() <= 64
        && local.split('.').all(atom)
        && domain.len() <= 253
        && domain.split('.').all(label);
    ok.then_some((name, addr))
}

fn http_url(raw: &str, field: &str) -> Result<(), ApiError> {
    if raw.trim().is_empty() || raw.len() > MAX_URL_LEN {
        return Err(ApiError::invalid(
            field,
            format!("must be 1 to {MAX_URL_LEN} characters"),
        ));
    }
    let url = Url::parse(raw)
        .map_err(|e| ApiError::invalid(field, format!("not an absolute URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiError::invalid(field, "the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ApiError::invalid(field, "the URL has no host"));
    }
    if raw.contains(REDACTED) {
        return Err(ApiError::invalid(
            field,
            format!("still holds the redaction marker {REDACTED}: give the real URL"),
        ));
    }
    Ok(())
}

fn secret_value(secret: Option<&Secret>, field: &str) -> Result<(), ApiError> {
    match secret {
        Some(s) if is_placeholder(s.expose()) => Err(ApiError::invalid(
            field,
            "is empty or the redaction marker: give the real value, or leave the field out",
        )),
        Some(s) if s.expose().len() > MAX_SECRET_LEN => Err(ApiError::invalid(
            field,
            format!("must be at most {MAX_SECRET_LEN} characters"),
        )),
        _ => Ok(()),
    }
}

fn header(name: &str, value: &str, field: &str) -> Result<(), ApiError> {
    // RFC 9110 token characters.
    let token = !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(ApiError::invalid(field, "not a valid header name"));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(ApiError::invalid(
            field,
            "is set by HAS and cannot be replaced",
        ));
    }
    if value.len() > 4096 || value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(ApiError::invalid(
            field,
            "must be at most 4096 characters without control characters",
        ));
    }
    if value == REDACTED {
        return Err(ApiError::invalid(
            field,
            "is the redaction marker: give the real value",
        ));
    }
    Ok(())
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

fn is_placeholder(s: &str) -> bool {
    s.is_empty() || s == REDACTED
}

/// Header and query parameter names whose values are credentials.
pub(crate) fn sensitive_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "auth",
        "token",
        "secret",
        "key",
        "password",
        "signature",
        "cookie",
        "session",
    ]
    .iter()
    .any(|w| n.contains(w))
}

fn hide(secret: &mut Option<Secret>) {
    if secret.is_some() {
        *secret = Some(Secret::new(REDACTED));
    }
}

fn restore(secret: &mut Option<Secret>, old: &Option<Secret>) {
    if secret.as_ref().is_none_or(|s| is_placeholder(s.expose())) {
        secret.clone_from(old);
    }
}

pub(crate) fn restore_url(url: &mut String, old: &str, how: UrlSecret) {
    if *url == mask_url(old, how) {
        *url = old.to_string();
    }
}

/// `raw` with its credential part replaced with [`REDACTED`]; unchanged when it has none.
pub(crate) fn mask_url(raw: &str, how: UrlSecret) -> String {
    let Ok(mut url) = Url::parse(raw) else {
        return REDACTED.into();
    };
    let mut changed = false;
    if url.password().is_some() {
        changed |= url.set_password(Some(REDACTED)).is_ok();
    }
    let secret_param = |k: &str| match how {
        UrlSecret::Sensitive => sensitive_name(k),
        UrlSecret::Query(name) => k == name,
        UrlSecret::Path => false,
    };
    if let UrlSecret::Path = how {
        url.set_path(REDACTED);
        url.set_query(None);
        changed = true;
    } else if url.query_pairs().any(|(k, _)| secret_param(&k)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret_param(&k) {
                    REDACTED.into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        changed = true;
    }
    if changed { url.into() } else { raw.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn spec(v: Value) -> ChannelSpec {
        serde_json::from_value(v).expect("a valid spec")
    }

    /// One channel of each kind, with every credential set.
    fn full_specs() -> Vec<ChannelSpec> {
        vec![
            spec(json!({"kind": "webhook",
                       "url": "https://u:pw@hooks.example.com/in?tenant=a&api_key=k1",
                       "secret": "whsec",
                       "headers": {"Authorization": "Bearer t0k", "X-Env": "prod"}})),
            spec(json!({"kind": "slack", "url": "https://hooks.slack.com/services/T0/B0/XXXX"})),
            spec(json!({"kind": "dingtalk",
                       "url": "https://oapi.dingtalk.com/robot/send?access_token=dt0k",
                       "secret": "SECdt"})),
            spec(
                json!({"kind": "feishu", "url": "https://open.feishu.cn/open-apis/bot/v2/hook/fs0k",
                        "secret": "fssec"}),
            ),
            spec(json!({"kind": "email", "host": "smtp.example.com",
                       "username": "has", "password": "smtppw",
                       "from": "HAS <has@example.com>", "to": ["ops@example.com"]})),
        ]
    }

    const CREDENTIALS: [&str; 9] = [
        "pw", "k1", "whsec", "t0k", "XXXX", "dt0k", "SECdt", "fs0k", "smtppw",
    ];

    #[test]
    fn specs_of_every_kind_parse_validate_and_name_their_kind() {
        let kinds: Vec<_> = full_specs().iter().map(ChannelSpec::kind_str).collect();
        assert_eq!(kinds, ["webhook", "slack", "dingtalk", "feishu", "email"]);
        for s in full_specs() {
            s.validate("spec.").expect("valid");
            let back: ChannelSpec =
                serde_json::from_str(&serde_json::to_string(&s).expect("json")).expect("parse");
            assert_eq!(back, s, "serialising keeps the real values for storage");
        }
    }

    #[test]
    fn email_defaults_to_port_587_with_starttls() {
        let s = spec(json!({"kind": "email", "host": "mx", "from": "a@b", "to": ["c@d"]}));
        let ChannelSpec::Email { port, tls, .. } = s else {
            panic!("not email: {s:?}")
        };
        assert_eq!((port, tls), (587, SmtpTls::Starttls));
    }

    #[test]
    fn unknown_kinds_and_fields_are_rejected() {
        for bad in [
            json!({"kind": "pager", "url": "https://x/"}),
            json!({"kind": "slack", "url": "https://x/", "secret": "s"}),
            json!({"kind": "webhook", "url": "https://x/", "header": {}}),
            json!({"kind": "email", "host": "mx", "from": "a@b", "to": ["c@d"], "tls": "ssl"}),
            json!({"kind": "email", "host": "mx", "from": "a@b", "to": ["c@d"], "port": 70000}),
            json!({"url": "https://x/"}),
        ] {
            assert!(
                serde_json::from_value::<ChannelSpec>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn validate_names_the_offending_field() {
        let webhook = |extra: Value| {
            let mut v = json!({"kind": "webhook", "url": "https://example.com/hook"});
            v.as_object_mut()
                .expect("object")
                .extend(extra.as_object().expect("object").clone());
            v
        };
        let email = |extra: Value| {
            let mut v = json!({"kind": "email", "host": "smtp.example.com",
                               "from": "has@example.com", "to": ["ops@example.com"]});
            v.as_object_mut()
                .expect("object")
                .extend(extra.as_object().expect("object").clone());
            v
        };
        #[rustfmt::skip]
        let table = [
            (webhook(json!({"url": ""})), "spec.url", "an empty URL"),
            (webhook(json!({"url": "/relative"})), "spec.url", "a relative URL"),
            (webhook(json!({"url": "ftp://example.com/"})), "spec.url", "not http(s)"),
            (webhook(json!({"url": format!("https://e.com/{}", "a".repeat(2048))})),
             "spec.url", "too long"),
            (webhook(json!({"secret": ""})), "spec.secret", "an empty secret signs nothing"),
            (webhook(json!({"secret": "x".repeat(513)})), "spec.secret", "too long"),
            (webhook(json!({"headers": {"Bad Name": "v"}})),
             "spec.headers.Bad Name", "not a token"),
            (webhook(json!({"headers": {"x-has-signature": "v"}})),
             "spec.headers.x-has-signature", "HAS signs"),
            (webhook(json!({"headers": {"Content-Type": "text/plain"}})),
             "spec.headers.Content-Type", "the body is JSON"),
            (webhook(json!({"headers": {"X-A": "a\r\nX-B: b"}})),
             "spec.headers.X-A", "header injection"),
            (webhook(json!({"headers": {"Authorization": REDACTED}})),
             "spec.headers.Authorization", "a redacted value"),
            (json!({"kind": "slack", "url": "https://hooks.slack.com/******"}),
             "spec.url", "a redacted URL"),
            (json!({"kind": "dingtalk",
                    "url": "https://oapi.dingtalk.com/robot/send?access_token=t",
                    "secret": REDACTED}), "spec.secret", "a redacted secret"),
            (json!({"kind": "feishu", "url": "https://"}), "spec.url", "no host"),
            (email(json!({"host": ""})), "spec.host", "no host"),
            (email(json!({"host": "smtp example.com"})), "spec.host", "a space"),
            (email(json!({"port": 0})), "spec.port", "port 0"),
            (email(json!({"password": "pw"})), "spec.username", "a password for nobody"),
            (email(json!({"username": "has"})), "spec.password", "a username without a password"),
            (email(json!({"username": "", "password": "pw"})),
             "spec.username", "an empty username"),
            (email(json!({"username": "has", "password": ""})),
             "spec.password", "an empty password"),
            (email(json!({"from": "nobody"})), "spec.from", "no @"),
            (email(json!({"from": "HAS <has@example.com"})), "spec.from", "an unclosed <"),
            (email(json!({"to": []})), "spec.to", "no recipients"),
            (email(json!({"to": vec!["a@b.c"; 51]})), "spec.to", "too many recipients"),
            (email(json!({"to": ["ops@example.com", "ops at example.com"]})),
             "spec.to[1]", "not an address"),
            (email(json!({"to": ["Ops, Team <ops@example.com>"]})),
             "spec.to[0]", "a comma needs quoting"),
            (email(json!({"to": ["ops@-example.com"]})), "spec.to[0]", "a bad domain label"),
            (email(json!({"to": ["o..ps@example.com"]})), "spec.to[0]", "an empty atom"),
        ];
        for (input, field, why) in table {
            let err = spec(input.clone()).validate("spec.").expect_err(why);
            assert_eq!(err.field.as_deref(), Some(field), "{why}: {input}: {err}");
        }
    }

    #[test]
    fn mailboxes_split_into_name_and_address() {
        assert_eq!(
            parse_mailbox("ops@example.com"),
            Some((None, "ops@example.com"))
        );
        assert_eq!(
            parse_mailbox(" HAS Bot <has+ci@mail.example.com> "),
            Some((Some("HAS Bot"), "has+ci@mail.example.com"))
        );
        assert_eq!(parse_mailbox("<a@b>"), Some((None, "a@b")));
        assert_eq!(parse_mailbox("a@b@c"), None);
    }

    #[test]
    fn redaction_hides_every_credential_and_debug_prints_the_redacted_form() {
        for s in full_specs() {
            let shown = [
                serde_json::to_string(&s.redacted()).expect("json"),
                format!("{s:?}"),
            ];
            for text in shown {
                for c in CREDENTIALS {
                    assert!(!text.contains(c), "{c} shows in {text}");
                }
            }
        }
        let r = full_specs()[0].redacted();
        let ChannelSpec::Webhook { url, headers, .. } = &r else {
            panic!("{r:?}")
        };
        assert_eq!(
            url,
            "https://u:******@hooks.example.com/in?tenant=a&api_key=******"
        );
        assert_eq!(headers["X-Env"], "prod", "harmless headers stay readable");
        assert_eq!(
            serde_json::to_value(full_specs()[2].redacted()).expect("json"),
            json!({"kind": "dingtalk",
                   "url": "https://oapi.dingtalk.com/robot/send?access_token=******",
                   "secret": REDACTED})
        );
        assert_eq!(
            serde_json::to_value(full_specs()[1].redacted()).expect("json")["url"],
            "https://hooks.slack.com/******"
        );
    }

    #[test]
    fn applying_a_redacted_spec_again_keeps_the_stored_credentials() {
        for stored in full_specs() {
            let mut applied = stored.redacted();
            assert!(applied.validate("").is_err(), "the marker is no credential");
            applied.keep_secrets_from(&stored);
            assert_eq!(applied, stored);
        }
    }

    #[test]
    fn an_absent_secret_keeps_the_stored_one_for_the_same_destination() {
        let stored = full_specs()[3].clone();
        let mut applied = spec(json!({"kind": "feishu",
                                      "url": "https://open.feishu.cn/open-apis/bot/v2/hook/fs0k"}));
        applied.keep_secrets_from(&stored);
        assert_eq!(applied, stored);

        let stored = full_specs()[4].clone();
        let mut applied = stored.redacted();
        if let ChannelSpec::Email { to, password, .. } = &mut applied {
            to.push("sre@example.com".into());
            *password = None;
        }
        applied.keep_secrets_from(&stored);
        let ChannelSpec::Email { password, to, .. } = &applied else {
            panic!("{applied:?}")
        };
        assert_eq!(password.as_ref().map(Secret::expose), Some("smtppw"));
        assert_eq!(to.len(), 2, "the other changes stand");
    }

    #[test]
    fn credentials_do_not_follow_a_channel_to_a_new_destination() {
        let moved = [
            json!({"kind": "webhook", "url": "https://evil.example/in", "secret": REDACTED,
                   "headers": {"Authorization": REDACTED}}),
            json!({"kind": "dingtalk",
                   "url": "https://evil.example/robot/send?access_token=******"}),
            json!({"kind": "feishu", "url": "https://evil.example/******", "secret": ""}),
            json!({"kind": "email", "host": "evil.example", "username": "has", "password": REDACTED,
                   "from": "a@b", "to": ["c@d"]}),
            json!({"kind": "email", "host": "smtp.example.com", "username": "other",
                   "from": "a@b", "to": ["c@d"]}),
        ];
        for (new, stored) in moved.into_iter().zip([0, 2, 3, 4, 4]) {
            let stored = &full_specs()[stored];
            let mut applied = spec(new.clone());
            applied.keep_secrets_from(stored);
            let text = serde_json::to_string(&applied).expect("json");
            for c in CREDENTIALS {
                assert!(!text.contains(c), "{c} followed {new} to {text}");
            }
        }
        let mut other_kind =
            spec(json!({"kind": "slack", "url": "https://hooks.slack.com/******"}));
        other_kind.keep_secrets_from(&full_specs()[3]);
        assert_eq!(other_kind.redacted(), other_kind, "nothing crosses kinds");
    }

    fn json_ish() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("kind"),
            Just("url"),
            Just("secret"),
            Just("headers"),
            Just("host"),
            Just("port"),
            Just("tls"),
            Just("username"),
            Just("password"),
            Just("from"),
            Just("to"),
            Just("x"),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            prop_oneof![
                Just("webhook"),
                Just("slack"),
                Just("dingtalk"),
                Just("feishu"),
                Just("email"),
                Just("none"),
                Just("tls"),
                Just(REDACTED),
                Just("a@b"),
                Just("N <a@b>"),
                Just("https://h/x?access_token=t"),
                Just("http://u:p@[::1]:1/"),
                Just(""),
            ]
            .prop_map(Value::from),
            "\\PC{0,24}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 32, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key.clone().prop_map(String::from), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn parsing_validating_and_redacting_never_panic(v in json_ish(), old in json_ish()) {
            if let Ok(mut s) = serde_json::from_value::<ChannelSpec>(v) {
                let _ = s.validate("spec.");
                let r = s.redacted();
                prop_assert_eq!(r.redacted(), r.clone(), "redaction is idempotent");
                let _ = format!("{s:?}");
                if let Ok(old) = serde_json::from_value::<ChannelSpec>(old) {
                    s.keep_secrets_from(&old);
                    let _ = s.validate("");
                }
            }
        }

        #[test]
        fn any_mailbox_text_is_judged_without_panicking(s in "\\PC{0,40}") {
            let _ = parse_mailbox(&s);
        }
    }
}
