//! Regressions of human gates (approvals and manual steps), one test per
//! reported problem, through the binary without a terminal.

mod util;

use serde_json::Value;
use util::{Ran, Sandbox};

/// The records of one type about one step.
fn records<'a>(journal: &'a [Value], ty: &str, step: &str) -> Vec<&'a Value> {
    journal
        .iter()
        .filter(|r| r["type"] == ty && r["step"] == step)
        .collect()
}

fn ms(ts: &Value) -> i64 {
    ts.as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_millisecond())
        .unwrap_or_else(|| panic!("not a time: {ts}"))
}

fn decide(sb: &Sandbox, args: &[&str]) -> Ran {
    let ran = sb.run(args);
    ran.expect_code(0);
    ran
}

#[test]
fn one_gates_rejection_keeps_other_gates_decisions() {
    let sb = Sandbox::new();
    sb.write(
        "gates.yaml",
        r#"
version: 1
name: gates
steps:
  - id: b
    kind: approval
    with: { prompt: "Drop the old cluster?" }
  - id: a
    kind: approval
    with: { prompt: "Restore?", min_approvals: 2 }
  - id: m
    kind: manual
    with: { instructions: "Switch DNS" }
"#,
    );
    let ran = sb.run(&["run", "gates.yaml"]);
    ran.expect_code(3);
    let run = ran.run_id();
    decide(&sb, &["approve", &run, "a", "--as", "alice"]);
    decide(&sb, &["approve", &run, "a", "--as", "bob"]);
    decide(&sb, &["confirm", &run, "m", "--as", "carol"]);
    decide(&sb, &["reject", &run, "b", "--as", "dave"]);
    let resumed = sb.run(&["resume", &run]);
    resumed.expect_code(1);
    let journal = sb.journal(&run);
    let a = records(&journal, "step_succeeded", "a");
    assert_eq!(
        a.len(),
        1,
        "approved gate did not succeed\n{}",
        resumed.dump()
    );
    assert_eq!(
        a[0]["outputs"]["approvers"],
        serde_json::json!(["alice", "bob"])
    );
    let m = records(&journal, "step_succeeded", "m");
    assert_eq!(
        m.len(),
        1,
        "confirmed manual step did not succeed\n{}",
        resumed.dump()
    );
    assert_eq!(m[0]["outputs"]["confirmed_by"], "carol");
    assert_eq!(records(&journal, "step_failed", "b").len(), 1);
    assert!(
        records(&journal, "step_skipped", "m").is_empty(),
        "{}",
        resumed.dump()
    );
}

#[test]
fn on_timeout_approve_gate_survives_another_gates_timeout_reject() {
    let sb = Sandbox::new();
    sb.write(
        "timeouts.yaml",
        r#"
version: 1
name: timeouts
steps:
  - id: strict
    kind: approval
    with: { prompt: "Strict?", timeout: 1s, on_timeout: reject }
  - id: lenient
    kind: approval
    with: { prompt: "Lenient?", timeout: 1s, on_timeout: approve }
"#,
    );
    let ran = sb.run(&["run", "timeouts.yaml"]);
    ran.expect_code(3);
    let run = ran.run_id();
    // Both timeouts pass while the run is paused.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let resumed = sb.run(&["resume", &run]);
    resumed.expect_code(1);
    let journal = sb.journal(&run);
    assert_eq!(records(&journal, "step_failed", "strict").len(), 1);
    assert_eq!(
        records(&journal, "step_succeeded", "lenient").len(),
        1,
        "{}",
        resumed.dump()
    );
}

#[test]
fn third_approval_of_two_of_n_gate_is_refused() {
    let sb = Sandbox::new();
    sb.write(
        "two.yaml",
        r#"
version: 1
name: two
steps:
  - id: gate
    kind: approval
    with: { prompt: "Go?", min_approvals: 2, approvers: [alice, bob, carol] }
"#,
    );
    let ran = sb.run(&["run", "two.yaml"]);
    ran.expect_code(3);
    let run = ran.run_id();
    decide(&sb, &["approve", &run, "gate", "--as", "alice"]);
    decide(&sb, &["approve", &run, "gate", "--as", "bob"]);
    let journal = std::fs::read(sb.run_dir(&run).join("journal.jsonl")).unwrap();
    let third = sb.run(&["approve", &run, "gate", "--as", "carol"]);
    third.expect_code(2);
    assert_eq!(
        third.stderr.trim(),
        "error: `gate` already has the 2 approval(s) it needs (alice, bob); no further decision is taken — `lifeboat resume` continues the run; nothing was recorded",
        "{}",
        third.dump()
    );
    let after = std::fs::read(sb.run_dir(&run).join("journal.jsonl")).unwrap();
    assert_eq!(journal, after, "a refused decision changed the journal");
}

