//! nginx with its `stream` module as a TCP proxy on a free loopback port, in front of one
//! upstream server (e.g. a PostgreSQL primary). Its upstream is a file of its own, included in
//! the `upstream` block, so that `deploy/operations/proxy-switch.sh` can rewrite it and reload
//! nginx, as it would on a real proxy host. nginx and its workers are killed on drop.
//!
//! Debian: `nginx-light` and `libnginx-mod-stream` (scripts/test installs them).

use crate::free_port;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's nginx loads its dynamic modules from.
const STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

pub struct TcpProxy {
    pub port: u16,
    /// The nginx configuration (`proxy-switch`'s third argument).
    pub conf: PathBuf,
    /// The file with the upstream's `server` line (`proxy-switch`'s first argument).
    pub upstream: PathBuf,
    pub error_log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

fn nginx() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/nginx");
    if sbin.is_file() { sbin } else { "nginx".into() }
}

impl TcpProxy {
    /// Starts nginx proxying a free port to `upstream` (`HOST:PORT`) and waits until it
    /// listens. Panics, saying what failed, when it cannot.
    pub fn start(upstream: &str) -> Self {
        assert!(
            std::path::Path::new(STREAM_MODULE).is_file(),
            "no nginx stream module at {STREAM_MODULE} (install nginx-light and \
             libnginx-mod-stream)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let port = free_port();
        let (conf, upstream_file) = (d.join("nginx.conf"), d.join("upstream.conf"));
        let error_log = d.join("error.log");
        std::fs::write(&upstream_file, format!("server {upstream};\n")).expect("upstream");
        // One worker; a short connect timeout, so that a fenced upstream fails fast.
        let text = format!(
            "load_module {STREAM_MODULE};\n\
             worker_processes 1;\ndaemon off;\npid {pid};\nerror_log {log} info;\n\
             events {{ worker_connections 256; }}\n\
             stream {{\n\
             \x20   upstream db {{ include {up}; }}\n\
             \x20   server {{\n\
             \x20       listen 127.0.0.1:{port};\n\
             \x20       proxy_pass db;\n\
             \x20       proxy_connect_timeout 2s;\n\
             \x20   }}\n\
             }}\n",
            pid = d.join("nginx.pid").display(),
            log = error_log.display(),
            up = upstream_file.display(),
        );
        std::fs::write(&conf, text).expect("nginx.conf");
        let child = Command::new(nginx())
            .arg("-p")
            .arg(d)
            .arg("-e")
            .arg(&error_log)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: dropping the proxy kills the master and its workers.
            .process_group(0)
            .spawn()
            .expect("start nginx");
        let mut proxy = Self {
            port,
            conf,
            upstream: upstream_file,
            error_log,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("nginx exited ({status}):\n{}", proxy.errors());
            }
            assert!(
                Instant::now() < deadline,
                "nginx does not listen after 10 s:\n{}",
                proxy.errors()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        proxy
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// nginx's error log so far.
    pub fn errors(&self) -> String {
        std::fs::read_to_string(&self.error_log).unwrap_or_default()
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, killpg};
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = killpg(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = self.child.wait();
    }
}
