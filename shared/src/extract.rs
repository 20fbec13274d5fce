//! JSON bodies parsed into problem+json errors that name the offending field.
//!
//! [`parse`] is plain serde; with the `actix` feature, `Json<T>` is an extractor like actix's
//! whose every failure is problem+json: wrong content type is 415, a body over the limit is
//! 413, a body that does not parse or does not fit `T` is 400 with the JSON path of the
//! offending field (via `serde_path_to_error`).

use crate::problem::{ApiError, ErrorCode};
#[cfg(feature = "actix")]
pub use extractor::{DEFAULT_LIMIT, Json, JsonLimit};
use serde::de::DeserializeOwned;

#[cfg(feature = "actix")]
mod extractor {
    use super::parse;
    use crate::problem::{ApiError, ErrorCode};
    use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
    use futures::StreamExt;
    use futures::future::LocalBoxFuture;
    use serde::de::DeserializeOwned;

    /// Default body limit when the app registers no [`JsonLimit`].
    pub const DEFAULT_LIMIT: usize = 256 * 1024;

    /// App data that sets the body limit for [`Json`].
    #[derive(Clone, Copy, Debug)]
    pub struct JsonLimit(pub usize);

    pub struct Json<T>(pub T);

    impl<T> Json<T> {
        pub fn into_inner(self) -> T {
            self.0
        }
    }

    impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
        type Error = ApiError;
        type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

        fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
            let limit = req.app_data::<JsonLimit>().map_or(DEFAULT_LIMIT, |l| l.0);
            let is_json = req
                .headers()
                .get(actix_web::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .map(|v| {
                    let v = v.trim().to_ascii_lowercase();
                    v == "application/json"
                        || (v.starts_with("application/") && v.ends_with("+json"))
                })
                .unwrap_or(false);
            let declared_len = req
                .headers()
                .get(actix_web::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            let mut payload = payload.take();
            Box::pin(async move {
                if !is_json {
                    return Err(ApiError::new(
                        ErrorCode::UnsupportedMediaType,
                        "send the body with Content-Type: application/json",
                    ));
                }
                if declared_len.is_some_and(|n| n > limit) {
                    return Err(too_large(limit));
                }
                let mut body = web::BytesMut::new();
                while let Some(chunk) = payload.next().await {
                    let chunk = chunk
                        .map_err(|e| ApiError::new(ErrorCode::MalformedJson, e.to_string()))?;
                    if body.len() + chunk.len() > limit {
                        return Err(too_large(limit));
                    }
                    body.extend_from_slice(&chunk);
                }
                parse(&body).map(Json)
            })
        }
    }

    fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body exceeds {limit} bytes"),
        )
    }
}

/// Parses a JSON body into `T`, naming the offending field on failure.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let code = if inner.is_syntax() || inner.is_eof() {
            ErrorCode::MalformedJson
        } else {
            ErrorCode::InvalidField
        };
        let detail = inner.to_string();
        match field_path(&path, &detail) {
            None => ApiError::new(code, detail),
            Some(field) => ApiError::field(code, field, detail),
        }
    })
}

/// The field a deserialization error is about: serde's path (`.` at the top), extended by the
/// name a "missing field `x`" error gives, since that field is not in the path (it is absent).
pub fn field_path(path: &str, detail: &str) -> Option<String> {
    let missing = detail
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    match (path, missing) {
        ("." | "", None) => None,
        ("." | "", Some(name)) => Some(name.to_string()),
        (p, Some(name)) => Some(format!("{p}.{name}")),
        (p, None) => Some(p.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
        name: String,
    }

    #[test]
    fn wrong_type_names_the_nested_field() {
        let e = parse::<Outer>(br#"{"name":"a","inner":{"n":"x"}}"#).expect_err("bad");
        assert_eq!(e.field.as_deref(), Some("inner.n"));
        assert_eq!(e.code, ErrorCode::InvalidField);
    }

    #[test]
    fn unknown_field_is_named() {
        let e = parse::<Outer>(br#"{"name":"a","inner":{"n":1},"extra":1}"#).expect_err("bad");
        assert_eq!(e.field.as_deref(), Some("extra"));
    }

    #[test]
    fn a_missing_field_is_named_at_the_top_and_inside() {
        let e = parse::<Outer>(br#"{"inner":{"n":1}}"#).expect_err("no name");
        assert_eq!(e.field.as_deref(), Some("name"));
        let e = parse::<Outer>(br#"{"name":"a","inner":{}}"#).expect_err("no n");
        assert_eq!(e.field.as_deref(), Some("inner.n"));
    }

    #[test]
    fn syntax_error_is_malformed_json() {
        let e = parse::<Outer>(b"{").expect_err("bad");
        assert_eq!(e.code, ErrorCode::MalformedJson);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse::<Outer>(&body);
        }
    }
}
