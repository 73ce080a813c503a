//! A store holding real, failed and drill runs, made by really running
//! small runbooks (the scorecard and metrics tests read it).

use crate::util::Sandbox;

/// A restore with a human gate: real runs pause at `go`, are approved by
/// `bob` and resumed; `--input fail=true` makes `restore` fail.
pub const RESTORE: &str = r#"version: 1
name: restore
title: Restore the cluster
scenario: full-cluster-loss
rto: { target: 1m }
inputs:
  fail: { type: boolean, default: false }
steps:
  - id: fetch
    kind: shell
    with: { script: "sleep 0.3" }
    estimate: 20s
  - id: go
    kind: approval
    needs: [fetch]
    with: { prompt: "Restore now?" }
    estimate: 2m
  - id: restore
    kind: shell
    needs: [go]
    with: { run: ["test", "{{ inputs.fail }}", "=", "false"] }
    estimate: 30s
"#;

/// A runbook only ever drilled, whose estimates exceed its target.
pub const NIGHTLY: &str = r#"version: 1
name: nightly
title: Nightly "export" \ check
scenario: nightly "backup" \ export
rto: { target: 10s }
steps:
  - id: export
    kind: shell
    with: { run: ["true"] }
    estimate: 1m
  - id: confirm
    kind: manual
    needs: [export]
    with: { instructions: "Check the export landed." }
    estimate: 30s
"#;

/// A real run of `file` through its approval gate: run (paused, exit 3),
/// `approve --as bob`, `resume` (exit `end`). Returns the run id.
pub fn real_run(sandbox: &Sandbox, file: &str, inputs: &[&str], end: i32) -> String {
    let mut args = vec!["run", file, "--new"];
    args.extend_from_slice(inputs);
    let ran = sandbox.run(&args);
    ran.expect_code(3);
    let id = ran.run_id();
    sandbox
        .run(&["approve", &id, "go", "--as", "bob"])
        .expect_code(0);
    sandbox.run(&["resume", &id]).expect_code(end);
    id
}

/// `nightly` drilled, then (after `gap_ms`) `restore` run for real twice
/// (one success, one failure) and drilled. Returns the sandbox.
pub fn store_with_runs(gap_ms: u64) -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write("nightly.yaml", NIGHTLY);
    sandbox.write("restore.yaml", RESTORE);
    sandbox
        .run(&["run", "nightly.yaml", "--dry-run"])
        .expect_code(0);
    std::thread::sleep(std::time::Duration::from_millis(gap_ms));
    real_run(&sandbox, "restore.yaml", &[], 0);
    real_run(&sandbox, "restore.yaml", &["--input", "fail=true"], 1);
    sandbox
        .run(&["run", "restore.yaml", "--dry-run"])
        .expect_code(0);
    sandbox
}
