//! The OpenAPI 3 document, generated from the handlers' annotations and the route table.

use crate::iam::perm;
use crate::state::Authorized;
use actix_web::HttpResponse;
use actix_web::http::header::ContentType;
use shared::ErrorCode;
use shared::problem::PROBLEM_CONTENT_TYPE;
use std::sync::OnceLock;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response, Schema};
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

/// Documents the error answers every operation can give, as sent: `application/problem+json`
/// with a `Problem` body. Added here for every operation so the document cannot drift from
/// what the extractors and the authentication middleware answer: 400 for a query parameter or
/// a body that does not fit, 401/403 where a credential is needed, 404 for an id in the path
/// that names nothing, 413/415 for a body. Errors a handler documents itself (409 and others)
/// are kept, with their content type corrected to `application/problem+json`.
pub fn with_problems(op: &mut Operation, path: &str) {
    let has_query = op
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Query)));
    let has_body = op.request_body.is_some();
    let standard = [
        (ErrorCode::InvalidField, has_query || has_body),
        (ErrorCode::Unauthorized, op.security.is_some()),
        (ErrorCode::Forbidden, op.security.is_some()),
        (ErrorCode::NotFound, path.contains('{')),
        (ErrorCode::PayloadTooLarge, has_body),
        (ErrorCode::UnsupportedMediaType, has_body),
    ];
    for (code, _) in standard.iter().filter(|(_, applies)| *applies) {
        op.responses
            .responses
            .entry(code.status().to_string())
            .or_insert_with(|| RefOr::T(Response::new(code.title())));
    }
    for (status, response) in op.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if !status.parse::<u16>().is_ok_and(|s| s >= 400) {
            continue;
        }
        response.content.clear();
        response.content.insert(
            PROBLEM_CONTENT_TYPE.to_string(),
            RefOr::T(Content::new(Some(Ref::from_schema_name("Problem")))),
        );
    }
}

/// The paths, with their schemas and security requirements, from the route table.
struct Routes;

impl Modify for Routes {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        super::table().document(api);
        name_limits(api);
        action_tags(api);
        open_flattened_inputs(api);
    }
}

/// The inputs whose `name` `shared::inspection::validate_name` checks.
const NAMED: [&str; 5] = [
    "PluginInput",
    "RuleInput",
    "Target",
    "TaskInput",
    "OperationInput",
];

/// Declares what `validate_name` enforces on each of [`NAMED`]'s `name`, from its constants.
fn name_limits(api: &mut utoipa::openapi::OpenApi) {
    use shared::inspection::{MAX_NAME_LEN, NAME_PATTERN};
    let Some(components) = api.components.as_mut() else {
        return;
    };
    for input in NAMED {
        if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut(input)
            && let Some(RefOr::T(Schema::Object(name))) = o.properties.get_mut("name")
        {
            name.min_length = Some(1);
            name.max_length = Some(MAX_NAME_LEN);
            name.pattern = Some(NAME_PATTERN.into());
        }
    }
}

/// `shared::action::Action` is tagged by `action` around structs that refuse unknown fields:
/// the generated `allOf` of each branch (the struct, and an object with `action`) would allow no
/// body at all, since the struct's `additionalProperties: false` forbids `action`. The tag is
/// declared on the structs themselves, with the values each takes.
fn action_tags(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let Some(components) = api.components.as_mut() else {
        return;
    };
    for (name, tags) in [
        ("HttpAction", &["http"][..]),
        ("CommandAction", &["command", "ssh"][..]),
    ] {
        if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut(name) {
            let tag = ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(tags.iter().copied()));
            o.properties.insert("action".into(), tag.build().into());
        }
    }
}

/// Answers that flatten an input (`Operation` holds an `OperationInput` and more): the input
/// refuses unknown fields (`additionalProperties: false`), which in the answer's `allOf` would
/// forbid the answer's own fields. There, the input is a copy that allows them.
fn open_flattened_inputs(api: &mut utoipa::openapi::OpenApi) {
    let Some(components) = api.components.as_mut() else {
        return;
    };
    for (answer, input) in [
        ("Operation", "OperationInput"),
        ("Rule", "RuleInput"),
        ("Task", "TaskInput"),
    ] {
        let Some(RefOr::T(Schema::Object(open))) = components.schemas.get(input) else {
            continue;
        };
        let mut open = open.clone();
        open.additional_properties = None;
        let location = format!("#/components/schemas/{input}");
        if let Some(RefOr::T(Schema::AllOf(all))) = components.schemas.get_mut(answer) {
            for item in &mut all.items {
                if matches!(item, RefOr::Ref(r) if r.ref_location == location) {
                    *item = RefOr::T(Schema::Object(open.clone()));
                }
            }
        }
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
