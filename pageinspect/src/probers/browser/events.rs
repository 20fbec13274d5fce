//! What the page did, collected from DevTools events as they arrive: navigations and load
//! events, requests in flight, failed requests, uncaught exceptions and console errors.

use crate::browser::cdp::Event;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::{Notify, mpsc};

/// Most errors of each kind kept (a page logging in a loop must not grow a result forever).
const MAX_ERRORS: usize = 50;
const MAX_ERROR_CHARS: usize = 500;

#[derive(Debug)]
pub struct Facts {
    /// The page's main frame; documents of other frames (iframes) are sub-requests.
    pub main_frame: String,
    /// Main-frame documents received so far (status, URL); a navigation adds one.
    pub documents: u64,
    pub document_status: Option<u16>,
    pub document_url: Option<String>,
    /// `documents` at the last load event: the load belongs to that document.
    pub loaded_document: u64,
    /// When the last main-frame navigation started and when its load event fired.
    pub navigation_started: Instant,
    pub load_fired: Option<Instant>,
    /// Requests in flight (id → URL) and when the last one started or ended.
    in_flight: HashMap<String, String>,
    pub last_network_activity: Instant,
    /// id → (method, URL) of every request, to describe failures.
    requests: HashMap<String, (String, String)>,
    /// Request ids of the main frame's documents (a navigation's request id is its loader id).
    main_documents: std::collections::HashSet<String>,
    /// The main-frame document last counted in `documents`, by request (loader) id.
    counted_document: Option<String>,
    /// Why the last main-frame navigation failed (`net::ERR_…`), if it did.
    pub navigation_error: Option<String>,
    pub js_errors: Vec<String>,
    pub console_errors: Vec<String>,
    /// Failed sub-requests: (URL, description); filtered by origin at the end.
    pub failed_requests: Vec<(String, String)>,
    /// Loads taken from the page itself because their DevTools events did not arrive
    /// (`has_browser_load_fallbacks_total`).
    pub load_fallbacks: u64,
}

impl Facts {
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// A main-frame navigation to a new document started at `now`.
    fn new_navigation(&mut self, now: Instant) {
        self.navigation_started = now;
        self.load_fired = None;
        self.navigation_error = None;
    }

    /// A loaded page's main document is done even when its `loadingFinished` event was lost
    /// (seen with Chromium 156 under load), so it must not hold network idle off forever.
    fn main_documents_done(&mut self) {
        let Self {
            in_flight,
            main_documents,
            ..
        } = self;
        in_flight.retain(|id, _| !main_documents.contains(id));
    }
}

/// The facts, shared between the collector task and the probe, with a wake-up on change.
#[derive(Clone)]
pub struct Collector {
    facts: Arc<Mutex<Facts>>,
    pub changed: Arc<Notify>,
}

