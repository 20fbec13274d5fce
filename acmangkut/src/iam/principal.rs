//! Who is calling: the result of authentication, kept in the request's extensions.

use crate::store::audit::Actor;
use shared::permissions::{PermSet, Permission};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A built-in account's browser session.
    Session,
    /// A browser session of an OIDC user.
    OidcSession,
    /// An API token (`has_…`).
    ApiToken,
    /// A JWT access token of the OIDC provider.
    Bearer,
    /// `iam.bootstrap_token`.
    Bootstrap,
}

impl Via {
    pub fn actor_kind(self) -> &'static str {
        match self {
            Via::Session => "user",
            Via::OidcSession | Via::Bearer => "oidc",
            Via::ApiToken => "token",
            Via::Bootstrap => "bootstrap",
        }
    }

    /// Cookie-authenticated requests need a CSRF token; bearer requests cannot be forged by a
    /// third-party page.
    pub fn needs_csrf(self) -> bool {
        matches!(self, Via::Session | Via::OidcSession)
    }
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub display_name: String,
    pub via: Via,
    /// The user row, when there is one (not for the bootstrap token or a bare JWT subject).
    pub user_id: Option<i64>,
    pub roles: Vec<String>,
    pub permissions: PermSet,
    pub break_glass: bool,
    /// Session id hash and CSRF token, for cookie sessions.
    pub session: Option<(String, String)>,
    pub token_id: Option<i64>,
    pub peer: String,
}

impl Principal {
    pub fn can(&self, p: Permission) -> bool {
        self.permissions.contains(p)
    }

    pub fn actor(&self) -> Actor {
        Actor {
            name: self.name.clone(),
            kind: self.via.actor_kind(),
            peer: self.peer.clone(),
        }
    }

    pub fn csrf_token(&self) -> Option<&str> {
        self.session.as_ref().map(|(_, csrf)| csrf.as_str())
    }
}
