//! The permission catalog (`resource:action`) and the built-in roles, written once: acmangkut
//! enforces them (docs/iam.md), hasinit seeds them as its default manifest.
//!
//! Pure data. Code that needs one item per permission (acmangkut's handler marker types) is
//! generated from the same list with [`with_permission_catalog!`].

use serde::{Deserialize, Serialize};

/// Calls `callback! { Variant = "name", "English description", "中文描述"; … }` with the whole
/// catalog, in catalog order: the one list every per-permission item is generated from.
#[macro_export]
macro_rules! with_permission_catalog {
    ($callback:ident) => {
        $callback! {
            MonitorsRead = "monitors:read",
                "Read monitors and their results", "查看监控及其结果";
            MonitorsWrite = "monitors:write",
                "Create, change, pause and delete monitors", "创建、修改、暂停和删除监控";
            InspectionsRead = "inspections:read",
                "Read inspections and reports", "查看巡检及报告";
            InspectionsWrite = "inspections:write",
                "Define inspection plugins, rules and tasks", "定义巡检插件、规则和任务";
            InspectionsRun = "inspections:run",
                "Run inspection tasks", "执行巡检任务";
            DrillsRead = "drills:read",
                "Read fault drills and their runs", "查看故障演练及其执行";
            DrillsWrite = "drills:write",
                "Define fault drills", "定义故障演练";
            DrillsRun = "drills:run",
                "Run and abort fault drills", "执行和终止故障演练";
            PlansRead = "plans:read",
                "Read disaster-recovery plans and executions", "查看容灾预案及其执行";
            PlansWrite = "plans:write",
                "Define disaster-recovery plans", "定义容灾预案";
            PlansRun = "plans:run",
                "Execute disaster-recovery plans", "执行容灾预案";
            PlansApprove = "plans:approve",
                "Approve steps of plan executions", "审批预案执行步骤";
            UsersRead = "users:read",
                "Read user accounts", "查看用户";
            UsersWrite = "users:write",
                "Create, change and disable user accounts", "创建、修改和禁用用户";
            RolesRead = "roles:read",
                "Read roles, permissions and bindings", "查看角色、权限和绑定";
            RolesWrite = "roles:write",
                "Define roles and bindings", "定义角色和绑定";
            TokensRead = "tokens:read",
                "List one's own API tokens", "查看自己的 API 令牌";
            TokensWrite = "tokens:write",
                "Create and revoke one's own API tokens", "创建和吊销自己的 API 令牌";
            AuditRead = "audit:read",
                "Read and export the audit log", "查看和导出审计日志";
            SettingsRead = "settings:read",
                "Read settings", "查看设置";
            SettingsWrite = "settings:write",
                "Change settings", "修改设置";
            IamSwitchWrite = "iam-switch:write",
                "Flip the IAM emergency switch for all replicas", "切换所有实例的 IAM 应急开关";
        }
    };
}

macro_rules! permission_enum {
    ($( $variant:ident = $name:literal, $desc:literal, $zh:literal; )*) => {
        /// One permission of the catalog; serialised as its name (`monitors:read`).
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        pub enum Permission { $( #[serde(rename = $name)] $variant, )* }

        impl Permission {
            /// The catalog, in its order (the order names are listed and sent in).
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self { $(Permission::$variant => $name,)* }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($name => Some(Permission::$variant),)* _ => None }
            }

            /// English and Chinese descriptions, the defaults hasinit's manifest can override.
            pub const fn description(self) -> (&'static str, &'static str) {
                match self { $(Permission::$variant => ($desc, $zh),)* }
            }
        }
    };
}
with_permission_catalog!(permission_enum);

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

    /// The permissions held, in catalog order.
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

/// A role acmangkut knows without a manifest (so that it works before hasinit ran).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinRole {
    pub name: &'static str,
    pub description: &'static str,
    /// Kept for the manifest: acmangkut stores no Chinese description for roles yet.
    pub description_zh: &'static str,
    /// In catalog order.
    pub permissions: &'static [Permission],
}

impl BuiltinRole {
    pub fn perm_set(&self) -> PermSet {
        self.permissions.iter().copied().collect()
    }
}

use Permission::*;

