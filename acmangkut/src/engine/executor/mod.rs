//! The one executor of actions ([`shared::action::Action`]): plan steps and their
//! compensations, drill injections and recoveries hand their actions here, and command checks
//! their argv ([`Executor::run_argv`], here or on their `host`); none runs anything itself.
//! An outcome is a [`CheckOutcome`]: `pass` = done as expected, `fail` = it ran and answered
//! otherwise (status, exit code, a condition), `error` = it could not run or tell
//! (not allow-listed, unknown host, refused host key, timeout, connection).
//!
//! Templates (`{{ var }}`) are rendered here, just before running, so what is stored is the
//! template and what ran is in the evidence. Secrets (`{{ secret.NAME }}`) are read here too,
//! at each run, and hidden again in what the run returns ([`secrets`]).
//!
//! [`Executor::run_recorded`] commits an intent row before the side effect and the outcome
//! after it (`store::actions`), so a replica that restarts, or takes over, knows for each
//! attempt whether it finished; [`after_crash`] says what to do with one that did not.

pub(crate) mod allowlist;
mod http;
pub(crate) mod process;
mod secrets;
mod ssh;

use crate::config::{ExecutorConfig, InspectionConfig};
use crate::engine::Error;
use crate::store::actions::{self, ActionRun};
use crate::store::{Store, StoreError};
use allowlist::Allowlist;
use shared::action::{Action, CommandAction, SECRET_PREFIX};
use shared::check::{CheckOutcome, CheckStatus, MAX_EVIDENCE_BYTES, excerpt};
use shared::outbound::Outbound;
use std::collections::BTreeMap;
use std::time::Instant;

pub struct Executor {
    commands: Allowlist,
    hosts: ssh::Hosts,
    http: reqwest::Client,
    secrets: secrets::Secrets,
}

impl Executor {
    /// Local commands come from `inspection.commands`, hosts from `executor.hosts`.
    pub fn new(
        inspection: &InspectionConfig,
        config: &ExecutorConfig,
        outbound: &Outbound,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            commands: Allowlist::compile("inspection.commands", &inspection.commands)?,
            hosts: ssh::Hosts::new(config)?,
            http: outbound
                .client()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            secrets: secrets::Secrets::new(config),
        })
    }

    /// Validates `action` and that what it names is configured (executables, hosts); errors
    /// name `{prefix}field`. Secrets are checked apart ([`Executor::check_secrets`]): one may
    /// be provisioned after the action is written.
    pub fn validate(&self, action: &Action, prefix: &str) -> Result<(), Error> {
        action.validate(prefix)?;
        match action {
            Action::Http(_) => Ok(()),
            Action::Command(c) | Action::Ssh(c) => self.validate_argv(c, prefix),
        }
    }

    /// Every secret `action` names can be read now (from `executor.secrets` or
    /// `executor.secrets_dir`); the error names the field using the first missing one and
    /// the secret (`{prefix}headers.Authorization`: "secret `pg-token` is missing: …").
    pub fn check_secrets(&self, action: &Action, prefix: &str) -> Result<(), Error> {
        self.secrets.check(action, prefix)
    }

    /// Checks an argv against the config: `inspection.commands` without a host, else the
    /// host and its `commands`; errors name `{prefix}host`, `{prefix}command`,
    /// `{prefix}args[i]`.
    pub(crate) fn validate_argv(&self, c: &CommandAction, prefix: &str) -> Result<(), Error> {
        match &c.host {
            None => self
                .commands
                .resolve(&c.command, &c.args, (prefix, "command", "args"))
                .map(drop),
            Some(_) => self.hosts.validate(c, prefix),
        }
    }

    /// Runs an allow-listed argv here, or on its host (after waiting for a slot there), and
    /// returns what it printed, for callers that judge it themselves (command checks). `Err`:
    /// it could not run, timed out, or ssh failed (connection, login, host key).
    pub(crate) async fn run_argv(&self, c: &CommandAction) -> Result<process::Output, String> {
        match &c.host {
            None => {
                let path = self
                    .commands
                    .resolve(&c.command, &c.args, ("", "command", "args"))
                    .map_err(|e| e.parts().1)?;
                process::run(path, &c.args, &[], c.timeout_ms).await
            }
            Some(_) => self.hosts.run(c).await,
        }
    }

    /// Renders `action` with `vars`, then runs it; never panics, always ends within the
    /// action's timeout (plus the time waiting for a host slot).
    pub async fn run(&self, action: &Action, vars: &BTreeMap<String, String>) -> CheckOutcome {
        let started = Instant::now();
        if let Err(e) = action.validate("") {
            return CheckOutcome::error(
                format!("{}: {}", e.field.unwrap_or_default(), e.detail),
                0,
            );
        }
        let secrets = match self.secrets.resolve(action).await {
            Ok(s) => s,
            Err(e) => return CheckOutcome::error(e, 0),
        };
        // A caller's variable never stands in for a secret.
        let mut vars = vars.clone();
        vars.retain(|k, _| !k.starts_with(SECRET_PREFIX));
        vars.extend(secrets.vars());
        let outcome = match render(action, &vars) {
            Err(e) => CheckOutcome::error(e, 0),
            Ok(Action::Http(h)) => http::run(&self.http, &h, &secrets).await,
            Ok(Action::Command(c) | Action::Ssh(c)) => {
                judge(self.run_argv(&c).await, c.expect_exit_code)
            }
        };
        let mut outcome = secrets.redact_outcome(outcome);
        outcome.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        outcome
    }
}

