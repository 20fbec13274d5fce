//! The HTTP server of acmangkut and pageinspect: actix-web's, with a guard on each request head.
//!
//! actix-http answers a head it cannot take (a URI of 64 KiB or more, a head over 128 KiB or
//! with more than 96 headers) itself, with an empty 400 or 431 that no handler, middleware or
//! error handler sees, and that the code offers no way to change. [`HeadGuard`] watches the
//! bytes of each head as actix reads them and answers a head over this module's smaller limits
//! first, with problem+json naming what is too long; then it closes the connection as actix
//! would. It follows request framing by `Content-Length` so every request of a kept-alive
//! connection is checked; after a chunked body it stops looking (actix's limits still apply).

use crate::problem::{ApiError, ErrorCode, PROBLEM_CONTENT_TYPE};
use actix_http::body::MessageBody;
use actix_http::{HttpService, Protocol, Request, Response};
use actix_service::{IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt};
use actix_service::{fn_service, map_config};
use actix_web::dev::{AppConfig, Server};
use std::io;
use std::net::TcpListener;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The longest request line (method, URI, version) answered normally; longer ones get 414.
pub const MAX_REQUEST_LINE: usize = 32 * 1024;
/// The largest request head (request line and headers) answered normally; larger: 431.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most header lines in one head (actix takes 96 at most); more: 431.
pub const MAX_HEADER_LINES: usize = 64;
/// After refusing, what is read and dropped so the client reads the answer instead of a reset.
const DRAIN: usize = 1024 * 1024;

/// Serves the actix-web app that `factory` builds on `listener`, as `HttpServer::listen` does
/// (same timeouts, graceful shutdown of idle connections), with a [`HeadGuard`] in front.
pub fn serve<F, I, S, B>(
    listener: TcpListener,
    workers: Option<usize>,
    shutdown_timeout: Duration,
    factory: F,
) -> io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    let mut builder = Server::build().shutdown_timeout(shutdown_timeout.as_secs());
    if let Some(n) = workers.filter(|n| *n > 0) {
        builder = builder.workers(n);
    }
    let shutdown = builder.graceful_shutdown_signal();
    let builder = builder.listen("http", listener, move || {
        let shutdown = shutdown.clone();
        let app = factory()
            .into_factory()
            .map_err(|e| e.into().error_response());
        // What `HttpServer` gives the app: its listen address as host and local address.
        let config = AppConfig::__priv_test_new(false, addr.to_string(), addr);
        let http = HttpService::build()
            .graceful_shutdown_signal(move || {
                let shutdown = shutdown.clone();
                async move { shutdown.notified().await }
            })
            .client_request_timeout(Duration::from_secs(5))
            .client_disconnect_timeout(Duration::from_secs(1))
            .h1_allow_half_closed(true)
            .local_addr(addr)
            .finish(map_config(app, move |_| config.clone()));
        fn_service(|io: TcpStream| async move {
            let peer = io.peer_addr().ok();
            Ok((HeadGuard::new(io), Protocol::Http1, peer))
        })
        .and_then(http)
    })?;
    Ok(builder.run())
}

/// A connection as actix reads it: each request head is scanned as it arrives (see the module).
pub struct HeadGuard {
    io: TcpStream,
    state: State,
}

enum State {
    Head(Scan),
    /// Bytes of the current request's body still to come.
    Body(u64),
    /// A chunked body: its end is not tracked, so nothing more is checked.
    Opaque,
    /// The refusal being written, and how much of it is.
    Refusing(Vec<u8>, usize),
    /// The refusal is sent: what is left to read and drop before ending.
    Draining(usize),
    Closed,
}

/// What is known of the head being read.
#[derive(Default)]
struct Scan {
    past_request_line: bool,
    /// Bytes of the current line, CR not counted.
    line: usize,
    head: usize,
    header_lines: usize,
    /// The start of the current line, enough for `Content-Length: <n>`.
    start: Vec<u8>,
    content_length: u64,
    chunked: bool,
}

