//! `/api/v1/settings/iam`: the IAM switch for all replicas at once, stored in the database.

use crate::iam::perm;
use crate::iam::switch::{IamStatus, status};
use crate::state::Authorized;
use crate::store::settings::{self, IAM_DEGRADED};
use actix_web::web;
use serde::Deserialize;
use shared::ApiError;
use shared::extract::Json;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IamSwitchInput {
    /// true: every replica stops calling the identity provider (as `closeIam` on each).
    pub degraded: bool,
}

#[utoipa::path(get, path = "/api/v1/settings/iam", responses((status = 200, body = IamStatus)))]
pub async fn get_iam(auth: Authorized<perm::SettingsRead>) -> web::Json<IamStatus> {
    web::Json(status(&auth.iam, false))
}

#[utoipa::path(
    put,
    path = "/api/v1/settings/iam",
    request_body = IamSwitchInput,
    responses((status = 200, body = IamStatus))
)]
pub async fn put_iam(
    auth: Authorized<perm::IamSwitchWrite>,
    body: Json<IamSwitchInput>,
) -> Result<web::Json<IamStatus>, ApiError> {
    let degraded = body.into_inner().degraded;
    let actor = auth.actor();
    auth.store
        .run(move |c| {
            settings::set(
                c,
                &actor,
                IAM_DEGRADED,
                if degraded { "true" } else { "false" },
            )
        })
        .await?;
    let changed = auth.iam.cluster_degraded() != degraded;
    auth.iam.set_cluster_degraded(degraded);
    tracing::warn!(degraded, actor = %auth.principal.name, "cluster-wide IAM switch set");
    Ok(web::Json(status(&auth.iam, changed)))
}
