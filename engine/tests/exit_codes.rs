//! The exit codes, end to end: the binary, driven as a script drives it
//! (no terminal), exits with the code `lifeboat --help` promises for each
//! way a command can end.

mod util;

use std::path::Path;

use util::Sandbox;

const SUCCEEDS: &str = r#"version: 1
name: succeeds
steps:
  - id: a
    kind: shell
    with: { run: ["true"] }
"#;

/// The "Exit codes:" section of `lifeboat --help`, as it has always read.
#[test]
fn help_lists_every_exit_code() {
    let sandbox = Sandbox::new();
    let ran = sandbox.run(&["--help"]);
    ran.expect_code(0);
    let section = "\
Exit codes:
  0    success
  1    a step failed (the run's on_failure and finally steps have run)
  2    invalid runbook, bad input or bad usage
  3    paused, waiting for a human (the output says which command continues)
  130  interrupted (Ctrl-C, lost lease, store unreachable); `lifeboat resume RUN_ID` continues

Environment:
";
    assert!(ran.stdout.contains(section), "{}", ran.dump());
}

#[test]
fn a_run_that_succeeds_exits_0() {
    let sandbox = Sandbox::new();
    sandbox.write("ok.yaml", SUCCEEDS);
    let ran = sandbox.run(&["run", "ok.yaml"]);
    ran.expect_code(0);
    assert_eq!(ran.stderr, "", "{}", ran.dump());
}

#[test]
fn a_run_whose_step_fails_exits_1() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "fails.yaml",
        "version: 1\nname: fails\nsteps:\n  - id: a\n    kind: shell\n    with: { run: [\"false\"] }\n",
    );
    let ran = sandbox.run(&["run", "fails.yaml"]);
    ran.expect_code(1);
    let run_id = ran.run_id();
    assert!(
        ran.stdout.contains(&format!("run {run_id} failed;")),
        "{}",
        ran.dump()
    );
}

// Item 5 of the errors task: the diagnostics of an invalid runbook carry
// their own `error:` label, and `run` printed `error: error: ...`.
#[test]
fn an_invalid_runbook_exits_2_with_each_problem_labelled_once() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "bad.yaml",
        "version: 1\nname: bad\nsteps:\n  - id: a\n    kind: shel\n",
    );
    let ran = sandbox.run(&["run", "bad.yaml"]);
    ran.expect_code(2);
    assert_eq!(ran.stdout, "", "{}", ran.dump());
    // The problem as `validate` shows it, then one line that says what to
    // do; `error: error:` before.
    assert_eq!(
        ran.stderr,
        "\
error: unknown step kind `shel`
  --> bad.yaml:5:11
  |
5 |     kind: shel
  |           ^^^^
   = help: did you mean `shell`?

error: the runbook is invalid; fix it and run again (`lifeboat validate bad.yaml` shows the same)
",
        "{}",
        ran.dump()
    );
}

#[test]
fn bad_usage_exits_2() {
    let sandbox = Sandbox::new();
    let ran = sandbox.run(&["run"]);
    ran.expect_code(2);
    sandbox.write("ok.yaml", SUCCEEDS);
    let ran = sandbox.run(&["run", "ok.yaml", "--declared-at", "noon"]);
    ran.expect_code(2);
    assert!(
        ran.stderr.starts_with(
            "error: --declared-at `noon` is not an RFC 3339 time such as 2026-11-21T09:40:00Z: "
        ) && ran.stderr.lines().count() == 1,
        "{}",
        ran.dump()
    );
    assert_eq!(ran.stdout, "", "nothing ran\n{}", ran.dump());
}

#[test]
fn a_run_at_an_approval_without_a_terminal_pauses_with_exit_3() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "gate.yaml",
        "version: 1\nname: gate\nsteps:\n  - id: go\n    kind: approval\n    with: { prompt: \"Fail over?\" }\n",
    );
    let ran = sandbox.run(&["run", "gate.yaml"]);
    ran.expect_code(3);
    let run_id = ran.run_id();
    assert!(
        ran.stdout.contains(&format!(
            "paused; when the above is done: lifeboat resume {run_id}"
        )),
        "{}",
        ran.dump()
    );
}