enum Fed {
    More,
    /// The head ended after `used` bytes; `Some(n)`: a body of `n` bytes follows.
    Done(usize, Option<u64>),
    Refuse(ApiError),
}

impl Scan {
    fn feed(&mut self, data: &[u8]) -> Fed {
        for (i, &b) in data.iter().enumerate() {
            self.head += 1;
            if b == b'\n' {
                if let Some(done) = self.end_line(i) {
                    return done;
                }
            } else if b != b'\r' {
                self.line += 1;
                if self.start.len() < 40 {
                    self.start.push(b);
                }
            }
            if let Some(refusal) = self.over_limit() {
                return Fed::Refuse(refusal);
            }
        }
        Fed::More
    }

    /// At the end of a line (`\n` at `i`): the end of the head, or nothing.
    fn end_line(&mut self, i: usize) -> Option<Fed> {
        let blank = self.line == 0;
        let start = std::mem::take(&mut self.start);
        self.line = 0;
        if !self.past_request_line {
            // Empty lines before a request line are allowed (RFC 9112 §2.2).
            self.past_request_line = !blank;
            return None;
        }
        if blank {
            let body = (!self.chunked).then_some(self.content_length);
            return Some(Fed::Done(i + 1, body));
        }
        self.header_lines += 1;
        let text = String::from_utf8_lossy(&start).to_ascii_lowercase();
        if let Some((name, value)) = text.split_once(':') {
            match name.trim() {
                "content-length" => match value.trim().parse() {
                    Ok(n) => self.content_length = n,
                    Err(_) => self.chunked = true,
                },
                "transfer-encoding" => self.chunked = true,
                _ => {}
            }
        }
        None
    }

    fn over_limit(&self) -> Option<ApiError> {
        if !self.past_request_line && self.line > MAX_REQUEST_LINE {
            return Some(ApiError::field(
                ErrorCode::UriTooLong,
                "uri",
                format!(
                    "the request line is longer than {MAX_REQUEST_LINE} bytes; send long \
                     input in a request body"
                ),
            ));
        }
        let detail = if self.head > MAX_HEAD {
            format!("the request head is longer than {MAX_HEAD} bytes")
        } else if self.header_lines > MAX_HEADER_LINES {
            format!("the request has more than {MAX_HEADER_LINES} header lines")
        } else {
            return None;
        };
        Some(ApiError::field(
            ErrorCode::HeadersTooLarge,
            "headers",
            detail,
        ))
    }
}

impl HeadGuard {
    pub fn new(io: TcpStream) -> Self {
        Self {
            io,
            state: State::Head(Scan::default()),
        }
    }

    /// Writes the refusal, ends the sending side, then drops what the client still sends
    /// until it closes (or [`DRAIN`] bytes); then actix reads the end of the connection.
    fn poll_refusal(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match &mut self.state {
                State::Refusing(bytes, written) => {
                    while *written < bytes.len() {
                        match ready!(Pin::new(&mut self.io).poll_write(cx, &bytes[*written..])) {
                            Ok(n) if n > 0 => *written += n,
                            _ => {
                                self.state = State::Closed;
                                return Poll::Ready(Ok(()));
                            }
                        }
                    }
                    let _ = ready!(Pin::new(&mut self.io).poll_shutdown(cx));
                    self.state = State::Draining(DRAIN);
                }
                State::Draining(left) => {
                    let mut scratch = [0u8; 8192];
                    let mut buf = ReadBuf::new(&mut scratch);
                    let read = ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf));
                    let n = buf.filled().len();
                    if read.is_err() || n == 0 || n >= *left {
                        self.state = State::Closed;
                    } else {
                        *left -= n;
                    }
                }
                _ => return Poll::Ready(Ok(())),
            }
        }
    }

    fn refused(&self) -> bool {
        matches!(
            self.state,
            State::Refusing(..) | State::Draining(_) | State::Closed
        )
    }
}

