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
    pub since: Option<String>,
    /// RFC 3339; events before.
    pub until: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
    /// Export only: `csv` or `json`.
    pub format: Option<String>,
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
