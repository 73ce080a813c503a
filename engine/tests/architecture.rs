//! The dependency rule between the engine's modules, as
//! `docs/ARCHITECTURE.md` states it, checked on the source itself: a module
//! may name (`crate::<module>`) only the modules listed for it here.
//! Comments are not code, so `//` lines (doc comments included) are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Which top-level modules each top-level module may use.
const RULE: &[(&str, &[&str])] = &[
    ("runbook", &[]),
    ("journal", &[]),
    ("terminal_text", &[]),
    ("report", &["journal", "runbook", "terminal_text"]),
    (
        "operator",
        &["journal", "report", "runbook", "terminal_text"],
    ),
    ("run", &["journal", "operator", "report", "runbook"]),
    ("serve", &["journal", "report", "runbook", "terminal_text"]),
    (
        "cli",
        &[
            "journal",
            "operator",
            "report",
            "run",
            "runbook",
            "serve",
            "terminal_text",
        ],
    ),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`run/scheduler.rs` → `run`).
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Every `crate::<name>` a file's code (not its comments) names.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
            rest = after;
        }
    }
    found
}

#[test]
fn modules_use_only_what_the_dependency_rule_allows() {
    let rule: BTreeMap<&str, &[&str]> = RULE.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    let mut broken = Vec::new();
    for file in &files {
        let module = module_of(file);
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(allowed) = rule.get(module.as_str()) else {
            broken.push(format!(
                "{}: module `{module}` is not in the dependency rule; add it to RULE here and to docs/ARCHITECTURE.md",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for used in crate_paths(&text) {
            if used != module && !allowed.contains(&used.as_str()) {
                broken.push(format!(
                    "{}: `{module}` uses `crate::{used}`, which the dependency rule does not allow",
                    file.display()
                ));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_scan_sees_code_and_skips_comments() {
    let text = "use crate::journal::Journal;\n//! see [`crate::cli`]\nlet x = crate::report::x(); // crate::run\n";
    let found: Vec<String> = crate_paths(text).into_iter().collect();
    assert_eq!(found, ["journal", "report"]);
}
