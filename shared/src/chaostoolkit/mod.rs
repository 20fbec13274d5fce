//! Chaos Toolkit's open formats: experiments (JSON or YAML) in, journals out.
//!
//! The model follows chaostoolkit-lib 1.44 as `../shared/design/CHAOS-TOOLKIT.md` describes it:
//! [`Experiment`] parses and validates a document with errors that name the field
//! (`method[2].provider`), [`within_tolerance`] decides a hypothesis probe with the library's
//! rules (a 2-element list is a range, a dict output with `status` means membership, ...),
//! [`substitute`] expands `${name}` from the configuration and secrets, and [`Journal`]
//! reads and writes the journal `chaos run --journal-path` writes. Nothing here runs an
//! activity; drills map these types onto their own steps.
//!
//! Deliberate differences from the library are listed in `docs/drills.md` ("Chaos Toolkit
//! import and export"): the `python` provider, controls, vault secrets and dynamic
//! configuration are refused at their field, and every `ref` must name an activity.

mod experiment;
mod journal;
mod pyvalue;
mod tolerance;
mod vars;

#[cfg(test)]
mod tests;

pub use experiment::{
    Activity, ActivityKind, Dry, Experiment, HttpProvider, HttpTimeout, Hypothesis,
    HypothesisStrategy, JsonPathTolerance, Pause, Pauses, ProcessArguments, ProcessProvider,
    Provider, PythonProvider, RollbackStrategy, Runtime, RuntimeHypothesis, RuntimeRollbacks,
    Tolerance,
};
pub use journal::{Journal, JournalStatus, Run, RunStatus, SteadyState, SteadyStates, Timestamp};
pub use tolerance::{ActivityFailed, within_tolerance};
pub use vars::{ConfigValue, EnvVarType, SecretValue, Vars, substitute};
