//! The `http` probe: our own resolve, connect and TLS (so each phase is timed, like
//! blackbox_exporter), then HTTP/1.1 through hyper's client connection API. A new connection
//! per request and per redirect hop; nothing is pooled across probes.

use super::{Outcome, ProbeContext, net, tls};
use crate::failure::Failure;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HOST, HeaderName, HeaderValue, LOCATION, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use shared::probe::{FailureReason, ProbeSpec};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};
use url::{Host, Url};

pub const DEFAULT_MAX_REDIRECTS: u32 = 10;

/// Headers dropped when a redirect leaves the origin, so credentials do not leak.
const ORIGIN_BOUND_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

pub async fn probe(spec: &ProbeSpec, ctx: &ProbeContext, out: &mut Outcome) -> Result<(), Failure> {
    let mut url = Url::parse(spec.target.trim())
        .map_err(|e| Failure::new(FailureReason::Internal, format!("bad target URL: {e}")))?;
    let mut method = Method::from_bytes(
        spec.method
            .as_deref()
            .unwrap_or("GET")
            .to_ascii_uppercase()
            .as_bytes(),
    )
    .map_err(|e| Failure::new(FailureReason::Internal, format!("bad method: {e}")))?;
    let mut body = spec.body.clone();
    let mut headers = request_headers(spec, ctx)?;
    let max_redirects = spec.max_redirects.unwrap_or(DEFAULT_MAX_REDIRECTS);
    let mut followed = 0u32;
    loop {
        let (response, _conn) =
            send(&url, &method, body.as_deref(), &headers, spec, ctx, out).await?;
        let status = response.status();
        out.status = Some(status.as_u16());
        let location = response.headers().get(LOCATION).cloned();
        if let (true, Some(location)) = (status.is_redirection() && max_redirects > 0, location) {
            if followed >= max_redirects {
                return Err(Failure::new(
                    FailureReason::TooManyRedirects,
                    format!("stopped after {max_redirects} redirects (status {status} at {url})"),
                ));
            }
            followed += 1;
            let next = location
                .to_str()
                .ok()
                .and_then(|l| url.join(l).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .ok_or_else(|| {
                    Failure::new(
                        FailureReason::InvalidResponse,
                        format!("redirect {status} has an unusable Location {location:?}"),
                    )
                })?;
            if next.origin() != url.origin() {
                headers.retain(|(name, _)| !ORIGIN_BOUND_HEADERS.contains(&name.as_str()));
            }
            if matches!(
                status,
                StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER
            ) && method != Method::HEAD
            {
                method = Method::GET;
                body = None;
            }
            url = next;
            continue;
        }
        out.headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let bytes = read_body(response, ctx.max_body_bytes, out).await?;
        out.body = Some(String::from_utf8_lossy(&bytes).into_owned());
        if !(status.is_success() || status.is_redirection()) {
            out.default_failure = Some(Failure::new(
                FailureReason::ConditionFailed,
                format!("HTTP status {status}; without conditions only 2xx and 3xx succeed"),
            ));
        }
        out.stage = "done";
        return Ok(());
    }
}

/// The spec's headers plus a default `User-Agent` and the marker of HAS's requests
/// ([`shared::outbound::ORIGIN_HEADER`], which a spec cannot drop or change), validated into
/// hyper's types.
fn request_headers(
    spec: &ProbeSpec,
    ctx: &ProbeContext,
) -> Result<Vec<(HeaderName, HeaderValue)>, Failure> {
    let mut headers = Vec::with_capacity(spec.headers.len() + 1);
    for (name, value) in &spec.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
            Failure::new(
                FailureReason::Internal,
                format!("bad header name {name}: {e}"),
            )
        })?;
        let value = HeaderValue::from_str(value).map_err(|e| {
            Failure::new(
                FailureReason::Internal,
                format!("bad value of header {name}: {e}"),
            )
        })?;
        headers.push((name, value));
    }
    if !headers.iter().any(|(n, _)| n == USER_AGENT)
        && let Ok(ua) = HeaderValue::from_str(&ctx.user_agent)
    {
        headers.push((USER_AGENT, ua));
    }
    headers.retain(|(n, _)| n.as_str() != shared::outbound::ORIGIN_HEADER);
    headers.push((
        HeaderName::from_static(shared::outbound::ORIGIN_HEADER),
        HeaderValue::from_static("pageinspect"),
    ));
    Ok(headers)
}

