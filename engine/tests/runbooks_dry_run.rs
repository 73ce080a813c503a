//! Every shipped runbook drills cleanly: `lifeboat run FILE --dry-run` with
//! its example inputs file (`<name>.inputs.yaml` next to it, when there is
//! one) exits 0 and renders every step with realistic values, no
//! placeholder for a step's missing `dry_run.outputs`.

mod util;

use std::path::{Path, PathBuf};

use util::{workspace, Sandbox};

fn shipped_runbooks(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            shipped_runbooks(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml")
            && !path.to_string_lossy().contains(".inputs.")
        {
            out.push(path);
        }
    }
}

#[test]
fn every_shipped_runbook_drills_with_its_example_inputs() {
    let mut files = Vec::new();
    shipped_runbooks(&workspace().join("runbooks"), &mut files);
    files.sort();
    let vault: Vec<_> = files
        .iter()
        .filter(|f| f.parent().is_some_and(|p| p.ends_with("runbooks/vault")))
        .collect();
    assert!(
        vault.len() >= 7,
        "expected the seven Vault runbooks under runbooks/vault, found {vault:?}"
    );
    let sandbox = Sandbox::new();
    for file in &files {
        let inputs = file.with_extension("inputs.yaml");
        let mut args = vec!["run", file.to_str().unwrap(), "--dry-run"];
        if inputs.exists() {
            args.push("--inputs");
            args.push(inputs.to_str().unwrap());
        } else {
            assert!(
                !file.starts_with(workspace().join("runbooks/vault")),
                "{} has no example inputs file {}",
                file.display(),
                inputs.display()
            );
        }
        // No credentials in the environment: drills need none.
        let ran = sandbox.run_with(&args, &[]);
        assert_eq!(ran.code, 0, "{}", ran.dump());
        let all = format!("{}{}", ran.stdout, ran.stderr);
        assert!(
            !all.contains("renders simulated values"),
            "{} reads a step without `dry_run.outputs`:\n{}",
            file.display(),
            ran.dump()
        );
    }
}

/// The shipped runbooks, their inputs files and the sandbox script need
/// no `jq` (nor `curl`): lists are `for_each` or list parameters of native
/// kinds, checks are `assert`s, and sandbox.sh speaks HTTP with python3.
/// A word anywhere (a script, a comment) fails, so it cannot creep back.
#[test]
fn no_shipped_runbook_needs_jq_or_curl() {
    fn every_file(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                every_file(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    every_file(&workspace().join("runbooks"), &mut files);
    assert!(files.len() >= 15, "{files:?}");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let words = line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
            if let Some(tool) = words.into_iter().find(|w| *w == "jq" || *w == "curl") {
                found.push(format!("{}:{}: `{tool}`: {line}", file.display(), n + 1));
            }
        }
    }
    // full-cluster-loss's manual step tells the operator what to check
    // from a client network, where any HTTP client does.
    found.retain(|f| !f.contains("From a client network, `curl https://"));
    assert!(
        found.is_empty(),
        "runbooks that need jq or curl:\n{}",
        found.join("\n")
    );
}
