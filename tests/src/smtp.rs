//! A real SMTP server on loopback: `tests/smtp/sink.py` on Debian's python3-aiosmtpd, started on
//! a free port, killed on drop. It keeps every accepted message for the test to read, refuses
//! recipients at `reject.test`, and can require a login (AUTH without TLS).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// One message the sink accepted: the envelope, and the decoded headers and body.
#[derive(Debug, Clone)]
pub struct Mail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub subject: String,
    pub from: String,
    pub to: String,
    pub content_type: String,
    /// The plain-text body, decoded (quoted-printable, base64, charset).
    pub body: String,
    /// The login that authenticated the session, if the sink required one.
    pub auth_login: Option<String>,
    /// The message as transferred.
    pub raw: String,
}

pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl SmtpSink {
    /// A sink that takes mail from anyone.
    pub async fn start() -> Self {
        Self::spawn(None).await
    }

    /// A sink that requires `AUTH` as `user` with `password` before it takes mail.
    pub async fn with_login(user: &str, password: &str) -> Self {
        Self::spawn(Some(format!("{user}:{password}"))).await
    }

    async fn spawn(auth: Option<String>) -> Self {
        let dir = tempfile::tempdir().expect("sink dir");
        // Debian's interpreter has python3-aiosmtpd; a pyenv `python3` on PATH does not.
        let python = std::env::var("HAS_TEST_PYTHON").unwrap_or("/usr/bin/python3".into());
        let mut cmd = Command::new(python);
        cmd.arg(sink_script())
            .env("SINK_DIR", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(auth) = auth {
            cmd.env("SINK_AUTH", auth);
        }
        let mut child = cmd
            .spawn()
            .expect("/usr/bin/python3 runs (apt-get install python3-aiosmtpd)");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(port) = line.strip_prefix("READY ") {
                    return port.trim().parse::<u16>().ok();
                }
            }
            None
        });
        let port = ready
            .await
            .ok()
            .flatten()
            .expect("the SMTP sink did not start (see its stderr)");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("the SMTP sink accepts connections");
        Self { port, dir, child }
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("read the sink dir")
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        paths.iter().map(|p| read_mail(p)).collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn sink_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("smtp/sink.py")
}

fn read_mail(path: &Path) -> Mail {
    let text = std::fs::read_to_string(path).expect("read a message");
    let v: Value = serde_json::from_str(&text).expect("a message record");
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    Mail {
        mail_from: s("mail_from"),
        rcpt_tos: v["rcpt_tos"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        subject: s("subject"),
        from: s("from"),
        to: s("to"),
        content_type: s("content_type"),
        body: s("body"),
        auth_login: v["auth_login"].as_str().map(String::from),
        raw: s("raw"),
    }
}
