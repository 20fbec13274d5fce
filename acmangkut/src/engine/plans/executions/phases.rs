//! Phases: the ordered parts of one plan step within its stage (a `batches` step's batches, a
//! sub-plan's stages). Phase `n + 1` of a plan step begins once every step of phase `n` is
//! settled; after a phase marked `pause_after` the execution pauses, once: the `batch.paused`
//! events on its timeline count the pauses made, so a replica taking over never pauses again
//! for a batch the operator already resumed after, and never skips one it had not.

use crate::store::plans::executions::StepRow;
use shared::execution::{Phase, ResolvedPlan};
use std::collections::{BTreeMap, HashMap};

/// The timeline event of a pause after a phase; its step is the phased plan step.
pub(super) const PAUSED: &str = "batch.paused";

/// What the phases allow now.
pub(super) struct Gate {
    /// For each phased plan step, the last phase that may begin.
    open: HashMap<String, u32>,
    /// A phase just settled that the execution must pause after.
    pub pause: Option<Phase>,
}

impl Gate {
    /// `settled` says which rows are done with; `paused` how many pauses each phased plan step
    /// has had.
    pub fn new(
        plan: &ResolvedPlan,
        rows: &[StepRow],
        settled: impl Fn(&StepRow) -> bool,
        paused: &HashMap<String, usize>,
    ) -> Self {
        // (of) -> n -> (every step of it settled, the phase)
        let mut groups: HashMap<&str, BTreeMap<u32, (bool, &Phase)>> = HashMap::new();
        for row in rows {
            let Some(step) = plan.step(&row.step) else {
                continue;
            };
            for p in &step.phases {
                let e = groups
                    .entry(p.of.as_str())
                    .or_default()
                    .entry(p.n)
                    .or_insert((true, p));
                e.0 &= settled(row);
            }
        }
        let mut gate = Gate {
            open: HashMap::new(),
            pause: None,
        };
        for (of, phases) in groups {
            let mut pauses = 0;
            let mut open = u32::MAX;
            for (n, (done, p)) in phases {
                if !done {
                    open = n;
                    break;
                }
                if p.pause_after {
                    pauses += 1;
                    if paused.get(of).copied().unwrap_or(0) < pauses {
                        gate.pause.get_or_insert_with(|| p.clone());
                        open = n;
                        break;
                    }
                }
            }
            gate.open.insert(of.to_string(), open);
        }
        gate
    }

    /// Whether the step's phases have all been reached.
    pub fn allows(&self, phases: &[Phase]) -> bool {
        phases
            .iter()
            .all(|p| self.open.get(&p.of).is_none_or(|open| p.n <= *open))
    }
}

/// Whether any step pauses after its phase (only then are pauses counted).
pub(super) fn pausing(plan: &ResolvedPlan) -> bool {
    plan.steps()
        .any(|(_, s)| s.phases.iter().any(|p| p.pause_after))
}

/// Of `pending` (in plan order), those that may begin now: their phases reached, and room in
/// each phase with a limit of its own given the steps of it `running`.
pub(super) fn startable<'a>(
    plan: &ResolvedPlan,
    gate: &Gate,
    running: &[&StepRow],
    pending: impl Iterator<Item = &'a StepRow>,
) -> Vec<&'a StepRow> {
    let key = |p: &Phase| (p.of.clone(), p.n);
    let mut busy: HashMap<(String, u32), u32> = HashMap::new();
    for row in running {
        for p in plan
            .step(&row.step)
            .map_or(&[][..], |s| s.phases.as_slice())
        {
            *busy.entry(key(p)).or_default() += 1;
        }
    }
    let mut out = Vec::new();
    for row in pending {
        let Some(step) = plan.step(&row.step) else {
            continue;
        };
        let room = step.phases.iter().all(|p| {
            p.max_parallelism
                .is_none_or(|m| busy.get(&key(p)).copied().unwrap_or(0) < m)
        });
        if gate.allows(&step.phases) && room {
            for p in &step.phases {
                *busy.entry(key(p)).or_default() += 1;
            }
            out.push(row);
        }
    }
    out
}
