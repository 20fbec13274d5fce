//! Notification channels (secrets are write-only) and their delivery history.

use crate::api::standard::{create, delete_by_id, read_by_id, update_by_id};
use crate::engine::inspection::define::{Channel, ChannelInput};
use crate::engine::inspection::save;
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::inspection::channels::{self as store, Delivery};
use actix_web::web;
use shared::ApiError;

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

create!(
    /// Create a channel: webhook (signed), Slack, DingTalk, Feishu or email.
    create: "/api/v1/inspection/channels", InspectionsWrite, (ChannelInput) => (Channel),
    |state, input| state.run_as(move |c, actor| save::channel(c, actor, None, input)).await?
);

update_by_id!(
    /// Change a channel; a secret or password left empty keeps the stored one.
    update: "/api/v1/inspection/channels/{id}", InspectionsWrite, 404, (ChannelInput) => (Channel),
    |state, id, input| {
        state
            .run_as(move |c, actor| save::channel(c, actor, Some(id), input))
            .await?
    }
);

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
