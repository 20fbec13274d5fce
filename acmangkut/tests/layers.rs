//! The layering of acmangkut, checked: every `.rs` file under `src/` is read, its references to
//! the crate's top-level modules collected (`use crate::x`, `crate::x::…` paths in code,
//! `$crate::x` in macros, `super::` paths that climb out to the crate root), and a reference
//! from a lower layer to a higher one fails the test, naming the file, the line and the rule.
//!
//! ```text
//!   startup, lib, main                    (top: wires everything)
//!   ui    api                             (HTTP handlers; siblings, neither imports the other)
//!   state                                 (application state the handlers share)
//!   engine    iam                         (background work, identity and access)
//!   store                                 (diesel rows and queries)
//!   config, metrics, cli                  (bottom: anyone may import them)
//!   shared                                (the crate all three processes use)
//! ```
//!
//! docs/architecture.md draws the same picture.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Every top-level module of `src/` (`lib` and `main` being the crate roots). A module not
/// listed fails the test: place a new module in the rules before using it.
const MODULES: &[&str] = &[
    "lib", "main", "startup", "api", "ui", "problem", "state", "engine", "iam", "store", "config",
    "metrics", "cli",
];

/// Above the store: what the store and the base modules must not see.
const ABOVE_STORE: &[&str] = &["engine", "iam", "state", "problem", "api", "ui", "startup"];

/// The rules, one a line: files of module `from` must not refer to any module of `to`.
const RULES: &[Rule] = &[
    // Handlers are siblings: the console and the API both call down, never into each other.
    rule(
        "ui",
        &["api", "startup"],
        "the console must not import the API (siblings)",
    ),
    rule(
        "api",
        &["ui", "startup"],
        "the API must not import the console (siblings)",
    ),
    // Application state is built from the engines and IAM, and handed to the handlers.
    rule(
        "state",
        &["api", "ui", "problem", "startup"],
        "state sits below the handlers",
    ),
    // Engines and IAM serve the handlers; they learn nothing of HTTP routes or state.
    // Errors become problem+json at the HTTP edge only, beside the handlers.
    rule(
        "problem",
        &["api", "ui", "state", "startup"],
        "the error edge serves the handlers",
    ),
    rule(
        "engine",
        &["api", "ui", "state", "problem", "startup"],
        "engines sit below handlers and state",
    ),
    rule(
        "iam",
        &["api", "ui", "state", "problem", "startup"],
        "IAM sits below handlers and state",
    ),
    // The store answers queries; who asks is none of its business.
    rule(
        "store",
        ABOVE_STORE,
        "the store sits below engines, IAM and handlers",
    ),
    // The base modules are imported by all, so they import nothing above the store.
    rule("config", ABOVE_STORE, "config is a base module"),
    rule("metrics", ABOVE_STORE, "metrics is a base module"),
    rule("cli", ABOVE_STORE, "the command line is a base module"),
];

struct Rule {
    from: &'static str,
    to: &'static [&'static str],
    why: &'static str,
}

const fn rule(from: &'static str, to: &'static [&'static str], why: &'static str) -> Rule {
    Rule { from, to, why }
}

/// A reference from one file to a top-level module of the crate.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    line: usize,
    module: String,
}

