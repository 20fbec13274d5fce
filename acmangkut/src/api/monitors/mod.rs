//! `/api/v1/monitors`, `/api/v1/overview`, `/api/v1/state-changes`: define what to probe and
//! read how it went. Reading needs `monitors:read`, changing `monitors:write`.

pub mod definitions;
pub mod results;
pub mod summaries;
