//! A PostgreSQL primary and a streaming standby of the test's own: `initdb`, then
//! `pg_basebackup -R` from the primary, each on a free loopback port, in a temp dir. Both are
//! stopped when the pair is dropped, with every process they started.
//!
//! The binaries are `HAS_TEST_PG_BIN` when set, else Debian's `/usr/lib/postgresql/15/bin`.
//! PostgreSQL refuses to run as root: when the tests do, the servers run as the `postgres`
//! user (the server package makes it), through `runuser`.

use crate::free_port;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The standby's replay lag in seconds, the usual query run on the standby: 0 when it has
/// replayed all the WAL it received, else the time since the last transaction it replayed.
pub const LAG_SQL: &str = "SELECT CASE WHEN pg_last_wal_receive_lsn() = \
     pg_last_wal_replay_lsn() THEN 0 ELSE EXTRACT(EPOCH FROM now() - \
     pg_last_xact_replay_timestamp())::float8 END";

/// The table the pair is made with (on the primary; the standby replicates it).
pub const WRITES_TABLE: &str =
    "CREATE TABLE writes (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())";

/// One server of the pair.
pub struct Node {
    pub port: u16,
    /// Its data directory (owned by the user it runs as).
    pub data: PathBuf,
    /// Its server log (`DATA.log`, where `pg-unfence` writes by default too).
    pub log: PathBuf,
}

impl Node {
    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A superuser URL (trust authentication on loopback).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

pub struct PgPair {
    pub primary: Node,
    pub standby: Node,
    bin: PathBuf,
    /// `Some(user)` when the servers run as another user than the tests.
    user: Option<String>,
    dir: tempfile::TempDir,
}

fn pg_bin() -> PathBuf {
    std::env::var_os("HAS_TEST_PG_BIN").map_or_else(
        || PathBuf::from("/usr/lib/postgresql/15/bin"),
        PathBuf::from,
    )
}

impl PgPair {
    /// Makes and starts the primary (with a `writes` table) and its standby, and waits until
    /// the standby streams. Panics, saying what failed, when it cannot.
    pub fn start() -> Self {
        let bin = pg_bin();
        assert!(
            bin.join("initdb").is_file(),
            "no PostgreSQL server binaries in {} (install postgresql-15 or set \
             HAS_TEST_PG_BIN)",
            bin.display()
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        let user = root.then(|| "postgres".to_string());
        if let Some(user) = &user {
            run(Command::new("chown")
                .arg(format!("{user}:"))
                .arg(dir.path()));
        }
        let node = |name: &str, port: u16| Node {
            port,
            data: dir.path().join(name),
            log: dir.path().join(format!("{name}.log")),
        };
        let primary = node("primary", free_port());
        let mut standby = node("standby", free_port());
        while standby.port == primary.port {
            standby.port = free_port();
        }
        let pair = Self {
            primary,
            standby,
            bin,
            user,
            dir,
        };
        pair.make()
    }

    fn make(self) -> Self {
        let (p, s) = (&self.primary, &self.standby);
        self.pg("initdb", |c| {
            c.arg("-D").arg(&p.data);
            c.args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"]);
            c.arg("--no-sync");
        });
        let sockets = self.dir.path().display();
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{sockets}'\n\
             shared_buffers = 16MB\nfsync = off\nwal_keep_size = 64MB\n\
             wal_retrieve_retry_interval = 500ms\n",
            p.port
        );
        self.append(&p.data.join("postgresql.conf"), &conf);
        self.pg_ctl_start(p);
        self.psql(p, WRITES_TABLE).expect("create the writes table");
        self.pg("pg_basebackup", |c| {
            c.args([
                "-h",
                "127.0.0.1",
                "-p",
                &p.port.to_string(),
                "-U",
                "postgres",
            ]);
            c.arg("-D").arg(&s.data);
            c.args(["-R", "-X", "stream", "-c", "fast", "--no-sync"]);
        });
        // The copied configuration names the primary's port; the last setting wins.
        self.append(
            &s.data.join("postgresql.conf"),
            &format!("port = {}\n", s.port),
        );
        self.pg_ctl_start(s);
        self.wait_streaming();
        self
    }

    /// A command of the PostgreSQL binaries, as the servers' user, run to success.
    fn pg(&self, program: &str, args: impl FnOnce(&mut Command)) -> Output {
        let exe = self.bin.join(program);
        let mut c = match &self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        // A directory the servers' user may enter (the test's may be root's own).
        c.current_dir(self.dir.path());
        args(&mut c);
        run(&mut c)
    }

    /// Appends `text` to `file` (owned by the servers' user; root may write it).
    fn append(&self, file: &Path, text: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(file)
            .unwrap_or_else(|e| panic!("open {}: {e}", file.display()));
        f.write_all(text.as_bytes()).expect("append");
    }

    fn pg_ctl_start(&self, node: &Node) {
        self.pg("pg_ctl", |c| {
            c.arg("-D").arg(&node.data).arg("-l").arg(&node.log);
            c.args(["-w", "-t", "60", "start"]);
        });
    }

    /// Runs `sql` with psql on `node`; its rows (`|`-separated, one a line), or psql's error.
    pub fn psql(&self, node: &Node, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", &node.url()])
            .args(["-c", sql])
            .output()
            .map_err(|e| format!("run psql: {e}"))?;
        match out.status.success() {
            true => Ok(String::from_utf8_lossy(&out.stdout).trim().to_string()),
            false => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        }
    }

    /// [`LAG_SQL`] on the standby.
    pub fn standby_lag_seconds(&self) -> f64 {
        let lag = self.psql(&self.standby, LAG_SQL).expect("lag query");
        lag.parse()
            .unwrap_or_else(|_| panic!("a lag in seconds: {lag:?}"))
    }

    /// Waits (30 s at most) until the primary sees its standby streaming.
    pub fn wait_streaming(&self) {
        let sql = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'";
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.psql(&self.primary, sql).as_deref() == Ok("1") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the standby does not stream after 30 s; its log:\n{}",
                std::fs::read_to_string(&self.standby.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether `node` is a standby (`pg_is_in_recovery()`), or why that cannot be asked.
    pub fn in_recovery(&self, node: &Node) -> Result<bool, String> {
        self.psql(node, "SELECT pg_is_in_recovery()")
            .map(|r| r == "t")
    }
}

/// Runs `c` to success, or panics with its output.
fn run(c: &mut Command) -> Output {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("run {:?}: {e}", c.get_program()));
    assert!(
        out.status.success(),
        "{c:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Stops the server running in `data`, if any, with all its processes: an immediate shutdown
/// (SIGQUIT, which also frees its shared memory), then SIGKILL to its process group (pg_ctl
/// starts the postmaster as the leader of a session of its own) after 5 s.
fn stop(data: &Path) {
    use nix::sys::signal::{Signal, kill, killpg};
    use nix::unistd::Pid;
    let Some(pid) = std::fs::read_to_string(data.join("postmaster.pid"))
        .ok()
        .and_then(|t| t.lines().next()?.trim().parse::<i32>().ok())
        .map(Pid::from_raw)
    else {
        return;
    };
    if kill(pid, Signal::SIGQUIT).is_err() {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid.as_raw()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = killpg(pid, Signal::SIGKILL);
}

/// Whether `pid` runs (a zombie does not: nobody may reap it where init does not).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s.rsplit_once(") ")?.1.chars().next()? != 'Z'))
        .unwrap_or(false)
}

impl Drop for PgPair {
    fn drop(&mut self) {
        stop(&self.primary.data);
        stop(&self.standby.data);
    }
}