#[test]
fn approval_duration_ends_at_the_decision() {
    let sb = Sandbox::new();
    sb.write(
        "timed.yaml",
        r#"
version: 1
name: timed
steps:
  - id: gate
    kind: approval
    with: { prompt: "Go?" }
"#,
    );
    let ran = sb.run(&["run", "timed.yaml"]);
    ran.expect_code(3);
    let run = ran.run_id();
    decide(&sb, &["approve", &run, "gate", "--as", "alice"]);
    // The resume comes well after the decision.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    sb.run(&["resume", &run]).expect_code(0);
    let journal = sb.journal(&run);
    let asked = ms(&records(&journal, "approval_requested", "gate")[0]["ts"]);
    let decided = ms(&records(&journal, "approval", "gate")[0]["ts"]);
    let done = &records(&journal, "step_succeeded", "gate")[0];
    assert_eq!(
        done["duration_ms"].as_i64(),
        Some(decided - asked),
        "{done}"
    );
}

#[test]
fn manual_step_in_a_drill_renders_placeholders() {
    let sb = Sandbox::new();
    sb.write(
        "drill.yaml",
        r#"
version: 1
name: drill
steps:
  - id: m
    kind: manual
    with: { instructions: "Switch DNS" }
  - id: log
    kind: shell
    needs: [m]
    with: { script: "echo switched by {{ steps.m.outputs.confirmed_by }}" }
"#,
    );
    let ran = sb.run(&["run", "drill.yaml", "--dry-run"]);
    ran.expect_code(0);
    assert!(
        ran.stdout
            .contains("<dry-run:steps.m.outputs.confirmed_by>"),
        "{}",
        ran.dump()
    );
}

/// The runbook of the `--allow-changed` tests: a gate guarding a step.
fn guarded(min_approvals: u32, command: &str) -> String {
    format!(
        r#"
version: 1
name: guarded
steps:
  - id: gate
    kind: approval
    with: {{ prompt: "Wipe the old cluster?", min_approvals: {min_approvals} }}
  - id: wipe
    kind: shell
    needs: [gate]
    with: {{ script: "{command}" }}
"#
    )
}

#[test]
fn lowered_min_approvals_reopens_the_gate() {
    let sb = Sandbox::new();
    sb.write("guarded.yaml", &guarded(2, "touch wiped"));
    let ran = sb.run(&["run", "guarded.yaml"]);
    ran.expect_code(3);
    let run = ran.run_id();
    decide(&sb, &["approve", &run, "gate", "--as", "alice"]);
    sb.write("guarded.yaml", &guarded(1, "touch wiped"));
    let resumed = sb.run(&["resume", &run, "--allow-changed"]);
    resumed.expect_code(3);
    assert!(
        !sb.work_dir(&run).join("wiped").exists(),
        "{}",
        resumed.dump()
    );
    assert_eq!(
        records(&sb.journal(&run), "approval_requested", "gate").len(),
        2
    );
}

#[test]
fn changed_guarded_step_reopens_the_gate() {
    let sb = Sandbox::new();
    sb.write("guarded.yaml", &guarded(1, "touch wiped"));
    let ran = sb.run(&["run", "guarded.yaml"]);
    ran.expect_code(3);
    let run = ran.run_id();
    decide(&sb, &["approve", &run, "gate", "--as", "alice"]);
    sb.write("guarded.yaml", &guarded(1, "touch wiped-everything"));
    let resumed = sb.run(&["resume", &run, "--allow-changed"]);
    resumed.expect_code(3);
    assert!(
        !sb.work_dir(&run).join("wiped-everything").exists(),
        "{}",
        resumed.dump()
    );
    // Approved again for what it now permits, it runs.
    decide(&sb, &["approve", &run, "gate", "--as", "bob"]);
    sb.run(&["resume", &run]).expect_code(0);
    assert!(sb.work_dir(&run).join("wiped-everything").exists());
}
