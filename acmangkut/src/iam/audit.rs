//! The audit log's query as callers write it: the API's query string and the console's filter
//! form both give an [`AuditQuery`], checked into the store's [`AuditFilter`].

use crate::store::audit::AuditFilter;
use serde::Deserialize;
use shared::{ApiError, ErrorCode};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub actor: Option<String>,
    /// An action (`monitor.create`) or a prefix ending in `.` (`monitor.`).
    pub action: Option<String>,
    pub resource: Option<String>,
    /// `success`, `failure`, `denied` or `rate_limited`.
    pub outcome: Option<String>,
    /// RFC 3339; events at or after.
    #[param(schema_with = time_or_empty)]
    pub since: Option<String>,
    /// RFC 3339; events before.
    #[param(schema_with = time_or_empty)]
    pub until: Option<String>,
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 500)]
    pub per_page: Option<i64>,
    /// Export only: `csv` (the default) or `json`.
    #[param(pattern = "^(csv|json)$")]
    pub format: Option<String>,
}

/// A time filter's schema: an RFC 3339 time, or empty for none (as the console's form sends).
fn time_or_empty() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
    let time = SchemaFormat::KnownFormat(KnownFormat::DateTime);
    AnyOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(time)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(0)),
        )
        .build()
        .into()
}

fn time(field: &str, v: &Option<String>) -> Result<Option<i64>, ApiError> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.timestamp_millis())
                .map_err(|e| {
                    ApiError::field(
                        ErrorCode::InvalidQuery,
                        field,
                        format!("not an RFC 3339 time: {e}"),
                    )
                })
        })
        .transpose()
}

impl AuditQuery {
    /// The export's format (`csv` when not given); checked on a list too, as documented.
    pub fn format(&self) -> Result<&str, ApiError> {
        match self.format.as_deref().unwrap_or("csv") {
            f @ ("csv" | "json") => Ok(f),
            _ => Err(ApiError::field(
                ErrorCode::InvalidQuery,
                "format",
                "must be csv or json",
            )),
        }
    }

    /// `(limit, offset)` of `page` and `per_page`, checked.
    pub fn page(&self) -> Result<(i64, i64), ApiError> {
        shared::page::PageQuery {
            page: self.page,
            per_page: self.per_page,
        }
        .limit_offset()
    }

    pub fn filter(&self) -> Result<AuditFilter, ApiError> {
        let some = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        Ok(AuditFilter {
            actor: some(&self.actor),
            action: some(&self.action),
            resource: some(&self.resource),
            outcome: some(&self.outcome),
            since_ms: time("since", &self.since)?,
            until_ms: time("until", &self.until)?,
        })
    }
}
