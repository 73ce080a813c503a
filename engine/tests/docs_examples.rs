//! Every YAML example in the docs is a runbook that `lifeboat validate`
//! accepts, so the docs cannot drift from the engine. An example that is
//! only part of a runbook (a step, an excerpt with `...`) says so in its
//! fence, ```` ```yaml fragment ````, and is skipped (docs/runbook-format.md,
//! "Examples in these docs").

mod util;

use std::path::{Path, PathBuf};

use util::{workspace, Sandbox};

/// A fenced YAML block: where it is and what it holds.
struct Example {
    /// The doc, relative to the workspace.
    doc: PathBuf,
    /// The line of the opening fence (1-based).
    fence_line: usize,
    text: String,
}

#[test]
fn every_yaml_example_in_the_docs_is_a_valid_runbook() {
    let mut docs = vec![workspace().join("README.md")];
    collect_markdown(&workspace().join("docs"), &mut docs);
    docs.sort();
    let examples: Vec<Example> = docs.iter().flat_map(|d| whole_examples(d)).collect();
    assert!(
        !examples.is_empty(),
        "no whole YAML example found under docs/"
    );
    let sandbox = Sandbox::new();
    let mut failures = Vec::new();
    for example in &examples {
        // Validated under the doc's own name, with blank lines before it so
        // that its lines are the doc's: diagnostics point into the doc.
        let name = example.doc.display().to_string();
        if let Some(parent) = example.doc.parent() {
            std::fs::create_dir_all(sandbox.path().join(parent)).unwrap();
        }
        let padded = "\n".repeat(example.fence_line) + &example.text;
        sandbox.write(&name, &padded);
        let ran = sandbox.run(&["validate", &name]);
        if ran.code != 0 {
            failures.push(format!(
                "{name}:{}: this example is not a valid runbook; fix it, or mark its fence ```yaml fragment if it is only a part of one\n{}",
                example.fence_line, ran.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The fenced ```yaml / ```yml blocks of a Markdown file whose info string
/// does not say `fragment`.
fn whole_examples(doc: &Path) -> Vec<Example> {
    let text = std::fs::read_to_string(doc).unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
    let relative = doc.strip_prefix(workspace()).unwrap_or(doc).to_path_buf();
    let mut out = Vec::new();
    let mut open: Option<(usize, bool, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let mut words = info.split_whitespace();
                    let yaml = matches!(words.next(), Some("yaml" | "yml"));
                    let fragment = words.any(|w| w == "fragment");
                    open = Some((i + 1, yaml && !fragment, String::new()));
                }
            }
            Some((fence_line, keep, body)) => {
                if trimmed.starts_with("```") {
                    if *keep {
                        out.push(Example {
                            doc: relative.clone(),
                            fence_line: *fence_line,
                            text: std::mem::take(body),
                        });
                    }
                    open = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    out
}

fn collect_markdown(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_markdown(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}
