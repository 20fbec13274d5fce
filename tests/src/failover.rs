//! The real systems a database failover is proven on: a [`PgPair`](crate::pg_pair::PgPair),
//! a [`TcpProxy`](crate::tcp_proxy::TcpProxy) in front of its primary, a [`Writer`] (an HTTP
//! service that writes a row through the proxy on each request), and the atomic operations of
//! `deploy/operations/operations.json` with the allow-list acmangkut's executor needs to run
//! them (fence, promote, switch, and their undo).

use acmangkut::config::{AllowedCommand, RestrictedCommand};
use actix_web::{App, HttpResponse, HttpServer, web};
use diesel::sql_types::{BigInt, Integer};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use serde::Deserialize;
use serde_json::json;
use shared::action::Action;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `deploy/operations`: the scripts and the operations that use them.
pub fn operations_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/operations")
}

/// An atomic operation as `deploy/operations/operations.json` writes it.
#[derive(Debug, Clone, Deserialize)]
pub struct Operation {
    pub code: String,
    pub name: String,
    pub description: String,
    /// The variables its actions use.
    pub parameters: Vec<String>,
    #[serde(rename = "do")]
    pub act: Action,
    pub undo: Option<Action>,
}

/// The operations of `deploy/operations/operations.json`, by code.
pub fn operations() -> BTreeMap<String, Operation> {
    let path = operations_dir().join("operations.json");
    let text = std::fs::read_to_string(&path).expect("read operations.json");
    let list: Vec<Operation> = serde_json::from_str(&text).expect("operations.json");
    list.into_iter().map(|o| (o.code.clone(), o)).collect()
}

/// `inspection.commands` entries for the scripts the operations run, each argument restricted
/// to an absolute path or a `HOST:PORT`, as an operator would list them.
pub fn allowed_commands() -> BTreeMap<String, AllowedCommand> {
    let dir = operations_dir()
        .canonicalize()
        .expect("deploy/operations exists");
    let path = r"/[A-Za-z0-9._/-]+";
    let address = r"[A-Za-z0-9.-]+:[0-9]{1,5}";
    let entry = |script: &str, args: &[&str]| {
        AllowedCommand::Restricted(RestrictedCommand {
            path: dir.join(script),
            args: args.iter().map(|a| a.to_string()).collect(),
        })
    };
    BTreeMap::from([
        ("pg-fence".into(), entry("pg-fence.sh", &[path])),
        ("pg-unfence".into(), entry("pg-unfence.sh", &[path])),
        ("pg-promote".into(), entry("pg-promote.sh", &[path])),
        (
            "proxy-switch".into(),
            entry("proxy-switch.sh", &[path, address, path]),
        ),
    ])
}

/// An HTTP service that writes a row to "the database" through `database_url` (a new
/// connection per request, as an application that reconnects would): `GET` or `POST /write`
/// answers 200 `{"id", "server_port"}` (the port of the PostgreSQL server that took the row),
/// or 503 `{"error"}` when the write fails.
pub struct Writer {
    pub base: String,
    _handle: actix_web::dev::ServerHandle,
}

#[derive(QueryableByName)]
struct Written {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Integer)]
    server_port: i32,
}

fn write_row(url: &str) -> Result<Written, String> {
    let mut c = PgConnection::establish(url).map_err(|e| e.to_string())?;
    diesel::sql_query(
        "INSERT INTO writes DEFAULT VALUES RETURNING id, inet_server_port() AS server_port",
    )
    .get_result::<Written>(&mut c)
    .map_err(|e| e.to_string())
}

async fn write(url: web::Data<String>) -> HttpResponse {
    let url = url.get_ref().clone();
    match web::block(move || write_row(&url)).await {
        Ok(Ok(w)) => HttpResponse::Ok().json(json!({"id": w.id, "server_port": w.server_port})),
        Ok(Err(e)) => HttpResponse::ServiceUnavailable().json(json!({"error": e})),
        Err(e) => HttpResponse::ServiceUnavailable().json(json!({"error": e.to_string()})),
    }
}

impl Writer {
    /// Serves on a free loopback port; `database_url` is a `postgres://` URL (the proxy's).
    pub async fn start(database_url: &str) -> Self {
        // Fail fast while the database is away, so that each request answers promptly.
        let url = web::Data::new(format!(
            "{database_url}?connect_timeout=2&options=-c%20statement_timeout%3D5000"
        ));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind writer");
        let port = listener.local_addr().expect("addr").port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(url.clone())
                .route("/write", web::get().to(write))
                .route("/write", web::post().to(write))
        })
        .workers(2)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            base: format!("http://127.0.0.1:{port}"),
            _handle: handle,
        }
    }

    pub fn url(&self) -> String {
        format!("{}/write", self.base)
    }

    /// One write: the port of the server that took it, or the answer that said no.
    pub async fn write(&self, http: &reqwest::Client) -> Result<u16, String> {
        let r = http
            .post(self.url())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let body: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
        match body["server_port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
        {
            Some(port) if status.is_success() => Ok(port),
            _ => Err(format!("{status}: {body}")),
        }
    }
}
