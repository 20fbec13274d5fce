//! Notification channels over real sockets: each sender makes one attempt against a local peer
//! that checks what the real service would (signatures recomputed from the secret, robot
//! verdicts, SMTP replies), and failures come back described, never as panics.

use acmangkut::engine::notify::{Attempt, Sender};
use has_tests::smtp::SmtpSink;
use has_tests::webhook::{
    WebhookReceiver, verify_dingtalk_sign, verify_feishu_sign, verify_has_signature,
};
use serde_json::{Value, json};
use shared::notify::{ChannelSpec, Message};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

fn spec(v: Value) -> ChannelSpec {
    let spec: ChannelSpec = serde_json::from_value(v).expect("a channel spec");
    spec.validate("").expect("a valid channel");
    spec
}

fn message(payload: Value) -> Message {
    Message {
        title: "Nightly inspection: 2 findings".into(),
        text: "disk /var at 91% (> 90%)\ncertificate expires in 5 days".into(),
        level: Some("high".into()),
        link: Some("http://has.test/inspection/runs/7".into()),
        payload,
    }
}

async fn send(spec: &ChannelSpec, msg: &Message) -> Attempt {
    Sender::new(&has_tests::outbound())
        .expect("client")
        .send(spec, msg, TIMEOUT)
        .await
}

/// A loopback port where nothing listens.
fn refused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[tokio::test]
async fn a_signed_webhook_posts_the_event_with_a_signature_only_the_secret_verifies() {
    let receiver = WebhookReceiver::start().await;
    let channel = spec(
        json!({"kind": "webhook", "url": receiver.url("/hooks/has"), "secret": "whsec_1",
                              "headers": {"Authorization": "Bearer r3ceiver", "X-Env": "test"}}),
    );
    let event = json!({"event": "inspection.run.finished", "run": {"id": 7, "findings": 2}});

    let attempt = send(&channel, &message(event.clone())).await;

    assert!(attempt.ok, "{attempt:?}");
    assert_eq!((attempt.status_code, attempt.error), (Some(200), None));
    let req = receiver.single();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/hooks/has")
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("x-has-event"), Some("inspection.run.finished"));
    assert_eq!(req.header("authorization"), Some("Bearer r3ceiver"));
    assert_eq!(req.header("x-env"), Some("test"));
    assert_eq!(req.json(), event, "the body is the event itself");
    let sig = req.header("x-has-signature").expect("signed");
    assert!(sig.starts_with("t="), "{sig}");
    verify_has_signature("whsec_1", sig, &req.body, 300).expect("the receiver accepts it");
    assert!(
        verify_has_signature("whsec_2", sig, &req.body, 300).is_err(),
        "a wrong secret"
    );
    let mut tampered = req.body.clone();
    tampered.push(b' ');
    assert!(
        verify_has_signature("whsec_1", sig, &tampered, 300).is_err(),
        "a changed body"
    );
}

#[tokio::test]
async fn an_unsigned_webhook_without_an_event_gets_the_message_and_no_signature() {
    let receiver = WebhookReceiver::start().await;
    let channel = spec(json!({"kind": "webhook", "url": receiver.url("/in")}));

    let attempt = send(&channel, &message(Value::Null)).await;

    assert!(attempt.ok, "{attempt:?}");
    let req = receiver.single();
    assert_eq!(req.header("x-has-signature"), None);
    assert_eq!(req.header("x-has-event"), Some("inspection"));
    assert_eq!(req.json()["title"], "Nightly inspection: 2 findings");
    assert_eq!(req.json()["level"], "high");
    assert_eq!(req.json()["link"], "http://has.test/inspection/runs/7");
}

#[tokio::test]
async fn a_webhook_answering_500_or_a_redirect_is_a_failed_attempt_with_its_status() {
    let receiver = WebhookReceiver::start().await;
    let channel = spec(json!({"kind": "webhook", "url": receiver.url("/in"), "secret": "s"}));

    receiver.answer(500, "database is down\n\n");
    let failed = send(&channel, &message(json!({"event": "x"}))).await;
    receiver.answer(302, "");
    let redirected = send(&channel, &message(json!({"event": "x"}))).await;

    assert!(!failed.ok);
    assert_eq!(failed.status_code, Some(500));
    assert_eq!(failed.error.as_deref(), Some("HTTP 500: database is down"));
    assert!(
        !redirected.ok,
        "a redirect is not followed with a signed body"
    );
    assert_eq!(redirected.status_code, Some(302));
    assert_eq!(receiver.requests().len(), 2);
}

