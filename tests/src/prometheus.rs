//! A real Prometheus (Debian's `/usr/bin/prometheus`, which `scripts/test` installs) scraping a
//! tiny exporter the test controls, for PromQL checks.
//!
//! ```ignore
//! let prom = TestPrometheus::start().await;
//! prom.set("disk_usage{disk=\"a\"}", 0.5);
//! prom.wait_for("disk_usage").await;
//! ```

use crate::free_port;
use actix_web::{App, HttpResponse, HttpServer, web};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BINARY: &str = "/usr/bin/prometheus";

type Gauges = Arc<Mutex<BTreeMap<String, f64>>>;

/// Prometheus on 127.0.0.1 with a temp database, scraping [`Self::set`]'s gauges every second.
/// Killed on drop.
pub struct TestPrometheus {
    /// Base URL of its HTTP API.
    pub url: String,
    gauges: Gauges,
    child: Child,
    exporter: actix_web::dev::ServerHandle,
    dir: tempfile::TempDir,
}

impl TestPrometheus {
    pub async fn start() -> Self {
        let gauges = Gauges::default();
        let (exporter_port, exporter) = serve_metrics(gauges.clone());
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: test\n    static_configs:\n      \
                 - targets: ['127.0.0.1:{exporter_port}']\n"
            ),
        )
        .expect("write prometheus.yml");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = Command::new(BINARY)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {BINARY} (scripts/test installs it): {e}"));
        let prom = Self {
            url: format!("http://127.0.0.1:{port}"),
            gauges,
            child,
            exporter,
            dir,
        };
        prom.wait_ready().await;
        prom
    }

    /// Sets the gauge `series` (`name` or `name{label="v"}`) the exporter serves.
    pub fn set(&self, series: &str, value: f64) {
        self.gauges
            .lock()
            .expect("gauges")
            .insert(series.to_string(), value);
    }

    /// Waits until `query` returns at least one sample (the gauges have been scraped).
    pub async fn wait_for(&self, query: &str) {
        let http = reqwest::Client::new();
        let mut url = url::Url::parse(&format!("{}/api/v1/query", self.url)).expect("url");
        url.query_pairs_mut().append_pair("query", query);
        crate::eventually(Duration::from_secs(30), query, || async {
            let body: serde_json::Value =
                http.get(url.clone()).send().await.ok()?.json().await.ok()?;
            let found = body["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty());
            found.then_some(())
        })
        .await;
    }

    async fn wait_ready(&self) {
        let http = reqwest::Client::new();
        let ready = format!("{}/-/ready", self.url);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if http
                .get(&ready)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            let log =
                std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default();
            assert!(
                tokio::time::Instant::now() < deadline,
                "Prometheus did not get ready in 30 s; its log:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for TestPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Stops the exporter without waiting: drop may run outside the runtime.
        drop(self.exporter.stop(false));
    }
}

fn serve_metrics(gauges: Gauges) -> (u16, actix_web::dev::ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind exporter");
    let port = listener.local_addr().expect("addr").port();
    let data = web::Data::from(gauges);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/metrics", web::get().to(metrics))
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (port, handle)
}

async fn metrics(gauges: web::Data<Mutex<BTreeMap<String, f64>>>) -> HttpResponse {
    let body: String = gauges
        .lock()
        .map(|g| g.iter().map(|(k, v)| format!("{k} {v}\n")).collect())
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}
