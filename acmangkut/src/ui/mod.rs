//! The browser console (server-rendered). Filled in by the console work.

use actix_web::web;

pub fn configure(_cfg: &mut web::ServiceConfig) {}
