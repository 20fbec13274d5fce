//! pageinspect started as `main` does (port 0, a real browser pool), and a local site with the
//! pages the browser probes load.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use pageinspect::{Application, PageinspectConfig};
use serde_json::Value;
use shared::probe::ProbeResult;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The password the login page accepts.
pub const PASSWORD: &str = "correct-horse-battery-staple";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
}

/// The Chromium binaries pageinspect supports, as Debian installs them (scripts/test does).
#[derive(Debug, Clone, Copy)]
pub enum Chromium {
    /// `chromium-headless-shell`, pageinspect's default.
    HeadlessShell,
    /// The full `chromium`, in its headless mode.
    Full,
}

impl Chromium {
    pub fn executable(self) -> &'static str {
        match self {
            Self::HeadlessShell => "/usr/lib/chromium/chromium-headless-shell",
            Self::Full => "/usr/bin/chromium",
        }
    }
}

/// pageinspect with one browser (tests run in parallel on a small machine) and `secrets_dir`.
pub async fn spawn_app(secrets_dir: &Path) -> TestApp {
    spawn_app_with(secrets_dir, |_| {}).await
}

/// [`spawn_app`] on the binary `chromium`.
pub async fn spawn_app_on(chromium: Chromium, secrets_dir: &Path) -> TestApp {
    spawn_app_with(secrets_dir, |c| {
        c.browser.executable = chromium.executable().into();
    })
    .await
}

/// [`spawn_app`] with the configuration changed by `change` first.
pub async fn spawn_app_with(
    secrets_dir: &Path,
    change: impl FnOnce(&mut PageinspectConfig),
) -> TestApp {
    shared::telemetry::init_for_tests();
    let mut config = PageinspectConfig::defaults();
    config.server.listen = "127.0.0.1:0".into();
    config.server.workers = Some(1);
    config.log.dir = "".into();
    config.log.stdout = false;
    config.auth.allow_anonymous = true;
    config.browser.pool_size = 1;
    config.browser.max_concurrent_pages = 4;
    config.browser.secrets_dir = secrets_dir.to_path_buf();
    change(&mut config);
    let app = Application::build(config)
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
    }
}

impl TestApp {
    /// Runs one probe through `POST /api/v1/probe`, asserting the call itself succeeded.
    pub async fn probe(&self, spec: &Value) -> ProbeResult {
        let resp = self
            .client
            .post(format!("{}/api/v1/probe", self.address))
            .json(spec)
            .send()
            .await
            .expect("pageinspect answers");
        assert_eq!(
            resp.status(),
            200,
            "probe call failed: {:?}",
            resp.text().await
        );
        resp.json().await.expect("a ProbeResult")
    }

    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("text")
    }
}

/// The value of an unlabelled metric line `name value`.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Asserts `b64` decodes to a PNG.
pub fn assert_png(b64: &str) {
    // The PNG signature 89 50 4E 47 0D 0A 1A 0A is "iVBORw0KGgo" in base64.
    assert!(
        b64.starts_with("iVBORw0KGgo"),
        "not a PNG: {}",
        &b64[..b64.len().min(16)]
    );
}

pub struct Site {
    pub addr: SocketAddr,
    /// What `/phish` sent back of what was typed into it.
    pub stolen: Arc<Mutex<Vec<String>>>,
}

impl Site {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The page's origin, as a secret's `.origins` file lists it.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stolen(&self) -> Vec<String> {
        self.stolen.lock().expect("lock").clone()
    }
}

