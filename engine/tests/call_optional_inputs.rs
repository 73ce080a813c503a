//! A call passes an optional input that is unset (`null`) to a called
//! runbook that declares it optional: the called runbook sees it unset,
//! for strings and secrets alike (the S3 endpoint and credentials of the
//! Vault restore sub-runbook, unset for AWS with an instance role).

mod util;

use util::{workspace, Sandbox};

#[test]
fn an_unset_optional_input_passed_to_a_call_is_unset_there() {
    let sb = Sandbox::new();
    let lib = sb.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(
        lib.join("child.yaml"),
        r#"version: 1
name: child
inputs:
  endpoint: { type: string, optional: true }
  key: { type: secret, env: CHILD_KEY, optional: true }
steps:
  - id: show
    kind: shell
    with: { run: ["echo", "{{ inputs.endpoint or 'no-endpoint' }} {{ 'no-key' if inputs.key is none else 'key' }}"] }
"#,
    )
    .unwrap();
    sb.write(
        "main.yaml",
        r#"version: 1
name: main
inputs:
  endpoint: { type: string, optional: true }
  key: { type: secret, env: MAIN_KEY, optional: true }
steps:
  - id: call
    kind: runbook
    with:
      file: lib/child.yaml
      inputs: { endpoint: "{{ inputs.endpoint }}", key: "{{ inputs.key }}" }
"#,
    );
    let ran = sb.run(&["run", "main.yaml"]);
    ran.expect_code(0);
    let journal = sb.journal(&ran.run_id());
    let shown = journal
        .iter()
        .find(|r| r["type"] == "step_succeeded" && r["step"] == "call/show")
        .unwrap_or_else(|| panic!("`call/show` succeeded\n{}", ran.dump()));
    assert_eq!(shown["outputs"]["stdout"], "no-endpoint no-key");
}

/// The README's drill of full-cluster-loss, with no AWS credentials in the
/// environment: the restore sub-runbook gets them unset and the drill
/// passes.
#[test]
fn the_full_cluster_loss_drill_needs_no_s3_credentials() {
    let sb = Sandbox::new();
    let dir = workspace().join("runbooks/vault");
    let ran = sb.run(&[
        "run",
        dir.join("full-cluster-loss.yaml").to_str().unwrap(),
        "--inputs",
        dir.join("full-cluster-loss.inputs.yaml").to_str().unwrap(),
        "--dry-run",
    ]);
    ran.expect_code(0);
}
