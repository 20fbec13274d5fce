//! One headless Chromium process and its DevTools connection (a pipe, see [`super::cdp`]).

use super::Restart;
use super::cdp::{CdpError, Connection};
use crate::config::BrowserConfig;
use serde_json::json;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::process::{Child, Command};

/// Launch flags: headless, usable as root in a container, and quiet (no background traffic, no
/// first-run UI, no component updates), and doing no work a probe does not need: no
/// extensions, translation, optimization hints, media router, phishing classifier or domain
/// reliability reports, no top-chrome WebUI (omnibox popup, toolbar) loaded in a renderer of its
/// own for every new window (each probe's browser context opens one: that renderer cost as much
/// CPU as the probed page), and no throttling of pages that are never focused (every probe's
/// page is a background tab of a headless browser). The display compositor runs in the browser
/// process (`--in-process-gpu`; there is no GPU to isolate): one process less per browser and
/// about 4 ms less CPU per probe. The DevTools connection is a pipe (`--remote-debugging-pipe`):
/// no port, no WebSocket framing. The browser resolves no name itself and sends no UDP past its
/// proxy (see [`super::proxy`]): `MAP * ~NOTFOUND` leaves only the proxy's own address (a
/// literal) to connect to, and WebRTC may not use UDP outside the proxy (which has none).
const FLAGS: [&str; 31] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--in-process-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-breakpad",
    "--disable-hang-monitor",
    "--disable-client-side-phishing-detection",
    "--disable-domain-reliability",
    "--disable-ipc-flooding-protection",
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-prompt-on-repost",
    "--metrics-recording-only",
    "--use-mock-keychain",
    "--password-store=basic",
    "--window-size=800,600",
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
];
/// How long a stopping browser gets to close by itself (and remove its own temp files) before
/// it is killed.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);
/// Features switched off with `--disable-features`.
const DISABLED_FEATURES: &str = "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,\
    AcceptCHFrame,AutofillServerCommunication,CertificateTransparencyComponentUpdater,\
    InterestFeedContentSuggestions,CalculateNativeWinOcclusion,HttpsUpgrades,PaintHolding,\
    PreloadTopChromeWebUI,WebUIOmniboxPopup,WebUIOmniboxAimPopup,WebUIOmniboxFullPopup,\
    WebUIToolbar,WebUILocationBar";
/// Runs the browser with its DevTools pipe on fds 3 (commands in) and 4 (answers out), which
/// `--remote-debugging-pipe` expects: the shell maps this process's pipes there and then
/// becomes the browser (`exec`, same pid), so no unsafe `pre_exec` is needed.
const PIPE_TRAMPOLINE: &str = r#"exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null"#;
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(20);
/// A DevTools call not answered within this fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LaunchError(String);

impl LaunchError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

static LAUNCHES: AtomicU64 = AtomicU64::new(0);

pub struct Instance {
    conn: Connection,
    /// `Some` until stopped or dropped (taken out to be stopped).
    child: Mutex<Option<Child>>,
    pid: u32,
    user_data_dir: PathBuf,
    served: AtomicU64,
    /// Set when the connection closed or a call hung; the slot then starts a new browser.
    broken: std::sync::Arc<Mutex<Option<Restart>>>,
    /// Whether pages are opened on `about:blank` and then navigated: for a browser that does
    /// not hold a new page before its first navigation (see [`Instance::opens_on_blank`]).
    opens_on_blank: AtomicBool,
}

