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
