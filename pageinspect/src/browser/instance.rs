//! One headless Chromium process and its DevTools connection.

use super::Restart;
use crate::config::BrowserConfig;
use chromiumoxide::browser::{Browser, BrowserConfig as CdpConfig};
use futures::StreamExt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Launch flags (chromiumoxide adds the `--`): headless, usable as root in a container, and
/// quiet (no background traffic, no first-run UI, no component updates), and doing no work a
/// probe does not need: no extensions, translation, optimization hints, media router, phishing
/// classifier or domain reliability reports, no top-chrome WebUI (omnibox popup, toolbar)
/// loaded in a renderer of its own for every new window (each probe's browser context opens
/// one: that renderer cost as much CPU as the probed page), and no throttling of pages that
/// are never focused (every probe's page is a background tab of a headless browser).
/// `--remote-debugging-port=0` is added by chromiumoxide.
const FLAGS: [&str; 25] = [
    "headless",
    "no-sandbox",
    "disable-gpu",
    "disable-dev-shm-usage",
    "disable-quic",
    "no-first-run",
    "no-default-browser-check",
    "disable-background-networking",
    "disable-component-update",
    "disable-sync",
    "hide-scrollbars",
    "mute-audio",
    "disable-default-apps",
    "disable-extensions",
    "disable-breakpad",
    "disable-hang-monitor",
    "disable-client-side-phishing-detection",
    "disable-domain-reliability",
    "disable-ipc-flooding-protection",
    "disable-renderer-backgrounding",
    "disable-background-timer-throttling",
    "disable-backgrounding-occluded-windows",
    "disable-prompt-on-repost",
    "metrics-recording-only",
    "use-mock-keychain",
];
/// Features switched off with `--disable-features`.
const DISABLED_FEATURES: &str = "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,\
    AcceptCHFrame,AutofillServerCommunication,CertificateTransparencyComponentUpdater,\
    InterestFeedContentSuggestions,CalculateNativeWinOcclusion,HttpsUpgrades,PaintHolding,\
    PreloadTopChromeWebUI,WebUIOmniboxPopup,WebUIOmniboxAimPopup,WebUIOmniboxFullPopup,WebUIToolbar,\
    WebUILocationBar";
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(20);
/// A DevTools call not answered within this is failed by chromiumoxide.
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
    /// Always `Some` until dropped (taken out to be killed in the background).
    browser: Option<Browser>,
    pid: u32,
    user_data_dir: PathBuf,
    served: AtomicU64,
    /// Set when the connection closed or a call hung; the slot then starts a new browser.
    broken: std::sync::Arc<Mutex<Option<Restart>>>,
}

impl Instance {
    /// Starts Chromium with a fresh profile directory and connects to it.
    pub async fn launch(config: &BrowserConfig) -> Result<Self, LaunchError> {
        let n = LAUNCHES.fetch_add(1, Ordering::Relaxed);
        let user_data_dir = std::env::temp_dir().join(format!(
            "has-pageinspect-chromium-{}-{n}",
            std::process::id()
        ));
        // A leftover from an earlier process with the same pid would share state.
        let _ = std::fs::remove_dir_all(&user_data_dir);
        std::fs::create_dir_all(&user_data_dir).map_err(|e| {
            LaunchError::new(format!(
                "cannot create the browser profile directory {}: {e}",
                user_data_dir.display()
            ))
        })?;
        let cdp_config = CdpConfig::builder()
            .chrome_executable(&config.executable)
            .disable_default_args()
            // chromiumoxide's default headless mode adds `--headless`, as ours does.
            .args(FLAGS)
            .arg(("password-store", "basic"))
            .arg(("disable-features", DISABLED_FEATURES))
            // No device-metrics and touch emulation calls on every new page: the window is
            // already 800x600.
            .viewport(None)
            .window_size(800, 600)
            .user_data_dir(&user_data_dir)
            .launch_timeout(LAUNCH_TIMEOUT)
            .request_timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(LaunchError::new)?;
        let (mut browser, mut handler) = Browser::launch(cdp_config).await.map_err(|e| {
            let _ = std::fs::remove_dir_all(&user_data_dir);
            LaunchError::new(format!("cannot start {}: {e}", config.executable.display()))
        })?;
        let pid = browser
            .get_mut_child()
            .and_then(|c| c.as_mut_inner().id())
            .unwrap_or(0);
        let broken = std::sync::Arc::new(Mutex::new(None));
        let flag = broken.clone();
        // The handler drives the DevTools connection; it ends when the connection closes.
        tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                if let Err(e) = event {
                    tracing::warn!(pid, error = %e, "browser connection failed");
                    break;
                }
            }
            if let Ok(mut b) = flag.lock() {
                b.get_or_insert(Restart::Crashed);
            }
            tracing::debug!(pid, "browser connection closed");
        });
        Ok(Self {
            browser: Some(browser),
            pid,
            user_data_dir,
            served: AtomicU64::new(0),
            broken,
        })
    }

    pub fn browser(&self) -> Option<&Browser> {
        self.browser.as_ref()
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn served(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
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

impl Drop for Instance {
    /// Kills the process (and so its renderers) and removes its profile, in the background.
    fn drop(&mut self) {
        let Some(mut browser) = self.browser.take() else {
            return;
        };
        let dir = std::mem::take(&mut self.user_data_dir);
        let pid = self.pid;
        let reap = async move {
            let _ = browser.kill().await;
            drop(browser);
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
            tracing::debug!(pid, "browser stopped");
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(reap);
            }
            // No runtime (process exit): chromiumoxide's child is killed on drop.
            Err(_) => drop(reap),
        }
    }
}
