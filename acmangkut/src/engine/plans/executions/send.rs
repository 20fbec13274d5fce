//! A notify step's attempt: its message sent to each of its channels through the inspection
//! center's sender, recorded in `action_runs` as an action's attempt is (the intent, then the
//! outcome), so retries, back-off and a takeover treat it as any other step. Sending again is
//! harmless: an attempt a crash interrupted is simply made again.

use super::{Driver, notices};
use crate::engine::Error;
use crate::store::actions::{self, ActionRun};
use crate::store::inspection::channels;
use shared::check::{CheckOutcome, CheckStatus};
use shared::execution::ResolvedStep;
use shared::notify::ChannelSpec;
use std::time::{Duration, Instant};

impl Driver {
    /// One attempt: passes when every channel took the message; else fails naming each channel
    /// that did not, and why. The intent is committed; the outcome is the caller's to commit
    /// (with the attempt's count and, if it settles the step, the step's end).
    pub(super) async fn send_once(
        &self,
        (id, subject): (i64, &str),
        step: &ResolvedStep,
        (plan, channels, text): (&str, &[String], &str),
    ) -> Result<(ActionRun, CheckOutcome), Error> {
        let summary = format!("notify {}", channels.join(", "));
        let (s, owner, names) = (subject.to_string(), self.owner.clone(), channels.to_vec());
        let (intent, rows) = self
            .store
            .run(move |c| {
                let intent = actions::intend(c, &s, &summary, true, &owner)?;
                let rows = names
                    .iter()
                    .map(|n| channels::row_by_name(c, n))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok::<_, crate::store::StoreError>((intent, rows))
            })
            .await?;
        let msg = notices::step_message(plan, id, step, text);
        let timeout = Duration::from_millis(step.timeout_ms);
        let started = Instant::now();
        let mut failed = Vec::new();
        for (name, row) in channels.iter().zip(rows) {
            let spec = row.map(|r| serde_json::from_str::<ChannelSpec>(&r.definition));
            let error = match spec {
                None => Some("no such channel".to_string()),
                Some(Err(_)) => Some("the stored channel is unreadable".to_string()),
                Some(Ok(spec)) => self.sender.send(&spec, &msg, timeout).await.error,
            };
            if let Some(e) = error {
                failed.push(format!("channel `{name}`: {e}"));
            }
        }
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let outcome = match failed.is_empty() {
            true => CheckOutcome {
                status: CheckStatus::Pass,
                value: None,
                evidence: format!("sent to {}", channels.join(", ")),
                duration_ms: ms,
            },
            false => CheckOutcome {
                status: CheckStatus::Fail,
                ..CheckOutcome::error(failed.join("; "), ms)
            },
        };
        Ok((intent, outcome))
    }
}
