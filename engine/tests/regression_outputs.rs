//! `validate` checks every output name a runbook reads against what the
//! step's kind declares (`StepKind::outputs`, `EngineKind::outputs`): a
//! misspelt `steps.a.outputs.stdot` is refused where it is written, not
//! when the template is rendered in the middle of an incident. The outputs
//! column of docs/step-kinds.md is compared with the declarations here too.

mod util;

use std::collections::{BTreeMap, BTreeSet};

use lifeboat::{registry, EngineKind};
use util::{workspace, Test, RUNBOOK};

/// Validates `yaml` and returns what it printed on stderr, expecting `status`.
fn validate(yaml: &str, status: i32) -> util::Ran {
    Test::new()
        .runbook(yaml)
        .args(["validate", RUNBOOK])
        .status(status)
        .run()
}

#[test]
fn a_misspelt_output_of_another_step_is_refused_with_a_suggestion() {
    let ran = validate(
        r#"version: 1
name: outputs
steps:
  - id: a
    kind: shell
    with: { run: ["echo", "hello"] }
  - id: b
    kind: shell
    needs: [a]
    with: { run: ["echo", "{{ steps.a.outputs.stdot }}"] }
"#,
        2,
    );
    assert_eq!(ran.stdout, "");
    ran.snapshot_settings()
        .bind(|| insta::assert_snapshot!(ran.stderr));
}

#[test]
fn a_misspelt_output_in_until_is_checked_against_the_steps_own_kind() {
    let ran = validate(
        r#"version: 1
name: outputs
steps:
  - id: health
    kind: http
    with: { url: "http://127.0.0.1:1/v1/sys/health" }
    until: "outputs.staus == 200"
  - id: probe
    kind: shell
    with: { run: ["true"] }
    rerun: check
    check: { kind: http, with: { url: "http://127.0.0.1:1/" }, until: "outputs.exit_code == 0" }
"#,
        2,
    );
    assert_eq!(ran.stdout, "");
    ran.snapshot_settings()
        .bind(|| insta::assert_snapshot!(ran.stderr));
}

#[test]
fn an_unknown_dry_run_output_is_refused() {
    let ran = validate(
        r#"version: 1
name: outputs
steps:
  - id: latest
    kind: s3.latest
    with: { bucket: backups, prefix: daily/ }
    dry_run: { outputs: { key: daily/2026-01-01.snap, sise: 10 } }
"#,
        2,
    );
    assert_eq!(ran.stdout, "");
    ran.snapshot_settings()
        .bind(|| insta::assert_snapshot!(ran.stderr));
}

/// The engine's kinds declare their outputs too; `confirmed_by_check` may
/// be read from any step; what lies below a declared name is data.
#[test]
fn declared_outputs_of_engine_and_step_kinds_are_accepted() {
    let ran = validate(
        r#"version: 1
name: outputs
steps:
  - id: status
    kind: shell
    with: { run: ["echo", "{\"sealed\": false}"] }
    rerun: check
    check: { kind: shell, read_only: true, with: { run: ["true"] }, until: "outputs.exit_code == 0" }
  - id: gate
    kind: approval
    needs: [status]
    with: { prompt: "restore?" }
  - id: hand
    kind: manual
    needs: [gate]
    with: { instructions: "flip the DNS record" }
  - id: ok
    kind: assert
    needs: [hand]
    with:
      that:
        - "steps.status.outputs.json.sealed == false"
        - "steps.status.outputs.json.anything.below is undefined"
        - "steps.status.outputs.confirmed_by_check is undefined"
        - "steps.gate.outputs.approvers | length > 0"
        - "steps.gate.outputs.comments is defined"
        - "steps.hand.outputs.confirmed_by != ''"
  - id: report
    kind: shell
    needs: [ok]
    with: { run: ["echo", "{{ steps.ok.outputs.checked }}", "{{ steps.hand.outputs.note }}"] }
    dry_run: { outputs: { stdout: "3", exit_code: 0 } }
"#,
        0,
    );
    assert_eq!(ran.stderr, "");
}

