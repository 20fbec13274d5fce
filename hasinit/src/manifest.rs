//! The permission manifest: permissions, roles and bindings, read from TOML.
//!
//! Every error names where it is: `file:line:column`, and the key (`roles[1].permissions[2]`)
//! when one is to blame. Parsing is serde over `toml` with [`toml::Spanned`] names, so checks
//! made after parsing (unknown permission, duplicate role) still point at the offending text.
//!
//! The default manifest is the permission catalog and the built-in roles of
//! [`shared::permissions`]; `manifest/default.toml` writes the same as a manifest to copy and
//! extend (a test keeps the two equal).

use serde::{Deserialize, Serialize};
use shared::permissions::{self as catalog, BUILTIN_ROLES, is_builtin_role};
use std::collections::HashSet;
use std::ops::Range;
use toml::Spanned;

/// How the default manifest is named in hasinit's output.
pub const DEFAULT_SOURCE: &str = "<embedded default manifest>";

/// A valid manifest; serialises to the JSON body of `POST /api/v1/iam/manifest:apply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    pub permissions: Vec<Permission>,
    pub roles: Vec<Role>,
    pub bindings: Vec<Binding>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Permission {
    pub name: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description_zh: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Role {
    pub name: String,
    pub description: String,
    /// Kept in the manifest, not sent: acmangkut stores no Chinese description for roles yet
    /// (and rejects unknown fields).
    #[serde(skip_serializing)]
    pub description_zh: Option<String>,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Binding {
    pub subject_kind: String,
    pub subject: String,
    pub role: String,
}

impl Manifest {
    /// The number of entries the server reports on (created + updated + unchanged).
    pub fn len(&self) -> usize {
        self.permissions.len() + self.roles.len() + self.bindings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The default manifest: exactly the permission catalog and the built-in roles.
    pub fn default_manifest() -> Self {
        let names = |ps: &[catalog::Permission]| ps.iter().map(|p| p.as_str().into()).collect();
        Self {
            permissions: catalog::Permission::ALL
                .iter()
                .map(|p| {
                    let (description, zh) = p.description();
                    Permission {
                        name: p.as_str().into(),
                        description: description.into(),
                        description_zh: Some(zh.into()),
                    }
                })
                .collect(),
            roles: BUILTIN_ROLES
                .iter()
                .map(|r| Role {
                    name: r.name.into(),
                    description: r.description.into(),
                    description_zh: Some(r.description_zh.into()),
                    permissions: names(r.permissions),
                })
                .collect(),
            bindings: Vec::new(),
        }
    }
}

/// A manifest that cannot be used, and where: `source:line:column: `key`: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}:{column}: {}{message}", key_prefix(.key))]
pub struct ManifestError {
    /// The file.
    pub source_name: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// The dotted path of the offending value, when one is to blame.
    pub key: Option<String>,
    pub message: String,
}

fn key_prefix(key: &Option<String>) -> String {
    key.as_ref().map(|k| format!("`{k}`: ")).unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[serde(default)]
    permissions: Vec<RawPermission>,
    #[serde(default)]
    roles: Vec<RawRole>,
    #[serde(default)]
    bindings: Vec<RawBinding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPermission {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    description_zh: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    description_zh: Option<String>,
    permissions: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBinding {
    subject_kind: Spanned<String>,
    subject: Spanned<String>,
    role: Spanned<String>,
}

/// Parses and checks `text`; `source_name` is what errors call it (usually the file path).
pub fn parse(text: &str, source_name: &str) -> Result<Manifest, ManifestError> {
    let at = |span: Option<Range<usize>>, key: Option<String>, message: String| {
        let (line, column) = position(text, span.map_or(0, |s| s.start));
        ManifestError {
            source_name: source_name.to_string(),
            line,
            column,
            key,
            message,
        }
    };
    let de = toml::Deserializer::parse(text).map_err(|e| at(e.span(), None, e.message().into()))?;
    let raw: RawManifest = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let key = (key != "." && !key.is_empty()).then_some(key);
        let inner = e.into_inner();
        at(inner.span(), key, inner.message().into())
    })?;
    check(raw).map_err(|Problem { span, key, message }| at(Some(span), Some(key), message))
}

/// A check that failed after parsing: where, which key, why.
struct Problem {
    span: Range<usize>,
    key: String,
    message: String,
}

fn problem(value: &Spanned<String>, key: String, message: impl Into<String>) -> Problem {
    Problem {
        span: value.span(),
        key,
        message: message.into(),
    }
}

fn check(raw: RawManifest) -> Result<Manifest, Problem> {
    let mut permissions = Vec::new();
    let mut seen = HashSet::new();
    for (i, p) in raw.permissions.into_iter().enumerate() {
        let key = format!("permissions[{i}].name");
        if !is_permission_name(p.name.get_ref()) {
            return Err(problem(
                &p.name,
                key,
                format!(
                    "`{}` is not a permission name (resource:action, lower case, e.g. \
                    monitors:read)",
                    p.name.get_ref()
                ),
            ));
        }
        if !seen.insert(p.name.get_ref().clone()) {
            return Err(problem(&p.name, key, "is listed twice"));
        }
        permissions.push(Permission {
            name: p.name.into_inner(),
            description: p.description,
            description_zh: p.description_zh,
        });
    }
    let known = |name: &str| seen.contains(name) || catalog::Permission::parse(name).is_some();

    let mut roles = Vec::new();
    let mut role_names = HashSet::new();
    for (i, r) in raw.roles.into_iter().enumerate() {
        let key = format!("roles[{i}].name");
        if !is_role_name(r.name.get_ref()) {
            return Err(problem(
                &r.name,
                key,
                "must be letters, digits, `-`, `_` or `.`, starting with a letter or digit",
            ));
        }
        if !role_names.insert(r.name.get_ref().clone()) {
            return Err(problem(&r.name, key, "is listed twice"));
        }
        let mut listed = HashSet::new();
        for (j, p) in r.permissions.iter().enumerate() {
            let key = format!("roles[{i}].permissions[{j}]");
            if !known(p.get_ref()) {
                return Err(problem(
                    p,
                    key,
                    format!(
                        "unknown permission `{}` (neither in this manifest nor in the catalog)",
                        p.get_ref()
                    ),
                ));
            }
            if !listed.insert(p.get_ref().as_str()) {
                return Err(problem(p, key, "is listed twice"));
            }
        }
        roles.push(Role {
            name: r.name.into_inner(),
            description: r.description,
            description_zh: r.description_zh,
            permissions: r.permissions.into_iter().map(Spanned::into_inner).collect(),
        });
    }

    let mut bindings = Vec::new();
    let mut seen_bindings = HashSet::new();
    for (i, b) in raw.bindings.into_iter().enumerate() {
        if !matches!(b.subject_kind.get_ref().as_str(), "user" | "group") {
            return Err(problem(
                &b.subject_kind,
                format!("bindings[{i}].subject_kind"),
                "must be `user` or `group`",
            ));
        }
        if b.subject.get_ref().trim().is_empty() {
            return Err(problem(
                &b.subject,
                format!("bindings[{i}].subject"),
                "must not be empty",
            ));
        }
        let role = b.role.get_ref();
        if !role_names.contains(role) && !is_builtin_role(role) {
            return Err(problem(
                &b.role,
                format!("bindings[{i}].role"),
                format!("unknown role `{role}` (neither in this manifest nor built in)"),
            ));
        }
        let binding = Binding {
            subject_kind: b.subject_kind.into_inner(),
            subject: b.subject.get_ref().clone(),
            role: b.role.into_inner(),
        };
        if !seen_bindings.insert(binding.clone()) {
            return Err(problem(
                &b.subject,
                format!("bindings[{i}]"),
                "is listed twice",
            ));
        }
        bindings.push(binding);
    }
    Ok(Manifest {
        permissions,
        roles,
        bindings,
    })
}

/// `resource:action`: lower-case ASCII words (letters, digits, `-`), one colon.
fn is_permission_name(name: &str) -> bool {
    let word = |w: &str| {
        w.starts_with(|c: char| c.is_ascii_lowercase())
            && w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    matches!(name.split_once(':'), Some((resource, action)) if word(resource) && word(action))
}

/// Role names travel in URL paths (`/api/v1/iam/roles/{name}`): keep them plain.
fn is_role_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err(text: &str) -> ManifestError {
        parse(text, "m.toml").expect_err("must fail")
    }

    /// The catalog's permission names, in its order.
    fn catalog_names() -> Vec<&'static str> {
        catalog::Permission::ALL
            .iter()
            .map(|p| p.as_str())
            .collect()
    }

    #[test]
    fn the_manifest_file_says_exactly_the_default_manifest() {
        let file = include_str!("../manifest/default.toml");
        let m = parse(file, "manifest/default.toml").expect("the file is a valid manifest");
        assert_eq!(m, Manifest::default_manifest());
    }

    #[test]
    fn the_default_manifest_is_exactly_the_catalog_and_the_built_in_roles() {
        let m = Manifest::default_manifest();
        let names: Vec<&str> = m.permissions.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, catalog_names());
        let roles: Vec<&str> = m.roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(roles, ["viewer", "operator", "auditor", "admin"]);
        assert!(m.bindings.is_empty());
        for p in &m.permissions {
            assert!(!p.description.is_empty(), "{}", p.name);
            let zh = p.description_zh.as_deref().unwrap_or_default();
            assert!(zh.chars().any(|c| c > '\u{2e80}'), "{}: {zh}", p.name);
        }
        for r in &m.roles {
            assert!(!r.description.is_empty() && r.description_zh.is_some());
        }
    }

    #[test]
    fn the_default_roles_hold_the_documented_permissions() {
        let m = Manifest::default_manifest();
        let role = |name: &str| -> HashSet<&str> {
            let r = m.roles.iter().find(|r| r.name == name).expect(name);
            r.permissions.iter().map(String::as_str).collect()
        };
        let reads: HashSet<&str> = catalog_names()
            .into_iter()
            .filter(|p| p.ends_with(":read"))
            .collect();
        let hidden = ["users:read", "roles:read", "audit:read", "settings:read"];
        let mut viewer: HashSet<&str> = reads
            .iter()
            .copied()
            .filter(|p| !hidden.contains(p))
            .collect();
        viewer.insert("tokens:write");
        assert_eq!(role("viewer"), viewer);
        let mut operator = viewer.clone();
        operator.extend([
            "monitors:write",
            "inspections:write",
            "inspections:run",
            "drills:write",
            "drills:run",
            "plans:write",
            "plans:run",
        ]);
        assert_eq!(role("operator"), operator);
        let mut auditor = reads.clone();
        auditor.insert("tokens:write");
        assert_eq!(role("auditor"), auditor);
        assert_eq!(role("admin"), catalog_names().into_iter().collect());
    }

    #[test]
    fn the_wire_form_is_the_documented_json() {
        let m = parse(
            "[[permissions]]\nname = \"x:y\"\ndescription = \"d\"\n\
             [[roles]]\nname = \"r\"\npermissions = [\"x:y\", \"monitors:read\"]\n\
             [[bindings]]\nsubject_kind = \"group\"\nsubject = \"sre\"\nrole = \"r\"\n",
            "m.toml",
        )
        .expect("valid");
        assert_eq!(
            serde_json::to_value(&m).expect("json"),
            serde_json::json!({
                "permissions": [{"name": "x:y", "description": "d"}],
                "roles": [
                    {"name": "r", "description": "", "permissions": ["x:y", "monitors:read"]}
                ],
                "bindings": [{"subject_kind": "group", "subject": "sre", "role": "r"}],
            })
        );
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn chinese_descriptions_are_sent_for_permissions_only() {
        let m = Manifest::default_manifest();
        let wire = serde_json::to_value(&m).expect("json");
        assert_eq!(wire["permissions"][0]["description_zh"], "查看监控及其结果");
        assert!(
            wire["roles"][0].get("description_zh").is_none(),
            "{}",
            wire["roles"][0]
        );
        assert!(m.roles[0].description_zh.is_some());
    }

    /// Bad manifests, each with the line:column and key its error must name.
    #[test]
    fn each_bad_manifest_is_named_by_position_and_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("[[roles]\nname = 1", "m.toml:1:", "TOML syntax"),
            (
                "[[permissions]]\nname = \"monitors:read\"\ndescripton = \"typo\"\n",
                "m.toml:3:1: `permissions[0].descripton`",
                "unknown field",
            ),
            (
                "[[permissions]]\nname = \"Monitors\"\n",
                "m.toml:2:8: `permissions[0].name`",
                "not a permission name",
            ),
            (
                "[[permissions]]\nname = \"\"\n",
                "m.toml:2:8: `permissions[0].name`",
                "not a permission name",
            ),
            (
                "[[roles]]\nname = \"ops\"\npermissions = [\"monitors:read\", \"monitor:write\"]\n",
                "m.toml:3:33: `roles[0].permissions[1]`",
                "unknown permission `monitor:write`",
            ),
            (
                "[[roles]]\nname = \"\"\npermissions = []\n",
                "m.toml:2:8: `roles[0].name`",
                "must be letters",
            ),
            (
                "[[roles]]\nname = \"a\"\npermissions = []\n\
                 [[roles]]\nname = \"a\"\npermissions = []\n",
                "m.toml:5:8: `roles[1].name`",
                "listed twice",
            ),
            (
                "[[roles]]\nname = \"a\"\n",
                "m.toml:1:1: `roles[0]`",
                "missing field `permissions`",
            ),
            (
                "[[bindings]]\nsubject_kind = \"team\"\nsubject = \"sre\"\nrole = \"viewer\"\n",
                "m.toml:2:16: `bindings[0].subject_kind`",
                "`user` or `group`",
            ),
            (
                "[[bindings]]\nsubject_kind = \"group\"\nsubject = \"sre\"\nrole = \"opertor\"\n",
                "m.toml:4:8: `bindings[0].role`",
                "unknown role `opertor`",
            ),
            ("roles = \"all\"\n", "m.toml:1:9: `roles`", "invalid type"),
        ];
        for (text, at, why) in cases {
            let e = err(text).to_string();
            assert!(e.starts_with(at), "{text:?}: expected {at:?}, got {e:?}");
            if *why != "TOML syntax" {
                assert!(e.contains(why), "{text:?}: expected {why:?} in {e:?}");
            }
        }
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let e = err("[[permissions]]\nname = \"x:y\"\ndescription_zh = \"监控\" oops\n");
        assert_eq!((e.line, e.column), (3, 23), "{e}");
    }

    #[test]
    fn roles_and_bindings_may_use_the_catalog_and_the_built_in_roles() {
        let m = parse(
            "[[roles]]\nname = \"oncall\"\npermissions = [\"plans:run\"]\n\
             [[bindings]]\nsubject_kind = \"user\"\nsubject = \"li.lei\"\nrole = \"admin\"\n\
             [[bindings]]\nsubject_kind = \"group\"\nsubject = \"sre\"\nrole = \"oncall\"\n",
            "m.toml",
        )
        .expect("valid");
        assert_eq!(m.roles[0].permissions, ["plans:run"]);
        assert_eq!(m.bindings.len(), 2);
        assert!(parse("", "empty.toml").expect("empty is valid").is_empty());
    }

    proptest! {
        #[test]
        fn the_parser_never_panics_and_always_names_a_position(text in ".{0,200}") {
            if let Err(e) = parse(&text, "p.toml") {
                prop_assert!(e.line >= 1 && e.line <= text.matches('\n').count() + 1);
                prop_assert!(e.column >= 1);
                let at = format!("p.toml:{}:{}: ", e.line, e.column);
                prop_assert!(e.to_string().starts_with(&at), "{}", e);
            }
        }

        #[test]
        fn manifest_like_input_never_panics_either(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just("[[permissions]]".to_string()),
                    Just("[[roles]]".to_string()),
                    Just("[[bindings]]".to_string()),
                    "(name|description|description_zh|permissions|subject_kind|subject|role|x) = \
                     (\"[a-z:监]{0,6}\"|\\[\"[a-z:]{0,8}\"\\]|1|\\[|\")",
                ],
                0..12,
            )
        ) {
            let text = lines.join("\n");
            if let Err(e) = parse(&text, "p.toml") {
                prop_assert!(e.line >= 1 && e.column >= 1);
                prop_assert!(e.to_string().starts_with("p.toml:"), "{}", e);
            }
        }
    }
}