/// Follows the requests in `data` (just read) from `state`; the refusal when a head is over a
/// limit.
fn observe(state: &mut State, mut data: &[u8]) -> Option<ApiError> {
    while !data.is_empty() {
        match state {
            State::Head(scan) => match scan.feed(data) {
                Fed::More => return None,
                Fed::Refuse(e) => return Some(e),
                Fed::Done(used, body) => {
                    data = &data[used..];
                    *state = match body {
                        Some(0) => State::Head(Scan::default()),
                        Some(n) => State::Body(n),
                        None => State::Opaque,
                    };
                }
            },
            State::Body(left) => {
                let n = data.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= n as u64;
                data = &data[n..];
                if *left == 0 {
                    *state = State::Head(Scan::default());
                }
            }
            _ => return None,
        }
    }
    None
}

/// The whole answer to a refused head, as bytes on the wire.
fn refusal(e: &ApiError) -> Vec<u8> {
    let body = serde_json::to_vec(&e.problem()).unwrap_or_default();
    let status = e.code.http_status();
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {PROBLEM_CONTENT_TYPE}\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    [head.into_bytes(), body].concat()
}

impl AsyncRead for HeadGuard {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refused() {
            return this.poll_refusal(cx);
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        if matches!(this.state, State::Opaque) {
            return Poll::Ready(Ok(()));
        }
        let Some(e) = observe(&mut this.state, &buf.filled()[before..]) else {
            return Poll::Ready(Ok(()));
        };
        // actix never sees this read: the head is answered here and the connection ends.
        tracing::debug!(status = e.code.status(), detail = %e.detail, "request head refused");
        buf.set_filled(before);
        this.state = State::Refusing(refusal(&e), 0);
        this.poll_refusal(cx)
    }
}

/// Writes go to the client, except once a head was refused (actix's own answers are dropped).
impl AsyncWrite for HeadGuard {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.refused() {
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refused() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refused() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` to a fresh connection's state: the refusal, or where it ends up.
    fn scan_all(chunks: &[&[u8]]) -> (Option<ApiError>, &'static str) {
        let mut state = State::Head(Scan::default());
        for c in chunks {
            if let Some(e) = observe(&mut state, c) {
                return (Some(e), "refused");
            }
        }
        let at = match state {
            State::Head(_) => "head",
            State::Body(_) => "body",
            State::Opaque => "opaque",
            _ => "other",
        };
        (None, at)
    }

    #[test]
    fn a_long_request_line_is_refused_naming_the_uri() {
        let line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_REQUEST_LINE));
        let (e, _) = scan_all(&[line.as_bytes()]);
        let e = e.expect("refused");
        assert_eq!(e.code.status(), 414);
        assert_eq!(e.field.as_deref(), Some("uri"));
    }

    #[test]
    fn bodies_are_skipped_by_content_length_and_the_next_head_is_checked() {
        let body = "x".repeat(MAX_HEAD * 2);
        let first = format!(
            "POST /a HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let (e, at) = scan_all(&[first.as_bytes(), b"GET /b HTTP/1.1\r\n\r\n"]);
        assert!(e.is_none(), "a body is no head");
        assert_eq!(at, "head");
        let long = format!("GET /{} HTTP/1.1\r\n", "b".repeat(MAX_REQUEST_LINE));
        let (e, _) = scan_all(&[first.as_bytes(), long.as_bytes()]);
        assert_eq!(e.expect("second request refused").code.status(), 414);
    }

    #[test]
    fn too_many_header_lines_are_refused_naming_the_headers() {
        let mut head = String::from("GET / HTTP/1.1\r\n");
        for i in 0..=MAX_HEADER_LINES {
            head.push_str(&format!("x-{i}: 1\r\n"));
        }
        let (e, _) = scan_all(&[head.as_bytes()]);
        let e = e.expect("refused");
        assert_eq!(
            (e.code.status(), e.field.as_deref()),
            (431, Some("headers"))
        );
    }

    #[test]
    fn a_chunked_body_ends_the_checks_of_its_connection() {
        let head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        assert_eq!(scan_all(&[head]).1, "opaque");
    }
}
