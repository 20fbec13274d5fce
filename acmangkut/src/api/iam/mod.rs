//! IAM over HTTP: sign-in (`/api/v1/auth`), the catalog, roles, users and bindings
//! (`/api/v1/iam`), API tokens, the audit log, the cluster-wide IAM switch
//! (`/api/v1/settings/iam`) and each instance's own switch (`/api/common/{action}`).

pub mod audit;
pub mod auth;
pub mod bindings;
pub mod manifest;
pub mod roles;
pub mod settings;
pub mod switch;
pub mod tokens;
pub mod users;
