//! JSON bodies parsed into problem+json errors that name the offending field.
//!
//! [`parse`] is plain serde; with the `actix` feature, `Json<T>` is an extractor like actix's
//! whose every failure is problem+json: wrong content type is 415, a body over the limit is
//! 413, a body that does not parse or does not fit `T` is 400 with the JSON path of the
//! offending field (via `serde_path_to_error`).

use crate::problem::{ApiError, ErrorCode};
#[cfg(feature = "actix")]
pub use extractor::{Body, DEFAULT_LIMIT, Json, JsonLimit};
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

    /// App data that sets the body limit for [`Json`] and [`Body`].
    #[derive(Clone, Copy, Debug)]
    pub struct JsonLimit(pub usize);

    /// A raw body (a YAML document, say) within the app's [`JsonLimit`]; over it, 413 as
    /// problem+json (actix's own `Bytes` answers plain text, at its own 256 KiB).
    pub struct Body(pub web::Bytes);

    impl FromRequest for Body {
        type Error = ApiError;
        type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

        fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
            let (limit, declared_len) = (limit(req), declared_len(req));
            let payload = payload.take();
            Box::pin(async move {
                let body = read(payload, declared_len, limit).await?;
                Ok(Body(body.freeze()))
            })
        }
    }

    fn limit(req: &HttpRequest) -> usize {
        req.app_data::<JsonLimit>().map_or(DEFAULT_LIMIT, |l| l.0)
    }

    fn declared_len(req: &HttpRequest) -> Option<usize> {
        req.headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
    }

    /// The body, refused as soon as it is known to exceed `limit`.
    async fn read(
        mut payload: Payload,
        declared_len: Option<usize>,
        limit: usize,
    ) -> Result<web::BytesMut, ApiError> {
        if declared_len.is_some_and(|n| n > limit) {
            return Err(too_large(limit));
        }
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::new(ErrorCode::MalformedJson, e.to_string()))?;
            if body.len() + chunk.len() > limit {
                return Err(too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

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
            let (limit, declared_len) = (limit(req), declared_len(req));
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
            let payload = payload.take();
            Box::pin(async move {
                if !is_json {
                    return Err(ApiError::new(
                        ErrorCode::UnsupportedMediaType,
                        "send the body with Content-Type: application/json",
                    ));
                }
                let body = read(payload, declared_len, limit).await?;
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

/// Why a value with a NUL character is refused: PostgreSQL's text cannot hold one (the write
/// would fail as a server error), and no field of ours means one.
pub const NUL_DETAIL: &str = "must not contain the NUL character (U+0000)";

/// Parses a JSON body into `T`, naming the offending field on failure. A string (or key) with
/// a NUL character (`\u0000`) is refused naming its field.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // JSON can only carry a NUL as the escape `\u0000`: look closer only when it is there.
    if body.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000"))
        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(field) = nul_in_json(&v, String::new())
    {
        let field = if field.is_empty() {
            "body".into()
        } else {
            field
        };
        return Err(ApiError::invalid(field, NUL_DETAIL));
    }
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

/// Parses a YAML document (JSON is YAML too) into `T`, naming the offending field and its
/// line on failure.
pub fn parse_yaml<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let at = inner
            .location()
            .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
            .unwrap_or_default();
        let detail = format!("{inner}{at}");
        match field_path(&path, &detail) {
            None => ApiError::new(ErrorCode::InvalidField, detail),
            Some(field) => ApiError::invalid(field, detail),
        }
    })
}

/// The path (as serde names it: `a.b[0]`) of the first string or key holding a NUL.
fn nul_in_json(v: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::String(s) => s.contains('\0').then_some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_in_json(item, format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            let key = k.replace('\0', "\\0");
            let at = if path.is_empty() {
                key
            } else {
                format!("{path}.{key}")
            };
            match k.contains('\0') {
                true => Some(at),
                false => nul_in_json(item, at),
            }
        }),
        _ => None,
    }
}

/// The first parameter of an `application/x-www-form-urlencoded` text (a query string or a
/// form body) whose name or value decodes to a NUL character (`%00`), by name.
pub fn nul_in_urlencoded(text: &[u8]) -> Option<String> {
    if !text.windows(3).any(|w| w == b"%00") && !text.contains(&0) {
        return None;
    }
    url::form_urlencoded::parse(text)
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        .map(|(k, _)| k.replace('\0', "\\0"))
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
    use proptest::prelude::*;
    use serde::Deserialize;

    #[test]
    fn a_nul_anywhere_in_a_body_is_refused_naming_its_field() {
        let field = |body: &str| {
            parse::<serde_json::Value>(body.as_bytes())
                .expect_err("refused")
                .field
                .unwrap_or_default()
        };
        assert_eq!(field(r#"{"username": "a\u0000b"}"#), "username");
        assert_eq!(
            field(r#"{"spec": {"headers": ["x", "\u0000"]}}"#),
            "spec.headers[1]"
        );
        assert_eq!(field(r#"{"labels": {"k\u0000": "v"}}"#), "labels.k\\0");
        assert_eq!(field(r#""\u0000""#), "body");
        // An escaped backslash followed by `u0000` is text, not a NUL.
        let ok: serde_json::Value = parse(br#"{"a": "\\u0000"}"#).expect("no NUL");
        assert_eq!(ok["a"], "\\u0000");
    }

    #[test]
    fn a_nul_in_a_query_or_form_names_its_parameter() {
        assert_eq!(
            nul_in_urlencoded(b"a=1&action=x%00y"),
            Some("action".into())
        );
        assert_eq!(nul_in_urlencoded(b"k%00=1"), Some("k\\0".into()));
        assert_eq!(nul_in_urlencoded(b"a=%2500&b=1"), None);
        assert_eq!(nul_in_urlencoded(b""), None);
    }

    proptest! {
        /// Whatever the text, the answer is a parameter that really holds a NUL, or none when
        /// no parameter does; nothing panics.
        #[test]
        fn the_nul_finder_agrees_with_the_decoder(text in proptest::collection::vec(
            prop_oneof![Just(b'%'), Just(b'0'), Just(b'='), Just(b'&'), any::<u8>()], 0..40)) {
            let any_nul = url::form_urlencoded::parse(&text)
                .any(|(k, v)| k.contains('\0') || v.contains('\0'));
            prop_assert_eq!(nul_in_urlencoded(&text).is_some(), any_nul);
        }

        /// A JSON string with NULs at random places is refused, and only then.
        #[test]
        fn any_nul_in_a_json_string_is_found(text in "\\PC{0,8}", nul in any::<bool>()) {
            let value = if nul { format!("{text}\0") } else { text };
            let body = serde_json::to_vec(&serde_json::json!({"f": [value]})).expect("json");
            let parsed = parse::<serde_json::Value>(&body);
            prop_assert_eq!(parsed.is_err(), nul);
        }
    }

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
