//! Command checks: an allow-listed executable, run directly (never through a shell), with a
//! timeout, a clean environment and capped output: here, or with `host` on that host over SSH.
//! Both through the one executor ([`Executor::run_argv`]), so a check waits for the host's
//! slots like every other action there, and its host key is pinned the same way.

use crate::engine::executor::Executor;
use crate::engine::executor::process::{self, Output};
use shared::check::{CheckOutcome, CheckStatus, CommandCheck, Threshold, excerpt};

pub(super) async fn evaluate(executor: &Executor, check: &CommandCheck) -> CheckOutcome {
    let condition = match check
        .output_condition
        .as_deref()
        .map(Threshold::parse)
        .transpose()
    {
        Ok(c) => c,
        Err(e) => return CheckOutcome::error(e, 0),
    };
    match executor.run_argv(&check.action()).await {
        Ok(out) => judge(check, condition.as_ref(), &out),
        Err(e) => CheckOutcome::error(e, 0),
    }
}

fn judge(check: &CommandCheck, condition: Option<&Threshold>, out: &Output) -> CheckOutcome {
    let stdout = String::from_utf8_lossy(&out.stdout.kept);
    let mut why = Vec::new();
    if out.code != Some(check.expect_exit_code) {
        let expected = check.expect_exit_code;
        why.push(match out.code {
            Some(_) => format!("{}, expected {expected}", process::ending(out)),
            None => process::ending(out),
        });
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
    let lead = if why.is_empty() {
        "all expectations hold".to_string()
    } else {
        why.join("; ")
    };
    let evidence = process::evidence(out, &lead, shared::check::MAX_EVIDENCE_BYTES);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::executor::allowlist::Allowlist;
    use crate::engine::executor::process::Captured;

    fn check() -> CommandCheck {
        CommandCheck {
            host: None,
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
        let fields = |prefix| (prefix, "command", "args");
        let off = Allowlist::compile("inspection.commands", &Default::default()).expect("empty");
        let c = named("echo");
        let e = answer(
            off.resolve(&c.command, &c.args, fields("params."))
                .expect_err("off"),
        );
        assert_eq!(e.field.as_deref(), Some("params.command"));
        assert!(e.detail.contains("command checks are off"));
        let entries = [("echo".to_string(), "/bin/echo".into())].into();
        let list = Allowlist::compile("inspection.commands", &entries).expect("compiles");
        let e = answer(list.resolve("rm", &[], fields("")).expect_err("not listed"));
        assert!(e.detail.contains("allowed: echo"), "{}", e.detail);
    }
}
