//! Resident memory of the browser process trees, read from /proc (Linux; 0 elsewhere).

use std::collections::{HashMap, HashSet};
use std::fs;

/// Sum of the resident set sizes of `roots` and all their descendants, in bytes.
pub fn tree_rss_bytes(roots: &[u32]) -> u64 {
    if roots.is_empty() {
        return 0;
    }
    let parents = parent_map();
    let mut tree: HashSet<u32> = roots.iter().copied().collect();
    // Grow the set until no process has a parent in it (trees are shallow: browser, zygote,
    // renderers).
    loop {
        let before = tree.len();
        for (pid, ppid) in &parents {
            if tree.contains(ppid) {
                tree.insert(*pid);
            }
        }
        if tree.len() == before {
            break;
        }
    }
    tree.into_iter().filter_map(rss_bytes).sum()
}

/// pid → parent pid of every process.
fn parent_map() -> HashMap<u32, u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return HashMap::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect()
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`; comm may contain spaces and parentheses, so split after the
    // last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn rss_bytes(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_resident_memory() {
        assert!(tree_rss_bytes(&[std::process::id()]) > 0);
        assert_eq!(tree_rss_bytes(&[]), 0);
    }
}