/// The built-in roles as docs/iam.md defines them, in the order they are listed and seeded.
pub const BUILTIN_ROLES: &[BuiltinRole] = &[
    BuiltinRole {
        name: "viewer",
        description: "Reads everything operational",
        description_zh: "查看日常运维数据",
        permissions: &[
            MonitorsRead,
            InspectionsRead,
            DrillsRead,
            PlansRead,
            TokensRead,
            TokensWrite,
        ],
    },
    BuiltinRole {
        name: "operator",
        description: "Runs the platform day to day",
        description_zh: "负责平台的日常运行",
        permissions: &[
            MonitorsRead,
            MonitorsWrite,
            InspectionsRead,
            InspectionsWrite,
            InspectionsRun,
            DrillsRead,
            DrillsWrite,
            DrillsRun,
            PlansRead,
            PlansWrite,
            PlansRun,
            TokensRead,
            TokensWrite,
        ],
    },
    // Auditors script exports of the audit log, so they may hold their own API tokens.
    BuiltinRole {
        name: "auditor",
        description: "Reads everything, including the audit log; \
                      may script exports with its own API tokens",
        description_zh: "查看全部内容，包括审计日志",
        permissions: &[
            MonitorsRead,
            InspectionsRead,
            DrillsRead,
            PlansRead,
            UsersRead,
            RolesRead,
            TokensRead,
            TokensWrite,
            AuditRead,
            SettingsRead,
        ],
    },
    BuiltinRole {
        name: "admin",
        description: "Every permission",
        description_zh: "拥有全部权限",
        permissions: Permission::ALL,
    },
];

/// The built-in role called `name`.
pub fn builtin_role(name: &str) -> Option<&'static BuiltinRole> {
    BUILTIN_ROLES.iter().find(|r| r.name == name)
}

pub fn is_builtin_role(name: &str) -> bool {
    builtin_role(name).is_some()
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
            let json = serde_json::to_string(p).expect("json");
            assert_eq!(json, format!("\"{}\"", p.as_str()));
        }
    }

    #[test]
    fn built_in_roles_nest_as_documented() {
        let get = |n| builtin_role(n).expect(n).perm_set();
        let (viewer, operator, auditor, admin) =
            (get("viewer"), get("operator"), get("auditor"), get("admin"));
        assert_eq!(viewer.union(operator), operator);
        assert!(!viewer.contains(Permission::AuditRead));
        assert!(auditor.contains(Permission::AuditRead));
        assert!(!auditor.contains(Permission::MonitorsWrite));
        assert!(!operator.contains(Permission::IamSwitchWrite));
        assert_eq!(admin, PermSet::all());
    }

    /// docs/iam.md states the roles as rules; the lists above must say the same.
    #[test]
    fn built_in_roles_are_the_documented_rules() {
        let reads = || {
            Permission::ALL
                .iter()
                .copied()
                .filter(|p| p.as_str().ends_with(":read"))
        };
        let viewer: PermSet = reads()
            .filter(|p| !matches!(p, UsersRead | RolesRead | AuditRead | SettingsRead))
            .chain([TokensWrite])
            .collect();
        let operator = viewer.union(PermSet::from_iter([
            MonitorsWrite,
            InspectionsWrite,
            InspectionsRun,
            DrillsWrite,
            DrillsRun,
            PlansWrite,
            PlansRun,
        ]));
        let auditor: PermSet = reads().chain([TokensWrite]).collect();
        let get = |n| builtin_role(n).expect(n).perm_set();
        assert_eq!(get("viewer"), viewer);
        assert_eq!(get("operator"), operator);
        assert_eq!(get("auditor"), auditor);
        assert_eq!(get("admin"), PermSet::all());
    }

    #[test]
    fn role_lists_are_in_catalog_order_without_repeats() {
        for r in BUILTIN_ROLES {
            assert_eq!(
                r.perm_set().names(),
                r.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                "{}",
                r.name
            );
        }
    }

    #[test]
    fn unknown_permission_names_are_named() {
        assert_eq!(
            PermSet::parse(["monitors:read", "nope:x"]).expect_err("unknown"),
            "unknown permission `nope:x`"
        );
    }
}
