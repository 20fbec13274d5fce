//! `Authorized<perm::X>`: the permission a handler needs, in its signature. It lives with the
//! state it hands out (IAM only decides who the caller is and what they hold). A refusal is
//! problem+json; the console turns it into a page (`ui::refusals`).
//!
//! Handlers reach the application state through this extractor (it derefs to [`AppState`]), so
//! a handler without a permission check has no store to read either. The route-table test walks
//! every route and checks 401 without credentials and 403 for a role without the permission.

use super::AppState;
use crate::iam::Principal;
use crate::iam::permissions::Needs;
use crate::store::audit::Actor;
use crate::store::{DbConn, RunError};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use shared::permissions::Permission;
use shared::{ApiError, ErrorCode};
use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::sync::Arc;

pub struct Authorized<P: Needs> {
    pub principal: Arc<Principal>,
    app: web::Data<AppState>,
    _needs: PhantomData<P>,
}

impl<P: Needs> Authorized<P> {
    pub fn actor(&self) -> Actor {
        self.principal.actor()
    }

    pub fn app(&self) -> &AppState {
        &self.app
    }

    /// Runs `f` on the store with the caller as the actor its audit entries name.
    pub async fn run_as<T, E, F>(&self, f: F) -> Result<T, E::Out>
    where
        F: FnOnce(&mut DbConn, &Actor) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: RunError,
    {
        let actor = self.actor();
        self.app.store.run(move |c| f(c, &actor)).await
    }
}

impl<P: Needs> std::ops::Deref for Authorized<P> {
    type Target = AppState;
    fn deref(&self) -> &AppState {
        &self.app
    }
}

impl<P: Needs> FromRequest for Authorized<P> {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let principal = req.extensions().get::<Arc<Principal>>().cloned();
        let Some(principal) = principal else {
            return ready(Err(
                ApiError::new(ErrorCode::Unauthorized, "sign in first").into()
            ));
        };
        if let Some(p) = P::PERMISSION
            && !principal.can(p)
        {
            return ready(Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("this needs the permission `{}`", p.as_str()),
            )
            .into()));
        }
        let Some(app) = req.app_data::<web::Data<AppState>>().cloned() else {
            return ready(Err(ApiError::new(
                ErrorCode::Internal,
                "application state missing",
            )
            .into()));
        };
        ready(Ok(Self {
            principal,
            app,
            _needs: PhantomData,
        }))
    }
}

/// A handler whose first argument is `Authorized<P>`: `P`'s permission is what it needs. The
/// API's and the console's route tables read it, so what they declare is what the handler
/// checks. Implemented for handlers of up to six arguments.
pub trait Guarded<Args> {
    const NEEDS: Option<Permission>;
}

macro_rules! guarded {
    ($($arg:ident),*) => {
        impl<F, R, P: Needs, $($arg,)*> Guarded<(Authorized<P>, $($arg,)*)> for F
        where
            F: Fn(Authorized<P>, $($arg,)*) -> R,
        {
            const NEEDS: Option<Permission> = P::PERMISSION;
        }
    };
}
guarded!();
guarded!(A);
guarded!(A, B);
guarded!(A, B, C);
guarded!(A, B, C, D);
guarded!(A, B, C, D, E);

/// The permission `handler` demands, read from its type (`None`: any signed-in caller).
pub fn needs<Args, F: Guarded<Args>>(_handler: &F) -> Option<Permission> {
    F::NEEDS
}
