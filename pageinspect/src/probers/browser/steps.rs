//! The page actions: navigate, fill, click, wait; used by the steps and the initial load.
//!
//! A secret is typed only on the origins its `<name>.origins` file declares (checked before the
//! value is sent). Secret values go to the page as a function argument
//! (`Runtime.callFunctionOn`), never into script text, errors or logs.

use super::events::Collector;
use crate::browser::cdp::{CdpError, Connection};
use serde_json::{Value, json};
use shared::probe::{BrowserStep, FailureReason};
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;
use url::Url;

const POLL: Duration = Duration::from_millis(50);

/// A page's DevTools session.
#[derive(Clone)]
pub struct Page {
    conn: Connection,
    session: String,
}

impl Page {
    pub fn new(conn: Connection, session: String) -> Self {
        Self { conn, session }
    }

    /// Sends a command to the page and waits for its answer.
    pub async fn call(&self, method: &'static str, params: Value) -> Result<Value, CdpError> {
        self.conn.call(method, params, Some(&self.session)).await
    }
}

/// Why an action failed: the reason to report and a message free of secret values.
#[derive(Debug)]
pub struct ActionError {
    pub reason: FailureReason,
    pub message: String,
}

impl ActionError {
    fn new(reason: FailureReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    fn browser(e: impl std::fmt::Display) -> Self {
        Self::new(FailureReason::BrowserError, format!("browser: {e}"))
    }
}

/// Navigates to `url` and waits for its load event (until `deadline`).
pub async fn goto(
    page: &Page,
    events: &Collector,
    url: &str,
    deadline: Instant,
) -> Result<(), ActionError> {
    let before = events.facts().documents;
    // The document now shown, to tell the new one from it in the fallback: the initial
    // about:blank by its URL, any other by its time origin (every document has its own).
    let previous_origin = if before == 0 {
        None
    } else {
        evaluate(page, "performance.timeOrigin")
            .await
            .ok()
            .and_then(|v| v.as_f64())
    };
    let nav = page
        .call("Page.navigate", json!({ "url": url }))
        .await
        .map_err(ActionError::browser)?;
    if let Some(err) = nav["errorText"].as_str().filter(|e| !e.is_empty()) {
        return Err(navigation_failed(url, err));
    }
    wait_loaded(page, events, url, before, previous_origin, deadline).await
}

/// Waits for the load event of the page's first document, which started loading when the page
/// was created on `url`.
pub async fn first_load(
    page: &Page,
    events: &Collector,
    url: &str,
    deadline: Instant,
) -> Result<(), ActionError> {
    wait_loaded(page, events, url, 0, None, deadline).await
}

/// Waits until a document newer than the `before`-th has fired its load event, or its
/// navigation failed.
///
/// The load event is taken from DevTools events; should one not arrive (seen with Chromium 156
/// under load: a probe then waited out its whole timeout), the page itself is asked, from
/// [`LOAD_FALLBACK_AFTER`] on, whether a new document finished loading.
async fn wait_loaded(
    page: &Page,
    events: &Collector,
    url: &str,
    before: u64,
    previous_origin: Option<f64>,
    deadline: Instant,
) -> Result<(), ActionError> {
    let fallback_at = Instant::now() + LOAD_FALLBACK_AFTER;
    let failed = |e: LoadWait| match e {
        LoadWait::Failed(err) => Some(navigation_failed(url, &err)),
        LoadWait::TimedOut => None,
    };
    match wait_for_load_after(events, before, fallback_at.min(deadline)).await {
        Ok(()) => return Ok(()),
        Err(e) => {
            if let Some(f) = failed(e) {
                return Err(f);
            }
        }
    }
    loop {
        if let Some(status) = loaded_per_page(page, previous_origin, deadline).await {
            let missed = events.page_says_loaded(before, status);
            tracing::warn!(
                missed,
                "no load event from DevTools for a loaded page; took the page's readyState"
            );
            return Ok(());
        }
        let next = (Instant::now() + LOAD_POLL).min(deadline);
        match wait_for_load_after(events, before, next).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                if let Some(f) = failed(e) {
                    return Err(f);
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(ActionError::new(
                FailureReason::Timeout,
                format!("{url} did not reach its load event in time"),
            ));
        }
    }
}

fn navigation_failed(url: &str, err: &str) -> ActionError {
    ActionError::new(
        navigation_reason(err),
        format!("navigation to {url} failed: {err}"),
    )
}

/// After this long without a load event, [`goto`] also polls the page's own state.
const LOAD_FALLBACK_AFTER: Duration = Duration::from_millis(1000);
const LOAD_POLL: Duration = Duration::from_millis(250);

/// `Some(main document status, if the page knows it)` when a document other than the one
/// before the navigation has run its load event.
async fn loaded_per_page(
    page: &Page,
    previous_origin: Option<f64>,
    deadline: Instant,
) -> Option<Option<u16>> {
    const JS: &str = r#"(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  return {
    origin: performance.timeOrigin,
    blank: location.href === 'about:blank',
    loaded: document.readyState === 'complete' && !!nav && nav.loadEventStart > 0,
    status: nav && nav.responseStatus ? nav.responseStatus : null,
  };
})()"#;
    let v = tokio::time::timeout_at(deadline, evaluate(page, JS))
        .await
        .ok()?
        .ok()?;
    let new_document = match previous_origin {
        None => v["blank"] == false,
        Some(before) => v["origin"].as_f64().is_some_and(|o| o != before),
    };
    (new_document && v["loaded"] == true)
        .then(|| v["status"].as_u64().and_then(|s| u16::try_from(s).ok()))
}

