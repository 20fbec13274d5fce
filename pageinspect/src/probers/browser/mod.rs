//! Browser probes: a real page load in headless Chromium, with optional steps (log in) first.
//!
//! Each probe gets a page in a fresh browser context from the [`BrowserPool`], loads the target,
//! runs its steps, waits for network idle (no request in flight for the spec's
//! `network_idle_quiet_ms`, 500 by default) while its time lasts, then reads the title, the load
//! timing and the DOM facts its conditions ask about. Every connection of the page goes through
//! the probe's own egress-checking proxy ([`crate::browser::proxy`]). Without conditions it
//! succeeds when the main document's status is below 400, the load event fired and no uncaught
//! JavaScript error was thrown. On failure it keeps a PNG screenshot.
//!
//! The probe keeps back a small part of its timeout for the checks and the screenshot, so a
//! page that does not finish in time still reports what it showed. The page's context is
//! disposed in a task of its own, also when the probe is cancelled at its timeout.

mod events;
mod steps;

use super::{Outcome, ProbeContext};
use crate::browser::cdp::CdpError;
use crate::browser::{BrowserPool, Lease, Restart, restart_for};
use crate::failure::Failure;
use events::Collector;
use serde::Deserialize;
use serde_json::json;
use shared::condition::{Condition, DomFacts, Observation, dom_selectors, glob};
use shared::probe::{BrowserReport, FailureReason, ProbeSpec, StepReport};
use std::time::Duration;
use steps::Page;
use tokio::time::Instant;
use url::Url;

