//! Notification channels (secrets are write-only) and their delivery history.

use crate::api::created;
use crate::api::standard::{delete_by_id, read_by_id};
use crate::engine::inspection::define::{self, Channel, ChannelInput};
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::inspection::channels::{self as store, Delivery};
use actix_web::{HttpResponse, web};
use shared::ApiError;
use shared::extract::Json;

#[utoipa::path(
    get,
    path = "/api/v1/inspection/channels",
    responses((status = 200, body = Vec<Channel>))
)]
pub async fn list(
    state: Authorized<perm::InspectionsRead>,
) -> Result<web::Json<Vec<Channel>>, ApiError> {
    Ok(web::Json(
        state
            .store
            .run(|c| store::list(c)?.iter().map(Channel::from_row).collect())
            .await?,
    ))
}

read_by_id!(
    get: "/api/v1/inspection/channels/{id}", InspectionsRead => (Channel),
    |c, id| Channel::from_row(&store::row(c, id)?)
);

/// Create a channel: webhook (signed), Slack, DingTalk, Feishu or email.
#[utoipa::path(
    post,
    path = "/api/v1/inspection/channels",
    request_body = ChannelInput,
    responses(
        (status = 201, body = Channel),
        (status = 400, body = shared::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = shared::problem::Problem)
    )
)]
pub async fn create(
    state: Authorized<perm::InspectionsWrite>,
    body: Json<ChannelInput>,
) -> Result<HttpResponse, ApiError> {
    let mut input = body.into_inner();
    define::channel(&mut input, None)?;
    let actor = state.actor();
    let ch = state
        .store
        .run(move |c| {
            let def = serde_json::to_string(&input.spec).map_err(ApiError::internal)?;
            let row = store::create(
                c,
                &actor,
                &input.name,
                input.spec.kind_str(),
                &def,
                &input.spec.redacted(),
            )?;
            Channel::from_row(&row)
        })
        .await?;
    Ok(created(
        format!("/api/v1/inspection/channels/{}", ch.id),
        &ch,
    ))
}

/// Change a channel; a secret or password left empty keeps the stored one.
#[utoipa::path(
    put,
    path = "/api/v1/inspection/channels/{id}",
    request_body = ChannelInput,
    responses(
        (status = 200, body = Channel),
        (status = 400, body = shared::problem::Problem),
        (status = 404, body = shared::problem::Problem)
    )
)]
pub async fn update(
    state: Authorized<perm::InspectionsWrite>,
    id: web::Path<i64>,
    body: Json<ChannelInput>,
) -> Result<web::Json<Channel>, ApiError> {
    let (id, mut input) = (id.into_inner(), body.into_inner());
    let actor = state.actor();
    Ok(web::Json(
        state
            .store
            .run(move |c| {
                let old = store::row(c, id)?;
                define::channel(&mut input, Some(&old))?;
                let def = serde_json::to_string(&input.spec).map_err(ApiError::internal)?;
                let row = store::update(
                    c,
                    &actor,
                    id,
                    &input.name,
                    input.spec.kind_str(),
                    &def,
                    &input.spec.redacted(),
                )?;
                Channel::from_row(&row)
            })
            .await?,
    ))
}

delete_by_id!(
    delete: "/api/v1/inspection/channels/{id}", InspectionsWrite, 404,
    |c, actor, id| store::delete(c, actor, id)
);

read_by_id!(
    /// The channel's last deliveries, with every attempt.
    deliveries: "/api/v1/inspection/channels/{id}/deliveries", InspectionsRead => (Vec<Delivery>),
    |c, id| {
        store::row(c, id)?;
        store::history(c, None, Some(id), 200)
    }
);
