//! Command checks: an allow-listed executable, run directly (never through a shell), with a
//! timeout, a clean environment and capped output.

use crate::config::AllowedCommand;
use crate::engine::Error;
use shared::check::{CheckOutcome, CheckStatus, CommandCheck, Threshold, excerpt};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Output kept per stream; the rest is read (so the command does not block) and counted.
const MAX_OUTPUT: usize = 64 * 1024;
/// The only environment a command gets: acmangkut's own holds secrets (database URL, tokens),
/// so nothing is inherited; a fixed PATH lets allow-listed scripts find the usual tools, and
/// C.UTF-8 keeps their output stable to match on.
const ENV: [(&str, &str); 2] = [
    ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ("LANG", "C.UTF-8"),
];

/// An entry of `inspection.commands`, its argument patterns compiled.
pub(super) struct Allowed {
    path: PathBuf,
    /// One per argument position, anchored; `None`: any arguments.
    args: Option<Vec<regex::Regex>>,
}

/// The allow-list of the config, compiled; errors name the config key.
pub(super) fn compile(
    commands: &BTreeMap<String, AllowedCommand>,
) -> anyhow::Result<BTreeMap<String, Allowed>> {
    commands
        .iter()
        .map(|(name, c)| {
            let args = c.patterns(name)?;
            let path = c.path().to_path_buf();
            Ok((name.clone(), Allowed { path, args }))
        })
        .collect()
}

/// The executable `check` may run: its command is allow-listed and, where its entry restricts
/// them, every argument matches its position's pattern. Errors name `{prefix}command` or
/// `{prefix}args[i]`.
pub(super) fn resolve<'a>(
    commands: &'a BTreeMap<String, Allowed>,
    check: &CommandCheck,
    prefix: &str,
) -> Result<&'a Path, Error> {
    let name = &check.command;
    let field = format!("{prefix}command");
    if commands.is_empty() {
        return Err(Error::invalid(
            field,
            "command checks are off: inspection.commands lists no executables",
        ));
    }
    let allowed = commands.get(name).ok_or_else(|| {
        Error::invalid(
            &field,
            format!(
                "`{name}` is not in inspection.commands (allowed: {})",
                super::promql::names(commands.keys())
            ),
        )
    })?;
    let Some(patterns) = &allowed.args else {
        return Ok(&allowed.path);
    };
    if check.args.len() != patterns.len() {
        return Err(Error::invalid(
            format!("{prefix}args"),
            format!(
                "`{name}` takes exactly {} argument(s) (inspection.commands.{name}.args), \
                 not {}",
                patterns.len(),
                check.args.len()
            ),
        ));
    }
    for (i, (arg, pattern)) in check.args.iter().zip(patterns).enumerate() {
        if !pattern.is_match(arg) {
            return Err(Error::invalid(
                format!("{prefix}args[{i}]"),
                format!(
                    "{arg:?} is not allowed here: inspection.commands.{name}.args[{i}] is `{}`",
                    display_pattern(pattern)
                ),
            ));
        }
    }
    Ok(&allowed.path)
}

/// A pattern as configured (without the anchors [`compile`] added).
fn display_pattern(p: &regex::Regex) -> &str {
    let s = p.as_str();
    s.strip_prefix("^(?:")
        .and_then(|s| s.strip_suffix(")$"))
        .unwrap_or(s)
}

pub(super) async fn evaluate(
    commands: &BTreeMap<String, Allowed>,
    check: &CommandCheck,
) -> CheckOutcome {
    let program = match resolve(commands, check, "") {
        Ok(p) => p,
        Err(e) => return CheckOutcome::error(e.parts().1, 0),
    };
    let condition = match check
        .output_condition
        .as_deref()
        .map(Threshold::parse)
        .transpose()
    {
        Ok(c) => c,
        Err(e) => return CheckOutcome::error(e, 0),
    };
    match run(program, &check.args, check.timeout_ms).await {
        Ok(out) => judge(check, condition.as_ref(), &out),
        Err(e) => CheckOutcome::error(e, 0),
    }
}

/// What a finished command left.
struct Output {
    /// `None` when a signal ended it.
    code: Option<i32>,
    signal: Option<i32>,
    stdout: Captured,
    stderr: Captured,
}

#[derive(Default)]
struct Captured {
    kept: Vec<u8>,
    total: usize,
}

