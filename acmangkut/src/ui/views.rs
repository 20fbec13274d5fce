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

#[cfg(test)]
mod tests {
    use shared::permissions::Permission;
    use std::path::Path;

    /// `c.can("…")` in a template takes a string: a name outside the catalog would hide its
    /// button from everyone, silently. Every name the templates ask for must parse.
    #[test]
    fn every_permission_a_template_asks_for_is_in_the_catalog() {
        fn walk(dir: &Path, asked: &mut Vec<(String, String)>) {
            for entry in std::fs::read_dir(dir).expect("templates folder").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, asked);
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("template text");
                for piece in text.split("can(\"").skip(1) {
                    let name = piece.split('"').next().unwrap_or_default();
                    asked.push((path.display().to_string(), name.to_string()));
                }
            }
        }
        let mut asked = Vec::new();
        walk(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"),
            &mut asked,
        );
        assert!(
            asked.len() >= 10,
            "the templates ask for permissions: {asked:?}"
        );
        for (file, name) in asked {
            assert!(
                Permission::parse(&name).is_some(),
                "{file}: `{name}` is not a permission"
            );
        }
    }
}
