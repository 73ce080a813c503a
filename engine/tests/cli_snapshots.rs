//! What users read, pinned whole by insta snapshots (`snapshots/cli_snapshots__*.snap`):
//! `validate` of a good and a bad runbook, `plan`, a dry run, a real run
//! then `status` (text and JSON) and its `timeline.md`, and the `--help` of
//! the program and of every subcommand. Times, durations, run ids and paths
//! are filtered by `util::snapshot_settings`; runs use `--max-parallel 1`
//! so their lines come in one order. A new subcommand fails
//! `every_subcommand_has_a_help_snapshot` until its help is snapshotted.

mod util;

use util::{Test, RUNBOOK};

/// A small runbook with an input, parallel steps, a checkpoint, an RTO and
/// a `finally` step: enough for every view to have something to show.
const DRILL: &str = r#"version: 1
name: snap-drill
title: Snapshot drill
scenario: full-cluster-loss
rto: { target: 10m, stop_at: verify }
inputs:
  region:
    type: string
    default: eu-west-1
    description: where to restore
steps:
  - id: fetch
    title: Fetch the backup
    kind: shell
    rerun: safe
    with: { run: ["echo", "fetched from {{ inputs.region }}"] }
    estimate: 2s
  - id: inspect
    kind: shell
    read_only: true
    with: { run: ["true"] }
    estimate: 1s
  - id: fetched
    kind: checkpoint
    needs: [fetch, inspect]
    with: { description: "the backup is local" }
  - id: restore
    kind: shell
    needs: [fetched]
    rerun: never
    with: { script: "echo restored" }
    estimate: 5s
  - id: verify
    kind: assert
    needs: [restore]
    with:
      that: ["steps.restore.outputs.stdout == 'restored'"]
      message: "the restore printed something else"
finally:
  - id: cleanup
    kind: shell
    with: { run: ["true"] }
"#;

/// Three mistakes, reported in one pass.
const BROKEN: &str = r#"version: 1
name: broken
steps:
  - id: fetch
    kind: shel
    with: { run: ["true"] }
  - id: restore
    kind: shell
    needs: [fetc]
    with: { run: ["true"] }
    timeout: soon
"#;

#[test]
fn validate_a_valid_runbook() {
    let ran = Test::new().runbook(DRILL).args(["validate", RUNBOOK]).run();
    ran.snapshot_settings()
        .bind(|| insta::assert_snapshot!(ran.transcript()));
}

#[test]
fn validate_a_runbook_with_errors() {
    let ran = Test::new()
        .runbook(BROKEN)
        .args(["validate", RUNBOOK])
        .status(2)
        .stdout("")
        .run();
    ran.snapshot_settings()
        .bind(|| insta::assert_snapshot!(ran.stderr));
}

/// Nothing in a plan varies (its estimates come from the runbook: a fresh
/// sandbox has no earlier runs), so it is pinned unfiltered.
#[test]
fn plan_of_a_runbook() {
    let ran = Test::new()
        .runbook(DRILL)
        .args(["plan", RUNBOOK])
        .stderr("")
        .run();
    insta::assert_snapshot!(ran.stdout);
}

#[test]
fn dry_run_of_a_runbook() {
    let ran = Test::new()
        .runbook(DRILL)
        .args(["run", RUNBOOK, "--dry-run", "--input", "region=us-east-2"])
        .args(["--max-parallel", "1"])
        .run();
    ran.snapshot_settings()
        .bind(|| insta::assert_snapshot!(ran.transcript()));
}

#[test]
fn dry_run_of_the_shipped_example() {
    let example = util::workspace().join("runbooks/examples/restore-drill.yaml");
    let ran = Test::new()
        .arg("run")
        .arg(&example)
        .args(["--dry-run", "--max-parallel", "1"])
        .run();
    ran.snapshot_settings()
        .bind(|| insta::assert_snapshot!(ran.transcript()));
}

/// A real run, then what `status` and the timeline say about it.
#[test]
fn a_run_then_its_status_and_timeline() {
    let ran = Test::new()
        .runbook(DRILL)
        .args(["run", RUNBOOK, "--max-parallel", "1"])
        .run();
    let settings = ran.snapshot_settings();
    settings.bind(|| insta::assert_snapshot!("run", ran.transcript()));
    let id = ran.run_id();

    let status = ran.test().args(["status", &id]).stderr("").run();
    settings.bind(|| insta::assert_snapshot!("status", status.stdout));

    let json = ran
        .test()
        .args(["status", &id, "--output", "json"])
        .stderr("")
        .run();
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("status is JSON");
    settings.bind(|| {
        insta::assert_snapshot!(
            "status_json",
            serde_json::to_string_pretty(&doc).expect("JSON prints")
        )
    });

    let md = std::fs::read_to_string(ran.sandbox.run_dir(&id).join("timeline.md"))
        .expect("the run wrote timeline.md");
    settings.bind(|| insta::assert_snapshot!("timeline_md", md));
    // `lifeboat timeline` prints the same file.
    ran.test().args(["timeline", &id]).stdout(&md).run();
}

/// The subcommands `lifeboat --help` lists, in order.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn top_level_help() {
    let ran = Test::new().arg("--help").stderr("").run();
    ran.snapshot_settings()
        .bind(|| insta::assert_snapshot!(ran.stdout));
}

/// Every subcommand's `--help` is pinned; the list of subcommands is too,
/// so one added without a snapshot fails here (CI runs insta with
/// `CI=true`, where a missing snapshot is an error).
#[test]
fn every_subcommand_has_a_help_snapshot() {
    let top = Test::new().arg("--help").run();
    let commands = subcommands(&top.stdout);
    assert!(
        commands.len() >= 14,
        "cannot read the subcommands from `lifeboat --help`\n{}",
        top.dump()
    );
    let settings = top.snapshot_settings();
    settings.bind(|| insta::assert_snapshot!("subcommands", commands.join("\n")));
    for command in &commands {
        if command == "help" {
            // clap's `help` takes no `--help`; alone it prints the top-level help.
            top.test().arg("help").stdout(&top.stdout).run();
            continue;
        }
        let ran = top
            .test()
            .args([command.as_str(), "--help"])
            .stderr("")
            .run();
        settings.bind(|| insta::assert_snapshot!(format!("help_{command}"), ran.stdout));
    }
}

/// The driver's own promise: a mismatch fails the test and says what ran,
/// where, with which environment (secret-looking values hidden), which
/// files the sandbox holds, and both streams.
#[test]
fn a_mismatch_names_the_command_its_files_and_both_streams() {
    let sandbox = util::Sandbox::new();
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sandbox
            .test()
            .runbook(BROKEN)
            .env("LIFEBOAT_TEST_TOKEN", "tok-not-shown")
            .env("LIFEBOAT_REGION", "eu-west-1")
            .args(["validate", RUNBOOK])
            .stdout("runbook.yaml: ok\n")
            .run()
    }));
    let message = failed
        .err()
        .and_then(|e| e.downcast::<String>().ok())
        .expect("a mismatch panics with a message");
    assert!(!message.contains("tok-not-shown"), "{message}");
    util::snapshot_settings(sandbox.path()).bind(|| insta::assert_snapshot!(message));
}