/// Why [`wait_for_load_after`] returned without a load.
pub enum LoadWait {
    TimedOut,
    /// The main document's request failed (`net::ERR_…`); the page shows an error page.
    Failed(String),
}

/// Waits until a document newer than the `before`-th has fired its load event.
pub async fn wait_for_load_after(
    events: &Collector,
    before: u64,
    deadline: Instant,
) -> Result<(), LoadWait> {
    loop {
        let notified = events.changed.notified();
        {
            let f = events.facts();
            if f.documents > before && f.loaded_document > before {
                return Ok(());
            }
            if let Some(e) = &f.navigation_error {
                return Err(LoadWait::Failed(e.clone()));
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Err(LoadWait::TimedOut);
        }
    }
}

/// Maps Chromium's network error names to failure reasons.
fn navigation_reason(error: &str) -> FailureReason {
    match error {
        "net::ERR_CONNECTION_REFUSED" => FailureReason::ConnectionRefused,
        "net::ERR_NAME_NOT_RESOLVED" | "net::ERR_NAME_RESOLUTION_FAILED" => {
            FailureReason::DnsFailure
        }
        "net::ERR_TIMED_OUT" | "net::ERR_CONNECTION_TIMED_OUT" => FailureReason::Timeout,
        e if e.starts_with("net::ERR_CERT") || e.starts_with("net::ERR_SSL") => {
            FailureReason::TlsError
        }
        _ => FailureReason::ConnectionError,
    }
}

/// Runs one step. `documents_before_previous` is the number of documents loaded before the
/// previous step ran, so `wait_for_navigation` sees a navigation that step started even if it
/// already finished.
pub async fn run_step(
    page: &Page,
    events: &Collector,
    step: &BrowserStep,
    base: &Url,
    secrets_dir: &Path,
    documents_before_previous: u64,
    deadline: Instant,
) -> Result<(), ActionError> {
    match step {
        BrowserStep::Goto { url } => {
            let url = base.join(url).map_err(|e| {
                ActionError::new(FailureReason::StepFailed, format!("bad URL: {e}"))
            })?;
            goto(page, events, url.as_str(), deadline).await
        }
        BrowserStep::Fill {
            selector,
            value,
            secret,
        } => {
            let (text, origins) = match (value, secret) {
                (_, Some(name)) => {
                    let text = read_secret(secrets_dir, name)?;
                    (
                        text,
                        Some((name.as_str(), secret_origins(secrets_dir, name)?)),
                    )
                }
                (Some(v), None) => (v.clone(), None),
                (None, None) => (String::new(), None),
            };
            fill(page, selector, text, origins).await
        }
        BrowserStep::Click { selector } => click(page, selector).await,
        BrowserStep::WaitFor { selector } => {
            let js = format!("!!document.querySelector({})", js_string(selector));
            loop {
                if let Ok(serde_json::Value::Bool(true)) = evaluate(page, &js).await {
                    return Ok(());
                }
                if Instant::now() + POLL >= deadline {
                    return Err(ActionError::new(
                        FailureReason::StepFailed,
                        format!("no element matched {selector} within the probe's timeout"),
                    ));
                }
                tokio::time::sleep(POLL).await;
            }
        }
        BrowserStep::WaitForNavigation {} => {
            wait_for_load_after(events, documents_before_previous, deadline)
                .await
                .map_err(|e| match e {
                    LoadWait::TimedOut => ActionError::new(
                        FailureReason::StepFailed,
                        "no navigation loaded within the probe's timeout",
                    ),
                    LoadWait::Failed(err) => ActionError::new(
                        FailureReason::StepFailed,
                        format!("the navigation failed: {err}"),
                    ),
                })
        }
    }
}

/// `<secrets_dir>/<name>` without its trailing newline. The error names the secret only.
fn read_secret(dir: &Path, name: &str) -> Result<String, ActionError> {
    if !shared::probe::valid_secret_name(name) {
        return Err(ActionError::new(
            FailureReason::StepFailed,
            format!("secret {name} is not a valid secret name"),
        ));
    }
    match std::fs::read_to_string(dir.join(name)) {
        Ok(v) => Ok(v.trim_end_matches(['\n', '\r']).to_string()),
        Err(e) => Err(ActionError::new(
            FailureReason::StepFailed,
            format!(
                "secret {name} is not available in browser.secrets_dir ({})",
                e.kind()
            ),
        )),
    }
}

/// The origins secret `name` may be filled on: `<secrets_dir>/<name>.origins`, one URL per line
/// (`https://shop.example.com`; only its scheme, host and port count), `#` comments. A secret
/// without that file, or with no origin in it, may be filled nowhere: as a password manager
/// binds a password to its site, so that whoever writes a probe cannot type it into a page of
/// their own.
fn secret_origins(dir: &Path, name: &str) -> Result<Vec<String>, ActionError> {
    let fail = |why: String| {
        ActionError::new(
            FailureReason::StepFailed,
            format!("secret {name} declares no origin it may be filled on: {why}"),
        )
    };
    let file = format!("{name}.origins");
    let text = std::fs::read_to_string(dir.join(&file))
        .map_err(|e| fail(format!("{file} in browser.secrets_dir ({})", e.kind())))?;
    let mut origins = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match Url::parse(line) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                origins.push(url.origin().ascii_serialization());
            }
            _ => return Err(fail(format!("{line:?} in {file} is not an http(s) origin"))),
        }
    }
    if origins.is_empty() {
        return Err(fail(format!("{file} lists none")));
    }
    Ok(origins)
}

