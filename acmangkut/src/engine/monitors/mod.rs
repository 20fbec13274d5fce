//! Monitors in the background: the scheduler ([`scheduler`]), the pure rules of a monitor's
//! health ([`state`]) and the retention of results, rollups and screenshots ([`retention`]).

pub mod retention;
pub mod scheduler;
pub mod state;