async fn run(program: &Path, args: &[String], timeout_ms: u64) -> Result<Output, String> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env_clear()
        .envs(ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so whatever it starts can be killed with it.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", program.display()))?;
    let group = child.id().and_then(|id| i32::try_from(id).ok());
    // Ends the group when `run` returns by any path: a check leaves nothing running.
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

fn judge(check: &CommandCheck, condition: Option<&Threshold>, out: &Output) -> CheckOutcome {
    let stdout = String::from_utf8_lossy(&out.stdout.kept);
    let mut why = Vec::new();
    match out.code {
        Some(code) if code == check.expect_exit_code => {}
        Some(code) => why.push(format!(
            "exit code {code}, expected {}",
            check.expect_exit_code
        )),
        None => why.push(format!(
            "killed by signal {}",
            out.signal.map_or("?".into(), |s| s.to_string())
        )),
    }
    if let Some(want) = &check.stdout_contains
        && !stdout.contains(want.as_str())
    {
        why.push(format!("stdout does not contain {want:?}"));
    }
    if let Some(unwanted) = &check.stdout_not_contains
        && stdout.contains(unwanted.as_str())
    {
        why.push(format!("stdout contains {unwanted:?}"));
    }
    if let (Some(t), Some(text)) = (condition, &check.output_condition)
        && !t.holds(&stdout)
    {
        why.push(format!(
            "stdout {:?} does not satisfy `{text}`",
            stdout.trim()
        ));
    }
    let mut evidence = if why.is_empty() {
        "all expectations hold".to_string()
    } else {
        why.join("; ")
    };
    for (name, c) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        if c.total == 0 {
            continue;
        }
        // Half the evidence each, so a chatty stdout does not hide stderr.
        let text = String::from_utf8_lossy(&c.kept);
        let _ = write!(
            evidence,
            "\n{name}:\n{}",
            cut(text.trim_end(), shared::check::MAX_EVIDENCE_BYTES / 2 - 64)
        );
        if c.total > c.kept.len() {
            let _ = write!(evidence, "\n… ({} bytes in all)", c.total);
        }
    }
    CheckOutcome {
        status: if why.is_empty() {
            CheckStatus::Pass
        } else {
            CheckStatus::Fail
        },
        value: out.code.map(|c| c.to_string()),
        evidence: excerpt(&evidence),
        duration_ms: 0,
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

    fn check() -> CommandCheck {
        CommandCheck {
            command: "x".into(),
            args: vec![],
            timeout_ms: 1000,
            expect_exit_code: 0,
            stdout_contains: None,
            stdout_not_contains: None,
            output_condition: None,
        }
    }

    fn output(code: i32, stdout: &str) -> Output {
        Output {
            code: Some(code),
            signal: None,
            stdout: Captured {
                kept: stdout.as_bytes().to_vec(),
                total: stdout.len(),
            },
            stderr: Captured::default(),
        }
    }

    fn judged(c: &CommandCheck, out: &Output) -> CheckOutcome {
        let t = c
            .output_condition
            .as_deref()
            .map(|s| Threshold::parse(s).expect("threshold"));
        judge(c, t.as_ref(), out)
    }

    #[test]
    fn every_expectation_must_hold_and_each_miss_is_named() {
        let c = CommandCheck {
            stdout_contains: Some("ok".into()),
            stdout_not_contains: Some("WARN".into()),
            output_condition: Some("== 'ok 4'".into()),
            expect_exit_code: 2,
            ..check()
        };
        let o = judged(&c, &output(1, "ok 3 WARN\n"));
        assert_eq!(
            (o.status, o.value.as_deref()),
            (CheckStatus::Fail, Some("1"))
        );
        let first = o.evidence.lines().next().expect("a line");
        assert_eq!(
            first,
            "exit code 1, expected 2; stdout contains \"WARN\"; \
             stdout \"ok 3 WARN\" does not satisfy `== 'ok 4'`"
        );
        let o = judged(&c, &output(2, "ok 4\n"));
        assert_eq!(o.status, CheckStatus::Pass, "{}", o.evidence);
    }

    #[test]
    fn a_numeric_condition_reads_the_trimmed_stdout() {
        let c = CommandCheck {
            output_condition: Some("< 80".into()),
            ..check()
        };
        assert_eq!(judged(&c, &output(0, " 42\n")).status, CheckStatus::Pass);
        assert_eq!(judged(&c, &output(0, "93\n")).status, CheckStatus::Fail);
    }

    #[test]
    fn a_signal_is_a_failure_without_an_exit_code() {
        let mut out = output(0, "");
        out.code = None;
        out.signal = Some(9);
        let o = judged(&check(), &out);
        assert_eq!((o.status, o.value), (CheckStatus::Fail, None));
        assert!(o.evidence.starts_with("killed by signal 9"));
    }

    #[test]
    fn an_empty_allow_list_says_command_checks_are_off() {
        let answer = |e: crate::engine::Error| shared::ApiError::from(e);
        let named = |command: &str| CommandCheck {
            command: command.into(),
            ..check()
        };
        let e = answer(resolve(&BTreeMap::new(), &named("echo"), "params.").expect_err("off"));
        assert_eq!(e.field.as_deref(), Some("params.command"));
        assert!(e.detail.contains("command checks are off"));
        let list =
            compile(&BTreeMap::from([("echo".to_string(), "/bin/echo".into())])).expect("compiles");
        let e = answer(resolve(&list, &named("rm"), "").expect_err("not listed"));
        assert!(e.detail.contains("allowed: echo"), "{}", e.detail);
    }

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
        let r = run(Path::new("/bin/sh"), &args, 500).await;
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
}
