//! The API's route table, like the console's `console_routes!`: [`api_routes!`] names each
//! handler once and writes from it
//! - the actix registration: the method and path of its `#[utoipa::path]`, one resource per
//!   handler with a method guard (as actix's `#[get]` does), so a path can have several
//!   handlers and an unknown method falls through to the 404 problem+json;
//! - its OpenAPI operation, with the tag given in the table and the `bearer` security
//!   requirement whose scope is the permission of its `Authorized<perm::X>` argument
//!   ([`needs`]), so the document cannot say something else than the handler checks.
//!
//! `public` handlers take no `Authorized` and have no security requirement; `undocumented`
//! routes are registered but not in the document (the document itself, the loopback switch).

use actix_web::dev::{Handler, ResourceDef};
use actix_web::http::Method;
use actix_web::{FromRequest, Resource, Responder, guard, web};
use shared::permissions::Permission;
use std::sync::OnceLock;
use utoipa::openapi::path::{HttpMethod, Paths};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{OpenApi, RefOr, schema::Schema};

pub use crate::state::needs;

/// Paths under it are registered in one actix scope, as they always were.
const V1: &str = "/api/v1";

/// The security requirement of a `guarded` operation; `public` ones have none.
pub fn bearer(needs: Option<Permission>) -> Option<Vec<SecurityRequirement>> {
    let scopes: Vec<&str> = needs.map(|p| p.as_str()).into_iter().collect();
    Some(vec![SecurityRequirement::new("bearer", scopes)])
}

/// What [`api_routes!`] builds: the resources, in the table's order, and the document's paths.
#[derive(Default)]
pub struct Table {
    /// Every route's full path and method, for [`methods_at`].
    routes: Vec<(ResourceDef, Method)>,
    top: Vec<Resource>,
    v1: Vec<Resource>,
    paths: Paths,
    schemas: Vec<(String, RefOr<Schema>)>,
}

fn method(m: &HttpMethod) -> Method {
    match m {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Trace => Method::TRACE,
    }
}

impl Table {
    /// A route that is not in the document. With one method it is guarded like a documented
    /// one; with several, one resource answers them (other methods: an empty 405), as the
    /// IAM switch always has.
    pub fn undocumented<F, Args>(&mut self, methods: &[Method], path: &str, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.routes
            .extend(methods.iter().map(|m| (ResourceDef::new(path), m.clone())));
        let (list, path) = match path.strip_prefix(V1) {
            Some(rest) => (&mut self.v1, rest),
            None => (&mut self.top, path),
        };
        list.push(match methods {
            [one] => web::resource(path)
                .guard(guard::Method(one.clone()))
                .to(handler),
            several => several.iter().fold(web::resource(path), |r, m| {
                r.route(web::method(m.clone()).to(handler.clone()))
            }),
        });
    }

    /// A documented route: `P` is the `#[utoipa::path]` of `handler`.
    pub fn documented<P, F, Args>(
        &mut self,
        tag: &str,
        security: Option<Vec<SecurityRequirement>>,
        handler: F,
    ) where
        P: utoipa::Path + utoipa::__dev::SchemaReferences,
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let (path, methods) = (P::path(), P::methods());
        for m in &methods {
            self.undocumented(&[method(m)], &path, handler.clone());
        }
        let mut op = P::operation();
        op.tags.get_or_insert_with(Vec::new).push(tag.to_string());
        op.security = security;
        super::openapi::with_problems(&mut op, &path);
        self.paths.add_path_operation(&path, methods, op);
        // The schemas the operation refers to, as the `OpenApi` derive collects them.
        P::schemas(&mut self.schemas);
    }

    /// Registers the routes: `/api/v1/…` in one scope, the others beside it.
    pub fn register(self, cfg: &mut web::ServiceConfig) {
        for r in self.top {
            cfg.service(r);
        }
        let v1 = self
            .v1
            .into_iter()
            .fold(web::scope(V1), |s, r| s.service(r));
        cfg.service(v1);
    }

    /// Puts the paths and their schemas into `api`.
    pub fn document(self, api: &mut OpenApi) {
        api.paths = self.paths;
        let components = api.components.get_or_insert_with(Default::default);
        components.schemas.extend(self.schemas);
        // Every error answer's body (see `openapi::with_problems`).
        let problem = <shared::problem::Problem as utoipa::PartialSchema>::schema();
        components.schemas.insert("Problem".into(), problem);
    }
}

/// The methods the API serves at the request path `path` (none: no route there), for the
/// `Allow` of a 405.
pub fn methods_at(path: &str) -> Vec<Method> {
    matching(path, |_| true)
}

/// The methods served at `path` by routes without a parameter (`/drills/lever`, not
/// `/drills/{id}`): a request there that another method's `{id}` route caught and could not
/// parse is a 405, not a 404 for an id `lever`.
pub fn literal_methods_at(path: &str) -> Vec<Method> {
    matching(path, |def| def.pattern().is_some_and(|p| !p.contains('{')))
}

fn matching(path: &str, keep: impl Fn(&ResourceDef) -> bool) -> Vec<Method> {
    static ROUTES: OnceLock<Vec<(ResourceDef, Method)>> = OnceLock::new();
    let routes = ROUTES.get_or_init(|| super::table().routes);
    routes
        .iter()
        .filter(|(def, _)| keep(def) && def.is_match(path))
        .map(|(_, m)| m.clone())
        .collect()
}

/// The security requirement of a table entry, by its kind.
macro_rules! security {
    (public, $handler:path) => {
        None
    };
    (guarded, $handler:path) => {
        $crate::api::routes::bearer($crate::api::routes::needs(&$handler))
    };
}
pub(crate) use security;

/// `api_routes! { undocumented { "/p" [GET] => m::h, … } KIND "tag" module { handler, … } … }`,
/// KIND `public` or `guarded`, expands to `fn table() -> Table` with every route in the order
/// given (actix tries resources in that order).
macro_rules! api_routes {
    (@one $t:ident, $kind:ident, $tag:literal, ($($m:ident)::+), $f:ident) => {
        pastey::paste! {
            $t.documented::<$($m::)+ [<__path_ $f>], _, _>(
                $tag,
                $crate::api::routes::security!($kind, $($m::)+ $f),
                $($m::)+ $f,
            );
        }
    };
    (
        undocumented { $( $upath:literal [$( $um:ident ),+] => $uh:path ),* $(,)? }
        $( $kind:ident $tag:literal $($m:ident)::+ { $( $f:ident ),+ $(,)? } )*
    ) => {
        /// Every API route, built from the table.
        pub fn table() -> $crate::api::routes::Table {
            let mut t = $crate::api::routes::Table::default();
            $( t.undocumented(&[$( actix_web::http::Method::$um ),+], $upath, $uh); )*
            $(
                $crate::api::routes::api_routes!(@group t, $kind, $tag, ($($m)::+), [$($f),+]);
            )*
            t
        }
    };
    (@group $t:ident, $kind:ident, $tag:literal, $mods:tt, [$( $f:ident ),+]) => {
        $( $crate::api::routes::api_routes!(@one $t, $kind, $tag, $mods, $f); )+
    };
}
pub(crate) use api_routes;
