//! IAM rows: users, sessions and sign-ins, API tokens, roles and bindings, the manifest.

pub mod access;
pub mod manifest;
pub mod sessions;
pub mod tokens;
pub mod users;