/// How long disposing a page's context may take before its browser counts as hung.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn probe(
    spec: &ProbeSpec,
    conditions: &[Condition],
    ctx: &ProbeContext,
    out: &mut Outcome,
) -> Result<(), Failure> {
    let start = Instant::now();
    let timeout = Duration::from_millis(spec.timeout_ms);
    // Kept back for the checks and the screenshot.
    let reserve = (timeout / 5).clamp(Duration::from_millis(150), Duration::from_millis(1500));
    let deadline = start + timeout.saturating_sub(reserve);
    let Some(pool) = ctx.browser.as_ref() else {
        return Err(Failure::new(
            FailureReason::BrowserError,
            "browser probes are disabled on this pageinspect (browser.enabled = false)",
        ));
    };
    let target = Url::parse(spec.target.trim())
        .map_err(|e| Failure::new(FailureReason::Internal, format!("bad target: {e}")))?;

    // Egress guard: every address the target resolves to must be allowed, checked here for an
    // early, clear failure; every connection the page makes goes through the probe's proxy,
    // which checks it again after its own lookup (redirects, sub-resources, scripts).
    out.stage = "the egress check";
    crate::egress::check_url(&ctx.egress, &target).await?;
    let proxy = pool.probe_proxy().map_err(|e| {
        Failure::new(
            FailureReason::BrowserError,
            format!("cannot start the browser proxy: {e}"),
        )
    })?;

    out.stage = "waiting for a free browser page";
    let mut phases = Phases::default();
    let mut mark = Instant::now();
    let lease = pool
        .acquire()
        .await
        .map_err(|e| Failure::new(FailureReason::BrowserError, e.to_string()))?;
    phases.acquire = lap(&mut mark);
    out.stage = "opening a browser page";
    let (session, events) = Session::open(
        lease,
        target.as_str(),
        spec.insecure_skip_verify,
        &proxy.url(),
        &mut phases,
    )
    .await?;
    mark = Instant::now();
    let page = session.page.clone();
    let navigate = session.navigate;

    let mut report = BrowserReport::default();
    let mut page_status = None;
    let mut failure = drive(
        spec,
        pool,
        &ctx.egress,
        &page,
        &events,
        &target,
        navigate,
        deadline,
        out,
        &mut report,
    )
    .await
    .err();
    phases.load = lap(&mut mark);

    // Network idle, while the probe's time lasts (not reaching it is not a failure by itself).
    if failure.is_none() {
        out.stage = "waiting for network idle";
        report.network_idle_ms =
            wait_network_idle(&events, spec.network_idle_quiet(), deadline).await;
    }
    phases.idle = lap(&mut mark);

    out.stage = "checking the page";
    let selectors = dom_selectors(conditions);
    let checks_deadline = start + timeout.saturating_sub(reserve / 2);
    match tokio::time::timeout_at(checks_deadline, check(&page, &selectors)).await {
        Ok(Ok(c)) => {
            report.title = Some(c.title);
            report.load_time_ms = c.load;
            page_status = c.status;
            out.dom = c.dom;
        }
        Ok(Err(e)) => {
            failure.get_or_insert(Failure::new(
                FailureReason::BrowserError,
                format!("reading the page failed: {e}"),
            ));
        }
        Err(_) => {
            failure.get_or_insert(Failure::new(
                FailureReason::Timeout,
                format!("timed out after {} ms reading the page", spec.timeout_ms),
            ));
        }
    }
    phases.checks = lap(&mut mark);
    // A connection the guard refused fails the probe, whatever else happened: the page wanted
    // something it may not have.
    if let Some(denied) = proxy.denied() {
        failure = Some(denied);
    }
    {
        let f = events.facts();
        // The page's own word when the response event was missed (see `events`).
        out.status = f
            .document_status
            .or(page_status.filter(|_| f.documents > 0));
        if report.load_time_ms.is_none()
            && let Some(at) = f.load_fired
            && f.loaded_document > 0
        {
            report.load_time_ms = Some(ms(at.duration_since(f.navigation_started)));
        }
        pool.metrics().browser_load_fallbacks(f.load_fallbacks);
        report.js_errors = f.js_errors.clone();
        report.console_errors = f
            .console_errors
            .iter()
            .filter(|e| !spec.console_error_allow.iter().any(|p| glob(p, e)))
            .cloned()
            .collect();
        let origin = f
            .document_url
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
            .unwrap_or_else(|| target.clone())
            .origin();
        report.failed_requests = f
            .failed_requests
            .iter()
            // The browser's own favicon request is not the page's.
            .filter(|(url, _)| {
                Url::parse(url).is_ok_and(|u| u.origin() == origin && u.path() != "/favicon.ico")
            })
            .map(|(_, what)| what.clone())
            .collect();
    }
    out.default_failure = default_failure(out.status, &report);
    out.browser = Some(report);

    let failed = failure.is_some() || {
        let mut obs = Observation {
            status: out.status,
            response_time_ms: Some(ms(start.elapsed())),
            ..Observation::default()
        };
        add_facts(&mut obs, out);
        if conditions.is_empty() {
            out.default_failure.is_some()
        } else {
            conditions.iter().any(|c| !c.evaluate(&obs).success)
        }
    };
    if failed && spec.screenshot_on_failure {
        out.stage = "taking a screenshot";
        let max = pool.config().max_screenshot_bytes;
        match tokio::time::timeout_at(start + timeout, screenshot(&page)).await {
            Ok(Ok(png)) if decoded_len(&png) <= max => out.screenshot_png_base64 = Some(png),
            Ok(Ok(png)) => {
                out.note = Some(format!(
                    "screenshot of {} bytes dropped (over browser.max_screenshot_bytes = {max})",
                    decoded_len(&png)
                ))
            }
            Ok(Err(e)) => out.note = Some(format!("no screenshot: {e}")),
            Err(_) => out.note = Some("no screenshot: out of time".into()),
        }
    }
    phases.screenshot = lap(&mut mark);
    phases.log(failure.as_ref(), out.stage);
    match failure {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

/// How long each phase of a probe took, in ms; logged at debug level (target
/// `pageinspect::probers::browser`) to find where the time goes.
#[derive(Default, Debug)]
struct Phases {
    acquire: f64,
    context: f64,
    page: f64,
    load: f64,
    idle: f64,
    checks: f64,
    screenshot: f64,
}

impl Phases {
    fn log(&self, failure: Option<&Failure>, stage: &str) {
        tracing::debug!(
            acquire_ms = self.acquire as u64,
            context_ms = self.context as u64,
            page_ms = self.page as u64,
            load_ms = self.load as u64,
            idle_ms = self.idle as u64,
            checks_ms = self.checks as u64,
            screenshot_ms = self.screenshot as u64,
            failed = failure.map(|f| f.message.as_str()),
            stage,
            "browser probe phases"
        );
    }
}

/// Milliseconds since `mark`, which moves to now.
fn lap(mark: &mut Instant) -> f64 {
    let now = Instant::now();
    let d = ms(now.duration_since(*mark));
    *mark = now;
    d
}

/// Loads the target and runs the steps, filling the step reports.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename"
)]
async fn drive(
    spec: &ProbeSpec,
    pool: &BrowserPool,
    egress: &crate::egress::Guard,
    page: &Page,
    events: &Collector,
    target: &Url,
    navigate: bool,
    deadline: Instant,
    out: &mut Outcome,
    report: &mut BrowserReport,
) -> Result<(), Failure> {
    out.stage = "loading the page";
    let loaded = if navigate {
        steps::goto(page, events, target.as_str(), deadline).await
    } else {
        steps::first_load(page, events, target.as_str(), deadline).await
    };
    loaded.map_err(|e| {
        let reason = e.reason;
        let message = if reason == FailureReason::Timeout {
            format!("timed out after {} ms: {}", spec.timeout_ms, e.message)
        } else {
            e.message
        };
        Failure::new(reason, message)
    })?;
    let mut documents_before_previous = events.facts().documents;
    for (i, step) in spec.steps.iter().enumerate() {
        out.stage = "the steps";
        let describe = step.describe();
        if let shared::probe::BrowserStep::Goto { url } = step
            && let Ok(url) = target.join(url)
        {
            // The same egress guard as the target, for a step that leaves it.
            if let Err(f) = crate::egress::check_url(egress, &url).await {
                report.steps.push(StepReport {
                    step: describe,
                    success: false,
                    duration_seconds: 0.0,
                    error: Some(f.message.clone()),
                });
                return Err(f);
            }
        }
        let documents_now = events.facts().documents;
        let started = Instant::now();
        let ran = steps::run_step(
            page,
            events,
            step,
            target,
            &pool.config().secrets_dir,
            documents_before_previous,
            deadline,
        )
        .await;
        documents_before_previous = documents_now;
        report.steps.push(StepReport {
            step: describe.clone(),
            success: ran.is_ok(),
            duration_seconds: started.elapsed().as_secs_f64(),
            error: ran.as_ref().err().map(|e| e.message.clone()),
        });
        if let Err(e) = ran {
            let reason = match e.reason {
                FailureReason::BrowserError => FailureReason::BrowserError,
                _ => FailureReason::StepFailed,
            };
            return Err(Failure::new(
                reason,
                format!("steps[{i}] ({describe}) failed: {}", e.message),
            ));
        }
    }
    Ok(())
}

