//! Why a probe failed. Its own module because both the probers and the egress guard (which
//! configuration also uses) fail probes with it.

use shared::probe::FailureReason;

/// Why a probe failed, with a human explanation.
#[derive(Debug, Clone)]
pub struct Failure {
    pub reason: FailureReason,
    pub message: String,
}

impl Failure {
    pub fn new(reason: FailureReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}
