//! Two versions of a plan compared line by line in their YAML form (the form authors edit),
//! as a unified diff and as every line tagged, for the console's side-by-side view.

use shared::plan::{DiffLine, DiffTag, PlanDiff, PlanVersion};
use similar::{ChangeTag, TextDiff};

pub fn diff(old: &PlanVersion, new: &PlanVersion) -> PlanDiff {
    let (a, b) = (old.document.to_yaml(), new.document.to_yaml());
    let text = TextDiff::from_lines(&a, &b);
    let unified = text
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("version {}", old.version),
            &format!("version {}", new.version),
        )
        .to_string();
    let lines = text
        .iter_all_changes()
        .map(|c| DiffLine {
            tag: match c.tag() {
                ChangeTag::Equal => DiffTag::Equal,
                ChangeTag::Delete => DiffTag::Delete,
                ChangeTag::Insert => DiffTag::Insert,
            },
            old: c.old_index().map(|i| i + 1),
            new: c.new_index().map(|i| i + 1),
            text: c.value().trim_end_matches('\n').to_string(),
        })
        .collect();
    PlanDiff {
        plan_id: new.plan_id,
        from: old.version,
        to: new.version,
        unified,
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(v: i32, yaml: &str) -> PlanVersion {
        PlanVersion {
            plan_id: 1,
            version: v,
            document: shared::plan::PlanDocument::from_yaml(yaml).expect("a plan"),
            created_at: chrono::Utc::now(),
            created_by: "ann".into(),
        }
    }

    #[test]
    fn a_changed_wait_is_one_line_out_and_one_in() {
        let a = "name: p\nstages:\n- name: s\n  steps:\n  - name: w\n    wait: 30s\n";
        let d = diff(&version(1, a), &version(2, &a.replace("30s", "1m")));
        assert!(
            d.unified.contains("-    wait: 30s\n+    wait: 1m\n"),
            "{}",
            d.unified
        );
        assert!(d.unified.starts_with("--- version 1\n+++ version 2\n"));
        let changed: Vec<_> = d.lines.iter().filter(|l| l.tag != DiffTag::Equal).collect();
        assert_eq!(changed.len(), 2);
        assert_eq!((changed[0].old, changed[1].new), (Some(6), Some(6)));
    }
}
