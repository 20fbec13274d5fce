//! A small DevTools protocol client over Chromium's `--remote-debugging-pipe`: JSON messages,
//! each ended by a NUL byte, written to the browser's fd 3 and read from its fd 4.
//!
//! It does only what the probes need, and so spares the browser the work a general client asks
//! for on every page (chromiumoxide enabled the Page lifecycle, Log and Performance domains, an
//! extra isolated JavaScript world in every document, auto-attach to frames, ignored
//! certificate errors, and had every page open on `about:blank` before navigating: together
//! about a fifth of the browser's CPU per probe).
//!
//! The browser auto-attaches to every new page target and holds it before its first navigation
//! (`Target.setAutoAttach` with `waitForDebuggerOnStart`), so a probe can open its page directly
//! on the target URL and still see every event of its main document. A page the probe did not
//! ask for (a popup) is let run and left alone.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::{mpsc, oneshot};

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CdpError {
    /// The connection closed: the browser exited or crashed.
    #[error("the browser connection closed")]
    Closed,
    /// No answer in time: the browser hangs (or is overloaded).
    #[error("the browser did not answer {0} in time")]
    Timeout(&'static str),
    /// The browser answered with an error.
    #[error("{0}")]
    Protocol(String),
}

/// An event of one session: its method name and parameters.
#[derive(Debug)]
pub struct Event {
    pub method: String,
    pub params: Value,
}

/// A page target attached to this connection, still waiting to start loading.
pub struct Attached {
    pub session: String,
    pub target: String,
    /// The page's URL when attached: empty while it waits for its first navigation; the full
    /// `chromium` has already started navigating (see the probe's `Session::open`).
    pub url: String,
    pub events: mpsc::UnboundedReceiver<Event>,
}

/// One DevTools connection; cheap to clone.
#[derive(Clone)]
pub struct Connection {
    shared: Arc<Shared>,
    writer: mpsc::UnboundedSender<Vec<u8>>,
    timeout: Duration,
}

type Reply = oneshot::Sender<Result<Value, CdpError>>;

#[derive(Default)]
struct Shared {
    next_id: AtomicU64,
    closed: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    pending: HashMap<u64, Reply>,
    sessions: HashMap<String, mpsc::UnboundedSender<Event>>,
    /// Browser context id → who waits for the first page attached in it.
    attach_waiters: HashMap<String, oneshot::Sender<Attached>>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere mid-update; the maps are still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The fields of any message from the browser.
#[derive(serde::Deserialize)]
struct Incoming {
    id: Option<u64>,
    method: Option<String>,
    #[serde(default)]
    params: Value,
    result: Option<Value>,
    error: Option<ProtocolError>,
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
}

#[derive(serde::Deserialize)]
struct ProtocolError {
    message: String,
}

impl Connection {
    /// Starts the reader and writer tasks on the browser's pipes. `on_close` runs once the
    /// browser's end closes (it exited or crashed).
    pub fn start(
        to_browser: ChildStdin,
        from_browser: ChildStdout,
        timeout: Duration,
        on_close: impl FnOnce() + Send + 'static,
    ) -> Self {
        let shared = Arc::new(Shared::default());
        let (writer, mut outgoing) = mpsc::unbounded_channel::<Vec<u8>>();
        let conn = Self {
            shared: shared.clone(),
            writer,
            timeout,
        };
        tokio::spawn(async move {
            let mut pipe = to_browser;
            while let Some(message) = outgoing.recv().await {
                if pipe.write_all(&message).await.is_err() {
                    break;
                }
            }
        });
        let reader = conn.clone();
        tokio::spawn(async move {
            let mut pipe = BufReader::with_capacity(64 * 1024, from_browser);
            let mut buf = Vec::with_capacity(64 * 1024);
            loop {
                buf.clear();
                match pipe.read_until(0, &mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                if buf.last() == Some(&0) {
                    buf.pop();
                }
                match serde_json::from_slice::<Incoming>(&buf) {
                    Ok(message) => reader.dispatch(message),
                    Err(e) => tracing::warn!(error = %e, "unreadable DevTools message"),
                }
            }
            reader.close();
            on_close();
        });
        conn
    }

    /// Sends a command (to the browser, or to a page's session) and waits for its answer.
    pub async fn call(
        &self,
        method: &'static str,
        params: Value,
        session: Option<&str>,
    ) -> Result<Value, CdpError> {
        let answer = self.send(method, params, session)?;
        self.answer(method, answer).await
    }

    /// Queues a command and returns where its answer will arrive, so that several commands can
    /// be sent before waiting for any.
    pub fn send(
        &self,
        method: &'static str,
        params: Value,
        session: Option<&str>,
    ) -> Result<oneshot::Receiver<Result<Value, CdpError>>, CdpError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(CdpError::Closed);
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut message = match session {
            Some(s) => json!({ "id": id, "method": method, "params": params, "sessionId": s }),
            None => json!({ "id": id, "method": method, "params": params }),
        }
        .to_string()
        .into_bytes();
        message.push(0);
        let (tx, rx) = oneshot::channel();
        self.shared.state().pending.insert(id, tx);
        if self.writer.send(message).is_err() {
            self.shared.state().pending.remove(&id);
            return Err(CdpError::Closed);
        }
        Ok(rx)
    }

    /// Waits for an answer from [`Connection::send`].
    pub async fn answer(
        &self,
        method: &'static str,
        answer: oneshot::Receiver<Result<Value, CdpError>>,
    ) -> Result<Value, CdpError> {
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(result)) => result,
            // The reader dropped the reply: the connection closed.
            Ok(Err(_)) => Err(CdpError::Closed),
            Err(_) => Err(CdpError::Timeout(method)),
        }
    }

    /// Where the first page attached in browser context `context` will be handed over.
    pub fn expect_page(&self, context: &str) -> oneshot::Receiver<Attached> {
        let (tx, rx) = oneshot::channel();
        self.shared
            .state()
            .attach_waiters
            .insert(context.to_string(), tx);
        rx
    }

    /// Forgets a page's session (its events are no longer wanted) and a waiter of `context`.
    pub fn forget(&self, session: Option<&str>, context: &str) {
        let mut state = self.shared.state();
        if let Some(s) = session {
            state.sessions.remove(s);
        }
        state.attach_waiters.remove(context);
    }

    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    fn dispatch(&self, message: Incoming) {
        if let Some(id) = message.id {
            let reply = self.shared.state().pending.remove(&id);
            if let Some(reply) = reply {
                let result = match message.error {
                    Some(e) => Err(CdpError::Protocol(e.message)),
                    None => Ok(message.result.unwrap_or(Value::Null)),
                };
                let _ = reply.send(result);
            }
            return;
        }
        let Some(method) = message.method else {
            return;
        };
        match (message.session_id, method.as_str()) {
            (None, "Target.attachedToTarget") => self.attached(message.params),
            (None, "Target.detachedFromTarget") => {
                if let Some(s) = message.params["sessionId"].as_str() {
                    self.shared.state().sessions.remove(s);
                }
            }
            (Some(session), _) => {
                let state = self.shared.state();
                if let Some(tx) = state.sessions.get(&session) {
                    let _ = tx.send(Event {
                        method,
                        params: message.params,
                    });
                }
            }
            (None, _) => {}
        }
    }

    /// A new target was attached (and waits to start): handed to the probe that opened it, or,
    /// when nobody asked for it (a popup, a worker), let run and detached.
    fn attached(&self, params: Value) {
        let Some(session) = params["sessionId"].as_str().map(str::to_string) else {
            return;
        };
        let info = &params["targetInfo"];
        let context = info["browserContextId"].as_str().unwrap_or_default();
        let mut state = self.shared.state();
        let waiter = (info["type"] == "page")
            .then(|| state.attach_waiters.remove(context))
            .flatten();
        match waiter {
            Some(waiter) => {
                // Registered before the handover, so no event of the page is missed.
                let (tx, events) = mpsc::unbounded_channel();
                state.sessions.insert(session.clone(), tx);
                drop(state);
                let target = info["targetId"].as_str().unwrap_or_default().to_string();
                let url = info["url"].as_str().unwrap_or_default().to_string();
                if let Err(unwanted) = waiter.send(Attached {
                    session: session.clone(),
                    target,
                    url,
                    events,
                }) {
                    // The probe gave up meanwhile; its context is disposed with the page.
                    self.shared.state().sessions.remove(&unwanted.session);
                }
            }
            None => {
                drop(state);
                let _ = self.send("Runtime.runIfWaitingForDebugger", json!({}), Some(&session));
                let _ = self.send(
                    "Target.detachFromTarget",
                    json!({ "sessionId": session }),
                    None,
                );
            }
        }
    }

    /// Fails every pending call and ends every session's events.
    fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        let mut state = self.shared.state();
        for (_, reply) in state.pending.drain() {
            let _ = reply.send(Err(CdpError::Closed));
        }
        state.sessions.clear();
        state.attach_waiters.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;
    use tokio::process::Command;

    /// A connection to `program`, which plays the browser's end of the pipe.
    fn connect(program: &str, closed: Arc<AtomicBool>) -> (Connection, tokio::process::Child) {
        let mut child = Command::new(program)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawns");
        let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
        let conn = Connection::start(
            stdin.expect("stdin"),
            stdout.expect("stdout"),
            Duration::from_secs(5),
            move || closed.store(true, Ordering::Release),
        );
        (conn, child)
    }

    #[tokio::test]
    async fn an_answer_reaches_its_caller_by_id() {
        // `cat` echoes each command back: a message with an id and no error is an answer.
        let closed = Arc::new(AtomicBool::new(false));
        let (conn, _child) = connect("cat", closed.clone());
        let a = conn
            .send("Page.enable", json!({}), Some("S1"))
            .expect("sent");
        let b = conn.call("Target.getTargets", json!({}), None).await;
        assert_eq!(b.expect("answered"), Value::Null);
        assert_eq!(
            conn.answer("Page.enable", a).await.expect("answered"),
            Value::Null
        );
        assert!(!closed.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn a_closed_pipe_fails_calls_and_reports_the_close() {
        let closed = Arc::new(AtomicBool::new(false));
        let (conn, _child) = connect("true", closed.clone());
        for _ in 0..50 {
            if conn.is_closed() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(conn.is_closed());
        assert!(closed.load(Ordering::Acquire));
        let r = conn.call("Target.getTargets", json!({}), None).await;
        assert!(matches!(r, Err(CdpError::Closed)), "{r:?}");
    }

    #[tokio::test]
    async fn a_page_attached_in_an_awaited_context_gets_its_events() {
        let closed = Arc::new(AtomicBool::new(false));
        let (conn, _child) = connect("cat", closed);
        let page = conn.expect_page("C1");
        conn.dispatch(Incoming {
            id: None,
            method: Some("Target.attachedToTarget".into()),
            params: json!({
                "sessionId": "S1",
                "targetInfo": { "targetId": "T1", "type": "page", "browserContextId": "C1" },
                "waitingForDebugger": true,
            }),
            result: None,
            error: None,
            session_id: None,
        });
        let mut page = page.await.expect("handed over");
        assert_eq!((page.session.as_str(), page.target.as_str()), ("S1", "T1"));
        conn.dispatch(Incoming {
            id: None,
            method: Some("Page.loadEventFired".into()),
            params: json!({ "timestamp": 1.0 }),
            result: None,
            error: None,
            session_id: Some("S1".into()),
        });
        let ev = page.events.recv().await.expect("an event");
        assert_eq!(ev.method, "Page.loadEventFired");
        conn.forget(Some("S1"), "C1");
        assert!(
            page.events.recv().await.is_none(),
            "events end once forgotten"
        );
    }
}
