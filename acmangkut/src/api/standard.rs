//! The handlers most resources have, written once: list them, read one by its id, delete one.
//! Each macro writes the handler and its `#[utoipa::path]`, so the OpenAPI operation and what
//! the handler answers come from one place. Handlers that do more than this stay hand-written.
//!
//! Fragments reach `utoipa::path` as `tt`s (a path literal, a parenthesised body type) so the
//! attribute sees plain tokens, as it would in a hand-written handler.

/// `GET` a whole collection: `200` with what `$read` (a store function taking the connection)
/// returns.
macro_rules! list_all {
    ($(#[doc = $doc:tt])* $name:ident: $path:tt, $perm:ident => ($($body:tt)+), $read:path) => {
        $(#[doc = $doc])*
        #[utoipa::path(get, path = $path, responses((status = 200, body = $($body)+)))]
        pub async fn $name(
            state: $crate::state::Authorized<$crate::iam::perm::$perm>,
        ) -> Result<actix_web::web::Json<$($body)+>, shared::ApiError> {
            Ok(actix_web::web::Json(state.store.run($read).await?))
        }
    };
}

/// `GET` one resource by the id in its path: `200` with what `$read` gives, `404`
/// problem+json when the store finds none.
macro_rules! read_by_id {
    (
        $(#[doc = $doc:tt])*
        $name:ident: $path:tt, $perm:ident => ($($body:tt)+), |$c:ident, $id:ident| $read:expr
    ) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            get,
            path = $path,
            responses(
                (status = 200, body = $($body)+),
                (status = 404, body = shared::problem::Problem)
            )
        )]
        pub async fn $name(
            state: $crate::state::Authorized<$crate::iam::perm::$perm>,
            id: actix_web::web::Path<i64>,
        ) -> Result<actix_web::web::Json<$($body)+>, shared::ApiError> {
            let $id = id.into_inner();
            Ok(actix_web::web::Json(state.store.run(move |$c| $read).await?))
        }
    };
}

/// `DELETE` one resource by the id in its path, audited as the caller: `204`, or the
/// problem+json of `$status` (404 or 409) the store answers.
macro_rules! delete_by_id {
    (
        $(#[doc = $doc:tt])*
        $name:ident: $path:tt, $perm:ident, $status:literal,
        |$c:ident, $actor:ident, $id:ident| $delete:expr
    ) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            delete,
            path = $path,
            responses((status = 204), (status = $status, body = shared::problem::Problem))
        )]
        pub async fn $name(
            state: $crate::state::Authorized<$crate::iam::perm::$perm>,
            id: actix_web::web::Path<i64>,
        ) -> Result<actix_web::HttpResponse, shared::ApiError> {
            let $id = id.into_inner();
            state.run_as(move |$c, $actor| $delete).await?;
            Ok(actix_web::HttpResponse::NoContent().finish())
        }
    };
}

pub(crate) use {delete_by_id, list_all, read_by_id};
