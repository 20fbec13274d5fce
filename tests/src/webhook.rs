//! A webhook receiver on loopback that records every request and answers what the test says,
//! and the signature checks the receiving services make (HAS webhooks, DingTalk, Feishu),
//! recomputed from the secret as those services would.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// The raw query string (without `?`).
    pub query: String,
    /// Header names in lower case; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Decoded query parameters.
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    answer: Option<(u16, String)>,
}

/// The receiver; stops when dropped.
pub struct WebhookReceiver {
    pub base: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

impl WebhookReceiver {
    /// Listens on 127.0.0.1:0 and answers every request `200 {"ok":true}` until told otherwise.
    pub async fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State::default()));
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(record))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            base: format!("http://127.0.0.1:{port}"),
            state,
            handle,
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    /// Answers every following request with `status` and the JSON or text `body`.
    pub fn answer(&self, status: u16, body: &str) {
        self.lock().answer = Some((status, body.to_string()));
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// The only request so far; panics unless there was exactly one.
    pub fn single(&self) -> Received {
        let mut all = self.requests();
        assert_eq!(all.len(), 1, "expected one request, got {all:?}");
        all.remove(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn record(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    state.received.push(Received {
        method: req.method().to_string(),
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        headers,
        body: body.to_vec(),
    });
    let (status, body) = state
        .answer
        .clone()
        .unwrap_or((200, r#"{"ok":true}"#.to_string()));
    let status = actix_web::http::StatusCode::from_u16(status).expect("a valid status");
    let content_type = if body.starts_with('{') {
        "application/json"
    } else {
        "text/plain"
    };
    HttpResponse::build(status)
        .content_type(content_type)
        .body(body)
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Hmac<sha2::Sha256> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(msg);
    mac
}

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Checks `X-HAS-Signature: t=…,v1=…` over the raw `body` as a receiver should: a fresh `t`
/// (within `tolerance_s` of now) and a matching MAC, compared in constant time.
pub fn verify_has_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    tolerance_s: i64,
) -> Result<(), String> {
    let parts: BTreeMap<&str, &str> = header
        .split(',')
        .filter_map(|kv| kv.trim().split_once('='))
        .collect();
    let t = parts.get("t").ok_or("no t")?;
    let v1 = parts.get("v1").ok_or("no v1")?;
    let ts: i64 = t.parse().map_err(|_| format!("t={t} is not a number"))?;
    if (now_s() - ts).abs() > tolerance_s {
        return Err(format!("t={ts} is stale"));
    }
    let given = from_hex(v1).ok_or("v1 is not hex")?;
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    hmac_sha256(secret.as_bytes(), &signed)
        .verify_slice(&given)
        .map_err(|_| "the MAC does not match".to_string())
}

/// Checks a DingTalk robot request as DingTalk does: `timestamp` (ms) within an hour, and
/// `sign` = base64(HMAC-SHA256(secret, "<timestamp>\n<secret>")), from the query string.
pub fn verify_dingtalk_sign(secret: &str, req: &Received) -> Result<(), String> {
    let ts = req.query_param("timestamp").ok_or("no timestamp")?;
    let sign = req.query_param("sign").ok_or("no sign")?;
    let ms: i64 = ts.parse().map_err(|_| "timestamp is not a number")?;
    if (now_s() * 1000 - ms).abs() > 3_600_000 {
        return Err(format!("timestamp {ms} is more than an hour off"));
    }
    let given = base64::engine::general_purpose::STANDARD
        .decode(&sign)
        .map_err(|_| "sign is not base64")?;
    hmac_sha256(secret.as_bytes(), format!("{ts}\n{secret}").as_bytes())
        .verify_slice(&given)
        .map_err(|_| "sign not match".to_string())
}

/// Checks a Feishu bot request as Feishu does: body `timestamp` (s) within an hour, and `sign`
/// = base64(HMAC-SHA256(key = "<timestamp>\n<secret>", msg = "")).
pub fn verify_feishu_sign(secret: &str, body: &serde_json::Value) -> Result<(), String> {
    let ts = body["timestamp"].as_str().ok_or("no timestamp string")?;
    let sign = body["sign"].as_str().ok_or("no sign")?;
    let s: i64 = ts.parse().map_err(|_| "timestamp is not a number")?;
    if (now_s() - s).abs() > 3600 {
        return Err(format!("timestamp {s} is more than an hour off"));
    }
    let given = base64::engine::general_purpose::STANDARD
        .decode(sign)
        .map_err(|_| "sign is not base64")?;
    hmac_sha256(format!("{ts}\n{secret}").as_bytes(), b"")
        .verify_slice(&given)
        .map_err(|_| "sign match fail".to_string())
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