impl Collector {
    pub fn facts(&self) -> MutexGuard<'_, Facts> {
        // A poisoned lock only means a panic elsewhere mid-update; the facts are still usable.
        self.facts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts collecting the page's events; the task ends when the page's session ends or it
    /// is aborted.
    pub fn start(
        mut events: mpsc::UnboundedReceiver<Event>,
        main_frame: String,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let now = Instant::now();
        let collector = Self {
            facts: Arc::new(Mutex::new(Facts {
                main_frame,
                documents: 0,
                document_status: None,
                document_url: None,
                loaded_document: 0,
                navigation_started: now,
                load_fired: None,
                in_flight: HashMap::new(),
                last_network_activity: now,
                requests: HashMap::new(),
                main_documents: Default::default(),
                counted_document: None,
                navigation_error: None,
                js_errors: Vec::new(),
                console_errors: Vec::new(),
                failed_requests: Vec::new(),
                load_fallbacks: 0,
            })),
            changed: Arc::new(Notify::new()),
        };
        let c = collector.clone();
        let task = tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                if c.apply(&ev) {
                    c.changed.notify_waiters();
                }
            }
        });
        (collector, task)
    }

    /// Records a load that the page reports but whose DevTools events did not arrive; returns
    /// which were missing (for the log). The document's status is the page's own
    /// (`responseStatus` of its navigation timing) if its response event was missed too.
    pub fn page_says_loaded(&self, before: u64, status: Option<u16>) -> &'static str {
        let mut f = self.facts();
        let missed = if f.documents > before {
            "load event"
        } else {
            f.documents = before + 1;
            f.document_status = status;
            "main document response and load event"
        };
        f.loaded_document = f.documents;
        f.load_fired = Some(Instant::now());
        f.load_fallbacks += 1;
        f.main_documents_done();
        drop(f);
        self.changed.notify_waiters();
        missed
    }

    /// Records one event; false when it was of no interest.
    ///
    /// The full `chromium` may start a page's first navigation before the page is attached,
    /// so that its `requestWillBeSent` (and sometimes its `responseReceived`) never arrive: the
    /// navigation is then known from `Page.frameStartedNavigating`, its document from
    /// `Page.frameNavigated` (its status is read from the page with the checks).
    fn apply(&self, ev: &Event) -> bool {
        let p = &ev.params;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let mut f = self.facts();
        let now = Instant::now();
        match ev.method.as_str() {
            "Page.frameStartedNavigating" => {
                let same_document = matches!(
                    p["navigationType"].as_str(),
                    Some("sameDocument" | "historySameDocument")
                );
                if p["frameId"].as_str() != Some(&f.main_frame) || same_document {
                    return false;
                }
                let id = text(&p["loaderId"]);
                if f.main_documents.insert(id.clone()) {
                    f.new_navigation(now);
                    f.requests.insert(id, ("GET".into(), text(&p["url"])));
                }
            }
            "Page.frameNavigated" => {
                let frame = &p["frame"];
                let id = text(&frame["loaderId"]);
                let counted = f.counted_document.as_deref() == Some(id.as_str());
                // An error page (`unreachableUrl`) is no document of the site: the
                // navigation's `loadingFailed` tells why. Nor is a page's first `about:blank`.
                if frame["id"].as_str() != Some(&f.main_frame)
                    || counted
                    || !frame["unreachableUrl"].is_null()
                    || frame["url"] == "about:blank"
                {
                    return false;
                }
                f.documents += 1;
                f.document_status = None;
                f.document_url = Some(text(&frame["url"]));
                f.counted_document = Some(id);
            }
            "Network.requestWillBeSent" => {
                let id = text(&p["requestId"]);
                let url = text(&p["request"]["url"]);
                let is_main_document =
                    p["type"] == "Document" && p["frameId"].as_str() == Some(&f.main_frame);
                if is_main_document {
                    // A new navigation (a redirect continues the same one, and a navigation
                    // seen starting already began).
                    if f.main_documents.insert(id.clone()) && p["redirectResponse"].is_null() {
                        f.new_navigation(now);
                    }
                }
                f.requests
                    .insert(id.clone(), (text(&p["request"]["method"]), url.clone()));
                f.in_flight.insert(id, url);
                f.last_network_activity = now;
            }
            "Network.responseReceived" => {
                let id = p["requestId"].as_str().unwrap_or_default();
                let url = text(&p["response"]["url"]);
                let status = p["response"]["status"]
                    .as_f64()
                    .and_then(|s| u16::try_from(s as i64).ok());
                if f.main_documents.contains(id) {
                    f.documents += 1;
                    f.document_status = status;
                    f.document_url = Some(url);
                    f.counted_document = Some(id.to_string());
                } else if let Some(s) = status.filter(|s| *s >= 400) {
                    let method = f.requests.get(id).map(|r| r.0.clone()).unwrap_or_default();
                    let what = format!("{method} {url} -> {s}");
                    push(&mut f.failed_requests, (url, what));
                }
                f.last_network_activity = now;
            }
            "Network.loadingFinished" => {
                f.in_flight
                    .remove(p["requestId"].as_str().unwrap_or_default());
                f.last_network_activity = now;
            }
            "Network.loadingFailed" => {
                let id = text(&p["requestId"]);
                f.in_flight.remove(&id);
                f.last_network_activity = now;
                let canceled = p["canceled"].as_bool().unwrap_or(false);
                let error = text(&p["errorText"]);
                if f.main_documents.contains(&id) {
                    if !canceled {
                        f.navigation_error = Some(error);
                    }
                } else if !canceled && let Some((method, url)) = f.requests.get(&id).cloned() {
                    push(
                        &mut f.failed_requests,
                        (url.clone(), format!("{method} {url} -> {error}")),
                    );
                }
            }
            "Page.loadEventFired" => {
                f.loaded_document = f.documents;
                f.load_fired = Some(now);
                f.main_documents_done();
            }
            "Runtime.exceptionThrown" => {
                let d = &p["exceptionDetails"];
                let what = d["exception"]["description"]
                    .as_str()
                    .and_then(|s| s.lines().next())
                    .map(str::to_string);
                let message = match what {
                    Some(w) => format!("{} {w}", text(&d["text"])),
                    None => text(&d["text"]),
                };
                push(&mut f.js_errors, clip(message));
            }
            "Runtime.consoleAPICalled" if p["type"] == "error" => {
                let args = p["args"].as_array().map(Vec::as_slice).unwrap_or_default();
                let text = args.iter().map(describe).collect::<Vec<_>>().join(" ");
                push(&mut f.console_errors, clip(text));
            }
            _ => return false,
        }
        true
    }
}

