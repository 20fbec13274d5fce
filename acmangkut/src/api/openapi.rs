//! The OpenAPI 3 document, generated from the handlers' annotations.

use crate::iam::{Authorized, perm};
use actix_web::{HttpResponse, get};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// `bearer`: an API token, an OIDC access token, or the bootstrap token. The scopes listed on
/// each operation are the permissions it needs (the route-table test checks them).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "HAS acmangkut API",
        description = "Monitors, results and summaries; the inspection center; IAM and audit. Errors are application/problem+json."
    ),
    modifiers(&BearerAuth),
    paths(
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
        super::monitors::definitions::create,
        super::monitors::definitions::list,
        super::monitors::definitions::get,
        super::monitors::definitions::update,
        super::monitors::definitions::delete,
        super::monitors::definitions::pause,
        super::monitors::definitions::resume,
        super::monitors::definitions::run_now,
        super::monitors::results::list_results,
        super::monitors::results::screenshot,
        super::monitors::summaries::summary,
        super::monitors::summaries::overview,
        super::monitors::summaries::state_changes,
        super::iam::auth::login,
        super::iam::auth::logout,
        super::iam::auth::me,
        super::iam::roles::list_permissions,
        super::iam::roles::list_roles,
        super::iam::roles::get_role,
        super::iam::roles::put_role,
        super::iam::roles::delete_role,
        super::iam::users::list_users,
        super::iam::users::get_user,
        super::iam::users::create_user,
        super::iam::users::update_user,
        super::iam::users::delete_user,
        super::iam::bindings::list_bindings,
        super::iam::bindings::create_binding,
        super::iam::bindings::delete_binding,
        super::iam::manifest::apply_manifest,
        super::iam::tokens::list,
        super::iam::tokens::create,
        super::iam::tokens::revoke,
        super::iam::audit::list,
        super::iam::audit::export,
        super::iam::settings::get_iam,
        super::iam::settings::put_iam,
        super::inspection::plugins::list,
        super::inspection::plugins::get,
        super::inspection::plugins::create,
        super::inspection::plugins::update,
        super::inspection::plugins::delete,
        super::inspection::rules::list,
        super::inspection::rules::get,
        super::inspection::rules::versions,
        super::inspection::rules::create,
        super::inspection::rules::update,
        super::inspection::rules::delete,
        super::inspection::tasks::list,
        super::inspection::tasks::get,
        super::inspection::tasks::create,
        super::inspection::tasks::update,
        super::inspection::tasks::delete,
        super::inspection::tasks::run_now,
        super::inspection::runs::list,
        super::inspection::runs::get,
        super::inspection::runs::report_handler,
        super::inspection::runs::deliveries,
        super::inspection::risks::list,
        super::inspection::risks::get,
        super::inspection::risks::acknowledge,
        super::inspection::risks::resolve,
        super::inspection::channels::list,
        super::inspection::channels::get,
        super::inspection::channels::create,
        super::inspection::channels::update,
        super::inspection::channels::delete,
        super::inspection::channels::deliveries,
        super::inspection::config::export,
        super::inspection::config::apply,
    )
)]
pub struct ApiDoc;

#[get("/api/openapi.json")]
pub async fn document(_auth: Authorized<perm::SignedIn>) -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