/// Aborts the task driving a hyper connection when the probe is done with it.
pub struct ConnGuard(tokio::task::JoinHandle<()>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One request on a new connection; returns once the response head has arrived.
async fn send(
    url: &Url,
    method: &Method,
    body: Option<&str>,
    headers: &[(HeaderName, HeaderValue)],
    spec: &ProbeSpec,
    ctx: &ProbeContext,
    out: &mut Outcome,
) -> Result<(Response<Incoming>, ConnGuard), Failure> {
    let host = match url.host() {
        Some(Host::Domain(d)) => d.to_string(),
        Some(Host::Ipv4(ip)) => ip.to_string(),
        Some(Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(Failure::new(FailureReason::Internal, "the URL has no host")),
    };
    let port = url
        .port_or_known_default()
        .ok_or_else(|| Failure::new(FailureReason::Internal, "the URL has no port"))?;
    let addr = net::resolve_allowed(&host, port, spec.ip_preference, &ctx.egress, out).await?;
    let tcp = net::connect(addr, out).await?;
    let request = build_request(url, method, body, headers)?;
    if url.scheme() == "https" {
        let tls = tls::handshake(ctx, tcp, &host, spec.insecure_skip_verify, true, out).await?;
        exchange(tls, request, out).await
    } else {
        exchange(tcp, request, out).await
    }
}

fn build_request(
    url: &Url,
    method: &Method,
    body: Option<&str>,
    headers: &[(HeaderName, HeaderValue)],
) -> Result<Request<Full<Bytes>>, Failure> {
    let host_header = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut builder = Request::builder()
        .method(method.clone())
        .uri(path)
        .header(HOST, host_header);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let body = Full::new(Bytes::from(body.unwrap_or_default().to_string()));
    builder.body(body).map_err(|e| {
        Failure::new(
            FailureReason::Internal,
            format!("cannot build the request: {e}"),
        )
    })
}

/// HTTP/1.1 over an established stream: handshake, send, wait for the response head.
async fn exchange<IO>(
    io: IO,
    request: Request<Full<Bytes>>,
    out: &mut Outcome,
) -> Result<(Response<Incoming>, ConnGuard), Failure>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    out.stage = "processing";
    let start = Instant::now();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| hyper_failure("HTTP handshake failed", &e))?;
    let guard = ConnGuard(tokio::spawn(async move {
        // The connection's own error surfaces through send_request or the body read.
        let _ = conn.await;
    }));
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| hyper_failure("no valid HTTP response", &e))?;
    out.phases.processing += Outcome::since(start);
    Ok((response, guard))
}

/// Reads the body up to `limit` bytes; a longer body is `body_too_large`.
async fn read_body(
    response: Response<Incoming>,
    limit: usize,
    out: &mut Outcome,
) -> Result<Vec<u8>, Failure> {
    out.stage = "transfer";
    let start = Instant::now();
    let mut body = response.into_body();
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| hyper_failure("reading the body failed", &e))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                out.phases.transfer += Outcome::since(start);
                return Err(Failure::new(
                    FailureReason::BodyTooLarge,
                    format!("the response body exceeds {limit} bytes"),
                ));
            }
            buf.extend_from_slice(&data);
        }
    }
    out.phases.transfer += Outcome::since(start);
    Ok(buf)
}

fn hyper_failure(what: &str, e: &hyper::Error) -> Failure {
    let reason = if e.is_parse() || e.is_parse_status() {
        FailureReason::InvalidResponse
    } else if e.is_timeout() {
        FailureReason::Timeout
    } else {
        FailureReason::ConnectionError
    };
    let mut message = format!("{what}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    Failure::new(reason, message)
}
