//! Email over SMTP (lettre on tokio, rustls): a plain-text message, subject = title, to every
//! recipient of the channel in one transaction. No connection pool: one attempt, one session.

use super::{Outcome, plain_text};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message as Email};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use shared::notify::{ChannelSpec, Message, SmtpTls, parse_mailbox};
use std::time::Duration;

/// The email `spec` describes for `msg`, ready for the SMTP envelope.
pub fn build(spec: &ChannelSpec, msg: &Message) -> Result<Email, String> {
    let ChannelSpec::Email { from, to, .. } = spec else {
        return Err(format!("a {} channel is not email", spec.kind_str()));
    };
    // Header injection is lettre's to prevent; a folded title just reads better on one line.
    let subject: String = msg
        .title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut builder = Email::builder()
        .from(mailbox(from)?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for rcpt in to {
        builder = builder.to(mailbox(rcpt)?);
    }
    builder
        .body(plain_text(msg))
        .map_err(|e| format!("the email could not be built: {e}"))
}

fn mailbox(s: &str) -> Result<Mailbox, String> {
    let (name, addr) = parse_mailbox(s).ok_or_else(|| format!("{s} is not an email address"))?;
    let address: Address = addr
        .parse()
        .map_err(|e| format!("{addr} is not an email address: {e}"))?;
    Ok(Mailbox::new(name.map(str::to_string), address))
}

pub(super) async fn send(spec: &ChannelSpec, msg: &Message, timeout: Duration) -> Outcome {
    let ChannelSpec::Email {
        host,
        port,
        tls,
        username,
        password,
        ..
    } = spec
    else {
        return Outcome::failed(None, format!("a {} channel is not email", spec.kind_str()));
    };
    let email = match build(spec, msg) {
        Ok(e) => e,
        Err(e) => return Outcome::failed(None, e),
    };
    let tls = match tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Starttls | SmtpTls::Tls => match TlsParameters::new(host.clone()) {
            Ok(params) if *tls == SmtpTls::Tls => Tls::Wrapper(params),
            Ok(params) => Tls::Required(params),
            Err(e) => return Outcome::failed(None, format!("TLS setup failed: {e}")),
        },
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
        .port(*port)
        .tls(tls)
        .timeout(Some(timeout));
    if let (Some(user), Some(pass)) = (username, password) {
        transport =
            transport.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
    }
    match transport.build().send(email).await {
        Ok(resp) => Outcome::ok(Some(u16::from(resp.code()))),
        Err(e) => {
            let code = e.status().map(u16::from);
            let what = if e.is_permanent() || e.is_transient() {
                "the SMTP server refused it"
            } else if e.is_timeout() {
                "timed out"
            } else {
                "SMTP failed"
            };
            Outcome::failed(code, format!("{what}: {}", one_line(&e.to_string())))
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_email_has_the_title_as_subject_and_every_recipient() {
        let spec: ChannelSpec = serde_json::from_value(json!({"kind": "email", "host": "mx",
            "from": "HAS <has@example.com>", "to": ["a@example.com", "B <b@example.com>"]}))
        .expect("spec");
        let msg = Message {
            title: "Nightly\r\nBcc: x@evil".into(),
            text: "3 findings".into(),
            ..Message::default()
        };
        let email = build(&spec, &msg).expect("email");
        let to: Vec<String> = email
            .envelope()
            .to()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(to, ["a@example.com", "b@example.com"]);
        let text = String::from_utf8(email.formatted()).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("headers, then the body");
        assert!(head.contains("Subject: Nightly  Bcc: x@evil\r\n"), "{head}");
        assert!(!head.contains("\r\nBcc:"), "no header was injected: {head}");
        assert!(body.ends_with("3 findings"), "{body}");
    }
}
