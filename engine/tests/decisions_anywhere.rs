//! Decisions from anywhere, at any time (issue 13): `approve`, `reject`,
//! `confirm`, `mark` and `note` while an engine drives the run, from
//! another "machine" (a second sandbox: its own HOME and operator, the
//! same state directory), through the run's inbox.

mod util;

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::{Ran, Sandbox, Test};

/// A gate, then a step that says who approved it.
const GATE: &str = r#"
version: 1
name: gate
title: Restore after approval
steps:
  - id: inspect
    kind: shell
    with: { script: "echo 42" }
  - id: approve_restore
    kind: approval
    needs: [inspect]
    with:
      prompt: "Restore snapshot?"
      min_approvals: MIN
  - id: restore
    kind: shell
    needs: [approve_restore]
    with: { script: "echo restored by {{ steps.approve_restore.outputs.approvers | join(',') }}; sleep SLEEP" }
"#;

fn gate(min: u32, sleep: u32) -> String {
    GATE.replace("MIN", &min.to_string())
        .replace("SLEEP", &sleep.to_string())
}

/// Machine A: the sandbox that drives the run.
struct Driver {
    sandbox: Sandbox,
    child: Child,
    run_id: String,
    /// Everything A printed on stdout so far.
    output: Arc<Mutex<String>>,
}

