//! The handlers most resources have, written once: list them, read one by its id, create one,
//! change one, delete one.
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

/// `POST` a new resource from its JSON body: `201` with what `$make` returns and its
/// `Location` (`$path/{id}`), `400` problem+json for bad input, `409` for a conflict.
macro_rules! create {
    (
        $(#[doc = $doc:tt])*
        $name:ident: $path:tt, $perm:ident, ($($input:tt)+) => ($($body:tt)+),
        |$state:ident, $in:pat_param| $make:expr
    ) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            post,
            path = $path,
            request_body = $($input)+,
            responses(
                (status = 201, body = $($body)+),
                (
                    status = 400,
                    body = shared::problem::Problem,
                    content_type = "application/problem+json"
                ),
                (status = 409, body = shared::problem::Problem)
            )
        )]
        pub async fn $name(
            $state: $crate::state::Authorized<$crate::iam::perm::$perm>,
            body: shared::extract::Json<$($input)+>,
        ) -> Result<actix_web::HttpResponse, shared::ApiError> {
            let $in = body.into_inner();
            let made: $($body)+ = $make;
            Ok($crate::api::created(format!(concat!($path, "/{}"), made.id), &made))
        }
    };
}

/// `PUT` a new definition of the resource whose id is in the path: `200` with what `$make`
/// returns, `400` problem+json for bad input, or the problem+json of `$status` (404, 409).
macro_rules! update_by_id {
    (
        $(#[doc = $doc:tt])*
        $name:ident: $path:tt, $perm:ident, $status:literal, ($($input:tt)+) => ($($body:tt)+),
        |$state:ident, $id:ident, $in:pat_param| $make:expr
    ) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            put,
            path = $path,
            request_body = $($input)+,
            responses(
                (status = 200, body = $($body)+),
                (
                    status = 400,
                    body = shared::problem::Problem,
                    content_type = "application/problem+json"
                ),
                (status = $status, body = shared::problem::Problem)
            )
        )]
        pub async fn $name(
            $state: $crate::state::Authorized<$crate::iam::perm::$perm>,
            id: actix_web::web::Path<i64>,
            body: shared::extract::Json<$($input)+>,
        ) -> Result<actix_web::web::Json<$($body)+>, shared::ApiError> {
            let ($id, $in) = (id.into_inner(), body.into_inner());
            Ok(actix_web::web::Json($make))
        }
    };
}

pub(crate) use {create, delete_by_id, list_all, read_by_id, update_by_id};
