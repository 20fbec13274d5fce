//! The console's route table: one macro writes both the actix registration and [`ROUTES`], so
//! the two cannot drift apart; [`handler_permissions`] reads each handler's permission from its
//! signature (`Authorized<perm::X>` first), and a test checks the table says the same.
//!
//! [`ROUTES`]: super::ROUTES
//! [`handler_permissions`]: super::handler_permissions

use crate::iam::permissions::Needs;

/// One console route: method, path (`{id}` for a path parameter), and the permission its
/// handler needs (`None`: any signed-in caller).
pub type Route = (&'static str, &'static str, Option<&'static str>);

/// The name of the permission marker `P` stands for, as [`Route`] has it.
pub const fn name_of<P: Needs>() -> Option<&'static str> {
    match P::PERMISSION {
        Some(p) => Some(p.as_str()),
        None => None,
    }
}

/// Read from each handler's signature; the API's route table uses the same.
pub use crate::state::needs;

/// `console_routes! { "/path" { GET MonitorsRead => module::handler, POST … } … }`, each
/// permission named by its `perm` marker (`SignedIn`: any signed-in caller), expands to
/// `ROUTES`, `guarded_routes` (the actix registration, one resource per path in the order given)
/// and `handler_permissions` (what the handlers' signatures say).
macro_rules! console_routes {
    ($( $path:literal { $( $method:ident $perm:ident => $handler:path ),+ $(,)? } )*) => {
        /// Every console page and form that needs a signed-in caller, with the permission its
        /// handler demands (`None`: any signed-in caller). Public paths (`/login`,
        /// `/auth/oidc/*`, `/static/*`) are not here.
        pub const ROUTES: &[routes::Route] = &[ $( $(
            (stringify!($method), $path, routes::name_of::<crate::iam::perm::$perm>()),
        )+ )* ];

        /// Registers [`ROUTES`], each with its handler.
        fn guarded_routes(cfg: &mut web::ServiceConfig) {
            $(
                cfg.service(
                    web::resource($path)
                        $( .route(web::method(actix_web::http::Method::$method).to($handler)) )+
                );
            )*
        }

        /// `(method, path, permission)` of every route as its handler's signature has it.
        pub fn handler_permissions(
        ) -> Vec<(&'static str, &'static str, Option<shared::permissions::Permission>)> {
            vec![ $( $( (stringify!($method), $path, routes::needs(&$handler)), )+ )* ]
        }
    };
}
pub(crate) use console_routes;