/// Sets the value of the element matching `selector` as typing would (input and change
/// events). The text is passed as an argument, never written into the script. A secret's text
/// (`secret`: its name and origins) is sent only once the element's page is known to be on one
/// of its origins: the origin is read first, from the same document (a navigation in between
/// invalidates the element and fails the fill).
async fn fill(
    page: &Page,
    selector: &str,
    text: String,
    secret: Option<(&str, Vec<String>)>,
) -> Result<(), ActionError> {
    let element = page
        .call(
            "Runtime.evaluate",
            json!({
                "expression": format!("document.querySelector({})", js_string(selector)),
                "returnByValue": false,
            }),
        )
        .await
        .map_err(ActionError::browser)?;
    let Some(object_id) = element["result"]["objectId"].as_str() else {
        return Err(no_match(selector));
    };
    if let Some((name, origins)) = secret {
        // `location` and its `origin` cannot be redefined by the page's scripts.
        let origin = page
            .call(
                "Runtime.callFunctionOn",
                json!({
                    "functionDeclaration": "function () { return location.origin; }",
                    "objectId": object_id,
                    "returnByValue": true,
                }),
            )
            .await
            .map_err(ActionError::browser)?;
        let origin = origin["result"]["value"]
            .as_str()
            .unwrap_or("an unknown origin");
        if !origins.iter().any(|o| o == origin) {
            return Err(ActionError::new(
                FailureReason::StepFailed,
                format!(
                    "secret {name} may not be filled on {origin}: its origins are {} \
                     ({name}.origins); nothing was typed",
                    origins.join(", ")
                ),
            ));
        }
    }
    let done = page
        .call(
            "Runtime.callFunctionOn",
            json!({
                "functionDeclaration": "function (v) { this.focus(); \
                    if ('value' in this) { this.value = v; } else { this.textContent = v; } \
                    this.dispatchEvent(new Event('input', { bubbles: true })); \
                    this.dispatchEvent(new Event('change', { bubbles: true })); }",
                "objectId": object_id,
                "arguments": [{ "value": text }],
            }),
        )
        .await
        .map_err(ActionError::browser)?;
    if !done["exceptionDetails"].is_null() {
        return Err(ActionError::new(
            FailureReason::StepFailed,
            format!("the element matching {selector} cannot be filled"),
        ));
    }
    Ok(())
}

async fn click(page: &Page, selector: &str) -> Result<(), ActionError> {
    let js = format!(
        "(() => {{ const el = document.querySelector({}); if (!el) return false; \
         el.scrollIntoView({{ block: 'center' }}); el.click(); return true; }})()",
        js_string(selector)
    );
    match evaluate(page, &js).await {
        Ok(serde_json::Value::Bool(true)) => Ok(()),
        Ok(_) => Err(no_match(selector)),
        // The click navigated away before the call returned: it did its job.
        Err(e) if e.contains("destroyed") || e.contains("navigated") => Ok(()),
        Err(e) => Err(ActionError::new(FailureReason::StepFailed, e)),
    }
}

fn no_match(selector: &str) -> ActionError {
    ActionError::new(
        FailureReason::StepFailed,
        format!("no element matches {selector}"),
    )
}

/// A JSON string literal, which is also a JavaScript one.
pub fn js_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// Evaluates `js` in the page's main frame and returns its value; an exception is an error.
pub async fn evaluate(page: &Page, js: &str) -> Result<Value, String> {
    let r = page
        .call(
            "Runtime.evaluate",
            json!({ "expression": js, "returnByValue": true, "awaitPromise": true }),
        )
        .await
        .map_err(|e| e.to_string())?;
    let ex = &r["exceptionDetails"];
    if !ex.is_null() {
        let what = ex["exception"]["description"]
            .as_str()
            .or_else(|| ex["text"].as_str())
            .unwrap_or_default();
        return Err(format!("script error: {what}"));
    }
    Ok(r["result"]["value"].clone())
}
