//! Exit codes, and which error ends with which, so a Kubernetes Job's retries do the right
//! thing: retry what time can fix (1, 3), stop on what a person must fix (2, 4).

use crate::client::ClientError;
use crate::manifest::ManifestError;
use shared::config::ConfigError;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: the manifest is applied (or, with `--dry-run`, its diff printed) and an admin exists.
    Done,
    /// 1: anything else (acmangkut failed mid-way, an unexpected answer); retrying may help.
    Failed,
    /// 2: bad config or manifest, the key or line:column named; fix the input.
    BadInput,
    /// 3: acmangkut did not answer `/readyz` within `wait.max_seconds`.
    NotReady,
    /// 4: acmangkut rejected the bootstrap token (401/403).
    Rejected,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Self::Done => 0,
            Self::Failed => 1,
            Self::BadInput => 2,
            Self::NotReady => 3,
            Self::Rejected => 4,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

/// Everything that can stop a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("manifest {0}")]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Acmangkut(#[from] ClientError),
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn exit(&self) -> Exit {
        match self {
            Self::Config(_) | Self::Manifest(_) => Exit::BadInput,
            Self::Acmangkut(e) => match e {
                ClientError::NotReady { .. } => Exit::NotReady,
                ClientError::Rejected { .. } => Exit::Rejected,
                // The server refused what we sent (a manifest entry, the admin's password):
                // the same input would be refused again.
                ClientError::Refused { .. } => Exit::BadInput,
                ClientError::Status { .. }
                | ClientError::Transport { .. }
                | ClientError::Decode { .. } => Exit::Failed,
            },
            Self::Other(_) => Exit::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_maps_to_its_documented_exit_code() {
        let client = |e| Error::Acmangkut(e).exit().code();
        let status = |status| ClientError::Status {
            call: "c",
            status,
            detail: String::new(),
        };
        let cases = [
            (
                Error::Config(ConfigError::Other("x".into())).exit().code(),
                2,
            ),
            (
                client(ClientError::Refused {
                    call: "c",
                    status: 400,
                    detail: String::new(),
                    field: None,
                }),
                2,
            ),
            (
                client(ClientError::NotReady {
                    url: "u".into(),
                    waited_seconds: 1,
                    attempts: 1,
                    last: String::new(),
                }),
                3,
            ),
            (
                client(ClientError::Rejected {
                    call: "c",
                    status: 401,
                    detail: String::new(),
                }),
                4,
            ),
            (client(status(500)), 1),
            (client(status(503)), 1),
            (Error::Other("x".into()).exit().code(), 1),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }
}
