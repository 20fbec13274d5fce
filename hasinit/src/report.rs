//! What hasinit tells its operator on stdout: the changes, the `N created, N updated,
//! N unchanged` summary, and the first admin (its generated password, once).

use crate::client::{ApplyOutcome, Change};
use serde_json::Value;
use std::io::Write;

/// Writes `lines` to `out` (stdout in `main`). The report is the program's output, not a log:
/// it goes to stdout whatever `log.*` says, and never into log files.
pub fn emit<I, S>(out: &mut impl Write, lines: I) -> std::io::Result<()>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    for line in lines {
        writeln!(out, "{}", line.as_ref())?;
    }
    out.flush()
}

/// The lines for one manifest apply: one per change, then the summary.
pub fn manifest(outcome: &ApplyOutcome, dry_run: bool) -> Vec<String> {
    let mut lines: Vec<String> = outcome.changes.iter().filter_map(change).collect();
    let counts = format!(
        "{} created, {} updated, {} unchanged",
        outcome.created, outcome.updated, outcome.unchanged
    );
    lines.push(if dry_run {
        format!("dry run, nothing written: {counts}")
    } else {
        format!("manifest applied: {counts}")
    });
    lines
}

/// `+ role oncall`, `~ role viewer: permissions +tokens:write`, nothing for unchanged entries.
fn change(c: &Change) -> Option<String> {
    let head = format!("{} {}", c.kind, c.name);
    match c.op.as_str() {
        "unchanged" | "noop" | "none" => None,
        "create" | "created" => Some(format!("+ {head}")),
        "update" | "updated" => {
            let diff = diff(&c.before, &c.after);
            Some(if diff.is_empty() {
                format!("~ {head}")
            } else {
                format!("~ {head}: {}", diff.join("; "))
            })
        }
        "delete" | "deleted" => Some(format!("- {head}")),
        other => Some(format!("{other} {head}")),
    }
}

/// Field by field: lists of strings as `+added -removed`, other values as `before -> after`.
fn diff(before: &Value, after: &Value) -> Vec<String> {
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else {
        return if before == after {
            vec![]
        } else {
            vec![format!("{before} -> {after}")]
        };
    };
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for key in keys {
        let (old, new) = (&b.get(key.as_str()), &a.get(key.as_str()));
        if old == new {
            continue;
        }
        let strings = |v: &Option<&Value>| -> Option<Vec<String>> {
            match v {
                None => Some(vec![]),
                Some(v) => v
                    .as_array()?
                    .iter()
                    .map(|s| s.as_str().map(str::to_string))
                    .collect(),
            }
        };
        match (strings(old), strings(new)) {
            (Some(old_list), Some(new_list))
                if old.is_some_and(Value::is_array) || new.is_some_and(Value::is_array) =>
            {
                let added = new_list
                    .iter()
                    .filter(|s| !old_list.contains(s))
                    .map(|s| format!("+{s}"));
                let removed = old_list
                    .iter()
                    .filter(|s| !new_list.contains(s))
                    .map(|s| format!("-{s}"));
                let parts: Vec<String> = added.chain(removed).collect();
                if !parts.is_empty() {
                    out.push(format!("{key} {}", parts.join(" ")));
                }
            }
            _ => {
                let show = |v: &Option<&Value>| v.map_or("(none)".to_string(), Value::to_string);
                out.push(format!("{key}: {} -> {}", show(old), show(new)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outcome(changes: Value, created: u64, updated: u64, unchanged: u64) -> ApplyOutcome {
        serde_json::from_value(json!({
            "created": created, "updated": updated, "unchanged": unchanged, "changes": changes
        }))
        .expect("outcome")
    }

    #[test]
    fn a_second_run_says_nothing_changed() {
        let o = outcome(json!([]), 0, 0, 26);
        assert_eq!(
            manifest(&o, false),
            ["manifest applied: 0 created, 0 updated, 26 unchanged"]
        );
    }

    #[test]
    fn a_dry_run_prints_one_line_per_change_and_says_nothing_was_written() {
        let o = outcome(
            json!([
                {"kind": "role", "name": "oncall", "op": "create", "before": null,
                 "after": {"description": "On call", "permissions": ["plans:run"]}},
                {"kind": "role", "name": "viewer", "op": "update",
                 "before": {"description": "Reads", "permissions": ["monitors:read", "audit:read"]},
                 "after": {"description": "Reads all",
                           "permissions": ["monitors:read", "tokens:write"]}},
                {"kind": "permission", "name": "monitors:read", "op": "unchanged",
                 "before": {"description": "x"}, "after": {"description": "x"}},
            ]),
            1,
            1,
            1,
        );
        assert_eq!(
            manifest(&o, true),
            [
                "+ role oncall",
                "~ role viewer: description: \"Reads\" -> \"Reads all\"; \
                 permissions +tokens:write -audit:read",
                "dry run, nothing written: 1 created, 1 updated, 1 unchanged",
            ]
        );
    }
}
