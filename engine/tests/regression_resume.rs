//! One test per reported problem with resume, drills and projections
//! ("The Vault runbooks survive real use", "The engine keeps every promise
//! its docs make"), each named after what it promises.

mod util;

use serde_json::Value;
use util::Sandbox;

fn of_step<'a>(journal: &'a [Value], ty: &str, step: &str) -> Vec<&'a Value> {
    journal
        .iter()
        .filter(|r| r["type"] == ty && r["step"] == step)
        .collect()
}

/// A `shell` script that kills the engine running it the first time
/// (a crash mid-step), and records every execution in `runs-<step>`.
fn crashes_once(step: &str) -> String {
    format!(
        "echo ran >> runs-{step}; if [ ! -e crashed-{step} ]; then touch crashed-{step}; kill -9 $PPID; sleep 5; fi"
    )
}

fn executions(sb: &Sandbox, run_id: &str, step: &str) -> usize {
    std::fs::read_to_string(sb.work_dir(run_id).join(format!("runs-{step}")))
        .unwrap_or_default()
        .lines()
        .count()
}

/// Starts a run that is expected to die (SIGKILL from a step); returns its id.
fn run_until_crash(sb: &Sandbox, file: &str) -> String {
    let ran = sb.run(&["run", file]);
    assert_eq!(ran.code, -1, "the engine should have been killed\n{}", ran.dump());
    ran.run_id()
}

#[test]
fn mark_failed_then_resume_runs_the_step_again() {
    let sb = Sandbox::new();
    sb.write(
        "markfail.yaml",
        &format!(
            "version: 1\nname: markfail\nsteps:\n  - id: init_first\n    kind: shell\n    rerun: never\n    with: {{ script: {:?} }}\n  - id: after\n    kind: shell\n    needs: [init_first]\n    with: {{ run: [\"true\"] }}\n",
            crashes_once("init_first")
        ),
    );
    let id = run_until_crash(&sb, "markfail.yaml");
    // No terminal: the run pauses for a human.
    sb.run(&["resume", &id]).expect_code(3);
    let ran = sb.run(&["mark", &id, "init_first", "failed", "--as", "alice"]);
    ran.expect_code(0);
    assert!(ran.stdout.contains("resume runs it again"), "{}", ran.dump());
    let ran = sb.run(&["resume", &id]);
    ran.expect_code(0);
    assert_eq!(executions(&sb, &id, "init_first"), 2, "{}", ran.dump());
    let journal = sb.journal(&id);
    assert_eq!(of_step(&journal, "step_started", "init_first").len(), 2);
    assert_eq!(of_step(&journal, "step_succeeded", "after").len(), 1);
}

#[test]
fn mark_failed_works_on_an_interrupted_never_step_of_a_failed_run() {
    let sb = Sandbox::new();
    // `boom` fails while `init_first` runs; `init_first` then crashes the
    // engine once `boom`'s failure is in the journal.
    let wait_for_boom = "for i in $(seq 400); do grep -q '\"step_failed\"' ../journal.jsonl && break; sleep 0.05; done; ";
    sb.write(
        "failedrun.yaml",
        &format!(
            "version: 1\nname: failedrun\nsteps:\n  - id: init_first\n    kind: shell\n    rerun: never\n    with: {{ script: {:?} }}\n  - id: boom\n    kind: shell\n    with: {{ script: \"test -e ../../../fixed\" }}\non_failure:\n  - id: cleanup\n    kind: shell\n    with: {{ run: [\"true\"] }}\n",
            format!("{wait_for_boom}{}", crashes_once("init_first"))
        ),
    );
    let id = run_until_crash(&sb, "failedrun.yaml");
    sb.run(&["resume", &id]).expect_code(3);
    sb.run(&["mark", &id, "init_first", "failed", "--as", "alice"])
        .expect_code(0);
    // `boom` still fails: the run fails before `init_first` can run again.
    sb.run(&["resume", &id]).expect_code(1);
    assert_eq!(executions(&sb, &id, "init_first"), 1);
    // The operator may still say (again) how the interrupted step ended.
    let ran = sb.run(&["mark", &id, "init_first", "failed", "--as", "bob"]);
    ran.expect_code(0);
    std::fs::write(sb.state_dir().join("fixed"), "").unwrap();
    let ran = sb.run(&["resume", &id]);
    ran.expect_code(0);
    assert_eq!(executions(&sb, &id, "init_first"), 2, "{}", ran.dump());
    let journal = sb.journal(&id);
    assert_eq!(of_step(&journal, "step_succeeded", "init_first").len(), 1);
    assert_eq!(of_step(&journal, "marked", "init_first")[1]["actor"], "bob");
}
