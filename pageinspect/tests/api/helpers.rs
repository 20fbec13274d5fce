//! Starting pageinspect on port 0 exactly as `main` does, and the local targets it probes.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;
use pageinspect::{Application, PageinspectConfig};
use serde_json::{Value, json};
use shared::probe::ProbeResult;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A local page that answers 503 to its first `failures` requests and 200 after; counts them.
pub async fn spawn_flaky(failures: usize) -> Target {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind flaky");
    let addr = listener.local_addr().expect("addr");
    let server = HttpServer::new(move || {
        let counter = counter.clone();
        App::new().default_service(web::to(move || {
            let seen = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if seen < failures {
                    HttpResponse::ServiceUnavailable().body("not yet")
                } else {
                    HttpResponse::Ok().body("ok")
                }
            }
        }))
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    Target { addr, hits }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub token: Option<String>,
}

/// pageinspect with test defaults (loopback, port 0, no log files; anonymous callers
/// allowed unless `tweak` configures a credential).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// pageinspect with `tweak` applied to the test configuration.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut PageinspectConfig)) -> TestApp {
    shared::telemetry::init_for_tests();
    let mut config = PageinspectConfig::defaults();
    config.server.listen = "127.0.0.1:0".into();
    config.server.workers = Some(1);
    config.log.dir = "".into();
    config.log.stdout = false;
    tweak(&mut config);
    // Most tests are about probes, not callers: anonymous unless `tweak` set a credential.
    if !config.auth.has_credential() {
        config.auth.allow_anonymous = true;
    }
    let token = config
        .auth
        .service_token
        .as_ref()
        .map(|t| t.expose().to_string());
    let app = Application::build(config)
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        token,
    }
}

impl TestApp {
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}{path}", self.address))
            .json(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("pageinspect answers")
    }

    pub async fn post_probe(&self, spec: &Value) -> reqwest::Response {
        self.post("/api/v1/probe", spec).await
    }

    /// Runs one probe and returns its result, asserting the call itself succeeded.
    pub async fn probe(&self, spec: &Value) -> ProbeResult {
        let resp = self.post_probe(spec).await;
        assert_eq!(
            resp.status(),
            200,
            "probe call failed: {:?}",
            resp.text().await
        );
        resp.json().await.expect("a ProbeResult")
    }

    pub async fn batch(&self, probes: Vec<Value>) -> reqwest::Response {
        self.post("/api/v1/probes:batch", &json!({ "probes": probes }))
            .await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("pageinspect answers")
    }
}

/// Asserts a problem+json answer with `status` and, when given, the offending `field`.
pub async fn assert_problem(resp: reqwest::Response, status: u16, field: Option<&str>) -> Value {
    assert_eq!(resp.status().as_u16(), status);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/problem+json"),
        "content type {content_type}"
    );
    let body: Value = resp.json().await.expect("problem json");
    assert_eq!(body["status"], status);
    if let Some(field) = field {
        assert_eq!(body["field"], field, "{body}");
    }
    body
}

/// A local HTTP site with the pages the probes need; counts the requests it receives.
pub struct Target {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
}

impl Target {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

pub async fn spawn_target() -> Target {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind target");
    let addr = listener.local_addr().expect("addr");
    let server = HttpServer::new(move || {
        let counter = counter.clone();
        App::new()
            .wrap_fn(move |req, srv| {
                counter.fetch_add(1, Ordering::SeqCst);
                actix_web::dev::Service::call(srv, req)
            })
            .route("/healthy", web::get().to(healthy))
            .route("/slow", web::get().to(slow))
            .route("/error", web::get().to(error))
            .route("/loop", web::get().to(redirect_loop))
            .route("/moved", web::get().to(moved))
            .route("/endless", web::get().to(endless))
            .route("/echo", web::to(echo))
            .route("/to-metadata", web::get().to(to_metadata))
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    Target { addr, hits }
}

async fn healthy() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "UP", "checks": [{ "name": "db", "ok": true }] }))
}

async fn slow() -> HttpResponse {
    tokio::time::sleep(Duration::from_secs(30)).await;
    HttpResponse::Ok().finish()
}

async fn error() -> HttpResponse {
    HttpResponse::InternalServerError().body("boom")
}

async fn redirect_loop() -> HttpResponse {
    HttpResponse::Found()
        .insert_header(("Location", "/loop"))
        .finish()
}

async fn moved() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header(("Location", "/healthy"))
        .finish()
}

/// A redirect from an allowed target to the cloud metadata address.
async fn to_metadata() -> HttpResponse {
    HttpResponse::Found()
        .insert_header(("Location", "http://169.254.169.254/latest/meta-data/"))
        .finish()
}

async fn endless() -> HttpResponse {
    let chunk = Bytes::from(vec![b'x'; 16 * 1024]);
    let stream = futures::stream::repeat_with(move || Ok::<_, actix_web::Error>(chunk.clone()));
    HttpResponse::Ok().streaming(stream)
}

async fn echo(req: HttpRequest, body: Bytes) -> HttpResponse {
    let header = req
        .headers()
        .get("x-test")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let agent = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    HttpResponse::Ok().json(json!({
        "method": req.method().as_str(),
        "header": header,
        "agent": agent,
        "body": String::from_utf8_lossy(&body),
    }))
}

/// A loopback port nothing listens on: bind, note the port, drop the listener.
pub fn refused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}