/// What to do with an attempt that has an intent and no outcome (its replica died mid-way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// The action is idempotent: run it again.
    Rerun,
    /// It may or may not have happened: the operator decides (retry or skip),
    /// `outcome_unknown`.
    Ask,
}

pub fn after_crash(run: &ActionRun) -> Interrupted {
    match run.idempotent {
        true => Interrupted::Rerun,
        false => Interrupted::Ask,
    }
}

impl Executor {
    /// [`Executor::run`] between an intent committed before it and its outcome after, as the
    /// next attempt of `subject` by `owner` (the replica). A store error before the action
    /// means it did not run; after it, the outcome is returned with the error logged by the
    /// caller, and the intent stays open (a later look treats it as interrupted).
    pub async fn run_recorded(
        &self,
        store: &Store,
        who: (&str, &str),
        action: &Action,
        vars: &BTreeMap<String, String>,
    ) -> Result<(ActionRun, CheckOutcome), StoreError> {
        let (intent, outcome) = self.run_intended(store, who, action, vars).await?;
        let (id, recorded) = (intent.id, outcome.clone());
        store
            .run(move |c| actions::record(c, id, &recorded))
            .await?;
        Ok((intent, outcome))
    }

    /// [`Executor::run_recorded`] up to the outcome, which the caller commits
    /// ([`actions::record`]) in the transaction of what it decides from it: a plan step's
    /// attempt, its count and the step's end are one commit.
    pub async fn run_intended(
        &self,
        store: &Store,
        (subject, owner): (&str, &str),
        action: &Action,
        vars: &BTreeMap<String, String>,
    ) -> Result<(ActionRun, CheckOutcome), StoreError> {
        let (subject, owner) = (subject.to_string(), owner.to_string());
        let (summary, idempotent) = (action.summary(), action.idempotent());
        let intent = store
            .run(move |c| actions::intend(c, &subject, &summary, idempotent, &owner))
            .await?;
        let outcome = self.run(action, vars).await;
        Ok((intent, outcome))
    }
}

/// The action with every template rendered; an error names the field and the variable.
fn render(action: &Action, vars: &BTreeMap<String, String>) -> Result<Action, String> {
    let value = serde_json::to_value(action).map_err(|e| e.to_string())?;
    let rendered = shared::template::render_json(&value, vars)
        .map_err(|(field, e)| format!("{field}: {e}"))?;
    serde_json::from_value(rendered).map_err(|e| format!("the rendered action: {e}"))
}

/// A process that ran: `pass` on the expected exit code, `fail` otherwise, with its output.
fn judge(ran: Result<process::Output, String>, expected: i32) -> CheckOutcome {
    let out = match ran {
        Ok(out) => out,
        Err(e) => return CheckOutcome::error(excerpt(&e), 0),
    };
    let ok = out.code == Some(expected);
    let lead = match ok {
        true => process::ending(&out),
        false => format!("{}, expected exit code {expected}", process::ending(&out)),
    };
    CheckOutcome {
        status: if ok {
            CheckStatus::Pass
        } else {
            CheckStatus::Fail
        },
        value: out.code.map(|c| c.to_string()),
        evidence: excerpt(&process::evidence(&out, &lead, MAX_EVIDENCE_BYTES)),
        duration_ms: 0,
    }
}
