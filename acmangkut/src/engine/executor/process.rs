//! Running an executable: directly (never through a shell), in its own process group, with a
//! clean environment, a timeout that kills everything it started, and capped output.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Output kept per stream; the rest is read (so the command does not block) and counted.
pub(crate) const MAX_OUTPUT: usize = 64 * 1024;
/// The only environment a command gets: acmangkut's own holds secrets (database URL, tokens),
/// so nothing is inherited; a fixed PATH lets allow-listed scripts find the usual tools, and
/// C.UTF-8 keeps their output stable to match on.
const ENV: [(&str, &str); 2] = [
    ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ("LANG", "C.UTF-8"),
];

/// What a finished command left.
pub(crate) struct Output {
    /// `None` when a signal ended it.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: Captured,
    pub stderr: Captured,
}

#[derive(Default)]
pub(crate) struct Captured {
    pub kept: Vec<u8>,
    pub total: usize,
}

/// Runs `program` with `args` and [`ENV`] plus `env`; an error says why it did not finish.
pub(crate) async fn run(
    program: &Path,
    args: &[String],
    env: &[(&str, &str)],
    timeout_ms: u64,
) -> Result<Output, String> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env_clear()
        .envs(ENV)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so whatever it starts can be killed with it.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", program.display()))?;
    let group = child.id().and_then(|id| i32::try_from(id).ok());
    // Ends the group when `run` returns by any path: a command leaves nothing running.
    let _group = GroupKill(group);
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("the command's output could not be captured".into());
    };
    let finished = async {
        let (stdout, stderr, status) = tokio::join!(capture(out), capture(err), child.wait());
        (stdout, stderr, status)
    };
    match tokio::time::timeout(Duration::from_millis(timeout_ms), finished).await {
        Ok((stdout, stderr, status)) => {
            let status = status.map_err(|e| format!("waiting for the command: {e}"))?;
            use std::os::unix::process::ExitStatusExt;
            Ok(Output {
                code: status.code(),
                signal: status.signal(),
                stdout,
                stderr,
            })
        }
        // Dropping `child` and the group guard kills it and everything it started; tokio reaps
        // it in the background.
        Err(_) => Err(format!(
            "timed out after {timeout_ms} ms; the command was killed"
        )),
    }
}

/// Kills a process group with SIGKILL when dropped (it may be gone already: nothing to do).
struct GroupKill(Option<i32>);

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Reads a stream to its end, keeping the first [`MAX_OUTPUT`] bytes.
async fn capture(mut r: impl AsyncRead + Unpin) -> Captured {
    let mut c = Captured::default();
    let mut buf = [0u8; 8192];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        c.total += n;
        let room = MAX_OUTPUT.saturating_sub(c.kept.len());
        c.kept.extend_from_slice(&buf[..n.min(room)]);
    }
    c
}

/// Exit code (or signal) and both streams' excerpts, each stream half of `max` bytes so a
/// chatty stdout does not hide stderr.
pub(crate) fn evidence(out: &Output, lead: &str, max: usize) -> String {
    use std::fmt::Write as _;
    let mut s = lead.to_string();
    for (name, c) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        if c.total == 0 {
            continue;
        }
        let text = String::from_utf8_lossy(&c.kept);
        let _ = write!(s, "\n{name}:\n{}", cut(text.trim_end(), max / 2 - 64));
        if c.total > c.kept.len() {
            let _ = write!(s, "\n… ({} bytes in all)", c.total);
        }
    }
    s
}

/// How a command ended, in words: `exit code 3`, `killed by signal 9`.
pub(crate) fn ending(out: &Output) -> String {
    match (out.code, out.signal) {
        (Some(code), _) => format!("exit code {code}"),
        (None, s) => format!(
            "killed by signal {}",
            s.map_or("?".into(), |s| s.to_string())
        ),
    }
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process is gone once `/proc/PID` is absent or a zombie waiting for its reaper.
    fn gone(pid: &str) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z')),
        }
    }

    #[tokio::test]
    async fn a_timeout_kills_what_the_command_started_too() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pidfile = dir.path().join("pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let args = vec!["-c".to_string(), script];
        let r = run(Path::new("/bin/sh"), &args, &[], 500).await;
        assert!(r.is_err_and(|e| e.contains("timed out")));
        let pid = std::fs::read_to_string(&pidfile).expect("the script wrote its child's pid");
        let pid = pid.trim().to_string();
        for _ in 0..50 {
            if gone(&pid) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the command's own child {pid} outlived the timeout");
    }

    #[tokio::test]
    async fn the_environment_is_only_what_is_given() {
        let args = vec![
            "-c".to_string(),
            "echo \"$HOME|$DATABASE_URL|$PATH\"".to_string(),
        ];
        let out = run(Path::new("/bin/sh"), &args, &[("HOME", "/h")], 5_000)
            .await
            .expect("runs");
        let text = String::from_utf8_lossy(&out.stdout.kept);
        assert_eq!(text.trim(), "/h||/usr/local/bin:/usr/bin:/bin");
        assert_eq!(ending(&out), "exit code 0");
    }
}
