//! Every kind declares its outputs (name, type, secret, one line of doc):
//! `validate` checks subscripted reads against them as it checks dotted
//! ones, `lifeboat kinds KIND` prints them with the kind's parameters, and
//! the output table of `docs/step-kinds.md` is generated from them.

mod util;

use util::{workspace, Test, RUNBOOK};

#[test]
fn a_subscripted_output_is_checked_like_a_dotted_one() {
    Test::new()
        .runbook(
            r#"version: 1
name: outputs
steps:
  - id: a
    kind: shell
    with: { run: ["echo", "hello"] }
    until: "outputs['exit_cod'] == 0"
  - id: b
    kind: shell
    needs: [a]
    with: { run: ["echo", "{{ steps.a.outputs[\"stdot\"] }}", "{{ steps['a'].outputs.stdout }}"] }
"#,
        )
        .args(["validate", RUNBOOK])
        .status(2)
        .stdout("")
        .stderr(
            r#"error: step `a` reads `outputs.exit_cod`, but a `shell` step has no output `exit_cod`
  --> runbook.yaml:7:12
  |
7 |     until: "outputs['exit_cod'] == 0"
  |            ^^^^^^^^^^^^^^^^^^^^^^^^
   = help: did you mean `exit_code`? a `shell` step's outputs are: exit_code, stdout, stderr, json

error: step `b` reads `steps.a.outputs.stdot`, but a `shell` step has no output `stdot`
  --> runbook.yaml:11:27
   |
11 |     with: { run: ["echo", "{{ steps.a.outputs[\"stdot\"] }}", "{{ steps['a'].outputs.stdout }}"] }
   |                           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
   = help: did you mean `stdout`? a `shell` step's outputs are: exit_code, stdout, stderr, json

runbook.yaml: 2 errors
"#,
        )
        .run();
}

#[test]
fn what_lies_below_a_declared_output_stays_free() {
    Test::new()
        .runbook(
            r#"version: 1
name: outputs
steps:
  - id: a
    kind: shell
    with: { run: ["echo", "{}"] }
  - id: b
    kind: shell
    needs: [a]
    with: { run: ["echo", "{{ steps.a.outputs['json']['any-key'] }}", "{{ steps.a.outputs.json[\"x\"].y }}", "{{ steps.a.outputs['stdout'] }}"] }
"#,
        )
        .args(["validate", RUNBOOK])
        .status(0)
        .run();
}

#[test]
fn kinds_lists_every_kind_with_one_line() {
    let ran = Test::new().args(["kinds"]).status(0).stderr("").run();
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with("vault.unseal ")),
        "{}",
        ran.stdout
    );
    assert!(
        lines.iter().any(|l| l.starts_with("approval ")),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .ends_with("\n`lifeboat kinds KIND` shows a kind's parameters and outputs.\n"),
        "{}",
        ran.stdout
    );
}

#[test]
fn kinds_kind_prints_the_parameters_and_the_outputs() {
    let ran = Test::new()
        .args(["kinds", "vault.kv.get"])
        .status(0)
        .stderr("")
        .run();
    ran.snapshot_settings()
        .bind(|| insta::assert_snapshot!(ran.stdout));
    let ran = Test::new()
        .args(["kinds", "approval"])
        .status(0)
        .stderr("")
        .run();
    ran.snapshot_settings()
        .bind(|| insta::assert_snapshot!(ran.stdout));
}

#[test]
fn kinds_kind_as_json_gives_types_secrets_and_the_parameters_schema() {
    let ran = Test::new()
        .args(["kinds", "vault.init", "--output", "json"])
        .status(0)
        .stderr("")
        .run();
    let v: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(v["kind"], "vault.init");
    let outputs = v["outputs"].as_array().unwrap();
    let root = outputs.iter().find(|o| o["name"] == "root_token").unwrap();
    assert_eq!(root["type"], "string");
    assert_eq!(root["secret"], true);
    let count = outputs.iter().find(|o| o["name"] == "key_count").unwrap();
    assert_eq!(
        (count["type"].as_str(), count["secret"].as_bool()),
        (Some("integer"), Some(false))
    );
    let params = v["parameters"].as_array().unwrap();
    let shares = params
        .iter()
        .find(|p| p["name"] == "secret_shares")
        .unwrap();
    assert_eq!(shares["type"], "integer");
    assert_eq!(shares["required"], false);
    assert!(
        v["parameters_schema"]["properties"]["addr"].is_object(),
        "{v}"
    );
    assert_eq!(v["parameters_schema"]["additionalProperties"], false);
}

#[test]
fn an_unknown_kind_gets_a_suggestion() {
    Test::new()
        .args(["kinds", "vault.unseel"])
        .status(2)
        .stdout("")
        .stderr("error: unknown step kind `vault.unseel`; did you mean `vault.unseal`? `lifeboat kinds` lists every kind\n")
        .run();
}

const BEGIN: &str = "<!-- outputs:begin";
const END: &str = "<!-- outputs:end -->";

/// The table under "Every output" in docs/step-kinds.md is the one the
/// declarations generate (type, secret, doc included). With
/// `LIFEBOAT_UPDATE_DOCS=1` the test rewrites it instead.
#[test]
fn the_output_table_of_step_kinds_md_is_generated_from_the_declarations() {
    let path = workspace().join("docs/step-kinds.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let begin = doc
        .find(BEGIN)
        .expect("docs/step-kinds.md has the outputs:begin marker");
    let begin = begin + doc[begin..].find('\n').unwrap() + 1;
    let end = doc
        .find(END)
        .expect("docs/step-kinds.md has the outputs:end marker");
    let table = lifeboat::outputs_markdown(&lifeboat::registry());
    if std::env::var_os("LIFEBOAT_UPDATE_DOCS").is_some() {
        let updated = format!("{}{table}{}", &doc[..begin], &doc[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        doc[begin..end] == table,
        "docs/step-kinds.md's output table differs from the declarations; run `LIFEBOAT_UPDATE_DOCS=1 cargo test -p lifeboat --test declared_outputs` and commit the result.\nexpected:\n{table}"
    );
}
