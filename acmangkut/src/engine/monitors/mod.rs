//! Monitors in the background: the scheduler ([`scheduler`]) and the retention of results,
//! rollups and screenshots ([`retention`]). The pure rules of a monitor's health live with the
//! results they are applied to, in the same transaction (`store::monitors::health`).

pub mod retention;
pub mod scheduler;
pub mod summary;