#[tokio::test]
async fn a_refused_connection_is_a_failed_attempt_that_says_so_without_the_url() {
    let url = format!(
        "http://127.0.0.1:{}/robot/send?access_token=t0ken",
        refused_port()
    );
    let channel = spec(json!({"kind": "dingtalk", "url": url}));

    let attempt = send(&channel, &message(Value::Null)).await;

    assert!(!attempt.ok);
    assert_eq!(attempt.status_code, None);
    let error = attempt.error.expect("an error");
    assert!(error.starts_with("could not connect"), "{error}");
    assert!(error.to_lowercase().contains("refused"), "{error}");
    assert!(
        !error.contains("t0ken"),
        "the robot's token leaked: {error}"
    );
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_the_attempt_out() {
    // Accepted by the kernel's backlog, never read: the request hangs.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/in", silent.local_addr().expect("addr"));
    let channel = spec(json!({"kind": "slack", "url": url}));

    let attempt = Sender::new(&has_tests::outbound())
        .expect("client")
        .send(&channel, &message(Value::Null), Duration::from_millis(300))
        .await;

    assert!(!attempt.ok);
    assert!(
        attempt
            .error
            .as_deref()
            .is_some_and(|e| e.contains("timed out")),
        "{attempt:?}"
    );
    assert!((300..3000).contains(&attempt.duration_ms), "{attempt:?}");
}

#[tokio::test]
async fn slack_gets_the_title_text_and_link_as_one_text_field() {
    let receiver = WebhookReceiver::start().await;
    receiver.answer(200, "ok");
    let channel = spec(json!({"kind": "slack", "url": receiver.url("/services/T0/B0/X")}));

    let attempt = send(&channel, &message(json!({"event": "ignored"}))).await;

    assert!(attempt.ok, "{attempt:?}");
    let req = receiver.single();
    assert_eq!(req.path, "/services/T0/B0/X");
    assert_eq!(
        req.json(),
        json!({"text": "*Nightly inspection: 2 findings*\ndisk /var at 91% (&gt; 90%)\n\
                        certificate expires in 5 days\nhttp://has.test/inspection/runs/7"})
    );
}

#[tokio::test]
async fn dingtalk_accepts_the_signed_url_and_a_nonzero_errcode_fails_the_attempt() {
    let receiver = WebhookReceiver::start().await;
    receiver.answer(200, r#"{"errcode":0,"errmsg":"ok"}"#);
    let channel = spec(
        json!({"kind": "dingtalk", "url": receiver.url("/robot/send?access_token=abc"),
                              "secret": "SECdingtalk+/="}),
    );

    let attempt = send(&channel, &message(Value::Null)).await;
    receiver.answer(200, r#"{"errcode":310000,"errmsg":"sign not match"}"#);
    let refused = send(&channel, &message(Value::Null)).await;

    assert!(attempt.ok, "{attempt:?}");
    let req = &receiver.requests()[0];
    assert_eq!(req.query_param("access_token").as_deref(), Some("abc"));
    verify_dingtalk_sign("SECdingtalk+/=", req).expect("DingTalk accepts the signature");
    assert!(verify_dingtalk_sign("SECother", req).is_err());
    let body = req.json();
    assert_eq!(body["msgtype"], "markdown");
    assert_eq!(body["markdown"]["title"], "Nightly inspection: 2 findings");
    let text = body["markdown"]["text"].as_str().expect("text");
    assert!(
        text.starts_with("#### Nightly inspection: 2 findings\n\ndisk /var"),
        "{text}"
    );
    assert!(
        text.ends_with("(http://has.test/inspection/runs/7)"),
        "{text}"
    );

    assert!(!refused.ok);
    assert_eq!(refused.status_code, Some(200));
    assert_eq!(
        refused.error.as_deref(),
        Some("DingTalk refused it: errcode 310000: sign not match")
    );
}

#[tokio::test]
async fn an_unsigned_dingtalk_robot_gets_no_timestamp_or_sign() {
    let receiver = WebhookReceiver::start().await;
    receiver.answer(200, r#"{"errcode":0,"errmsg":"ok"}"#);
    let channel =
        spec(json!({"kind": "dingtalk", "url": receiver.url("/robot/send?access_token=abc")}));

    assert!(send(&channel, &message(Value::Null)).await.ok);

    assert_eq!(receiver.single().query, "access_token=abc");
}

#[tokio::test]
async fn feishu_accepts_the_signed_body_and_a_nonzero_code_fails_the_attempt() {
    let receiver = WebhookReceiver::start().await;
    receiver.answer(200, r#"{"code":0,"data":{},"msg":"success"}"#);
    let channel = spec(
        json!({"kind": "feishu", "url": receiver.url("/open-apis/bot/v2/hook/h00k"),
                              "secret": "fs-secret"}),
    );

    let attempt = send(&channel, &message(Value::Null)).await;
    receiver.answer(
        200,
        concat!(
            r#"{"code":19021,"data":{},"#,
            r#""msg":"sign match fail or timestamp is not within one hour from current time"}"#,
        ),
    );
    let refused = send(&channel, &message(Value::Null)).await;
    receiver.answer(
        200,
        r#"{"Extra":null,"StatusCode":0,"StatusMessage":"success"}"#,
    );
    let older_bot = send(&channel, &message(Value::Null)).await;

    assert!(attempt.ok, "{attempt:?}");
    let body = receiver.requests()[0].json();
    verify_feishu_sign("fs-secret", &body).expect("Feishu accepts the signature");
    assert!(verify_feishu_sign("other", &body).is_err());
    assert_eq!(body["msg_type"], "text");
    assert_eq!(
        body["content"]["text"],
        "Nightly inspection: 2 findings\n\ndisk /var at 91% (> 90%)\n\
         certificate expires in 5 days\n\n\
         http://has.test/inspection/runs/7"
    );
    assert!(!refused.ok);
    let error = refused.error.expect("an error");
    assert!(
        error.starts_with("Feishu refused it: code 19021: sign match fail"),
        "{error}"
    );
    assert!(older_bot.ok, "{older_bot:?}");
}

fn email_channel(port: u16, extra: Value) -> ChannelSpec {
    let mut v = json!({"kind": "email", "host": "127.0.0.1", "port": port, "tls": "none",
                       "from": "HAS <has@example.test>",
                       "to": ["ops@example.test", "SRE <sre@example.test>"]});
    if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        v.extend(extra.clone());
    }
    spec(v)
}

#[tokio::test]
async fn email_reaches_every_recipient_with_the_title_as_subject() {
    let sink = SmtpSink::start().await;
    let mut msg = message(Value::Null);
    msg.title = "巡检报告: 2 findings".into();

    let attempt = send(&email_channel(sink.port, json!({})), &msg).await;

    assert!(attempt.ok, "{attempt:?}");
    assert_eq!(attempt.status_code, Some(250));
    let mails = sink.messages();
    assert_eq!(mails.len(), 1, "one transaction for all recipients");
    let mail = &mails[0];
    assert_eq!(mail.mail_from, "has@example.test");
    assert_eq!(mail.rcpt_tos, ["ops@example.test", "sre@example.test"]);
    assert_eq!(mail.subject, "巡检报告: 2 findings");
    assert_eq!(mail.from, "HAS <has@example.test>");
    assert!(mail.to.contains("SRE <sre@example.test>"), "{}", mail.to);
    assert_eq!(mail.content_type, "text/plain");
    assert_eq!(
        mail.body.trim_end(),
        "巡检报告: 2 findings\n\ndisk /var at 91% (> 90%)\ncertificate expires in 5 days\n\n\
         http://has.test/inspection/runs/7"
    );
    assert_eq!(mail.auth_login, None);
}

#[tokio::test]
async fn email_logs_in_with_the_channel_credentials_and_a_wrong_password_fails() {
    let sink = SmtpSink::with_login("has", "s3cret").await;

    let ok = send(
        &email_channel(sink.port, json!({"username": "has", "password": "s3cret"})),
        &message(Value::Null),
    )
    .await;
    let wrong = send(
        &email_channel(sink.port, json!({"username": "has", "password": "guess"})),
        &message(Value::Null),
    )
    .await;

    assert!(ok.ok, "{ok:?}");
    assert!(!wrong.ok);
    assert_eq!(wrong.status_code, Some(535), "{wrong:?}");
    let error = wrong.error.expect("an error");
    assert!(error.starts_with("the SMTP server refused it"), "{error}");
    assert!(!error.contains("guess"), "{error}");
    let mails = sink.messages();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].auth_login.as_deref(), Some("has"));
}

#[tokio::test]
async fn a_refused_recipient_fails_the_email_with_the_smtp_reply() {
    let sink = SmtpSink::start().await;
    let channel = email_channel(
        sink.port,
        json!({"to": ["ops@example.test", "ghost@reject.test"]}),
    );

    let attempt = send(&channel, &message(Value::Null)).await;

    assert!(!attempt.ok);
    assert_eq!(attempt.status_code, Some(550));
    let error = attempt.error.expect("an error");
    assert!(error.contains("no such user"), "{error}");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn starttls_is_required_when_the_channel_asks_for_it() {
    // The sink offers no STARTTLS: the message must not go out in the clear.
    let sink = SmtpSink::start().await;
    let channel = email_channel(sink.port, json!({"tls": "starttls"}));

    let attempt = send(&channel, &message(Value::Null)).await;

    assert!(!attempt.ok, "{attempt:?}");
    assert!(attempt.error.is_some());
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn an_smtp_server_that_is_not_there_fails_the_email() {
    let attempt = send(
        &email_channel(refused_port(), json!({})),
        &message(Value::Null),
    )
    .await;

    assert!(!attempt.ok);
    assert_eq!(attempt.status_code, None);
    assert!(attempt.error.is_some_and(|e| e.starts_with("SMTP failed")));
}