/// Milliseconds from the navigation start until no request had been in flight for `quiet`;
/// `None` if that did not happen before `deadline`.
async fn wait_network_idle(events: &Collector, quiet: Duration, deadline: Instant) -> Option<f64> {
    loop {
        let notified = events.changed.notified();
        let (idle_at, started) = {
            let f = events.facts();
            let idle_at = (f.in_flight() == 0).then(|| f.last_network_activity + quiet);
            (idle_at, f.navigation_started)
        };
        let now = std::time::Instant::now();
        match idle_at {
            Some(at) if at <= now => return Some(ms(at.duration_since(started))),
            Some(at) => {
                let wake = Instant::from_std(at).min(deadline);
                tokio::select! {
                    _ = tokio::time::sleep_until(wake) => {}
                    _ = notified => {}
                }
            }
            None => {
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    return None;
                }
            }
        }
        if Instant::now() >= deadline {
            let f = events.facts();
            let idle_at = (f.in_flight() == 0).then(|| f.last_network_activity + quiet);
            return idle_at
                .filter(|at| *at <= std::time::Instant::now())
                .map(|at| ms(at.duration_since(f.navigation_started)));
        }
    }
}

struct Checks {
    title: String,
    load: Option<f64>,
    /// The main document's status as the page knows it (navigation timing).
    status: Option<u16>,
    dom: Vec<DomFacts>,
}

