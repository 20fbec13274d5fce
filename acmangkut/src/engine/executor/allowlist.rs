//! Allow-lists of executables: `inspection.commands` for what acmangkut runs itself, and each
//! host's `commands` for what it runs there over SSH. An entry is a path (any arguments) or a
//! path with one pattern per argument position.

use crate::config::AllowedCommand;
use crate::engine::Error;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An entry, its argument patterns compiled.
pub(crate) struct Allowed {
    path: PathBuf,
    /// One per argument position, anchored; `None`: any arguments.
    args: Option<Vec<regex::Regex>>,
}

/// One allow-list and the config key it is read from (for messages).
pub(crate) struct Allowlist {
    key: String,
    entries: BTreeMap<String, Allowed>,
}

impl Allowlist {
    /// Compiles the entries under config key `key`; errors name the entry's key.
    pub(crate) fn compile(
        key: &str,
        commands: &BTreeMap<String, AllowedCommand>,
    ) -> anyhow::Result<Self> {
        let entries = commands
            .iter()
            .map(|(name, c)| {
                let args = c.patterns(&format!("{key}.{name}"))?;
                let path = c.path().to_path_buf();
                Ok((name.clone(), Allowed { path, args }))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            key: key.to_string(),
            entries,
        })
    }

    /// The executable `name` stands for when run with `args`: it is listed and, where its
    /// entry restricts them, every argument matches its position's pattern. Errors name
    /// `{prefix}{field}` or `{prefix}{args}[i]`.
    pub(crate) fn resolve(
        &self,
        name: &str,
        args: &[String],
        (prefix, field, args_field): (&str, &str, &str),
    ) -> Result<&Path, Error> {
        let key = &self.key;
        let field = format!("{prefix}{field}");
        if self.entries.is_empty() {
            return Err(Error::invalid(
                field,
                format!("command checks are off: {key} lists no executables"),
            ));
        }
        let allowed = self.entries.get(name).ok_or_else(|| {
            Error::invalid(
                &field,
                format!(
                    "`{name}` is not in {key} (allowed: {})",
                    crate::engine::names(self.entries.keys())
                ),
            )
        })?;
        let Some(patterns) = &allowed.args else {
            return Ok(&allowed.path);
        };
        if args.len() != patterns.len() {
            return Err(Error::invalid(
                format!("{prefix}{args_field}"),
                format!(
                    "`{name}` takes exactly {} argument(s) ({key}.{name}.args), not {}",
                    patterns.len(),
                    args.len()
                ),
            ));
        }
        for (i, (arg, pattern)) in args.iter().zip(patterns).enumerate() {
            if !pattern.is_match(arg) {
                return Err(Error::invalid(
                    format!("{prefix}{args_field}[{i}]"),
                    format!(
                        "{arg:?} is not allowed here: {key}.{name}.args[{i}] is `{}`",
                        display_pattern(pattern)
                    ),
                ));
            }
        }
        Ok(&allowed.path)
    }
}

/// A pattern as configured (without the anchors [`Allowlist::compile`] added).
fn display_pattern(p: &regex::Regex) -> &str {
    let s = p.as_str();
    s.strip_prefix("^(?:")
        .and_then(|s| s.strip_suffix(")$"))
        .unwrap_or(s)
}
