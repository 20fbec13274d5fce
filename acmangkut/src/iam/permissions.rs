//! The permission catalog (`resource:action`) and the built-in roles.
//!
//! Each permission is also a marker type in [`perm`], so the permission a handler needs is
//! written in its signature: `Authorized<perm::MonitorsWrite>`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

macro_rules! catalog {
    ($( $variant:ident = $name:literal, $desc:literal, $zh:literal; )*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        pub enum Permission { $( #[serde(rename = $name)] $variant, )* }

        impl Permission {
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Permission::$variant => $name,)* }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($name => Some(Permission::$variant),)* _ => None }
            }

            /// English and Chinese descriptions, the defaults hasinit's manifest can override.
            pub fn description(self) -> (&'static str, &'static str) {
                match self { $(Permission::$variant => ($desc, $zh),)* }
            }
        }

        /// One marker type per permission, for handler signatures.
        pub mod perm {
            $(
                #[derive(Debug)]
                pub struct $variant;
                impl super::Needs for $variant {
                    const PERMISSION: Option<super::Permission> = Some(super::Permission::$variant);
                }
            )*
            /// Any authenticated caller (sign-out, "who am I").
            #[derive(Debug)]
            pub struct SignedIn;
            impl super::Needs for SignedIn {
                const PERMISSION: Option<super::Permission> = None;
            }
        }
    };
}

/// What a marker type stands for; `None` means "signed in" without a specific permission.
pub trait Needs {
    const PERMISSION: Option<Permission>;
}

catalog! {
    MonitorsRead = "monitors:read", "Read monitors and their results", "查看监控及其结果";
    MonitorsWrite = "monitors:write", "Create, change, pause and delete monitors", "创建、修改、暂停和删除监控";
    InspectionsRead = "inspections:read", "Read inspections and reports", "查看巡检及报告";
    InspectionsWrite = "inspections:write", "Define inspection plugins, rules and tasks", "定义巡检插件、规则和任务";
    InspectionsRun = "inspections:run", "Run inspection tasks", "执行巡检任务";
    DrillsRead = "drills:read", "Read fault drills and their runs", "查看故障演练及其执行";
    DrillsWrite = "drills:write", "Define fault drills", "定义故障演练";
    DrillsRun = "drills:run", "Run and abort fault drills", "执行和终止故障演练";
    PlansRead = "plans:read", "Read disaster-recovery plans and executions", "查看容灾预案及其执行";
    PlansWrite = "plans:write", "Define disaster-recovery plans", "定义容灾预案";
    PlansRun = "plans:run", "Execute disaster-recovery plans", "执行容灾预案";
    PlansApprove = "plans:approve", "Approve steps of plan executions", "审批预案执行步骤";
    UsersRead = "users:read", "Read user accounts", "查看用户";
    UsersWrite = "users:write", "Create, change and disable user accounts", "创建、修改和禁用用户";
    RolesRead = "roles:read", "Read roles, permissions and bindings", "查看角色、权限和绑定";
    RolesWrite = "roles:write", "Define roles and bindings", "定义角色和绑定";
    TokensRead = "tokens:read", "List one's own API tokens", "查看自己的 API 令牌";
    TokensWrite = "tokens:write", "Create and revoke one's own API tokens", "创建和吊销自己的 API 令牌";
    AuditRead = "audit:read", "Read and export the audit log", "查看和导出审计日志";
    SettingsRead = "settings:read", "Read settings", "查看设置";
    SettingsWrite = "settings:write", "Change settings", "修改设置";
    IamSwitchWrite = "iam-switch:write", "Flip the IAM emergency switch for all replicas", "切换所有实例的 IAM 应急开关";
}

/// A set of permissions, small enough to copy (one bit each).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PermSet(u64);

impl PermSet {
    pub fn all() -> Self {
        Permission::ALL.iter().copied().collect()
    }

    pub fn contains(self, p: Permission) -> bool {
        self.0 & (1 << p as u32) != 0
    }

    pub fn insert(&mut self, p: Permission) {
        self.0 |= 1 << p as u32;
    }

    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }

    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Permission::as_str).collect()
    }

    /// Parses names, naming the first unknown one.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut set = Self::default();
        for n in names {
            set.insert(Permission::parse(n).ok_or_else(|| format!("unknown permission `{n}`"))?);
        }
        Ok(set)
    }
}

impl FromIterator<Permission> for PermSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut s = Self::default();
        for p in iter {
            s.insert(p);
        }
        s
    }
}

pub const BUILTIN_ROLES: &[&str] = &["viewer", "operator", "auditor", "admin"];

/// The built-in roles as docs/iam.md defines them (hasinit's manifest seeds the same).
pub fn builtin_role(name: &str) -> Option<(PermSet, &'static str)> {
    use Permission::*;
    let reads = Permission::ALL
        .iter()
        .copied()
        .filter(|p| p.as_str().ends_with(":read"));
    let viewer: PermSet = reads
        .clone()
        .filter(|p| !matches!(p, UsersRead | RolesRead | AuditRead | SettingsRead))
        .chain([TokensWrite])
        .collect();
    Some(match name {
        "viewer" => (viewer, "Reads everything operational"),
        "operator" => (
            viewer.union(PermSet::from_iter([
                MonitorsWrite,
                InspectionsWrite,
                InspectionsRun,
                DrillsWrite,
                DrillsRun,
                PlansWrite,
                PlansRun,
            ])),
            "Runs the platform day to day",
        ),
        // Auditors script exports of the audit log, so they may hold their own API tokens.
        "auditor" => (
            reads.chain([TokensWrite]).collect(),
            "Reads everything, including the audit log; may script exports with its own API tokens",
        ),
        "admin" => (PermSet::all(), "Every permission"),
        _ => return None,
    })
}

/// Role names sorted and deduplicated, for display and storage.
pub fn sorted(names: impl IntoIterator<Item = String>) -> Vec<String> {
    names
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_round_trips_and_fits_the_bit_set() {
        assert!(Permission::ALL.len() <= 64);
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(*p));
            assert!(p.as_str().contains(':'));
        }
    }

    #[test]
    fn built_in_roles_nest_as_documented() {
        let get = |n| builtin_role(n).expect(n).0;
        let (viewer, operator, auditor, admin) =
            (get("viewer"), get("operator"), get("auditor"), get("admin"));
        assert_eq!(viewer.union(operator), operator);
        assert!(!viewer.contains(Permission::AuditRead));
        assert!(auditor.contains(Permission::AuditRead));
        assert!(!auditor.contains(Permission::MonitorsWrite));
        assert!(!operator.contains(Permission::IamSwitchWrite));
        assert_eq!(admin, PermSet::all());
    }

    #[test]
    fn unknown_permission_names_are_named() {
        assert_eq!(
            PermSet::parse(["monitors:read", "nope:x"]).expect_err("unknown"),
            "unknown permission `nope:x`"
        );
    }
}