/// Reads the title, the load timing and, for each selector, whether an element matches, is
/// visible, and its text.
async fn check(page: &Page, selectors: &[String]) -> Result<Checks, String> {
    let list = serde_json::to_string(selectors).map_err(|e| e.to_string())?;
    let js = format!(
        r#"(() => {{
  const nav = performance.getEntriesByType('navigation')[0];
  const dom = {list}.map((selector) => {{
    let el = null;
    try {{ el = document.querySelector(selector); }} catch (e) {{ el = null; }}
    if (!el) return {{ selector, present: false, visible: false, text: null }};
    const st = window.getComputedStyle(el);
    const boxed = el.offsetWidth > 0 || el.offsetHeight > 0 || el.getClientRects().length > 0;
    const visible = boxed && st.visibility !== 'hidden' && st.display !== 'none';
    const text = (el.innerText ?? el.textContent ?? '').trim();
    return {{ selector, present: true, visible, text }};
  }});
  return {{
    title: document.title,
    load: nav && nav.loadEventStart > 0 ? nav.loadEventStart : null,
    status: nav && nav.responseStatus ? nav.responseStatus : null,
    dom,
  }};
}})()"#
    );
    let value = steps::evaluate(page, &js).await?;
    serde_json::from_value::<ChecksWire>(value)
        .map(Into::into)
        .map_err(|e| format!("unexpected check result: {e}"))
}

/// [`Checks`] as the page sends it ([`DomFacts`] is not `Deserialize`).
#[derive(Deserialize)]
struct ChecksWire {
    title: String,
    load: Option<f64>,
    status: Option<u16>,
    dom: Vec<DomWire>,
}

#[derive(Deserialize)]
struct DomWire {
    selector: String,
    present: bool,
    visible: bool,
    text: Option<String>,
}

impl From<ChecksWire> for Checks {
    fn from(w: ChecksWire) -> Self {
        Self {
            title: w.title,
            load: w.load,
            status: w.status,
            dom: w
                .dom
                .into_iter()
                .map(|d| DomFacts {
                    selector: d.selector,
                    present: d.present,
                    visible: d.visible,
                    text: d.text,
                })
                .collect(),
        }
    }
}

/// The verdict without conditions: status < 400, load event reached, no uncaught JS error.
fn default_failure(status: Option<u16>, report: &BrowserReport) -> Option<Failure> {
    let fail = |m: String| Some(Failure::new(FailureReason::ConditionFailed, m));
    match status {
        None => return fail("no main document response".into()),
        Some(s) if s >= 400 => return fail(format!("the page answered HTTP {s}")),
        _ => {}
    }
    if report.load_time_ms.is_none() {
        return fail("the page did not reach its load event".into());
    }
    if let Some(first) = report.js_errors.first() {
        return fail(format!(
            "{} uncaught JavaScript error(s), first: {first}",
            report.js_errors.len()
        ));
    }
    None
}

/// Puts a browser probe's facts into the observation the conditions are evaluated against.
pub fn add_facts(obs: &mut Observation<'_>, out: &Outcome) {
    let Some(b) = &out.browser else { return };
    obs.title = b.title.clone();
    obs.js_errors = Some(b.js_errors.len());
    obs.console_errors = Some(b.console_errors.len());
    obs.failed_requests = Some(b.failed_requests.len());
    obs.load_time_ms = b.load_time_ms;
    obs.network_idle_ms = b.network_idle_ms;
    obs.dom = out.dom.clone();
}

