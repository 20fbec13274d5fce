//! The IAM pages: sign-in, users, roles, API tokens and the audit log.

pub mod audit;
pub mod roles;
pub mod signin;
pub mod tokens;
pub mod users;
