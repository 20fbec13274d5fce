//! No source line over 100 columns, in every `.rs` file of the workspace. rustfmt keeps code to
//! its `max_width` of 100 but cannot break string literals, comments, attributes or macro
//! bodies it does not parse (`json!`, `proptest!`, `tracing` fields), so those are checked here.
//!
//! A column is one `char`: a Chinese character counts one, as in `awk 'length > 100'` under a
//! UTF-8 locale (rustfmt counts it two; both agree on ASCII lines).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const MAX_COLUMNS: usize = 100;

/// Directories never walked: build output, JavaScript dependencies, git's own files.
const SKIPPED_DIRS: &[&str] = &["target", "node_modules", ".git"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if !SKIPPED_DIRS.contains(&name) {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// `file:line (columns)` for every line of `text` over the limit.
fn long_lines(file: &str, text: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let columns = line.chars().count();
            (columns > MAX_COLUMNS).then(|| format!("{file}:{} ({columns} columns)", i + 1))
        })
        .collect()
}

#[test]
fn no_source_line_is_over_100_columns() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root");
    let mut files = Vec::new();
    rust_files(root, &mut files);
    files.sort();
    assert!(
        files.len() > 100,
        "only {} .rs files found under {}",
        files.len(),
        root.display()
    );

    let mut report = String::new();
    for path in &files {
        let rel = path.strip_prefix(root).expect("under the root");
        let rel = rel.to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        for l in long_lines(&rel, &text) {
            let _ = writeln!(report, "{l}");
        }
    }
    assert!(
        report.is_empty(),
        "lines over {MAX_COLUMNS} columns (wrap comments, split string literals with `\\` or \
         concat!, break macro arguments over lines):\n{report}"
    );
}

#[test]
fn columns_are_chars_not_bytes() {
    let chinese = "监".repeat(MAX_COLUMNS);
    assert!(
        long_lines("f", &chinese).is_empty(),
        "300 bytes, 100 columns"
    );
    assert_eq!(
        long_lines("f", &format!("ok\n{chinese}x\n")),
        ["f:2 (101 columns)"]
    );
}
