//! The OpenAPI 3 document, generated from the handlers' annotations and the route table.

use crate::iam::perm;
use crate::state::Authorized;
use actix_web::HttpResponse;
use actix_web::http::header::ContentType;
use std::sync::OnceLock;
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

/// The paths, with their schemas and security requirements, from the route table.
struct Routes;

impl Modify for Routes {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        super::table().document(api);
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "HAS acmangkut API",
        description = concat!(
            "Monitors, results and summaries; the inspection center; IAM and audit. ",
            "Errors are application/problem+json."
        )
    ),
    modifiers(&BearerAuth, &Routes)
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`, for any signed-in caller. The document is built (from the whole
/// route table) and serialised once, on first use.
pub async fn document(_auth: Authorized<perm::SignedIn>) -> HttpResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| serde_json::to_string(&ApiDoc::openapi()).unwrap_or_default());
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(json.as_str())
}
