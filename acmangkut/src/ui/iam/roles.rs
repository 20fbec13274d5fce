//! `/admin/roles`: every role against every permission (a grid of ticks), and the bindings
//! from users and identity-provider groups to roles.

use crate::iam::perm;
use crate::state::Authorized;
use crate::store::iam::access::{self, Binding, PermissionInfo, Role};
use crate::ui::i18n::{Lang, Tr};
use crate::ui::views::Chrome;
use crate::ui::{Ui, UiError};
use actix_web::HttpResponse;
use askama::Template;

pub struct RoleColumn {
    pub name: String,
    pub description: String,
    pub builtin: bool,
}

/// One permission and, per role (in column order), whether the role grants it.
pub struct GridRow {
    pub name: String,
    pub description: String,
    pub granted: Vec<bool>,
}

#[derive(Template)]
#[template(path = "iam/roles.html")]
pub struct RolesPage {
    pub c: Chrome,
    pub t: Tr,
    pub roles: Vec<RoleColumn>,
    pub grid: Vec<GridRow>,
    pub bindings: Vec<Binding>,
}

/// The grid: one row per permission of the catalog, one column per role.
pub fn grid(lang: Lang, permissions: &[PermissionInfo], roles: &[Role]) -> Vec<GridRow> {
    permissions
        .iter()
        .map(|p| GridRow {
            name: p.name.clone(),
            description: match lang {
                Lang::ZhCn if !p.description_zh.is_empty() => p.description_zh.clone(),
                _ => p.description.clone(),
            },
            granted: roles
                .iter()
                .map(|r| r.permissions.contains(&p.name))
                .collect(),
        })
        .collect()
}

pub async fn show(auth: Authorized<perm::RolesRead>, ui: Ui) -> Result<HttpResponse, UiError> {
    let (permissions, roles, bindings) = auth
        .store
        .run(|c| {
            diesel::QueryResult::Ok((
                access::permissions(c)?,
                access::roles(c)?,
                access::bindings(c)?,
            ))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let t = ui.tr();
    let page = RolesPage {
        c: ui.chrome(t.get("roles.title"), "roles"),
        t,
        grid: grid(ui.lang, &permissions, &roles),
        roles: roles
            .into_iter()
            .map(|r| RoleColumn {
                name: r.name,
                description: r.description,
                builtin: r.builtin,
            })
            .collect(),
        bindings,
    };
    ui.render(&page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_ticks_what_each_role_grants_in_column_order() {
        let info = |n: &str| PermissionInfo {
            name: n.into(),
            description: format!("{n} (en)"),
            description_zh: String::new(),
        };
        let role = |n: &str, perms: &[&str]| Role {
            name: n.into(),
            description: String::new(),
            builtin: false,
            permissions: perms.iter().map(|p| p.to_string()).collect(),
        };
        let rows = grid(
            Lang::ZhCn,
            &[info("a:read"), info("a:write")],
            &[role("r", &["a:read"]), role("w", &["a:read", "a:write"])],
        );
        assert_eq!(rows[0].granted, [true, true]);
        assert_eq!(rows[1].granted, [false, true]);
        assert_eq!(
            rows[0].description, "a:read (en)",
            "English when there is no Chinese text"
        );
    }
}