/// The source with comments, strings and character literals blanked out (newlines kept, so
/// line numbers stay right): `"crate::ui"` and `// crate::ui` are not references.
fn code_only(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    // Blanks `b[from..to]`, keeping newlines.
    let blank = |out: &mut String, from: usize, to: usize| {
        for &c in &b[from..to.min(b.len())] {
            out.push(if c == '\n' { '\n' } else { ' ' });
        }
    };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            let end = (i..b.len()).find(|&j| b[j] == '\n').unwrap_or(b.len());
            blank(&mut out, i, end);
            i = end;
        } else if c == '/' && next == Some('*') {
            // Block comments nest.
            let (mut j, mut depth) = (i + 2, 1);
            while j < b.len() && depth > 0 {
                if b[j] == '/' && b.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if b[j] == '*' && b.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if c == 'r' && matches!(next, Some('"' | '#')) && raw_prefix(&b, i) {
            // Raw string: r"…", r#"…"#, …
            let hashes = b[i + 1..].iter().take_while(|&&h| h == '#').count();
            if b.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let start = i + 2 + hashes;
            let end = (start..b.len())
                .find(|&j| b[j..].starts_with(&close))
                .map_or(b.len(), |j| j + close.len());
            blank(&mut out, i, end);
            i = end;
        } else if c == '"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != '"' {
                j += if b[j] == '\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1F600}') or a lifetime ('a): only the former
            // is blanked.
            let end = if next == Some('\\') {
                (i + 3..b.len()).find(|&j| b[j] == '\'').map(|j| j + 1)
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 3)
            } else {
                None
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Whether the `r` at `b[i]` starts a raw string (`r"`, `br"`), not ends an identifier.
fn raw_prefix(b: &[char], i: usize) -> bool {
    let ident = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
    let before = i.checked_sub(1).map(|j| &b[j]);
    !ident(before) || (before == Some(&'b') && !ident(i.checked_sub(2).map(|j| &b[j])))
}

/// The top-level modules that `code` (already through [`code_only`]) refers to. `depth` is the
/// file's own module depth below the crate root (`src/api/mod.rs`: 1, `src/api/audit.rs`: 2),
/// so that `super::` paths that climb to the root can be resolved; inline `mod x { … }` blocks
/// deepen it.
fn references(code: &str, depth: usize) -> Vec<Reference> {
    let tokens = tokenize(code);
    let mut refs = Vec::new();
    // Brace depths at which inline modules were opened.
    let mut inline_mods: Vec<usize> = Vec::new();
    let mut braces = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let (line, t) = (tokens[i].0, tokens[i].1.as_str());
        match t {
            "{" => braces += 1,
            "}" => {
                braces = braces.saturating_sub(1);
                if inline_mods.last() == Some(&braces) {
                    inline_mods.pop();
                }
            }
            "mod" if tokens.get(i + 2).is_some_and(|t| t.1 == "{") => inline_mods.push(braces),
            "crate" if tokens.get(i + 1).is_some_and(|t| t.1 == "::") => {
                for module in path_heads(&tokens, i + 2) {
                    refs.push(Reference { line, module });
                }
            }
            "super" if tokens.get(i.wrapping_sub(1)).is_none_or(|t| t.1 != "::") => {
                // Count the climb: `super::super::x` from depth 2 reaches the root.
                let mut j = i;
                let mut up = 0;
                while tokens.get(j).is_some_and(|t| t.1 == "super")
                    && tokens.get(j + 1).is_some_and(|t| t.1 == "::")
                {
                    up += 1;
                    j += 2;
                }
                if up > 0 && up >= depth + inline_mods.len() {
                    for module in path_heads(&tokens, j) {
                        refs.push(Reference { line, module });
                    }
                }
                i = j.max(i + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    refs
}

/// The first segment of a path starting at `tokens[i]`, or of each member of a `{a, b::c}`
/// group there.
fn path_heads(tokens: &[(usize, String)], i: usize) -> Vec<String> {
    let Some((_, t)) = tokens.get(i) else {
        return Vec::new();
    };
    if t != "{" {
        return if is_ident(t) && t != "self" && t != "super" {
            vec![t.clone()]
        } else {
            Vec::new()
        };
    }
    let mut heads = Vec::new();
    let (mut depth, mut expect_head) = (0usize, true);
    for (_, t) in &tokens[i + 1..] {
        match t.as_str() {
            "{" => depth += 1,
            "}" if depth == 0 => break,
            "}" => depth -= 1,
            "," if depth == 0 => expect_head = true,
            t if expect_head && depth == 0 => {
                if is_ident(t) && t != "self" {
                    heads.push(t.to_string());
                }
                expect_head = false;
            }
            _ => {}
        }
    }
    heads
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Identifiers, `::`, braces and commas with their line numbers; everything else dropped
/// (`$crate` becomes `crate`).
fn tokenize(code: &str) -> Vec<(usize, String)> {
    let mut tokens = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_alphabetic() || c == '_' {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                tokens.push((n + 1, word));
                continue;
            }
            if c == ':' && chars.get(i + 1) == Some(&':') {
                tokens.push((n + 1, "::".into()));
                i += 2;
                continue;
            }
            if matches!(c, '{' | '}' | ',') {
                tokens.push((n + 1, c.to_string()));
            } else if c.is_numeric() {
                // Skip numbers whole so `1u8` does not become an identifier.
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                continue;
            } else if !c.is_whitespace() && c != '$' {
                tokens.push((n + 1, c.to_string()));
            }
            i += 1;
        }
    }
    tokens
}

/// A file's top-level module and its module depth below the crate root.
fn module_of(relative: &Path) -> (String, usize) {
    let parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let top = parts[0].trim_end_matches(".rs").to_string();
    let last = parts.last().map_or("", String::as_str);
    let depth = if parts.len() == 1 && matches!(top.as_str(), "lib" | "main") {
        0
    } else if last == "mod.rs" {
        parts.len() - 1
    } else {
        parts.len()
    };
    (top, depth)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("src is readable")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// One reference against the rules: `(file, line, from, to, why)`.
type Violation = (String, usize, String, String, &'static str);

fn violations(file: &str, from: &str, refs: &[Reference]) -> Vec<Violation> {
    let mut found = Vec::new();
    for r in refs {
        for rule in RULES.iter().filter(|rule| rule.from == from) {
            if rule.to.contains(&r.module.as_str()) {
                found.push((file.into(), r.line, from.into(), r.module.clone(), rule.why));
            }
        }
    }
    found
}

#[test]
fn lower_layers_do_not_refer_to_higher_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let (mut all, mut unknown, mut arrows) = (Vec::new(), Vec::new(), BTreeSet::new());
    for path in &files {
        let relative = path.strip_prefix(&src).expect("under src");
        let name = relative.to_string_lossy().replace('\\', "/");
        let (from, depth) = module_of(relative);
        if !MODULES.contains(&from.as_str()) {
            unknown.push(name.clone());
        }
        let text = std::fs::read_to_string(path).expect("a readable source file");
        // Names at the root that are not modules are root items (`crate::db!`, re-exports).
        let refs: Vec<Reference> = references(&code_only(&text), depth)
            .into_iter()
            .filter(|r| MODULES.contains(&r.module.as_str()))
            .collect();
        for r in &refs {
            if r.module != from {
                arrows.insert((from.clone(), r.module.clone()));
            }
        }
        all.extend(violations(&name, &from, &refs));
    }
    let mut report = String::new();
    for file in &unknown {
        let _ = writeln!(
            report,
            "{file}: its top-level module is not placed in MODULES/RULES"
        );
    }
    for (file, line, from, to, why) in &all {
        let _ = writeln!(report, "src/{file}:{line}: {from} -> {to}: {why}");
    }
    let arrows: Vec<String> = arrows.iter().map(|(a, b)| format!("{a}->{b}")).collect();
    eprintln!(
        "layers: {} files, {} rules; arrows between modules: {}; violations: {}",
        files.len(),
        RULES.len(),
        arrows.join(" "),
        all.len()
    );
    assert!(report.is_empty(), "layering broken:\n{report}");
}

#[test]
fn every_rule_names_known_modules() {
    for r in RULES {
        for m in std::iter::once(&r.from).chain(r.to) {
            assert!(
                MODULES.contains(m),
                "rule `{}` names unknown module `{m}`",
                r.why
            );
        }
    }
}

/// The matcher itself, on small inputs.
mod matcher {
    use super::*;

    fn modules(src: &str, depth: usize) -> Vec<(usize, String)> {
        references(&code_only(src), depth)
            .into_iter()
            .map(|r| (r.line, r.module))
            .collect()
    }

    #[test]
    fn use_lines_and_paths_in_code_are_references() {
        let src = "use crate::store::Store;\nfn f() { crate::engine::run(); }\n";
        assert_eq!(
            modules(src, 2),
            [(1, "store".to_string()), (2, "engine".to_string())]
        );
    }

    #[test]
    fn each_member_of_a_group_is_a_reference() {
        let src =
            "use crate::{\n    api::AppState,\n    store::{Store, models::{A, B}},\n    self,\n};";
        let got: Vec<String> = modules(src, 1).into_iter().map(|r| r.1).collect();
        assert_eq!(got, ["api", "store"]);
    }

    #[test]
    fn comments_strings_and_characters_are_not_references() {
        let src = r####"
// use crate::ui;
/* crate::ui /* nested */ crate::api */
/// [`crate::ui::x`]
let a = "crate::ui::x";
let b = r#"crate::ui "quoted" "#;
let c = '"'; let d = crate::store::x; let e: &'static str = "";
"####;
        assert_eq!(modules(src, 1), [(7, "store".to_string())]);
    }

    #[test]
    fn macro_paths_and_climbing_super_are_references() {
        let src = "macro_rules! m { () => { $crate::metrics::X } }\nuse super::super::iam::x;";
        assert_eq!(
            modules(src, 2),
            [(1, "metrics".to_string()), (2, "iam".to_string())]
        );
        // One `super` from depth 2 stays inside the file's own top-level module.
        assert!(modules("use super::iam;", 2).is_empty());
        // From `src/api/mod.rs`, one `super` reaches the root.
        assert_eq!(modules("use super::{ui, store};", 1).len(), 2);
    }

    #[test]
    fn super_inside_an_inline_module_climbs_out_of_it_first() {
        let src = "mod tests {\n    use super::*;\n    use super::super::ui::x;\n}\n";
        assert_eq!(modules(src, 1), [(3, "ui".to_string())]);
        // After the inline module closes, the depth is the file's again.
        assert_eq!(modules("mod a { }\nuse super::ui;", 1).len(), 1);
    }

    #[test]
    fn a_violating_file_is_reported_with_its_rule_and_a_clean_one_is_not() {
        let bad = references(&code_only("use crate::iam::permissions::perm;"), 2);
        let v = violations("store/access.rs", "store", &bad);
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].1, v[0].3.as_str()), (1, "iam"));
        let good = references(&code_only("use crate::config::Config;"), 2);
        assert!(violations("store/access.rs", "store", &good).is_empty());
        let siblings = references(&code_only("use crate::api::x;"), 2);
        assert_eq!(violations("ui/list.rs", "ui", &siblings).len(), 1);
    }

    #[test]
    fn a_file_knows_its_module_and_depth() {
        for (path, module, depth) in [
            ("lib.rs", "lib", 0),
            ("config.rs", "config", 1),
            ("api/mod.rs", "api", 1),
            ("api/audit.rs", "api", 2),
            ("api/inspection/mod.rs", "api", 2),
            ("api/inspection/runs.rs", "api", 3),
        ] {
            assert_eq!(
                module_of(Path::new(path)),
                (module.to_string(), depth),
                "{path}"
            );
        }
    }
}
