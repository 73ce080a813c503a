//! The parameters column of every kind table in docs/step-kinds.md names
//! exactly the parameters the kind declares (`StepKind::parameters`, the
//! JSON Schema derived from the struct `check` uses), its family's
//! connection fields aside: those have a table of their own. (The outputs
//! column is checked against `StepKind::outputs` by the engine's
//! `regression_outputs.rs`.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use lifeboat_steps::Registry;

/// `kind → parameters cell` for every table with a `parameters` column.
fn documented(doc: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(doc)).unwrap();
    let mut rows = BTreeMap::new();
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
            column = cells.iter().position(|c| *c == "parameters");
            continue;
        }
        let Some(column) = column else { continue };
        if cells[0].starts_with("---") {
            continue;
        }
        let kind = cells[0].trim_matches('`').to_string();
        assert!(
            rows.insert(kind.clone(), cells[column].to_string())
                .is_none(),
            "{doc}: `{kind}` has two rows"
        );
    }
    rows
}

/// The parameter names in a cell: the first name of each comma-separated
/// part of every code span outside parentheses (`expect?: {a?, b?}` is
/// `expect`); a span that opens with `[` or `{` is another form of the
/// one before it.
fn names(cell: &str) -> BTreeSet<String> {
    let mut plain = String::new();
    let (mut depth, mut in_code) = (0, false);
    for c in cell.chars() {
        match c {
            '`' if depth == 0 => {
                in_code = !in_code;
                plain.push(c);
            }
            '(' if !in_code => depth += 1,
            ')' if !in_code => depth -= 1,
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let mut names = BTreeSet::new();
    for span in plain.split('`').skip(1).step_by(2) {
        if span.starts_with(['[', '{']) {
            continue;
        }
        let mut level = 0;
        let mut part = String::new();
        for c in span.chars().chain([',']) {
            match c {
                '[' | '{' => level += 1,
                ']' | '}' => level -= 1,
                ',' if level == 0 => {
                    let name = part.split(':').next().unwrap().trim().trim_end_matches('?');
                    names.insert(name.to_string());
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

#[test]
fn the_parameters_documented_in_step_kinds_md_are_the_declared_ones() {
    let registry = Registry::builtin();
    let mut wrong = Vec::new();
    let rows = documented("../docs/step-kinds.md");
    assert!(
        rows.contains_key("vault.kv.export"),
        "the tables were found"
    );
    for (kind, cell) in &rows {
        let Some(k) = registry.get(kind) else {
            wrong.push(format!("`{kind}` has a row but is not a kind"));
            continue;
        };
        let connection: &[&str] = if kind.starts_with("vault.") {
            lifeboat_steps::vault::CONNECTION_FIELDS
        } else if kind.starts_with("s3.") {
            lifeboat_steps::s3::connection::FIELDS
        } else {
            &[]
        };
        let declared: BTreeSet<String> = k.parameters()["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        let declared: BTreeSet<String> = declared
            .into_iter()
            .filter(|name| !connection.contains(&name.as_str()))
            .collect();
        let doc = names(cell);
        if doc != declared {
            wrong.push(format!(
                "`{kind}` declares {declared:?}, docs/step-kinds.md says {doc:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
