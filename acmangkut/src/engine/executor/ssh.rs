//! `ssh` actions: an allow-listed argv run on a configured host through the system OpenSSH
//! client. OpenSSH rather than an SSH library: it is on every host this runs on, speaks every
//! key type and cipher operators' servers do, and its host-key checking is the one they know.
//! The host key is pinned from config: `StrictHostKeyChecking=yes` against a `known_hosts` that
//! holds only that key (under an alias, so the address or port may change), so an unknown or
//! changed key is refused, never trusted on first use. Nothing is read from `~/.ssh`.

use super::allowlist::Allowlist;
use super::process::{self, Output};
use crate::config::{ExecutorConfig, SshHost};
use crate::engine::Error;
use shared::action::CommandAction;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// OpenSSH's own exit code for its failures (connection, authentication, host key).
const SSH_FAILED: i32 = 255;

pub(crate) struct Hosts {
    program: PathBuf,
    /// Holds the `known_hosts` files and serves as `HOME`; removed on drop.
    dir: tempfile::TempDir,
    hosts: BTreeMap<String, Host>,
}

struct Host {
    config: SshHost,
    known_hosts: PathBuf,
    slots: Arc<Semaphore>,
    commands: Allowlist,
}

impl Hosts {
    pub(crate) fn new(config: &ExecutorConfig) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("has-ssh-").tempdir()?;
        let program = match config.ssh_program.as_os_str().is_empty() {
            false => config.ssh_program.clone(),
            true => ["/usr/bin/ssh", "/usr/local/bin/ssh"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
                .unwrap_or_else(|| "/usr/bin/ssh".into()),
        };
        let mut hosts = BTreeMap::new();
        for (name, h) in &config.hosts {
            let known_hosts = dir.path().join(format!("{name}.known_hosts"));
            std::fs::write(
                &known_hosts,
                format!("{} {}\n", alias(name), h.host_key.trim()),
            )?;
            let key = format!("executor.hosts.{name}.commands");
            hosts.insert(
                name.clone(),
                Host {
                    config: h.clone(),
                    known_hosts,
                    slots: Arc::new(Semaphore::new(h.max_concurrent.max(1))),
                    commands: Allowlist::compile(&key, &h.commands)?,
                },
            );
        }
        Ok(Self {
            program,
            dir,
            hosts,
        })
    }

    /// The host and the remote path of the action's program; errors name `{prefix}host`,
    /// `{prefix}command` or `{prefix}args[i]`.
    fn resolve(&self, action: &CommandAction, prefix: &str) -> Result<(&Host, PathBuf), Error> {
        let name = action.host.as_deref().unwrap_or_default();
        let host = self.hosts.get(name).ok_or_else(|| {
            Error::invalid(
                format!("{prefix}host"),
                format!(
                    "`{name}` is not in executor.hosts (configured: {})",
                    crate::engine::names(self.hosts.keys())
                ),
            )
        })?;
        let fields = (prefix, "command", "args");
        let path = host
            .commands
            .resolve(&action.command, &action.args, fields)?;
        Ok((host, path.to_path_buf()))
    }

    /// Checks what the action names against the config, without connecting.
    pub(crate) fn validate(&self, action: &CommandAction, prefix: &str) -> Result<(), Error> {
        self.resolve(action, prefix).map(drop)
    }

    /// Runs the action, waiting for a slot on its host first. `Err` when it could not run or
    /// OpenSSH itself failed (connection, login, host key); `Ok` with the remote exit code.
    pub(crate) async fn run(&self, action: &CommandAction) -> Result<Output, String> {
        let (host, path) = self.resolve(action, "").map_err(|e| e.parts().1)?;
        let _slot = host
            .slots
            .acquire()
            .await
            .map_err(|_| "the host's slots are closed".to_string())?;
        let mut remote = vec![path.to_string_lossy().into_owned()];
        remote.extend(action.args.iter().cloned());
        let line = shlex::try_join(remote.iter().map(String::as_str))
            .map_err(|e| format!("the argv cannot be sent: {e}"))?;
        let name = action.host.as_deref().unwrap_or_default();
        let args = self.client_args(name, host, action.timeout_ms, line);
        let home = self.dir.path().to_string_lossy().into_owned();
        let out = process::run(&self.program, &args, &[("HOME", &home)], action.timeout_ms).await?;
        if out.code == Some(SSH_FAILED) {
            let stderr = String::from_utf8_lossy(&out.stderr.kept);
            let why = if stderr.contains("Host key verification failed")
                || stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            {
                format!(
                    "{} did not present the pinned host key (executor.hosts.{}.host_key): \
                     refused",
                    host.config.address, name
                )
            } else {
                "ssh could not run the command there".to_string()
            };
            return Err(format!("{why}\nssh: {}", stderr.trim()));
        }
        Ok(out)
    }