/// The outputs column of every kind table (a header with `kind` and
/// `outputs`) in a doc, by kind.
fn documented_outputs(doc: &str) -> BTreeMap<String, BTreeSet<String>> {
    let path = workspace().join(doc);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = BTreeMap::new();
    let mut column = None;
    for line in text.lines() {
        let Some(row) = line.strip_prefix('|') else {
            column = None;
            continue;
        };
        let cells: Vec<&str> = row
            .trim_end_matches('|')
            .split(" | ")
            .map(str::trim)
            .collect();
        if cells.first() == Some(&"kind") {
            column = cells.iter().position(|c| *c == "outputs");
            continue;
        }
        let Some(column) = column else { continue };
        if cells[0].starts_with("---") {
            continue;
        }
        let kind = cells[0].trim_matches('`').to_string();
        let names = output_names(cells[column]);
        assert!(
            out.insert(kind.clone(), names).is_none(),
            "{doc}: `{kind}` has two rows"
        );
    }
    out
}

/// The output names in a table cell: each backticked span is a list of
/// names separated by commas, a name perhaps followed by `: shape`;
/// parentheses explain (values, conditions) and hold no names, and a span
/// followed by a colon (with `paths`: …) names a parameter, not an output.
fn output_names(cell: &str) -> BTreeSet<String> {
    let mut plain = String::new();
    let mut depth = 0;
    let mut in_code = false;
    for c in cell.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                if depth == 0 {
                    plain.push(c);
                }
            }
            '(' if !in_code => depth += 1,
            ')' if !in_code => depth -= 1,
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let mut names = BTreeSet::new();
    let pieces: Vec<&str> = plain.split('`').collect();
    let spans = pieces
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .filter(|(i, _)| {
            !pieces
                .get(i + 1)
                .is_some_and(|after| after.starts_with(':'))
        });
    for (_, span) in spans {
        let mut level = 0;
        let mut part = String::new();
        for c in span.chars().chain([',']) {
            match c {
                '[' | '{' => level += 1,
                ']' | '}' => level -= 1,
                ',' if level == 0 => {
                    let name = part.split(':').next().unwrap().trim().to_string();
                    assert!(
                        !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                        "`{name}` in `{cell}` is not an output name; put explanations in parentheses"
                    );
                    names.insert(name);
                    part.clear();
                    continue;
                }
                _ => {}
            }
            part.push(c);
        }
    }
    names
}

/// Every kind's declared outputs, the engine's kinds included.
fn declared_outputs() -> BTreeMap<String, BTreeSet<String>> {
    let mut declared: BTreeMap<String, BTreeSet<String>> = registry()
        .kinds()
        .map(|k| {
            let names = k.outputs().iter().map(|o| o.name.to_string()).collect();
            (k.name().to_string(), names)
        })
        .collect();
    for (name, _) in EngineKind::ALL {
        let kind = EngineKind::from_name(name).unwrap();
        let names = kind.outputs().iter().map(|o| o.name.to_string()).collect();
        declared.insert(name.to_string(), names);
    }
    declared
}

/// What differs between the declarations and a doc's kind tables; with
/// `every_kind`, a kind without a row differs too.
fn differences(doc: &str, every_kind: bool) -> Vec<String> {
    let declared = declared_outputs();
    let documented = documented_outputs(doc);
    let kinds: BTreeSet<&String> = declared.keys().chain(documented.keys()).collect();
    let mut wrong = Vec::new();
    for kind in kinds {
        match (declared.get(kind), documented.get(kind)) {
            (Some(d), Some(doc)) if d == doc => {}
            (Some(d), Some(doc)) => {
                wrong.push(format!("`{kind}` declares {d:?}, the doc says {doc:?}"))
            }
            (Some(_), None) if every_kind => wrong.push(format!("`{kind}` has no row")),
            (Some(_), None) => {}
            (None, _) => wrong.push(format!("`{kind}` has a row but is not a kind")),
        }
    }
    wrong
}

/// Every kind, the engine's included, has one row in docs/step-kinds.md,
/// whose outputs column names exactly the outputs the kind declares.
#[test]
fn the_outputs_documented_in_step_kinds_md_are_the_declared_ones() {
    let wrong = differences("docs/step-kinds.md", true);
    assert!(
        wrong.is_empty(),
        "docs/step-kinds.md:\n{}",
        wrong.join("\n")
    );
}

/// The other docs' kind tables (crypto and checksum kinds, the engine's
/// kinds) say the same.
#[test]
fn the_outputs_in_the_other_docs_kind_tables_are_the_declared_ones() {
    for doc in ["docs/backup-encryption-format.md", "docs/runbook-format.md"] {
        let wrong = differences(doc, false);
        assert!(wrong.is_empty(), "{doc}:\n{}", wrong.join("\n"));
    }
}
