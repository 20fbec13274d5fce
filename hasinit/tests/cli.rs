//! The binary, run as a real process: flags, and the exit codes a Kubernetes Job acts on.
//!
//! Everything that needs a working acmangkut is tested against the real one in the end-to-end
//! suite (tests/tests/e2e/hasinit.rs); the only stand-in here is a server that rejects the
//! bootstrap token, for exit code 4.

use std::io::Write;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The binary with no `HAS_…` variable inherited from the caller.
fn hasinit() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hasinit"));
    for (key, _) in std::env::vars() {
        if key.starts_with("HAS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("HAS_LOG__STDOUT", "false");
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

/// A loopback port nothing listens on.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn help_describes_the_flags_and_the_exit_codes() {
    let out = hasinit().arg("--help").output().expect("runs");
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in ["--config", "--manifest", "--dry-run", "--version"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    assert!(help.contains("Exit codes"), "{help}");
}

#[test]
fn version_prints_the_crate_version() {
    let out = hasinit().arg("--version").output().expect("runs");
    assert!(out.status.success());
    assert!(text(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn a_bad_manifest_exits_2_naming_its_line_column_and_key() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    write!(
        file,
        "[[roles]]\nname = \"ops\"\npermissions = [\"monitors:read\", \"monitors:wirte\"]\n"
    )
    .expect("write");
    let out = hasinit()
        .env("HAS_ACMANGKUT__TOKEN", "t")
        .arg("--manifest")
        .arg(file.path())
        .output()
        .expect("runs");
    let err = text(&out.stderr);
    assert_eq!(code(&out), Some(2), "{err}");
    let at = format!("{}:3:33:", file.path().display());
    assert!(err.contains(&at), "expected {at} in: {err}");
    assert!(
        err.contains("roles[0].permissions[1]") && err.contains("monitors:wirte"),
        "{err}"
    );
}

#[test]
fn a_manifest_that_is_not_toml_exits_2_naming_the_line() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    write!(
        file,
        "[[permissions]]\nname = \"monitors:read\"\ndescription = \"unterminated\n"
    )
    .expect("write");
    let out = hasinit()
        .env("HAS_ACMANGKUT__TOKEN", "t")
        .env("HAS_MANIFEST__PATH", file.path())
        .output()
        .expect("runs");
    let err = text(&out.stderr);
    assert_eq!(code(&out), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:3:", file.path().display())),
        "{err}"
    );
}

#[test]
fn an_unknown_config_key_exits_2_naming_the_key() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(file, "[wait]\nmax_seconds = 5\nmax_secnods = 6").expect("write");
    let out = hasinit()
        .arg("--config")
        .arg(file.path())
        .output()
        .expect("runs");
    let err = text(&out.stderr);
    assert_eq!(code(&out), Some(2), "{err}");
    assert!(err.contains("max_secnods"), "{err}");
}

#[test]
fn a_bad_value_or_a_missing_token_exits_2_naming_the_key() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("HAS_WAIT__MAX_SECONDS", "soon")], "wait.max_seconds"),
        (&[("HAS_ACMANGKUT__URL", "acmangkut:8080")], "acmangkut.url"),
        (&[], "acmangkut.token"),
        (
            &[("HAS_ACMANGKUT__TOKEN_FILE", "/nonexistent/token")],
            "acmangkut.token_file",
        ),
    ];
    for (env, key) in cases {
        let out = hasinit().envs(env.iter().copied()).output().expect("runs");
        let err = text(&out.stderr);
        assert_eq!(code(&out), Some(2), "{key}: {err}");
        assert!(err.contains(key), "expected {key} in: {err}");
    }
}

#[test]
fn with_nothing_listening_it_exits_3_after_the_configured_wait() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let out = hasinit()
        .env("HAS_ACMANGKUT__URL", &url)
        .env("HAS_ACMANGKUT__TOKEN", "t")
        .env("HAS_WAIT__MAX_SECONDS", "1")
        .env("HAS_WAIT__INITIAL_BACKOFF_MS", "50")
        .output()
        .expect("runs");
    let took = started.elapsed();
    let err = text(&out.stderr);
    assert_eq!(code(&out), Some(3), "{err}");
    assert!(
        err.contains("not ready within 1 s") && err.contains(&url),
        "{err}"
    );
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(10),
        "took {took:?}"
    );
}

/// A stand-in acmangkut: ready, but answering `status` to every API call.
fn rejecting_server(status: u16) -> (String, actix_web::dev::ServerHandle) {
    use actix_web::{App, HttpResponse, HttpServer, http::StatusCode, web};
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new()
                    .route(
                        "/readyz",
                        web::get().to(|| async { HttpResponse::Ok().body("ok") }),
                    )
                    .default_service(web::to(move || async move {
                        let status = StatusCode::from_u16(status).expect("status");
                        HttpResponse::build(status)
                            .content_type("application/problem+json")
                            .body(format!(
                                concat!(
                                    r#"{{"type":"https://has.dev/problems/x","title":"no","#,
                                    r#""status":{status},"detail":"bad bootstrap token"}}"#,
                                ),
                                status = status.as_u16()
                            ))
                    }))
            })
            .workers(1)
            .bind("127.0.0.1:0")
            .expect("bind");
            let port = server.addrs()[0].port();
            let server = server.run();
            tx.send((port, server.handle())).expect("send");
            server.await.expect("serve");
        });
    });
    let (port, handle) = rx.recv().expect("server started");
    (format!("http://127.0.0.1:{port}"), handle)
}

#[test]
fn a_rejected_bootstrap_token_exits_4() {
    for status in [401, 403] {
        let (url, handle) = rejecting_server(status);
        let out = hasinit()
            .env("HAS_ACMANGKUT__URL", &url)
            .env("HAS_ACMANGKUT__TOKEN", "wrong")
            .env("HAS_WAIT__MAX_SECONDS", "5")
            .output()
            .expect("runs");
        let err = text(&out.stderr);
        assert_eq!(code(&out), Some(4), "{status}: {err}");
        assert!(err.contains("rejected the bootstrap token"), "{err}");
        assert!(
            !err.contains("wrong"),
            "the token must never be printed: {err}"
        );
        drop(handle.stop(false));
    }
}
