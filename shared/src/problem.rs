//! The one error type at the HTTP edge, rendered as RFC 9457 `application/problem+json`.
//!
//! Every error has a stable [`ErrorCode`]: its slug is the `type` URI's last segment and never
//! changes once published (clients match on it); `docs/API.md` lists them all.

use serde::{Deserialize, Serialize};
use std::fmt;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";
const TYPE_BASE: &str = "https://has.dev/problems/";

macro_rules! error_codes {
    ($($variant:ident => ($status:expr, $slug:literal, $title:literal)),* $(,)?) => {
        /// The table of stable error codes: HTTP status, `type` slug and title. The status is a
        /// plain number so that processes without a web server (hasinit) can use the table.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant),* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];
            pub fn status(self) -> u16 { match self { $(Self::$variant => $status),* } }
            pub fn slug(self) -> &'static str { match self { $(Self::$variant => $slug),* } }
            pub fn title(self) -> &'static str { match self { $(Self::$variant => $title),* } }
        }
    };
}

error_codes! {
    MalformedJson => (400, "malformed-json", "The request body is not valid JSON"),
    InvalidField => (400, "invalid-field", "A field has an invalid value"),
    InvalidCondition => (400, "invalid-condition", "A condition does not parse"),
    InvalidQuery => (400, "invalid-query", "A query parameter is invalid"),
    Unauthorized => (401, "unauthorized", "Authentication is required"),
    Forbidden => (403, "forbidden", "Permission denied"),
    NotFound => (404, "not-found", "Resource not found"),
    MethodNotAllowed => (405, "method-not-allowed", "The method is not allowed here"),
    Conflict => (409, "conflict", "The resource already exists"),
    PayloadTooLarge => (413, "payload-too-large", "The request body is too large"),
    UriTooLong => (414, "uri-too-long", "The request URI is too long"),
    UnsupportedMediaType => (
        415, "unsupported-media-type", "The request body must be application/json"
    ),
    HeadersTooLarge => (431, "headers-too-large", "The request headers are too large"),
    TooManyRequests => (429, "too-many-requests", "Too many requests"),
    Unavailable => (503, "unavailable", "A dependency is unavailable"),
    Internal => (500, "internal", "Internal error"),
}

/// The JSON body of a problem response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The offending field as a path (`probe.target`, `conditions[1]`), when one is to blame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    pub field: Option<String>,
    /// Extra headers such as `Retry-After`.
    pub retry_after_seconds: Option<u64>,
    /// What went wrong inside, for the server log only (never sent to the client): logged
    /// once, when the answer is rendered, and only for a 5xx.
    pub cause: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            field: None,
            retry_after_seconds: None,
            cause: None,
        }
    }

    pub fn field(code: ErrorCode, field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            field: Some(field.into()),
            retry_after_seconds: None,
            cause: None,
        }
    }

    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::field(ErrorCode::InvalidField, field, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, detail)
    }

    /// A 500 that hides `cause` from the client; the cause is logged when the answer is
    /// rendered (with its chain, when `cause` is an `anyhow::Error`).
    pub fn internal(cause: impl fmt::Display) -> Self {
        Self::new(ErrorCode::Internal, "internal error; see the server log").caused_by(cause)
    }

    /// Keeps `cause` (alternate form: an `anyhow` chain prints every layer) for the log.
    pub fn caused_by(mut self, cause: impl fmt::Display) -> Self {
        self.cause = Some(format!("{cause:#}"));
        self
    }

    /// Logs a server-side failure that carries a cause, once; client errors (4xx) are not
    /// logged, nor a 5xx built without a cause (whoever built it reported it).
    pub fn log(&self) {
        let status = self.code.status();
        let Some(cause) = self.cause.as_deref().filter(|_| status >= 500) else {
            return;
        };
        if status == 503 {
            tracing::warn!(status, error = cause, "{}", self.code.title());
        } else {
            tracing::error!(status, error = cause, "{}", self.code.title());
        }
    }

    pub fn problem(&self) -> Problem {
        Problem {
            type_uri: format!("{TYPE_BASE}{}", self.code.slug()),
            title: self.code.title().to_string(),
            status: self.code.status(),
            detail: self.detail.clone(),
            field: self.field.clone(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: {field}: {}", self.code.slug(), self.detail),
            None => write!(f, "{}: {}", self.code.slug(), self.detail),
        }
    }
}

impl std::error::Error for ApiError {}

#[cfg(feature = "actix")]
impl actix_web::ResponseError for ApiError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.code.http_status()
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        self.log();
        let mut resp = actix_web::HttpResponse::build(self.status_code());
        resp.content_type(PROBLEM_CONTENT_TYPE);
        if let Some(secs) = self.retry_after_seconds {
            resp.insert_header(("Retry-After", secs.to_string()));
        }
        resp.json(self.problem())
    }
}

#[cfg(feature = "actix")]
impl ErrorCode {
    /// [`Self::status`] as actix has it (every status in the table is a valid one).
    pub fn http_status(self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::from_u16(self.status())
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_unique_slug_and_an_error_status() {
        let mut slugs: Vec<_> = ErrorCode::ALL.iter().map(|c| c.slug()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), ErrorCode::ALL.len());
        assert!(
            ErrorCode::ALL
                .iter()
                .all(|c| (400..600).contains(&c.status()))
        );
    }

    #[test]
    fn problem_names_the_field() {
        let p = ApiError::invalid("interval_seconds", "must be at least 1").problem();
        assert_eq!(p.status, 400);
        assert_eq!(p.field.as_deref(), Some("interval_seconds"));
        assert!(p.type_uri.ends_with("/invalid-field"));
    }
}