    fn client_args(&self, name: &str, host: &Host, timeout_ms: u64, line: String) -> Vec<String> {
        let h = &host.config;
        let connect = (timeout_ms / 1000).clamp(1, 30);
        let known = host.known_hosts.to_string_lossy();
        let options = [
            "BatchMode=yes".to_string(),
            "StrictHostKeyChecking=yes".into(),
            format!("UserKnownHostsFile={known}"),
            "GlobalKnownHostsFile=/dev/null".into(),
            format!("HostKeyAlias={}", alias(name)),
            "IdentitiesOnly=yes".into(),
            format!("IdentityFile={}", h.key_file.display()),
            format!("ConnectTimeout={connect}"),
            "ServerAliveInterval=10".into(),
            "LogLevel=ERROR".into(),
        ];
        let mut args = vec!["-F".into(), "/dev/null".into(), "-T".into()];
        for o in options {
            args.push("-o".into());
            args.push(o);
        }
        args.extend([
            "-p".into(),
            h.port.to_string(),
            "-l".into(),
            h.user.clone(),
            "--".into(),
            h.address.clone(),
            line,
        ]);
        args
    }

    /// The directory holding the pinned keys (for tests).
    #[cfg(test)]
    fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// The name a host's pinned key is filed under.
fn alias(name: &str) -> String {
    format!("has-host-{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ExecutorConfig {
        let host = SshHost {
            address: "127.0.0.1".into(),
            port: 2222,
            user: "ops".into(),
            key_file: "/keys/id".into(),
            host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1".into(),
            max_concurrent: 2,
            commands: [
                ("pg_ctl".to_string(), "/usr/bin/pg_ctl".into()),
                ("echo".to_string(), "/bin/echo".into()),
            ]
            .into(),
        };
        ExecutorConfig {
            hosts: [("db-1".to_string(), host)].into(),
            ..Default::default()
        }
    }

    fn action(host: &str, argv: &[&str]) -> CommandAction {
        CommandAction {
            host: Some(host.into()),
            command: argv[0].into(),
            args: argv[1..].iter().map(|s| s.to_string()).collect(),
            expect_exit_code: 0,
            timeout_ms: 5_000,
            idempotent: false,
        }
    }

    #[test]
    fn the_host_key_is_pinned_and_nothing_else_is_trusted() {
        let hosts = Hosts::new(&config()).expect("hosts");
        let known = std::fs::read_to_string(hosts.dir().join("db-1.known_hosts")).expect("file");
        assert_eq!(
            known,
            "has-host-db-1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1\n"
        );
        let h = &hosts.hosts["db-1"];
        let args = hosts.client_args("db-1", h, 5_000, "/bin/echo 'a b'".into());
        for want in [
            "StrictHostKeyChecking=yes",
            "GlobalKnownHostsFile=/dev/null",
            "HostKeyAlias=has-host-db-1",
            "BatchMode=yes",
        ] {
            assert!(args.iter().any(|a| a == want), "{want} in {args:?}");
        }
        assert_eq!(
            &args[args.len() - 3..],
            ["--", "127.0.0.1", "/bin/echo 'a b'"]
        );
    }

    #[test]
    fn only_configured_hosts_and_listed_programs_run() {
        let hosts = Hosts::new(&config()).expect("hosts");
        let field = |a: CommandAction| {
            let e = hosts.validate(&a, "do.").expect_err("refused");
            shared::ApiError::from(e).field.unwrap_or_default()
        };
        assert_eq!(field(action("db-9", &["echo"])), "do.host");
        assert_eq!(field(action("db-1", &["rm", "-rf", "/"])), "do.command");
        hosts
            .validate(&action("db-1", &["pg_ctl", "promote"]), "do.")
            .expect("listed");
    }
}
