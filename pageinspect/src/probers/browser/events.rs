//! What the page did, collected from DevTools events as they arrive: navigations and load
//! events, requests in flight, failed requests, uncaught exceptions and console errors.

use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::network::{
    EventLoadingFailed, EventLoadingFinished, EventRequestWillBeSent, EventResponseReceived,
    ResourceType,
};
use chromiumoxide::cdp::browser_protocol::page::EventLoadEventFired;
use chromiumoxide::cdp::js_protocol::runtime::{
    ConsoleApiCalledType, EventConsoleApiCalled, EventExceptionThrown, RemoteObject,
};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Quiet time after which the network counts as idle.
pub const NETWORK_IDLE_QUIET: Duration = Duration::from_millis(500);
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
    main_documents: std::collections::HashSet<String>,
    pub js_errors: Vec<String>,
    pub console_errors: Vec<String>,
    /// Failed sub-requests: (URL, description); filtered by origin at the end.
    pub failed_requests: Vec<(String, String)>,
}

impl Facts {
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
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

    /// Subscribes to the page's events and starts collecting; the task ends when the page's
    /// event streams close or it is aborted.
    pub async fn start(
        page: &Page,
        main_frame: String,
    ) -> chromiumoxide::Result<(Self, tokio::task::JoinHandle<()>)> {
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
                js_errors: Vec::new(),
                console_errors: Vec::new(),
                failed_requests: Vec::new(),
            })),
            changed: Arc::new(Notify::new()),
        };
        let events = futures::stream::select_all([
            page.event_listener::<EventRequestWillBeSent>()
                .await?
                .map(Ev::Request)
                .boxed(),
            page.event_listener::<EventResponseReceived>()
                .await?
                .map(Ev::Response)
                .boxed(),
            page.event_listener::<EventLoadingFinished>()
                .await?
                .map(Ev::Finished)
                .boxed(),
            page.event_listener::<EventLoadingFailed>()
                .await?
                .map(Ev::Failed)
                .boxed(),
            page.event_listener::<EventLoadEventFired>()
                .await?
                .map(|_| Ev::Load)
                .boxed(),
            page.event_listener::<EventExceptionThrown>()
                .await?
                .map(Ev::Exception)
                .boxed(),
            page.event_listener::<EventConsoleApiCalled>()
                .await?
                .map(Ev::Console)
                .boxed(),
        ]);
        let c = collector.clone();
        let task = tokio::spawn(async move {
            let mut events = events;
            while let Some(ev) = events.next().await {
                c.apply(ev);
                c.changed.notify_waiters();
            }
        });
        Ok((collector, task))
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
        f.main_documents_done();
        drop(f);
        self.changed.notify_waiters();
        missed
    }

    fn apply(&self, ev: Ev) {
        let mut f = self.facts();
        let now = Instant::now();
        match ev {
            Ev::Request(e) => {
                let id = e.request_id.inner().clone();
                let is_main_document = e.r#type == Some(ResourceType::Document)
                    && e.frame_id.as_ref().map(|f| f.inner().as_str()) == Some(&f.main_frame);
                if is_main_document {
                    f.main_documents.insert(id.clone());
                    if e.redirect_response.is_none() {
                        // A new navigation (a redirect continues the same one).
                        f.navigation_started = now;
                        f.load_fired = None;
                    }
                }
                f.requests.insert(
                    id.clone(),
                    (e.request.method.clone(), e.request.url.clone()),
                );
                f.in_flight.insert(id, e.request.url.clone());
                f.last_network_activity = now;
            }
            Ev::Response(e) => {
                let id = e.request_id.inner();
                let status = u16::try_from(e.response.status).ok();
                if f.main_documents.contains(id) {
                    f.documents += 1;
                    f.document_status = status;
                    f.document_url = Some(e.response.url.clone());
                } else if let Some(s) = status.filter(|s| *s >= 400) {
                    let method = f.requests.get(id).map(|r| r.0.clone()).unwrap_or_default();
                    push(
                        &mut f.failed_requests,
                        (
                            e.response.url.clone(),
                            format!("{method} {} -> {s}", e.response.url),
                        ),
                    );
                }
                f.last_network_activity = now;
            }
            Ev::Finished(e) => {
                f.in_flight.remove(e.request_id.inner());
                f.last_network_activity = now;
            }
            Ev::Failed(e) => {
                let id = e.request_id.inner().clone();
                f.in_flight.remove(&id);
                f.last_network_activity = now;
                let canceled = e.canceled.unwrap_or(false);
                if !canceled
                    && !f.main_documents.contains(&id)
                    && let Some((method, url)) = f.requests.get(&id).cloned()
                {
                    push(
                        &mut f.failed_requests,
                        (url.clone(), format!("{method} {url} -> {}", e.error_text)),
                    );
                }
            }
            Ev::Load => {
                f.loaded_document = f.documents;
                f.load_fired = Some(now);
                f.main_documents_done();
            }
            Ev::Exception(e) => {
                let d = &e.exception_details;
                let what = d
                    .exception
                    .as_ref()
                    .and_then(|x| x.description.as_deref())
                    .and_then(|s| s.lines().next())
                    .map(str::to_string);
                let message = match what {
                    Some(w) => format!("{} {w}", d.text),
                    None => d.text.clone(),
                };
                push(&mut f.js_errors, clip(message));
            }
            Ev::Console(e) => {
                if e.r#type == ConsoleApiCalledType::Error {
                    let text = e.args.iter().map(describe).collect::<Vec<_>>().join(" ");
                    push(&mut f.console_errors, clip(text));
                }
            }
        }
    }
}

enum Ev {
    Request(Arc<EventRequestWillBeSent>),
    Response(Arc<EventResponseReceived>),
    Finished(Arc<EventLoadingFinished>),
    Failed(Arc<EventLoadingFailed>),
    Load,
    Exception(Arc<EventExceptionThrown>),
    Console(Arc<EventConsoleApiCalled>),
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
fn describe(arg: &RemoteObject) -> String {
    match &arg.value {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => arg
            .description
            .clone()
            .or_else(|| arg.unserializable_value.as_ref().map(|u| u.inner().clone()))
            .unwrap_or_else(|| "<object>".into()),
    }
}
