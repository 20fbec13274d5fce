//! A target host for `ssh` actions: Debian's OpenSSH server (`/usr/sbin/sshd`; scripts/test
//! installs openssh-server and makes the `/run/sshd` it needs) in a network namespace of the
//! test's own, listening on port 22 of the namespace's end of a veth pair, with a host key and
//! one authorized client key made for it. The executor reaches it over that link, as it
//! reaches a database host: not over loopback.

use crate::netns::NetNs;
use acmangkut::config::{AllowedCommand, SshHost};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestSshd {
    child: Child,
    /// The keys, the server's config and its log (`sshd.log`); `client_key` logs in.
    pub dir: tempfile::TempDir,
    /// The server's host key as `known_hosts` holds it: `ssh-ed25519 AAAA…`.
    pub host_key: String,
    /// Its network namespace; the server listens on `ns.peer`.
    pub ns: NetNs,
}

impl Drop for TestSshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes an ed25519 key pair at `path` (and `path.pub`); returns the public key without its
/// comment, as `known_hosts` and `authorized_keys` hold it.
pub fn keygen(path: &Path) -> String {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "has-test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs");
    assert!(ok.success(), "ssh-keygen made {}", path.display());
    let public = std::fs::read_to_string(path.with_extension("pub")).expect("public key");
    public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

impl TestSshd {
    /// Starts the server in a new namespace; panics, saying why, when it cannot.
    pub fn start() -> Self {
        let ns = NetNs::create();
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let host_key = keygen(&d.join("host_key"));
        let client_public = keygen(&d.join("client_key"));
        std::fs::write(d.join("authorized_keys"), format!("{client_public}\n")).expect("keys");
        let config = format!(
            "ListenAddress {peer}\nPort 22\nHostKey {d}/host_key\n\
             AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nUsePAM no\n\
             StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nMaxStartups 50\n",
            peer = ns.peer,
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).expect("config");
        let log = std::fs::File::create(d.join("sshd.log")).expect("log file");
        // `ip netns exec` execs sshd in the namespace: the child is sshd itself.
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.name,
                "/usr/sbin/sshd",
                "-D",
                "-e",
                "-f",
            ])
            .arg(d.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("ip netns exec runs");
        // Owned at once, so that a panic below still stops it and removes the namespace.
        let server = Self {
            child,
            dir,
            host_key,
            ns,
        };
        let addr = SocketAddr::from((server.ns.peer, 22));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(server.dir.path().join("sshd.log")).unwrap_or_default();
        panic!(
            "sshd did not listen on {addr} in namespace {} (scripts/test installs \
             openssh-server and makes /run/sshd): {log}",
            server.ns.name
        );
    }

    /// This server as an entry of `executor.hosts`, its key pinned to `host_key`, running
    /// `echo` and `sh` with any arguments (a test host), `max_concurrent` actions at once.
    pub fn host(&self, host_key: &str, max_concurrent: usize) -> SshHost {
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "root".into());
        SshHost {
            address: self.ns.peer.to_string(),
            port: 22,
            user,
            key_file: self.dir.path().join("client_key"),
            host_key: host_key.to_string(),
            max_concurrent,
            commands: [
                ("echo".to_string(), AllowedCommand::from("/bin/echo")),
                ("sh".to_string(), AllowedCommand::from("/bin/sh")),
            ]
            .into(),
        }
    }
}