async fn screenshot(page: &Page) -> Result<String, String> {
    let shot = page
        .call("Page.captureScreenshot", json!({ "format": "png" }))
        .await
        .map_err(|e| e.to_string())?;
    shot["data"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no image in the answer".to_string())
}

/// Bytes of the data a base64 text decodes to.
fn decoded_len(b64: &str) -> usize {
    let pad = b64.bytes().rev().take_while(|b| *b == b'=').count();
    (b64.len() / 4 * 3).saturating_sub(pad)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A page in its own browser context on a leased browser. Dropping it disposes the context
/// in the background (bounded by [`CLEANUP_TIMEOUT`]) and then frees the lease.
struct Session {
    lease: Option<Lease>,
    context: String,
    page: Page,
    session: String,
    collector: Option<tokio::task::JoinHandle<()>>,
    /// The page is still to be navigated to the target (it was opened on `about:blank`).
    navigate: bool,
}

impl Session {
    /// Opens a page on `url` in a new browser context that connects only through `proxy`
    /// (a `socks5://` URL), and starts collecting its events. The
    /// page is created directly on the target (no `about:blank` first: that cost a fifth of
    /// the browser's CPU per probe) and held by the browser until the events it needs are
    /// switched on, so none of its main document's events is missed. A browser that does not
    /// hold new pages (the full `chromium`, see `Instance::opens_on_blank`) gets
    /// them on `about:blank`, and the probe navigates (`navigate`). Certificate errors fail
    /// the load unless `insecure` (the spec's `insecure_skip_verify`).
    async fn open(
        lease: Lease,
        url: &str,
        insecure: bool,
        proxy: &str,
        phases: &mut Phases,
    ) -> Result<(Self, Collector), Failure> {
        let mut mark = Instant::now();
        let conn = lease.browser.connection().clone();
        // Every connection of the context through the probe's proxy, loopback included.
        let params = json!({ "proxyServer": proxy, "proxyBypassList": "<-loopback>" });
        let context = match conn.call("Target.createBrowserContext", params, None).await {
            Ok(c) => c["browserContextId"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            Err(e) => return Err(fail_browser(&lease, e)),
        };
        phases.context = lap(&mut mark);
        let blank = lease.browser.opens_on_blank();
        // From here on, dropping `cleanup` disposes the context.
        let mut cleanup = Cleanup {
            lease: Some(lease),
            context: context.clone(),
            session: None,
        };
        let attached = conn.expect_page(&context);
        let first_url = if blank { "about:blank" } else { url };
        let created = conn
            .call(
                "Target.createTarget",
                json!({ "url": first_url, "browserContextId": context }),
                None,
            )
            .await;
        if let Err(e) = created {
            return Err(cleanup.fail(e));
        }
        let attached = match tokio::time::timeout(CLEANUP_TIMEOUT, attached).await {
            Ok(Ok(a)) => a,
            Ok(Err(_)) => return Err(cleanup.fail(CdpError::Closed)),
            Err(_) => return Err(cleanup.fail(CdpError::Timeout("Target.attachedToTarget"))),
        };
        cleanup.session = Some(attached.session.clone());
        // A page already navigating when attached: its request's events are lost, so it is
        // navigated again once they are on, and this browser's next pages open on about:blank.
        let navigate = blank || !(attached.url.is_empty() || attached.url == "about:blank");
        if let Some(lease) = cleanup.lease.as_ref().filter(|_| navigate && !blank) {
            lease.browser.open_on_blank();
        }
        let page = Page::new(conn.clone(), attached.session.clone());
        // Sent together: the page answers the renderer-side ones only once it runs.
        let mut commands = vec![
            ("Network.enable", json!({})),
            // Every request of the page is marked as HAS's (acmangkut's IAM switch refuses it).
            (
                "Network.setExtraHTTPHeaders",
                json!({ "headers": { shared::outbound::ORIGIN_HEADER: "pageinspect" } }),
            ),
            ("Page.enable", json!({})),
            ("Runtime.enable", json!({})),
        ];
        if insecure {
            commands.push((
                "Security.setIgnoreCertificateErrors",
                json!({ "ignore": true }),
            ));
        }
        commands.push(("Runtime.runIfWaitingForDebugger", json!({})));
        let mut answers = Vec::with_capacity(commands.len());
        for (method, params) in commands {
            match conn.send(method, params, Some(&attached.session)) {
                Ok(a) => answers.push((method, a)),
                Err(e) => return Err(cleanup.fail(e)),
            }
        }
        let (events, collector) = Collector::start(attached.events, attached.target);
        for (method, answer) in answers {
            if let Err(e) = conn.answer(method, answer).await {
                collector.abort();
                return Err(cleanup.fail(e));
            }
        }
        phases.page = lap(&mut mark);
        // The session owns the lease now: `cleanup` has nothing left to dispose.
        let lease = cleanup.lease.take();
        Ok((
            Self {
                lease,
                context,
                page,
                session: attached.session,
                collector: Some(collector),
                navigate,
            },
            events,
        ))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(task) = self.collector.take() {
            task.abort();
        }
        if let Some(lease) = self.lease.take() {
            tokio::spawn(dispose(
                lease,
                std::mem::take(&mut self.context),
                Some(std::mem::take(&mut self.session)),
            ));
        }
    }
}

/// Disposes a half-opened page's context when dropped.
struct Cleanup {
    lease: Option<Lease>,
    context: String,
    session: Option<String>,
}

impl Cleanup {
    /// The failure of a browser call, the browser marked for replacement when it looks dead or
    /// hung; the context is disposed in the background.
    fn fail(&mut self, e: CdpError) -> Failure {
        match &self.lease {
            Some(lease) => fail_browser(lease, e),
            None => Failure::new(FailureReason::BrowserError, format!("browser: {e}")),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            tokio::spawn(dispose(
                lease,
                std::mem::take(&mut self.context),
                self.session.take(),
            ));
        }
    }
}

async fn dispose(lease: Lease, context: String, session: Option<String>) {
    let conn = lease.browser.connection();
    conn.forget(session.as_deref(), &context);
    if conn.is_closed() {
        return;
    }
    let started = Instant::now();
    let disposed = conn.call(
        "Target.disposeBrowserContext",
        json!({ "browserContextId": context }),
        None,
    );
    match tokio::time::timeout(CLEANUP_TIMEOUT, disposed).await {
        Ok(Ok(_)) => {
            tracing::debug!(
                dispose_ms = ms(started.elapsed()) as u64,
                "browser context disposed"
            );
        }
        Ok(Err(e)) => {
            tracing::debug!(
                pid = lease.browser.pid(),
                error = %e,
                "disposing a browser context failed"
            );
            if matches!(e, CdpError::Closed) {
                lease.browser_failed(Restart::Crashed);
            }
        }
        Err(_) => lease.browser_failed(Restart::Hung),
    }
}

/// A browser-side failure; marks the browser for replacement when it looks dead or hung.
fn fail_browser(lease: &Lease, e: CdpError) -> Failure {
    if let Some(why) = restart_for(&e) {
        lease.browser_failed(why);
    }
    Failure::new(FailureReason::BrowserError, format!("browser: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoded_length_of_base64() {
        assert_eq!(decoded_len("QUJD"), 3);
        assert_eq!(decoded_len("QUI="), 2);
        assert_eq!(decoded_len("QQ=="), 1);
        assert_eq!(decoded_len(""), 0);
    }

    #[test]
    fn the_default_verdict_needs_a_good_status_a_load_and_no_js_errors() {
        let loaded = BrowserReport {
            load_time_ms: Some(10.0),
            ..BrowserReport::default()
        };
        assert!(default_failure(Some(200), &loaded).is_none());
        assert!(default_failure(Some(404), &loaded).is_some());
        assert!(default_failure(None, &loaded).is_some());
        assert!(default_failure(Some(200), &BrowserReport::default()).is_some());
        let thrown = BrowserReport {
            js_errors: vec!["Uncaught Error: boom".into()],
            ..loaded
        };
        assert!(default_failure(Some(200), &thrown).is_some());
    }
}