fn push<T>(list: &mut Vec<T>, item: T) {
    if list.len() < MAX_ERRORS {
        list.push(item);
    }
}

fn clip(mut s: String) -> String {
    if s.chars().count() > MAX_ERROR_CHARS {
        s = s.chars().take(MAX_ERROR_CHARS).collect::<String>() + "…";
    }
    s
}

/// A console argument as the console would print it.
fn describe(arg: &Value) -> String {
    match arg.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => arg["description"]
            .as_str()
            .or_else(|| arg["unserializableValue"].as_str())
            .unwrap_or("<object>")
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn ev(method: &str, params: Value) -> Event {
        Event {
            method: method.into(),
            params,
        }
    }

    #[tokio::test]
    async fn a_page_load_and_its_failures_are_recorded() {
        let (tx, rx) = mpsc::unbounded_channel();
        let (c, _task) = Collector::start(rx, "F".into());
        let events = [
            ev(
                "Network.requestWillBeSent",
                json!({ "requestId": "1", "frameId": "F", "type": "Document",
                        "request": { "method": "GET", "url": "http://shop/" } }),
            ),
            ev(
                "Network.responseReceived",
                json!({ "requestId": "1", "response": { "url": "http://shop/", "status": 200 } }),
            ),
            ev(
                "Network.requestWillBeSent",
                json!({ "requestId": "2", "frameId": "F", "type": "Image",
                        "request": { "method": "GET", "url": "http://shop/a.png" } }),
            ),
            ev(
                "Network.responseReceived",
                json!({
                    "requestId": "2",
                    "response": { "url": "http://shop/a.png", "status": 404 }
                }),
            ),
            ev("Network.loadingFinished", json!({ "requestId": "2" })),
            ev(
                "Runtime.exceptionThrown",
                json!({ "exceptionDetails": { "text": "Uncaught",
                        "exception": { "description": "Error: boom\n    at x.js:1" } } }),
            ),
            ev(
                "Runtime.consoleAPICalled",
                json!({ "type": "error", "args": [{ "type": "string", "value": "bad" },
                        { "type": "object", "subtype": "null", "value": null },
                        { "type": "number", "value": 3 }] }),
            ),
            ev(
                "Runtime.consoleAPICalled",
                json!({ "type": "log", "args": [{ "type": "string", "value": "fine" }] }),
            ),
            ev("Page.loadEventFired", json!({ "timestamp": 1.0 })),
        ];
        for e in events {
            tx.send(e).expect("collector runs");
        }
        drop(tx);
        for _ in 0..100 {
            if c.facts().load_fired.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let f = c.facts();
        assert_eq!((f.documents, f.loaded_document), (1, 1));
        assert_eq!(f.document_status, Some(200));
        assert_eq!(f.document_url.as_deref(), Some("http://shop/"));
        // The main document counts as done once loaded, even without its loadingFinished.
        assert_eq!(f.in_flight(), 0);
        assert_eq!(f.failed_requests.len(), 1);
        assert_eq!(f.failed_requests[0].1, "GET http://shop/a.png -> 404");
        assert_eq!(f.js_errors, ["Uncaught Error: boom"]);
        assert_eq!(f.console_errors, ["bad null 3"]);
        assert!(f.navigation_error.is_none());
    }

    /// The full `chromium` may start the first navigation before the page is attached: its
    /// document is then known from the Page events, an error page and about:blank are not.
    #[tokio::test]
    async fn a_document_whose_request_events_were_missed_is_counted_from_its_commit() {
        let (tx, rx) = mpsc::unbounded_channel();
        let (c, _task) = Collector::start(rx, "F".into());
        let events = [
            ev(
                "Page.frameNavigated",
                json!({ "frame": { "id": "F", "loaderId": "L0", "url": "about:blank" } }),
            ),
            ev(
                "Page.frameStartedNavigating",
                json!({ "frameId": "F", "loaderId": "L1", "url": "http://shop/",
                        "navigationType": "differentDocument" }),
            ),
            ev(
                "Page.frameNavigated",
                json!({ "frame": { "id": "F", "loaderId": "L1", "url": "http://shop/" } }),
            ),
            ev("Network.loadingFinished", json!({ "requestId": "L1" })),
            ev("Page.loadEventFired", json!({ "timestamp": 1.0 })),
            // A second navigation fails: its error page is no document.
            ev(
                "Page.frameStartedNavigating",
                json!({ "frameId": "F", "loaderId": "L2", "url": "http://gone/",
                        "navigationType": "differentDocument" }),
            ),
            ev(
                "Network.loadingFailed",
                json!({ "requestId": "L2", "errorText": "net::ERR_CONNECTION_REFUSED" }),
            ),
            ev(
                "Page.frameNavigated",
                json!({ "frame": {
                    "id": "F", "loaderId": "L2", "url": "chrome-error://chromewebdata/",
                    "unreachableUrl": "http://gone/",
                } }),
            ),
        ];
        for e in events {
            tx.send(e).expect("collector runs");
        }
        for _ in 0..100 {
            if c.facts().navigation_error.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let f = c.facts();
        assert_eq!((f.documents, f.loaded_document), (1, 1));
        assert_eq!(f.document_url.as_deref(), Some("http://shop/"));
        assert_eq!(
            f.document_status, None,
            "read from the page with the checks"
        );
        assert_eq!(
            f.navigation_error.as_deref(),
            Some("net::ERR_CONNECTION_REFUSED")
        );
    }

    #[tokio::test]
    async fn a_failed_main_document_is_a_navigation_error() {
        let (tx, rx) = mpsc::unbounded_channel();
        let (c, _task) = Collector::start(rx, "F".into());
        tx.send(ev(
            "Network.requestWillBeSent",
            json!({ "requestId": "1", "frameId": "F", "type": "Document",
                    "request": { "method": "GET", "url": "http://shop/" } }),
        ))
        .expect("sent");
        tx.send(ev(
            "Network.loadingFailed",
            json!({ "requestId": "1", "errorText": "net::ERR_CONNECTION_REFUSED" }),
        ))
        .expect("sent");
        for _ in 0..100 {
            if c.facts().navigation_error.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let f = c.facts();
        assert_eq!(
            f.navigation_error.as_deref(),
            Some("net::ERR_CONNECTION_REFUSED")
        );
        assert!(f.failed_requests.is_empty(), "not a sub-request");
    }
}