impl Driver {
    /// Starts `lifeboat run RUNBOOK --wait` without a terminal.
    fn start(yaml: &str, extra: &[&str]) -> Self {
        let sandbox = Sandbox::new();
        let mut args = vec!["run", util::RUNBOOK, "--wait"];
        args.extend_from_slice(extra);
        let mut child = sandbox.test().runbook(yaml).args(&args).spawn();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("run id");
        let output = Arc::new(Mutex::new(first.clone()));
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while stdout.read_line(&mut line).is_ok_and(|n| n > 0) {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let run_id = first.trim().to_string();
        assert!(!run_id.is_empty(), "no run id");
        Self {
            sandbox,
            child,
            run_id,
            output,
        }
    }

    fn journal(&self) -> Vec<Value> {
        self.sandbox.journal(&self.run_id)
    }

    /// Waits (up to 30 s) until the journal has a `ty` record.
    fn wait_for(&self, ty: &str) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if self.journal().iter().any(|r| r["type"] == ty) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no `{ty}` record in 30 s: {:#?}", self.journal());
    }

    /// Waits up to `bound` for A to exit; its exit code.
    fn exits_within(&mut self, bound: Duration) -> i32 {
        let start = Instant::now();
        while start.elapsed() < bound {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!(
            "the driving engine did not finish within {bound:?}; it printed:\n{}",
            self.output.lock().unwrap()
        );
    }

    /// Machine B: its own sandbox (HOME, working directory, operator), the
    /// same state directory.
    fn other_machine(&self, args: &[&str]) -> Test {
        let b = Sandbox::new();
        b.test()
            .args(args)
            .env("LIFEBOAT_STATE_DIR", self.sandbox.state_dir())
            .env("LIFEBOAT_OPERATOR", "bob")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn of_type<'a>(journal: &'a [Value], ty: &str) -> Vec<&'a Value> {
    journal.iter().filter(|r| r["type"] == ty).collect()
}

fn inbox_is_empty(sandbox: &Sandbox, run: &str) -> bool {
    std::fs::read_dir(sandbox.run_dir(run).join("inbox"))
        .map(|d| d.count() == 0)
        .unwrap_or(true)
}

#[test]
fn an_approval_from_another_machine_reaches_an_engine_waiting_without_a_terminal() {
    let mut a = Driver::start(&gate(1, 0), &[]);
    a.wait_for("waiting");
    // The engine shows that it waits, and the commands that decide.
    std::thread::sleep(Duration::from_millis(1500));
    let shown = a.output.lock().unwrap().clone();
    let command = format!(
        "lifeboat approve {} approve_restore --as NAME [--comment TEXT]",
        a.run_id
    );
    assert!(shown.contains(&command), "{shown}");
    let b: Ran = a
        .other_machine(&["approve", &a.run_id, "approve_restore", "--as", "bob"])
        .run();
    assert!(
        b.stdout
            .contains("approved `approve_restore` as bob (\"Restore snapshot?\"), 1 of 1 (recorded by the engine driving the run)"),
        "{}",
        b.dump()
    );
    assert_eq!(a.exits_within(Duration::from_secs(3)), 0);
    let journal = a.journal();
    let approvals = of_type(&journal, "approval");
    assert_eq!(approvals.len(), 1, "{journal:#?}");
    assert_eq!(approvals[0]["actor"], "bob");
    assert!(approvals[0]["inbox"]
        .as_str()
        .is_some_and(|n| n.ends_with(".json")));
    assert!(inbox_is_empty(&a.sandbox, &a.run_id));
    let shown = a.output.lock().unwrap().clone();
    assert!(shown.contains("restored by bob"), "{shown}");
    assert!(
        shown.contains("approved `approve_restore` by bob from another shell or machine"),
        "{shown}"
    );
    // The wait was human time.
    let status = a
        .sandbox
        .test()
        .args(["status", &a.run_id, "--output", "json"])
        .run();
    let status: Value = serde_json::from_str(&status.stdout).expect("status json");
    let human = status["rto"]["split"]["human_ms"]
        .as_i64()
        .expect("human_ms");
    assert!(human >= 1000, "human time {human} ms\n{status}");
}

#[test]
fn a_note_posted_while_an_engine_drives_is_journalled_once() {
    let a = Driver::start(&gate(1, 0), &[]);
    a.wait_for("waiting");
    let note = a.other_machine(&["note", &a.run_id, "paged the DBA"]).run();
    assert!(
        note.stdout.contains("noted in run ")
            && note
                .stdout
                .contains("(recorded by the engine driving the run)"),
        "{}",
        note.dump()
    );
    let journal = a.journal();
    let notes = of_type(&journal, "note");
    assert_eq!(notes.len(), 1, "{journal:#?}");
    assert_eq!(notes[0]["text"], "paged the DBA");
    assert_eq!(notes[0]["actor"], "bob");
    assert!(inbox_is_empty(&a.sandbox, &a.run_id));
    // Later looks at the inbox journal nothing more.
    std::thread::sleep(Duration::from_millis(1200));
    let again = a.journal();
    assert_eq!(of_type(&again, "note").len(), 1, "{again:#?}");
}

#[test]
fn a_decision_left_by_a_killed_engine_is_taken_once_by_resume() {
    let mut a = Driver::start(&gate(1, 0), &[]);
    a.wait_for("waiting");
    // The engine cannot look at its inbox: the approval stays queued.
    let pid = a.child.id() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let b = a
        .other_machine(&["approve", &a.run_id, "approve_restore", "--as", "bob"])
        .run();
    assert!(b.stdout.contains("(queued: "), "{}", b.dump());
    assert!(
        b.stdout
            .contains(&format!("the next `lifeboat resume {}` does", a.run_id)),
        "{}",
        b.dump()
    );
    assert!(!inbox_is_empty(&a.sandbox, &a.run_id));
    let inbox = a.sandbox.run_dir(&a.run_id).join("inbox");
    let entry = std::fs::read_dir(&inbox)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let kept = std::fs::read(&entry).unwrap();
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let _ = a.child.wait();
    let resumed = a.sandbox.test().args(["resume", &a.run_id]).run();
    assert!(
        resumed.printed().contains("restored by bob"),
        "{}",
        resumed.dump()
    );
    // A crash between journalling the entry and removing it: the entry is
    // seen again and not journalled twice.
    std::fs::write(&entry, kept).unwrap();
    a.sandbox.test().args(["resume", &a.run_id]).run();
    let journal = a.journal();
    let approvals = of_type(&journal, "approval");
    assert_eq!(approvals.len(), 1, "{journal:#?}");
    assert_eq!(approvals[0]["actor"], "bob");
    // Not even a refusal: the entry was recognised as journalled.
    assert!(of_type(&journal, "note").is_empty(), "{journal:#?}");
    assert!(inbox_is_empty(&a.sandbox, &a.run_id));
}

#[test]
fn an_invalid_decision_is_refused_by_the_command_while_an_engine_drives() {
    // The step after the gate sleeps, so the engine still drives when the
    // third approval comes.
    let mut a = Driver::start(&gate(2, 5), &[]);
    a.wait_for("waiting");
    for who in ["alice", "carol"] {
        a.other_machine(&["approve", &a.run_id, "approve_restore", "--as", who])
            .run();
    }
    a.wait_for("step_started");
    let third = a
        .other_machine(&["approve", &a.run_id, "approve_restore", "--as", "dave"])
        .status(2)
        .run();
    assert!(
        third
            .stderr
            .contains("error: step `approve_restore` of run")
            && third
                .stderr
                .contains("is not waiting for a decision (it succeeded)")
            && third.stderr.contains("nothing was recorded"),
        "{}",
        third.dump()
    );
    assert_eq!(a.exits_within(Duration::from_secs(30)), 0);
    let journal = a.journal();
    let approvers: Vec<&str> = of_type(&journal, "approval")
        .iter()
        .map(|r| r["actor"].as_str().unwrap())
        .collect();
    assert_eq!(approvers, ["alice", "carol"]);
    assert!(inbox_is_empty(&a.sandbox, &a.run_id));
}

#[test]
fn a_rejection_from_another_machine_fails_the_gate_and_a_later_approval_is_refused() {
    let mut a = Driver::start(&gate(1, 0), &[]);
    a.wait_for("waiting");
    let b = a
        .other_machine(&["reject", &a.run_id, "approve_restore", "--as", "bob"])
        .run();
    assert!(
        b.stdout.contains("rejected `approve_restore` as bob"),
        "{}",
        b.dump()
    );
    assert_eq!(a.exits_within(Duration::from_secs(3)), 1);
    let later = a
        .other_machine(&["approve", &a.run_id, "approve_restore", "--as", "carol"])
        .status(2)
        .run();
    assert!(
        later.stderr.contains("has already finished (failed)"),
        "{}",
        later.dump()
    );
}

#[test]
fn with_wait_a_gate_timeout_still_decides() {
    let yaml = gate(1, 0).replace(
        "      min_approvals: 1\n",
        "      min_approvals: 1\n      timeout: 2s\n      on_timeout: approve\n",
    );
    let mut a = Driver::start(&yaml, &[]);
    assert_eq!(a.exits_within(Duration::from_secs(30)), 0);
    let journal = a.journal();
    let approvals = of_type(&journal, "approval");
    assert_eq!(approvals.len(), 1, "{journal:#?}");
    assert_eq!(approvals[0]["actor"], "lifeboat");
    assert_eq!(approvals[0]["timed_out"], true);
}

/// Two gates in a row, for the terminal.
const TWO_GATES: &str = r#"
version: 1
name: gates
title: Two approvals
steps:
  - id: first_gate
    kind: approval
    with: { prompt: "First?" }
  - id: second_gate
    kind: approval
    needs: [first_gate]
    with: { prompt: "Second?" }
  - id: done
    kind: shell
    needs: [second_gate]
    with: { script: "echo approved by {{ steps.first_gate.outputs.approvers | join(',') }} then {{ steps.second_gate.outputs.approvers | join(',') }}" }
"#;

#[test]
fn an_approval_from_another_machine_closes_the_question_at_a_terminal() {
    let sandbox = Sandbox::new();
    sandbox.write(util::RUNBOOK, TWO_GATES);
    let mut p = sandbox.pty(&["run", util::RUNBOOK]);
    util::expect(
        &mut p,
        "the decision may also come from another shell or machine:",
    );
    util::expect(&mut p, "lifeboat approve ");
    util::expect(&mut p, "Decision [1]: ");
    let run = {
        let runs = std::fs::read_dir(sandbox.state_dir().join("runs"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        runs.file_name().to_string_lossy().into_owned()
    };
    // A note while the question is open is taken at once; the question
    // stays open.
    let note = Sandbox::new()
        .test()
        .args(["note", &run, "paged the DBA", "--as", "carol"])
        .env("LIFEBOAT_STATE_DIR", sandbox.state_dir())
        .run();
    assert!(
        note.stdout
            .contains("(recorded by the engine driving the run)"),
        "{}",
        note.dump()
    );
    // Typed at the open question but not entered: discarded when it closes,
    // so it cannot answer the next question.
    util::send(&mut p, "2");
    let b = Sandbox::new()
        .test()
        .args(["approve", &run, "first_gate", "--as", "bob"])
        .env("LIFEBOAT_STATE_DIR", sandbox.state_dir())
        .run();
    assert!(
        b.stdout
            .contains("(recorded by the engine driving the run)"),
        "{}",
        b.dump()
    );
    util::expect(&mut p, "approved by bob from another shell");
    util::expect(&mut p, "the question is closed");
    util::expect(&mut p, "Second?");
    util::expect(&mut p, "Decision [1]: ");
    util::send(&mut p, "\r");
    util::expect(&mut p, "Your name (approver)");
    util::send(&mut p, "alice\r");
    util::expect(&mut p, "Comment (optional)");
    util::send(&mut p, "\r");
    util::expect(&mut p, "approved by bob then alice");
    util::expect(&mut p, "finished succeeded");
    assert_eq!(util::exit_code(p), 0);
    let journal = sandbox.journal(&run);
    let decisions: Vec<(String, String)> = of_type(&journal, "approval")
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap().to_string(),
                r["decision"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("bob".to_string(), "approved".to_string()),
            ("alice".to_string(), "approved".to_string())
        ]
    );
    let notes = of_type(&journal, "note");
    assert_eq!(notes.len(), 1, "{journal:#?}");
    assert_eq!(notes[0]["actor"], "carol");
}

#[test]
fn a_decision_no_longer_valid_when_the_engine_takes_it_is_journalled_as_a_refusal() {
    let mut a = Driver::start(&gate(1, 0), &[]);
    a.wait_for("waiting");
    // Both approvals are posted while the engine cannot look: each is
    // valid when posted, the second is not once the first is taken.
    let pid = a.child.id() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let posts: Vec<Child> = ["bob", "carol"]
        .iter()
        .map(|who| {
            let child = a
                .other_machine(&["approve", &a.run_id, "approve_restore", "--as", who])
                .spawn();
            // One after the other, so the entries' order is known.
            std::thread::sleep(Duration::from_millis(300));
            child
        })
        .collect();
    let inbox = a.sandbox.run_dir(&a.run_id).join("inbox");
    let start = Instant::now();
    while std::fs::read_dir(&inbox).map_or(0, |d| d.count()) < 2 {
        assert!(start.elapsed() < Duration::from_secs(20), "not posted");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let codes: Vec<i32> = posts
        .into_iter()
        .map(|mut post| post.wait().expect("approve ends").code().unwrap_or(-1))
        .collect();
    // bob's was recorded; carol's command hears of the refusal (exit 2).
    assert_eq!(codes, [0, 2]);
    assert_eq!(a.exits_within(Duration::from_secs(10)), 0);
    let journal = a.journal();
    let approvals = of_type(&journal, "approval");
    assert_eq!(approvals.len(), 1, "{journal:#?}");
    assert_eq!(approvals[0]["actor"], "bob");
    let notes = of_type(&journal, "note");
    assert_eq!(notes.len(), 1, "{journal:#?}");
    assert_eq!(notes[0]["actor"], "lifeboat");
    let text = notes[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("refused the approval of `approve_restore` by `carol` (posted at ")
            && text.contains("`approve_restore` already has the 1 approval(s) it needs (bob)"),
        "{text}"
    );
    assert!(notes[0]["inbox"].as_str().is_some());
    assert!(inbox_is_empty(&a.sandbox, &a.run_id));
    let shown = a.output.lock().unwrap().clone();
    assert!(
        shown.contains("refused the approval of `approve_restore` by `carol`"),
        "{shown}"
    );
}

#[test]
fn a_manual_step_confirmed_from_another_machine_under_wait() {
    let yaml = r#"
version: 1
name: manual
title: Switch DNS
steps:
  - id: switch_dns
    kind: manual
    with:
      instructions: "Point DNS at the new cluster"
      checklist: ["A record changed"]
  - id: after
    kind: shell
    needs: [switch_dns]
    with: { script: "echo confirmed by {{ steps.switch_dns.outputs.confirmed_by }}" }
"#;
    let mut a = Driver::start(yaml, &[]);
    a.wait_for("waiting");
    let b = a
        .other_machine(&[
            "confirm",
            &a.run_id,
            "switch_dns",
            "--as",
            "bob",
            "--note",
            "changed at 14:02",
        ])
        .run();
    assert!(
        b.stdout.contains(
            "confirmed `switch_dns` as bob with 1 checklist item(s) (recorded by the engine driving the run)"
        ),
        "{}",
        b.dump()
    );
    assert_eq!(a.exits_within(Duration::from_secs(3)), 0);
    let journal = a.journal();
    let confirmed = of_type(&journal, "manual_confirmed");
    assert_eq!(confirmed.len(), 1, "{journal:#?}");
    assert_eq!(confirmed[0]["actor"], "bob");
    assert!(a.output.lock().unwrap().contains("confirmed by bob"));
}

#[test]
fn without_wait_a_decision_reaches_the_engine_while_another_branch_runs() {
    // No --wait: the gate waits while `side` runs; the engine looks at the
    // inbox meanwhile, so the run finishes instead of pausing (exit 3).
    let yaml = format!(
        "{}  - id: side\n    kind: shell\n    with: {{ script: \"sleep 4\" }}\n",
        gate(1, 0)
    );
    let sandbox = Sandbox::new();
    let mut child = sandbox
        .test()
        .runbook(&yaml)
        .args(["run", util::RUNBOOK])
        .spawn();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("run id");
    let run = first.trim().to_string();
    let start = Instant::now();
    while !sandbox.journal(&run).iter().any(|r| r["type"] == "waiting") {
        assert!(start.elapsed() < Duration::from_secs(30), "no wait");
        std::thread::sleep(Duration::from_millis(50));
    }
    let b = Sandbox::new()
        .test()
        .args(["approve", &run, "approve_restore", "--as", "bob"])
        .env("LIFEBOAT_STATE_DIR", sandbox.state_dir())
        .run();
    assert!(
        b.stdout
            .contains("(recorded by the engine driving the run)"),
        "{}",
        b.dump()
    );
    let status = child.wait().expect("run ends");
    assert_eq!(status.code(), Some(0));
    let journal = sandbox.journal(&run);
    assert!(journal
        .iter()
        .any(|r| r["type"] == "step_succeeded" && r["step"] == "restore"));
}

/// While an engine drives the run, `mark` may only answer a step the engine
/// waits on it for: a running step replays as interrupted, and a mark of
/// it would let a later resume treat the step as done. A human gate is
/// decided with `approve`/`reject` or `confirm`, never `mark` (found in
/// review: both went through the inbox and were journalled).
#[test]
fn a_mark_of_a_running_step_or_of_a_gate_is_refused_while_an_engine_drives() {
    let a = Driver::start(&gate(1, 30), &[]);
    a.wait_for("waiting");
    let gate_mark = a
        .other_machine(&["mark", &a.run_id, "approve_restore", "done", "--as", "bob"])
        .any_status()
        .run();
    assert_eq!(gate_mark.code, 2, "{}", gate_mark.dump());
    assert!(
        gate_mark.stderr.contains("is a human gate"),
        "{}",
        gate_mark.dump()
    );
    a.other_machine(&["approve", &a.run_id, "approve_restore", "--as", "bob"])
        .run();
    a.wait_for("step_started");
    let running = a
        .other_machine(&["mark", &a.run_id, "restore", "done", "--as", "bob"])
        .any_status()
        .run();
    assert_eq!(running.code, 2, "{}", running.dump());
    assert!(
        running
            .stderr
            .contains("is not waiting for `lifeboat mark`"),
        "{}",
        running.dump()
    );
    assert!(of_type(&a.journal(), "marked").is_empty());
    assert!(inbox_is_empty(&a.sandbox, &a.run_id));
}