impl Instance {
    /// Starts Chromium with a fresh profile directory and connects to it. Everything the
    /// browser loads outside a probe's own context goes through `proxy` (a `socks5://` URL).
    pub async fn launch(config: &BrowserConfig, proxy: &str) -> Result<Self, LaunchError> {
        let n = LAUNCHES.fetch_add(1, Ordering::Relaxed);
        let user_data_dir = std::env::temp_dir().join(format!(
            "has-pageinspect-chromium-{}-{n}",
            std::process::id()
        ));
        let exe = &config.executable;
        if !exe.is_file() {
            return Err(LaunchError::new(format!(
                "cannot start {}: no such file",
                exe.display()
            )));
        }
        // A leftover from an earlier process with the same pid would share state.
        let _ = std::fs::remove_dir_all(&user_data_dir);
        std::fs::create_dir_all(&user_data_dir).map_err(|e| {
            LaunchError::new(format!(
                "cannot create the browser profile directory {}: {e}",
                user_data_dir.display()
            ))
        })?;
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(PIPE_TRAMPOLINE)
            .arg(exe)
            .args(FLAGS)
            .arg(format!("--disable-features={DISABLED_FEATURES}"))
            .arg(format!("--user-data-dir={}", user_data_dir.display()))
            .arg(format!("--proxy-server={proxy}"))
            .arg("--remote-debugging-pipe")
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                let _ = std::fs::remove_dir_all(&user_data_dir);
                LaunchError::new(format!("cannot start {}: {e}", exe.display()))
            })?;
        let pid = child.id().unwrap_or(0);
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(LaunchError::new("the browser's pipes are missing"));
        };
        let broken = std::sync::Arc::new(Mutex::new(None));
        let flag = broken.clone();
        let conn = Connection::start(stdin, stdout, REQUEST_TIMEOUT, move || {
            if let Ok(mut b) = flag.lock() {
                b.get_or_insert(Restart::Crashed);
            }
            tracing::debug!(pid, "browser connection closed");
        });
        let instance = Self {
            conn,
            child: Mutex::new(Some(child)),
            pid,
            user_data_dir,
            served: AtomicU64::new(0),
            broken,
            opens_on_blank: AtomicBool::new(false),
        };
        // Every new page is attached and held before it loads anything (see `cdp`). The first
        // answer also tells the browser is up.
        let ready = instance.conn.call(
            "Target.setAutoAttach",
            json!({ "autoAttach": true, "waitForDebuggerOnStart": true, "flatten": true }),
            None,
        );
        match tokio::time::timeout(LAUNCH_TIMEOUT, ready).await {
            Ok(Ok(_)) => {
                // chromium-headless-shell ("HeadlessChrome/…") holds a page created on its URL
                // until it is let run; the full `chromium` starts navigating first.
                let version = instance
                    .conn
                    .call("Browser.getVersion", json!({}), None)
                    .await;
                let product = version.as_ref().ok().and_then(|v| v["product"].as_str());
                if !product.is_some_and(|p| p.starts_with("HeadlessChrome/")) {
                    instance.open_on_blank();
                }
                Ok(instance)
            }
            Ok(Err(e)) => Err(LaunchError::new(format!(
                "cannot start {}: {e}",
                exe.display()
            ))),
            Err(_) => Err(LaunchError::new(format!(
                "cannot start {}: no answer within {} s",
                exe.display(),
                LAUNCH_TIMEOUT.as_secs()
            ))),
        }
    }

    /// The DevTools connection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn served(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether a probe opens its page on `about:blank` and navigates once its events are
    /// switched on, rather than creating it on the target (which costs the browser less, but
    /// only a browser that holds a new page before its first request lets every event of that
    /// request be seen: chromium-headless-shell does, the full `chromium` does not).
    pub fn opens_on_blank(&self) -> bool {
        self.opens_on_blank.load(Ordering::Relaxed)
    }

    /// From now on, pages are opened on `about:blank` (a page was seen navigating unheld).
    pub fn open_on_blank(&self) {
        if !self.opens_on_blank.swap(true, Ordering::Relaxed) {
            tracing::info!(pid = self.pid, "this browser opens pages on about:blank");
        }
    }

    pub fn probes_served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Why this browser must be replaced, if it must.
    pub fn broken(&self) -> Option<Restart> {
        self.broken.lock().ok().and_then(|b| *b)
    }

    pub fn mark_broken(&self, why: Restart) {
        if let Ok(mut b) = self.broken.lock()
            && b.is_none()
        {
            tracing::warn!(
                pid = self.pid,
                reason = why.as_str(),
                "browser marked broken"
            );
            *b = Some(why);
        }
    }
}

impl Instance {
    /// Closes the browser (killed if it does not exit within [`CLOSE_TIMEOUT`]) and removes
    /// its profile directory; waits for both. Probes still on it fail.
    pub async fn stop(&self) {
        let Some(mut child) = self.child.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let closed = async {
            let _ = self.conn.call("Browser.close", json!({}), None).await;
            child.wait().await
        };
        if tokio::time::timeout(CLOSE_TIMEOUT, closed).await.is_err() {
            let _ = child.kill().await;
        }
        let dir = self.user_data_dir.clone();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        tracing::debug!(pid = self.pid, "browser stopped");
    }
}

impl Drop for Instance {
    /// Kills the process (and so its renderers) and removes its profile, in the background.
    fn drop(&mut self) {
        let Some(mut child) = self
            .child
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        let dir = std::mem::take(&mut self.user_data_dir);
        let pid = self.pid;
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    let _ = child.kill().await;
                    let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
                    tracing::debug!(pid, "browser stopped");
                });
            }
            // No runtime (process exit): kill it and remove the profile right here.
            Err(_) => {
                let _ = child.start_kill();
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// Whether an error means the browser is gone (closed) or hangs (timed out).
pub fn restart_for(e: &CdpError) -> Option<Restart> {
    match e {
        CdpError::Closed => Some(Restart::Crashed),
        CdpError::Timeout(_) => Some(Restart::Hung),
        CdpError::Protocol(_) => None,
    }
}