pub async fn spawn_site() -> Site {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind site");
    let addr = listener.local_addr().expect("addr");
    let stolen = Arc::new(Mutex::new(Vec::new()));
    let sink = web::Data::new(stolen.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(sink.clone())
            .route("/phish", web::get().to(|| html(PHISH)))
            .route("/stolen", web::post().to(steal))
            .route("/healthy", web::get().to(|| html(HEALTHY)))
            .route("/throws", web::get().to(|| html(THROWS)))
            .route("/spinner", web::get().to(|| html(SPINNER)))
            .route("/api/slow", web::get().to(slow_api))
            .route("/broken-parts", web::get().to(|| html(BROKEN_PARTS)))
            .route("/console", web::get().to(|| html(CONSOLE)))
            .route("/login", web::get().to(|| html(LOGIN)))
            .route("/login", web::post().to(log_in))
            .route("/welcome", web::get().to(welcome))
    })
    .workers(2)
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    Site { addr, stolen }
}

/// A log-in lookalike that sends whatever is typed into it to `/stolen`.
const PHISH: &str = r#"<!doctype html><html><head><title>Log in</title></head>
<body><input id="user"><input id="password" type="password">
<script>
for (const el of document.querySelectorAll('input')) {
  el.addEventListener('input', () => fetch('/stolen', { method: 'POST', body: el.value }));
}
</script></body></html>"#;

async fn steal(body: String, sink: web::Data<Arc<Mutex<Vec<String>>>>) -> HttpResponse {
    sink.lock().expect("lock").push(body);
    HttpResponse::NoContent().finish()
}

async fn html(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

const HEALTHY: &str = r#"<!doctype html><html><head><title>Healthy shop</title></head>
<body><div id="app">starting</div>
<script>document.getElementById('app').innerHTML = '<span class="ready">Ready</span>';</script>
</body></html>"#;

const THROWS: &str = r#"<!doctype html><html><head><title>Broken</title></head>
<body><h1>Half a page</h1>
<script>throw new Error('checkout widget exploded');</script>
</body></html>"#;

/// Shows a spinner until `/api/slow` answers, then the answer in `#content`.
const SPINNER: &str = r#"<!doctype html><html><head><title>Slow</title></head>
<body><div id="spinner">Loading…</div><div id="content"></div>
<script>
fetch('/api/slow').then((r) => r.text()).then((t) => {
  document.getElementById('content').textContent = t;
  document.getElementById('spinner').remove();
});
</script></body></html>"#;

async fn slow_api() -> HttpResponse {
    tokio::time::sleep(Duration::from_millis(5000)).await;
    HttpResponse::Ok().content_type("text/plain").body("loaded")
}

/// Two failing requests to its own origin (an image and a fetch), and one to another origin.
const BROKEN_PARTS: &str = r#"<!doctype html><html><head><title>Parts</title></head>
<body><img src="/missing.png" alt="">
<script>
fetch('/api/gone').catch(() => {});
fetch('http://127.0.0.1:9/elsewhere').catch(() => {});
</script></body></html>"#;

const CONSOLE: &str = r#"<!doctype html><html><head><title>Console</title></head>
<body><script>
console.error('analytics: blocked by the ad blocker');
console.error('payment form failed to initialise');
console.log('just chatting');
</script></body></html>"#;

const LOGIN: &str = r#"<!doctype html><html><head><title>Log in</title></head>
<body><form method="post" action="/login">
<input id="user" name="user"><input id="password" name="password" type="password">
<button id="submit" type="submit">Log in</button>
</form></body></html>"#;

async fn log_in(form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let ok = form.get("user").map(String::as_str) == Some("alice")
        && form.get("password").map(String::as_str) == Some(PASSWORD);
    if ok {
        HttpResponse::SeeOther()
            .insert_header(("Location", "/welcome"))
            .insert_header(("Set-Cookie", "session=alice; Path=/; HttpOnly"))
            .finish()
    } else {
        HttpResponse::SeeOther()
            .insert_header(("Location", "/login?failed=1"))
            .finish()
    }
}

async fn welcome(req: HttpRequest) -> HttpResponse {
    let cookie = req
        .headers()
        .get("cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match cookie.split(';').any(|c| c.trim() == "session=alice") {
        true => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body("<!doctype html><title>Home</title><h1>Welcome back, alice</h1>"),
        false => HttpResponse::SeeOther()
            .insert_header(("Location", "/login"))
            .finish(),
    }
}
