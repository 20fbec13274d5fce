//! `POST /api/v1/probe` and `POST /api/v1/probes:batch`.
//!
//! Every spec is validated before any probe runs: one bad spec in a batch is a 400 naming
//! `probes[i].field`, and nothing runs.

use crate::executor::{self, Job};
use crate::state::AppState;
use actix_web::web;
use shared::extract::Json;
use shared::probe::{BatchRequest, BatchResponse, ProbeResult, ProbeSpec};
use shared::{ApiError, ErrorCode};
use tracing::instrument;

#[instrument(skip_all, fields(kind = spec.0.kind.as_str(), target = %redacted(&spec.0.target)))]
pub async fn probe(
    state: web::Data<AppState>,
    spec: Json<ProbeSpec>,
) -> Result<web::Json<ProbeResult>, ApiError> {
    let job = validate(spec.into_inner(), "")?;
    let mut results = executor::run(&state, vec![job]).await?;
    let result = results
        .pop()
        .ok_or_else(|| ApiError::internal("the executor returned no result"))?;
    Ok(web::Json(result))
}

#[instrument(skip_all, fields(batch_size = body.0.probes.len()))]
pub async fn batch(
    state: web::Data<AppState>,
    body: Json<BatchRequest>,
) -> Result<web::Json<BatchResponse>, ApiError> {
    let probes = body.into_inner().probes;
    if probes.len() > state.max_batch {
        return Err(ApiError::field(
            ErrorCode::InvalidField,
            "probes",
            format!(
                "{} probes in one batch; at most {} are allowed",
                probes.len(),
                state.max_batch
            ),
        ));
    }
    state.metrics.batch_received(probes.len());
    let jobs = probes
        .into_iter()
        .enumerate()
        .map(|(i, spec)| validate(spec, &format!("probes[{i}].")))
        .collect::<Result<Vec<_>, _>>()?;
    let results = executor::run(&state, jobs).await?;
    Ok(web::Json(BatchResponse { results }))
}

/// The shared validation, plus what only the executor knows (header values it can send).
fn validate(spec: ProbeSpec, prefix: &str) -> Result<Job, ApiError> {
    let conditions = spec.validate(prefix)?;
    for (name, value) in &spec.headers {
        if hyper::header::HeaderValue::from_str(value).is_err() {
            return Err(ApiError::invalid(
                format!("{prefix}headers.{name}"),
                "not a valid header value (control characters are not allowed)",
            ));
        }
    }
    Ok(Job { spec, conditions })
}

/// The target without credentials or query, for logs.
fn redacted(target: &str) -> String {
    match url::Url::parse(target) {
        Ok(mut url) if url.has_host() => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.to_string()
        }
        _ => target.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn logs_never_see_url_credentials_or_queries() {
        assert_eq!(
            redacted("https://user:pw@example.com/a?token=x"),
            "https://example.com/a"
        );
        assert_eq!(redacted("db.internal:5432"), "db.internal:5432");
    }
}