#[test]
fn a_run_interrupted_by_sigint_exits_130() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "slow.yaml",
        "version: 1\nname: slow\nsteps:\n  - id: wait\n    kind: shell\n    with: { script: \"touch started; sleep 60\" }\n",
    );
    let child = sandbox.test().args(["run", "slow.yaml"]).spawn();
    // The step has started once its shell ran `touch`: the engine is
    // waiting on the child, its signal handlers in place.
    let run_id = wait_for_started_step(&sandbox);
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let out = child.wait_with_output().expect("lifeboat exits");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(130),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "interrupted; continue with: lifeboat resume {run_id}"
        )),
        "{stdout}"
    );
}

/// The id of the only run, once its step's shell has started.
fn wait_for_started_step(sandbox: &Sandbox) -> String {
    // Bounded: the step starts in well under a second; a minute means the
    // engine is stuck.
    for _ in 0..600 {
        if let Some(run_id) = only_run(&sandbox.state_dir().join("runs")) {
            if sandbox.work_dir(&run_id).join("started").exists() {
                return run_id;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the step never started");
}

fn only_run(runs: &Path) -> Option<String> {
    let entry = std::fs::read_dir(runs).ok()?.flatten().next()?;
    Some(entry.file_name().to_string_lossy().into_owned())
}

#[test]
fn resuming_a_succeeded_run_exits_0_with_a_note() {
    let sandbox = Sandbox::new();
    sandbox.write("ok.yaml", SUCCEEDS);
    let run_id = sandbox.run(&["run", "ok.yaml"]).expect_code(0).run_id();
    let ran = sandbox.run(&["resume", &run_id]);
    ran.expect_code(0);
    assert_eq!(ran.stdout, "", "{}", ran.dump());
    assert_eq!(
        ran.stderr,
        format!("note: run `{run_id}` already succeeded; nothing to resume (use --from CHECKPOINT, or --redo STEP --reason TEXT, to re-run part of it)\n"),
        "{}",
        ran.dump()
    );
}

// Marking a step of a succeeded run changes nothing, and that is not an
// error: it exited 2 with `error:` before.
#[test]
fn marking_a_step_of_a_succeeded_run_is_refused_with_exit_2() {
    let sandbox = Sandbox::new();
    sandbox.write("ok.yaml", SUCCEEDS);
    let run_id = sandbox.run(&["run", "ok.yaml"]).expect_code(0).run_id();
    let journal = sandbox.journal(&run_id);
    let ran = sandbox.run(&["mark", &run_id, "a", "done", "--as", "alice"]);
    ran.expect_code(2);
    assert_eq!(ran.stdout, "", "{}", ran.dump());
    assert_eq!(
        ran.stderr,
        format!(
            "error: run `{run_id}` already succeeded; there is nothing to mark (nothing changed)\n"
        ),
        "{}",
        ran.dump()
    );
    assert_eq!(sandbox.journal(&run_id), journal, "nothing was recorded");
}

// A resume with --allow-changed whose new runbook has errors printed
// `error: error: ...`, and had already replaced the run's copy with the
// invalid text: the next resume then refused, saying the copy did not
// match the journal.
#[test]
fn a_resume_whose_changed_runbook_is_invalid_exits_2_and_leaves_the_run_as_it_was() {
    let sandbox = Sandbox::new();
    let original = "version: 1\nname: gate\nsteps:\n  - id: go\n    kind: approval\n    with: { prompt: \"Fail over?\" }\n";
    let file = sandbox.write("gate.yaml", original);
    let run_id = sandbox.run(&["run", "gate.yaml"]).expect_code(3).run_id();
    let copy = sandbox.run_dir(&run_id).join("runbook.yaml");
    sandbox.write(
        "gate.yaml",
        "version: 1\nname: gate\nsteps:\n  - id: go\n    kind: shel\n",
    );
    let ran = sandbox.run(&["resume", &run_id, "--allow-changed"]);
    ran.expect_code(2);
    let path = std::fs::canonicalize(&file).expect("canonical path");
    assert_eq!(
        ran.stderr,
        format!(
            "\
error: unknown step kind `shel`
  --> {}:5:11
  |
5 |     kind: shel
  |           ^^^^
   = help: did you mean `shell`?

error: the run's runbook no longer validates
",
            path.display()
        ),
        "{}",
        ran.dump()
    );
    assert_eq!(std::fs::read_to_string(&copy).expect("copy"), original);
    // Put back, the original resumes as if nothing happened.
    sandbox.write("gate.yaml", original);
    sandbox.run(&["resume", &run_id]).expect_code(3);
}
