//! Static files (the stylesheet, the execution timeline's script), embedded from
//! `acmangkut/assets/` so the binary works offline and needs no front-end build.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use std::sync::OnceLock;

#[derive(rust_embed::RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// A day of caching; the stylesheet's URL carries its hash, so a new build is fetched anyway.
const CACHE: &str = "public, max-age=86400";

fn etag(hash: &[u8; 32]) -> String {
    let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// `/static/has.css?v=<hash>`: the link the layout uses.
pub fn stylesheet_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| versioned("has.css"))
}

/// `/static/timeline.js?v=<hash>`: the script that keeps an execution's timeline current.
pub fn script_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| versioned("timeline.js"))
}

/// `/static/<name>?v=<hash>`: a new build's file is fetched again despite the caching.
fn versioned(name: &str) -> String {
    let v = Assets::get(name)
        .map(|f| {
            etag(&f.metadata.sha256_hash())
                .trim_matches('"')
                .to_string()
        })
        .unwrap_or_default();
    format!("/static/{name}?v={v}")
}

#[get("/static/{path:.*}")]
pub async fn serve(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let Some(file) = Assets::get(&path) else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("not found");
    };
    let tag = etag(&file.metadata.sha256_hash());
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut r = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    r.insert_header((header::CACHE_CONTROL, CACHE))
        .insert_header((header::ETAG, tag));
    if fresh {
        return r.finish();
    }
    let mime = file.metadata.mimetype();
    let content_type = if mime.starts_with("text/") || mime.ends_with("javascript") {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    r.content_type(content_type).body(file.data.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stylesheet_is_embedded_with_its_type() {
        let css = Assets::get("has.css").expect("embedded");
        assert_eq!(css.metadata.mimetype(), "text/css");
        assert!(stylesheet_url().starts_with("/static/has.css?v="));
        assert!(
            !String::from_utf8_lossy(&css.data).contains("http"),
            "no external fetches"
        );
        let js = Assets::get("timeline.js").expect("embedded");
        assert!(js.metadata.mimetype().ends_with("javascript"));
        assert!(script_url().starts_with("/static/timeline.js?v="));
    }
}
