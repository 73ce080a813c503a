//! A step declared `read_only: true` is safe to repeat: after a crash mid-step
//! a resume runs it again without asking (docs/runbook-format.md, "Resume
//! policies"). It stayed at the kind's `rerun: never` and paused the run.

mod util;

use util::Sandbox;

/// The step appends to `runs` and kills the engine that runs it the first
/// time (`$PPID` is the engine: the script is bash's own).
const READ_ONLY_CRASH: &str = r#"version: 1
name: readcrash
steps:
  - id: look
    kind: shell
    read_only: true
    with:
      script: |
        echo ran >> runs
        if [ ! -e crashed ]; then touch crashed; kill -9 $PPID; sleep 5; fi
        echo seen
  - id: after
    kind: shell
    needs: [look]
    with: { run: ["echo", "{{ steps.look.outputs.stdout }}"] }
"#;

#[test]
fn a_read_only_step_interrupted_by_a_crash_runs_again_on_resume_without_asking() {
    let sb = Sandbox::new();
    sb.write("read.yaml", READ_ONLY_CRASH);
    let ran = sb.run(&["run", "read.yaml"]);
    assert_eq!(
        ran.code,
        -1,
        "the engine should have been killed\n{}",
        ran.dump()
    );
    let id = ran.run_id();

    let resumed = sb.run(&["resume", &id]);
    resumed.expect_code(0);
    assert!(
        !resumed.stdout.contains("WAITING") && resumed.stdout.contains("ok       look"),
        "{}",
        resumed.dump()
    );
    let runs = std::fs::read_to_string(sb.work_dir(&id).join("runs")).expect("runs");
    assert_eq!(runs.lines().count(), 2, "{}", resumed.dump());
    let journal = sb.journal(&id);
    assert!(
        !journal
            .iter()
            .any(|r| r["type"] == "waiting" || r["type"] == "marked"),
        "{journal:#?}"
    );
    assert!(
        journal
            .iter()
            .any(|r| r["type"] == "run_finished" && r["status"] == "succeeded"),
        "{journal:#?}"
    );
}
