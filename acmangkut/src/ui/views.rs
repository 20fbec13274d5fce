//! What the templates render: plain structs filled by the handlers, with strings already
//! formatted and translated (templates only lay them out).

use super::i18n::Tr;
use askama::Template;
use shared::permissions::{PermSet, Permission};

/// The layout's data.
pub struct Chrome {
    pub title: String,
    /// The active navigation entry (`dashboard`, `monitors`, `new`, `audit`, …) or "".
    pub active: &'static str,
    pub lang: &'static str,
    pub langs: Vec<LangLink>,
    pub css: &'static str,
    pub notice: Option<String>,
    /// The entries of the navigation this caller may open.
    pub nav: Vec<NavLink>,
    /// Who is signed in (none on the sign-in page).
    pub user: Option<UserView>,
    /// The session's CSRF token for every form (`_csrf`); "" for bearer callers.
    pub csrf: String,
    /// Shown on every page while IAM is degraded.
    pub degraded: Option<Banner>,
    pub perms: PermSet,
}

impl Chrome {
    /// Whether the caller holds `permission` (`monitors:write`): templates hide what they
    /// cannot do (the handlers refuse it anyway).
    pub fn can(&self, permission: &str) -> bool {
        Permission::parse(permission).is_some_and(|p| self.perms.contains(p))
    }
}

pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

pub struct UserView {
    pub name: String,
    pub display_name: String,
    /// Role names joined, or "no roles".
    pub roles: String,
    /// How the caller is signed in (session, token, bootstrap token, …).
    pub via: &'static str,
    pub break_glass: bool,
    /// A cookie session (which sign-out ends); bearer callers have none.
    pub can_sign_out: bool,
}

/// The "IAM is degraded" banner.
pub struct Banner {
    pub title: &'static str,
    /// This instance's switch, the cluster-wide one, or both.
    pub which: &'static str,
    pub note: &'static str,
}

pub struct LangLink {
    pub code: &'static str,
    pub name: &'static str,
    pub url: String,
    pub current: bool,
}

/// An `<option>` of a `<select>`.
pub struct Opt {
    pub value: &'static str,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub c: Chrome,
    pub t: Tr,
    pub message: &'static str,
}
