//! Bad requests and what they must be answered with: problem+json with the status, a `type`
//! URL, a detail and, where one field is wrong, its name.

use crate::TestApp;
use serde_json::Value;

/// One bad request.
pub struct BadRequest {
    pub why: &'static str,
    pub method: &'static str,
    pub path: String,
    pub content_type: &'static str,
    pub body: String,
    pub status: u16,
    /// The field the problem must name.
    pub field: Option<&'static str>,
}

/// Sends each request and asserts its answer is the problem+json it describes.
pub async fn assert_each_refused(app: &TestApp, cases: Vec<BadRequest>) {
    for c in cases {
        let method = reqwest::Method::from_bytes(c.method.as_bytes()).expect("method");
        let mut req = app.http.request(method, app.url(&c.path));
        if !c.body.is_empty() {
            req = req.header("Content-Type", c.content_type).body(c.body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, c.status, "{}: {body}", c.why);
        assert_eq!(ctype, "application/problem+json", "{}", c.why);
        assert_eq!(body["status"], c.status, "{}: {body}", c.why);
        let type_url = body["type"].as_str().unwrap_or("");
        assert!(type_url.starts_with("https://"), "{}: {body}", c.why);
        let detail = body["detail"].as_str().unwrap_or("");
        assert!(!detail.is_empty(), "{}: {body}", c.why);
        if let Some(field) = c.field {
            assert_eq!(body["field"], field, "{}: {body}", c.why);
        }
    }
}
