//! `/api/v1/audit`: read and export the audit log. Nothing here (or anywhere) changes it.

use crate::iam::audit::AuditQuery;
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::audit::{self, AuditEvent};
use actix_web::{HttpResponse, web};
use shared::ApiError;
use shared::page::Page;

/// Rows in one export, newest first.
const EXPORT_LIMIT: i64 = 100_000;

#[utoipa::path(
    get,
    path = "/api/v1/audit",
    params(AuditQuery),
    responses((status = 200, body = Page<AuditEvent>))
)]
pub async fn list(
    auth: Authorized<perm::AuditRead>,
    q: web::Query<AuditQuery>,
) -> Result<web::Json<Page<AuditEvent>>, ApiError> {
    let filter = q.filter()?;
    q.format()?;
    let lo = q.page()?;
    let (items, total) = auth
        .store
        .run(move |c| audit::list(c, &filter, lo.0, lo.1))
        .await?;
    Ok(web::Json(Page::new(items, lo, total)))
}

/// The filtered log as a download: CSV (one row per event) or a JSON array.
#[utoipa::path(
    get,
    path = "/api/v1/audit/export",
    params(AuditQuery),
    responses((status = 200, description = "text/csv or application/json attachment"))
)]
pub async fn export(
    auth: Authorized<perm::AuditRead>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = q.filter()?;
    // An export is one file, not a page; the paging parameters are still checked as listed.
    q.page()?;
    let format = q.format()?.to_string();
    let (items, _) = auth
        .store
        .run(move |c| audit::list(c, &filter, EXPORT_LIMIT, 0))
        .await?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let (body, ctype) = if format == "json" {
        (
            serde_json::to_string_pretty(&items).unwrap_or_default(),
            "application/json",
        )
    } else {
        (to_csv(&items), "text/csv; charset=utf-8")
    };
    Ok(HttpResponse::Ok()
        .content_type(ctype)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"has-audit-{stamp}.{format}\""),
        ))
        .body(body))
}

/// What makes a spreadsheet read a cell as a formula.
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// RFC 4180 quoting; cells that a spreadsheet would run as a formula are prefixed with `'`.
pub(crate) fn cell(s: &str) -> String {
    let s = if s.starts_with(FORMULA_START) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub fn to_csv(items: &[AuditEvent]) -> String {
    let mut out = String::from(
        "id,at,actor,actor_kind,action,resource,resource_id,outcome,peer,before,after,detail\r\n",
    );
    for e in items {
        let json =
            |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
        let row = [
            e.id.to_string(),
            e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            e.actor.clone(),
            e.actor_kind.clone(),
            e.action.clone(),
            e.resource.clone(),
            e.resource_id.clone().unwrap_or_default(),
            e.outcome.clone(),
            e.peer.clone(),
            json(&e.before),
            json(&e.after),
            e.detail.clone().unwrap_or_default(),
        ];
        out.push_str(&row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_csv_cell_reads_back_as_one_cell(s in ".{0,40}") {
            let c = cell(&s);
            // A quoted cell holds only doubled quotes inside; an unquoted one no separators.
            if c.starts_with('"') {
                prop_assert!(c.ends_with('"'));
                prop_assert!(!c[1..c.len() - 1].replace("\"\"", "").contains('"'));
            } else {
                prop_assert!(!c.contains([',', '"', '\n', '\r']));
            }
            // The cell's value as a spreadsheet reads it never starts a formula.
            let value = if c.starts_with('"') {
                c[1..c.len() - 1].replace("\"\"", "\"")
            } else {
                c.clone()
            };
            prop_assert!(!value.starts_with(FORMULA_START));
        }
    }
}
