//! `/api/v1/inspection/…`: the inspection center. Definitions (plugins, rules, tasks, channels,
//! config as code) need `inspections:write`; reading needs `inspections:read`; running a task
//! and acknowledging or resolving a risk event need `inspections:run`.

pub mod channels;
pub mod config;
pub mod plugins;
pub mod risks;
pub mod rules;
pub mod runs;
pub mod tasks;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(plugins::list)
        .service(plugins::get)
        .service(plugins::create)
        .service(plugins::update)
        .service(plugins::delete)
        .service(rules::list)
        .service(rules::get)
        .service(rules::versions)
        .service(rules::create)
        .service(rules::update)
        .service(rules::delete)
        .service(tasks::list)
        .service(tasks::get)
        .service(tasks::create)
        .service(tasks::update)
        .service(tasks::delete)
        .service(tasks::run_now)
        .service(runs::list)
        .service(runs::get)
        .service(runs::report_handler)
        .service(runs::deliveries)
        .service(risks::list)
        .service(risks::get)
        .service(risks::acknowledge)
        .service(risks::resolve)
        .service(channels::list)
        .service(channels::get)
        .service(channels::create)
        .service(channels::update)
        .service(channels::delete)
        .service(channels::deliveries)
        .service(config::export)
        .service(config::apply);
}
