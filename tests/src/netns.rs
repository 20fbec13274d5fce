//! A network namespace of the test's own, joined to this host by a veth pair, so that a test
//! can send a request to a service on this host from an address that is not loopback. Needs
//! root (CI runs as root) and `ip`; a test that needs one fails when it cannot be made.
//!
//! Addresses come from 198.18.0.0/15 (RFC 2544, benchmarking): they exist only on the pair.

use std::net::Ipv4Addr;
use std::process::Command;

pub struct NetNs {
    pub name: String,
    /// The host's end of the pair: where the namespace reaches this host.
    pub host: Ipv4Addr,
    /// The namespace's end: the peer address a service on this host sees.
    pub peer: Ipv4Addr,
    host_link: String,
    /// The namespace's end of the pair: the interface its traffic to this host leaves by.
    pub peer_link: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl NetNs {
    /// Makes the namespace and the pair (a /30 of 198.18.0.0/15 chosen by this process's id
    /// and a count of the namespaces it made, so tests in one process each get their own).
    /// Panics, saying why, when it cannot.
    pub fn create() -> Self {
        static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 8;
        let pid = std::process::id();
        let block = ((pid % 2_048) * 8 + n) * 4;
        let (third, fourth) = ((block / 256) as u8, (block % 256) as u8);
        let host = Ipv4Addr::new(198, 18 + third / 128, third % 128, fourth + 1);
        let peer = Ipv4Addr::new(198, 18 + third / 128, third % 128, fourth + 2);
        let ns = Self {
            name: format!("has-t-{pid}-{n}"),
            host,
            peer,
            host_link: format!("hv{pid}-{n}"),
            peer_link: format!("nv{pid}-{n}"),
        };
        let inner = ns.peer_link.clone();
        let (h, p) = (format!("{host}/30"), format!("{peer}/30"));
        let steps: [&[&str]; 7] = [
            &["netns", "add", &ns.name],
            &[
                "link",
                "add",
                &ns.host_link,
                "type",
                "veth",
                "peer",
                "name",
                &inner,
            ],
            &["link", "set", &inner, "netns", &ns.name],
            &["addr", "add", &h, "dev", &ns.host_link],
            &["link", "set", &ns.host_link, "up"],
            &["-n", &ns.name, "addr", "add", &p, "dev", &inner],
            &["-n", &ns.name, "link", "set", &inner, "up"],
        ];
        for step in steps {
            if let Err(e) = ip(step) {
                panic!(
                    "cannot make a network namespace for a non-loopback peer (needs root and \
                     iproute2): {e}"
                );
            }
        }
        ns
    }

    /// Runs `program args` inside the namespace; its stdout, or why it failed.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .output()
            .map_err(|e| format!("ip netns exec {program}: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).to_string())
        }
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.host_link]);
        let _ = ip(&["netns", "del", &self.name]);
    }
}
