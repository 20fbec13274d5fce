//! Local probe targets the tests start on loopback: a healthy JSON page, a 500, a slow page, a
//! redirect loop, an endless body, a page that counts the requests it holds at once, and a
//! port where nothing listens.

use actix_web::{App, HttpResponse, HttpServer, web};
use std::time::Duration;

pub struct Targets {
    pub base: String,
    /// A port that refuses connections.
    pub refused_port: u16,
    _handle: actix_web::dev::ServerHandle,
}

async fn healthy() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"UP"}"#)
}

async fn failing() -> HttpResponse {
    HttpResponse::InternalServerError().body("boom")
}

async fn slow() -> HttpResponse {
    tokio::time::sleep(Duration::from_secs(10)).await;
    HttpResponse::Ok().body("late")
}

async fn slowish() -> HttpResponse {
    tokio::time::sleep(Duration::from_millis(300)).await;
    HttpResponse::Ok().body("ok, eventually")
}

/// Fails every other request, starting with the first: a retry of a failed attempt passes.
async fn flaky(hits: web::Data<std::sync::atomic::AtomicUsize>) -> HttpResponse {
    if hits
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        .is_multiple_of(2)
    {
        HttpResponse::ServiceUnavailable().body("try again")
    } else {
        HttpResponse::Ok().body("ok")
    }
}

/// Requests being answered now, and the most seen at once.
#[derive(Default)]
struct InFlight {
    now: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

/// Holds each request 200 ms, counting how many are held at once.
async fn in_flight(seen: web::Data<InFlight>) -> HttpResponse {
    use std::sync::atomic::Ordering::SeqCst;
    let now = seen.now.fetch_add(1, SeqCst) + 1;
    seen.most.fetch_max(now, SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    seen.now.fetch_sub(1, SeqCst);
    HttpResponse::Ok().body("held")
}

async fn most_in_flight(seen: web::Data<InFlight>) -> HttpResponse {
    let most = seen.most.load(std::sync::atomic::Ordering::SeqCst);
    HttpResponse::Ok().body(most.to_string())
}

/// A page that loads but throws in JavaScript: only a browser probe sees it broken.
async fn broken_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(
            "<!doctype html><html><head><title>Shop</title></head><body><div id=app>Loading…</div>\
         <script>throw new Error('checkout widget exploded')</script></body></html>",
        )
}

/// A page that shows `?src=URL` as an image: what any web site can make a browser fetch.
async fn image_page(query: web::Query<std::collections::HashMap<String, String>>) -> HttpResponse {
    let src = query
        .get("src")
        .map_or("", String::as_str)
        .replace(['"', '<', '>'], "");
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html><head><title>cats</title></head><body>\
             <img src=\"{src}\"><p>cats</p></body></html>"
        ))
}

async fn good_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(
            "<!doctype html><html><head><title>Shop</title></head><body>\
         <div id=app class=ready>Welcome</div></body></html>",
        )
}

async fn redirect_loop() -> HttpResponse {
    HttpResponse::Found()
        .insert_header(("Location", "/loop"))
        .finish()
}

async fn endless() -> HttpResponse {
    let chunk = web::Bytes::from(vec![b'x'; 64 * 1024]);
    let stream = futures_stream(chunk);
    HttpResponse::Ok().streaming(stream)
}

fn futures_stream(
    chunk: web::Bytes,
) -> impl futures::Stream<Item = Result<web::Bytes, std::io::Error>> {
    futures::stream::unfold(chunk, |c| async move { Some((Ok(c.clone()), c)) })
}

impl Targets {
    pub async fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind targets");
        let port = listener.local_addr().expect("addr").port();
        let hits = web::Data::new(std::sync::atomic::AtomicUsize::new(0));
        let held = web::Data::new(InFlight::default());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(hits.clone())
                .app_data(held.clone())
                .route("/held", web::get().to(in_flight))
                .route("/held/most", web::get().to(most_in_flight))
                .route("/flaky", web::get().to(flaky))
                .route("/page/broken", web::get().to(broken_page))
                .route("/page/good", web::get().to(good_page))
                .route("/page/image", web::get().to(image_page))
                .route("/healthy", web::get().to(healthy))
                .route("/500", web::get().to(failing))
                .route("/slow", web::get().to(slow))
                .route("/slowish", web::get().to(slowish))
                .route("/loop", web::get().to(redirect_loop))
                .route("/endless", web::get().to(endless))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        let refused_port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        Self {
            base: format!("http://127.0.0.1:{port}"),
            refused_port,
            _handle: handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
