//! `lifeboat schema` prints a JSON Schema of the runbook format that a real
//! validator (Python's `jsonschema`, from the test venv) accepts as a
//! draft 2020-12 schema, that every shipped runbook satisfies, and that
//! refuses what `validate` would call a misspelt field. Runbooks are read
//! as JSON by the same YAML parser the engine uses (serde-saphyr), as the
//! YAML language server reads them in an editor.

mod util;

use std::path::{Path, PathBuf};

use util::{workspace, Sandbox};

/// Checks the schema itself, then validates each document against it:
/// prints `OK <name>` or `INVALID <name>: <path>: <message>` per document.
const VALIDATE_PY: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
validator = Draft202012Validator(schema)
for path in sys.argv[2:]:
    doc = json.load(open(path))
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    name = path.rsplit("/", 1)[-1]
    if errors:
        for e in errors:
            where = "/".join(str(p) for p in e.absolute_path)
            print(f"INVALID {name}: {where}: {e.message[:300]}")
    else:
        print(f"OK {name}")
"#;

/// The venv's Python; the test fails, never skips, without it.
fn python() -> PathBuf {
    lifeboat_harness::tools::find_binary(
        "python",
        "LIFEBOAT_PYTHON",
        "run `tests/run` once to create target/lifeboat-venv (it installs `jsonschema`)",
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Writes the schema `lifeboat schema` prints into the sandbox.
fn schema_file(sandbox: &Sandbox) -> PathBuf {
    let ran = sandbox.test().args(["schema"]).status(0).stderr("").run();
    serde_json::from_str::<serde_json::Value>(&ran.stdout).expect("the schema is JSON");
    sandbox.write("lifeboat.schema.json", &ran.stdout)
}

/// Each runbook (`name`, YAML text) as JSON in the sandbox, validated:
/// one `OK`/`INVALID` line per problem, sorted by runbook.
fn check(sandbox: &Sandbox, runbooks: &[(String, String)]) -> String {
    let schema = schema_file(sandbox);
    let mut files = Vec::new();
    for (name, yaml) in runbooks {
        let value: serde_json::Value = serde_saphyr::from_str(yaml)
            .unwrap_or_else(|e| panic!("{name} is not YAML the engine reads: {e}"));
        files.push(sandbox.write(&format!("{name}.json"), &value.to_string()));
    }
    let script = sandbox.write("validate.py", VALIDATE_PY);
    let out = std::process::Command::new(python())
        .arg(&script)
        .arg(&schema)
        .args(&files)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "the schema check failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn shipped_runbooks(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            shipped_runbooks(&path, found);
        } else if path.extension().is_some_and(|e| e == "yaml")
            && !path.to_string_lossy().ends_with(".inputs.yaml")
        {
            found.push(path);
        }
    }
}

#[test]
fn every_shipped_runbook_validates_against_the_schema() {
    let mut paths = Vec::new();
    shipped_runbooks(&workspace().join("runbooks"), &mut paths);
    paths.sort();
    assert!(paths.len() >= 8, "found only {paths:?}");
    let runbooks: Vec<(String, String)> = paths
        .iter()
        .map(|p| {
            let name = p
                .strip_prefix(workspace())
                .unwrap()
                .to_string_lossy()
                .replace('/', "__");
            (name, std::fs::read_to_string(p).unwrap())
        })
        .collect();
    let sandbox = Sandbox::new();
    let report = check(&sandbox, &runbooks);
    let expected: String = runbooks
        .iter()
        .map(|(name, _)| format!("OK {name}.json\n"))
        .collect();
    assert_eq!(report, expected);
}

const GOOD: &str = r#"# yaml-language-server: $schema=./lifeboat.schema.json
version: 1
name: schema-check
inputs:
  addr: { type: string, default: "http://127.0.0.1:8200" }
  keys: { type: secret, env: LIFEBOAT_UNSEAL_KEYS }
  shares: { type: integer, default: 5 }
rto: { target: 30m, stop_at: unseal }
steps:
  - id: init
    kind: vault.init
    with: { addr: "{{ inputs.addr }}", secret_shares: "{{ inputs.shares }}", secret_threshold: 3 }
  - id: unseal
    kind: vault.unseal
    needs: init
    with: { addr: "{{ inputs.addr }}", keys: "{{ inputs.keys }}" }
    retry: { attempts: 3, delay: 1s, backoff: 2 }
    until: { that: "not outputs.sealed", message: "still sealed" }
  - id: gate
    kind: approval
    needs: [unseal]
    with: { prompt: "go on?", on_timeout: reject, timeout: 10m }
"#;

#[test]
fn the_schema_refuses_a_misspelt_field_and_a_misspelt_parameter() {
    let sandbox = Sandbox::new();
    let runbooks = vec![
        ("good".to_string(), GOOD.to_string()),
        (
            "step_field".to_string(),
            GOOD.replace("needs: init", "neeeds: init"),
        ),
        (
            "parameter".to_string(),
            GOOD.replace("keys: \"{{ inputs.keys }}\"", "keyz: \"{{ inputs.keys }}\""),
        ),
        ("top_field".to_string(), GOOD.replace("rto:", "rot:")),
        (
            "kind".to_string(),
            GOOD.replace("kind: vault.unseal", "kind: vault.unseel"),
        ),
        (
            "literal_type".to_string(),
            GOOD.replace("secret_threshold: 3", "secret_threshold: three"),
        ),
    ];
    let report = check(&sandbox, &runbooks);
    let lines: Vec<&str> = report.lines().collect();
    let first = |name: &str| {
        lines
            .iter()
            .find(|l| l.contains(&format!(" {name}.json")))
            .unwrap_or_else(|| panic!("no line for {name}:\n{report}"))
            .to_string()
    };
    assert_eq!(first("good"), "OK good.json");
    assert!(
        first("step_field").starts_with("INVALID step_field.json: steps/1: ")
            && first("step_field").contains("'neeeds'"),
        "{report}"
    );
    assert!(
        first("parameter").starts_with("INVALID parameter.json: steps/1/with: ")
            || first("parameter").starts_with("INVALID parameter.json: steps/1: "),
        "{report}"
    );
    assert!(report.contains("'keyz'"), "{report}");
    assert!(
        first("top_field").starts_with("INVALID top_field.json: : ")
            && first("top_field").contains("'rot'"),
        "{report}"
    );
    assert!(
        first("kind").starts_with("INVALID kind.json: steps/1/kind: "),
        "{report}"
    );
    assert!(first("literal_type").contains("steps/0/with"), "{report}");
}
