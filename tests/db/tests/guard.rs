//! Every test that touches a database gets it from this crate, so that the PostgreSQL pass of
//! CI really runs on PostgreSQL: no test code elsewhere builds a SQLite URL or opens a SQLite
//! connection by hand.

use std::path::{Path, PathBuf};

/// What opening a database of one's own looks like: a SQLite URL made from a path, or a
/// SQLite connection established directly.
const PATTERNS: [&str; 3] = [
    "\"sqlite://{",
    "SqliteConnection::establish(",
    "sqlite://\" +",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | "node_modules" | ".git") {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// The test code of a file: all of it under a `tests/` folder, else what follows its first
/// `#[cfg(test)]` (the unit tests at the end of a source file).
fn test_code(root: &Path, path: &Path, text: &str) -> Option<(usize, String)> {
    let relative = path.strip_prefix(root).ok()?;
    if relative.components().any(|c| c.as_os_str() == "tests") {
        return Some((0, text.to_string()));
    }
    let at = text.find("#[cfg(test)]")?;
    Some((text[..at].lines().count(), text[at..].to_string()))
}

#[test]
fn no_test_opens_a_database_of_its_own() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = here.join("../..").canonicalize().expect("workspace root");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 50, "found the workspace's sources");
    let mut offenders = Vec::new();
    for path in files.iter().filter(|p| !p.starts_with(here)) {
        let text = std::fs::read_to_string(path).expect("read a source file");
        let Some((first, code)) = test_code(&root, path, &text) else {
            continue;
        };
        for (n, line) in code.lines().enumerate() {
            if PATTERNS.iter().any(|p| line.contains(p)) {
                let file = path.strip_prefix(&root).unwrap_or(path).display();
                offenders.push(format!("{file}:{}: {}", first + n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "tests must take their database from has_test_db::TestDb (HAS_TEST_DATABASE_URL \
         decides the backend), not open SQLite themselves:\n{}",
        offenders.join("\n")
    );
}
