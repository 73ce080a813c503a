//! The operator console in a real pseudo-terminal (expectrl): dialoguer
//! questions, indicatif bars, step-through mode and Ctrl-C, driven by
//! keystrokes exactly as an operator would type them.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use expectrl::Expect;
use serde_json::Value;
use util::{exit_code, expect, send, Pty, Ran, Sandbox};

const ENTER: &str = "\r";
const DOWN: &str = "j";

struct Env {
    sandbox: Sandbox,
    root: PathBuf,
}

impl Env {
    fn new() -> Self {
        let sandbox = Sandbox::new();
        let root = sandbox.path().to_path_buf();
        Self { sandbox, root }
    }

    fn runbook(&self, text: &str) -> PathBuf {
        self.sandbox.write("runbook.yaml", text)
    }

    /// The command for a pseudo-terminal, as oscar.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.sandbox.pty_command(args);
        cmd.env("LIFEBOAT_OPERATOR", "oscar");
        cmd
    }

    /// Starts the binary in a pseudo-terminal.
    fn pty(&self, args: &[&str]) -> Pty {
        util::start_pty(self.command(args), 120)
    }

    /// Runs the binary without a terminal.
    fn plain(&self, args: &[&str]) -> Ran {
        self.sandbox
            .test()
            .args(args)
            .env("LIFEBOAT_OPERATOR", "oscar")
            .any_status()
            .run()
    }

    fn only_run(&self) -> String {
        let runs: Vec<String> = std::fs::read_dir(self.root.join("state/runs"))
            .expect("runs dir")
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(runs.len(), 1, "{runs:?}");
        runs[0].clone()
    }

    fn journal(&self, run: &str) -> Vec<Value> {
        let path = self.root.join("state/runs").join(run).join("journal.jsonl");
        std::fs::read_to_string(path)
            .expect("journal")
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("json line")["rec"].clone())
            .collect()
    }
}

fn records<'a>(journal: &'a [Value], ty: &str) -> Vec<&'a Value> {
    journal.iter().filter(|r| r["type"] == ty).collect()
}

fn gate_runbook(extra: &str) -> String {
    format!(
        r#"
version: 1
name: tty
title: TTY approvals
steps:
  - id: inspect
    kind: shell
    with: {{ script: "echo 42" }}
  - id: approve_restore
    kind: approval
    needs: [inspect]
    with:
      prompt: "Restore snapshot over the current cluster?"
      details: "Index {{{{ steps.inspect.outputs.stdout }}}}"
{extra}
  - id: restore
    kind: shell
    needs: [approve_restore]
    with: {{ script: "echo restored by {{{{ steps.approve_restore.outputs.approvers | join(',') }}}}" }}
on_failure:
  - id: cleanup
    kind: shell
    with: {{ script: "echo cleanup ran" }}
"#
    )
}

fn run_args(file: &Path) -> Vec<String> {
    vec!["run".into(), file.display().to_string()]
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn approve_at_the_terminal() {
    let env = Env::new();
    let file = env.runbook(&gate_runbook(""));
    let mut p = env.pty(&args(&run_args(&file)));
    expect(&mut p, "APPROVAL NEEDED");
    expect(&mut p, "Index 42");
    expect(&mut p, "Decision");
    send(&mut p, ENTER);
    expect(&mut p, "Your name (approver)");
    send(&mut p, &format!("alice{ENTER}"));
    expect(&mut p, "Comment (optional)");
    send(&mut p, &format!("index checked{ENTER}"));
    expect(&mut p, "restored by alice");
    expect(&mut p, "finished succeeded");
    assert_eq!(exit_code(p), 0);
    let journal = env.journal(&env.only_run());
    let decisions = records(&journal, "approval");
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0]["actor"], "alice");
    assert_eq!(decisions[0]["decision"], "approved");
    assert_eq!(decisions[0]["comment"], "index checked");
}

/// Time at a terminal question is human time: the question is journalled
/// as a wait before it is asked, like the wait of a run without a
/// terminal, so `status` shows the gate and the RTO split books the time
/// to `waiting on humans`. Reported: a 25 s approval at the terminal showed
/// "Waiting on humans: 0ms".
#[test]
fn time_at_a_terminal_approval_is_human_time() {
    let env = Env::new();
    let file = env.runbook(&gate_runbook(""));
    let mut p = env.pty(&args(&run_args(&file)));
    expect(&mut p, "Decision");
    // While the question is open, the journal says the gate waits.
    let run = env.only_run();
    let status = env.plain(&["status", &run, "--output", "json"]);
    let status: Value = serde_json::from_str(&status.stdout).expect("status json");
    assert_eq!(status["waiting"][0]["step"], "approve_restore", "{status}");
    std::thread::sleep(Duration::from_millis(2000));
    send(&mut p, ENTER);
    expect(&mut p, "Your name (approver)");
    send(&mut p, &format!("alice{ENTER}"));
    expect(&mut p, "Comment (optional)");
    send(&mut p, ENTER);
    expect(&mut p, "finished succeeded");
    assert_eq!(exit_code(p), 0);
    let journal = env.journal(&run);
    let order: Vec<&str> = journal
        .iter()
        .filter(|r| r["step"] == "approve_restore")
        .map(|r| r["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        order,
        [
            "approval_requested",
            "waiting",
            "approval",
            "step_succeeded"
        ]
    );
    let status = env.plain(&["status", &run, "--output", "json"]);
    let status: Value = serde_json::from_str(&status.stdout).expect("status json");
    let human = status["rto"]["split"]["human_ms"]
        .as_i64()
        .expect("human_ms");
    assert!(human >= 1900, "human time {human} ms\n{status}");
}

#[test]
fn reject_at_the_terminal_fails_the_step_and_runs_on_failure() {
    let env = Env::new();
    let file = env.runbook(&gate_runbook(""));
    let mut p = env.pty(&args(&run_args(&file)));
    expect(&mut p, "Decision");
    send(&mut p, &format!("{DOWN}{ENTER}"));
    expect(&mut p, "Your name (approver)");
    send(&mut p, &format!("carol{ENTER}"));
    expect(&mut p, "Comment (optional)");
    send(&mut p, &format!("wrong snapshot{ENTER}"));
    expect(&mut p, "cleanup ran");
    assert_eq!(exit_code(p), 1);
    let journal = env.journal(&env.only_run());
    let decision = records(&journal, "approval")[0];
    assert_eq!(decision["actor"], "carol");
    assert_eq!(decision["decision"], "rejected");
    let failed = records(&journal, "step_failed")[0];
    assert_eq!(failed["error"], "rejected by `carol`: wrong snapshot");
    assert!(records(&journal, "step_started")
        .iter()
        .all(|r| r["step"] != "restore"));
}

#[test]
fn two_approvers_and_the_initiator_is_refused() {
    let env = Env::new();
    let file = env.runbook(&gate_runbook(
        "      min_approvals: 2\n      distinct_from_initiator: true",
    ));
    let mut p = env.pty(&args(&run_args(&file)));
    expect(&mut p, "approvals: 0 of 2");
    expect(&mut p, "Decision");
    send(&mut p, ENTER);
    expect(&mut p, "Your name (approver)");
    // The initiator (the operator, oscar) cannot approve: four eyes.
    send(&mut p, &format!("oscar{ENTER}"));
    expect(
        &mut p,
        "`oscar` started this run and cannot approve `approve_restore`",
    );
    send(&mut p, &format!("alice{ENTER}"));
    expect(&mut p, "Comment (optional)");
    send(&mut p, ENTER);
    expect(&mut p, "approvals: 1 of 2 (alice)");
    expect(&mut p, "Decision");
    send(&mut p, ENTER);
    expect(&mut p, "Your name (approver)");
    // The same person cannot approve twice.
    send(&mut p, &format!("alice{ENTER}"));
    expect(&mut p, "`alice` already approved `approve_restore`");
    send(&mut p, &format!("bob{ENTER}"));
    expect(&mut p, "Comment (optional)");
    send(&mut p, &format!("second pair of eyes{ENTER}"));
    expect(&mut p, "restored by alice,bob");
    assert_eq!(exit_code(p), 0);
    let journal = env.journal(&env.only_run());
    let actors: Vec<&Value> = records(&journal, "approval")
        .iter()
        .map(|r| &r["actor"])
        .collect();
    assert_eq!(actors, vec!["alice", "bob"]);
}

#[test]
fn manual_checklist_at_the_terminal() {
    let env = Env::new();
    let file = env.runbook(
        r#"
version: 1
name: manual
title: Manual DNS switch
steps:
  - id: dns
    kind: manual
    with:
      instructions: |
        ## Point DNS at the new cluster
        Change the **A record** of `vault.example`.
      checklist: ["A record changed", "TTL expired"]
  - id: verify
    kind: shell
    needs: [dns]
    with: { script: "echo evidence: {{ steps.dns.outputs.note }}" }
"#,
    );
    let mut p = env.pty(&args(&run_args(&file)));
    expect(&mut p, "MANUAL STEP");
    expect(&mut p, "Point DNS at the new cluster");
    expect(&mut p, "A record changed — done?");
    send(&mut p, &format!("y{ENTER}"));
    expect(&mut p, "TTL expired — done?");
    send(&mut p, &format!("y{ENTER}"));
    expect(&mut p, "Your name");
    send(&mut p, ENTER);
    expect(&mut p, "Note as evidence");
    send(&mut p, &format!("changed the A record at 14:02{ENTER}"));
    expect(&mut p, "evidence: changed the A record at 14:02");
    assert_eq!(exit_code(p), 0);
    let journal = env.journal(&env.only_run());
    let confirmed = records(&journal, "manual_confirmed")[0];
    assert_eq!(confirmed["actor"], "oscar");
    assert_eq!(confirmed["note"], "changed the A record at 14:02");
    assert_eq!(
        confirmed["checklist"],
        serde_json::json!(["A record changed", "TTL expired"])
    );
}

const TWO_STEPS: &str = r#"
version: 1
name: steps
title: Two steps
steps:
  - id: first
    kind: shell
    with: { script: "echo first ran" }
  - id: second
    kind: shell
    needs: [first]
    with: { script: "echo second ran" }
"#;

#[test]
fn step_through_skip_with_a_reason() {
    let env = Env::new();
    let file = env.runbook(TWO_STEPS);
    let mut a = run_args(&file);
    a.push("--step".into());
    let mut p = env.pty(&args(&a));
    expect(&mut p, "Next: first");
    // show the rendered command, then skip it
    send(&mut p, &format!("{DOWN}{DOWN}{ENTER}"));
    expect(&mut p, "echo first ran");
    expect(&mut p, "Next: first");
    send(&mut p, &format!("{DOWN}{ENTER}"));
    expect(&mut p, "Why skip it?");
    send(&mut p, &format!("already done by hand{ENTER}"));
    expect(&mut p, "Next: second");
    send(&mut p, ENTER);
    expect(&mut p, "second ran");
    expect(&mut p, "finished succeeded");
    assert_eq!(exit_code(p), 0);
    let journal = env.journal(&env.only_run());
    let skipped = records(&journal, "step_through_skipped");
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["step"], "first");
    assert_eq!(skipped[0]["reason"], "already done by hand");
    assert!(records(&journal, "step_started")
        .iter()
        .all(|r| r["step"] != "first"));
}

#[test]
fn step_through_quit_is_resumable() {
    let env = Env::new();
    let file = env.runbook(TWO_STEPS);
    let mut a = run_args(&file);
    a.push("--step".into());
    let mut p = env.pty(&args(&a));
    expect(&mut p, "Next: first");
    send(&mut p, ENTER);
    expect(&mut p, "Next: second");
    send(&mut p, &format!("{DOWN}{DOWN}{DOWN}{ENTER}"));
    assert_eq!(exit_code(p), 130);
    let run = env.only_run();
    let out = env.plain(&["resume", &run]);
    let text = &out.stdout;
    assert_eq!(out.code, 0, "{}", out.dump());
    assert!(text.contains("second ran"), "{text}");
    assert!(!text.contains("first ran"), "{text}");
}

const SLOW: &str = r#"
version: 1
name: slow
title: Slow steps
steps:
  - id: slow
    kind: shell
    rerun: safe
    with: { script: "echo slow started; sleep 2; echo slow done" }
  - id: next
    kind: shell
    needs: [slow]
    with: { script: "echo next ran" }
"#;

#[test]
fn ctrl_c_pause_lets_the_running_step_finish_then_resume_continues() {
    let env = Env::new();
    let file = env.runbook(SLOW);
    let mut p = env.pty(&args(&run_args(&file)));
    expect(&mut p, "start    slow");
    // The step's live output shows in its spinner. Wait for it: a Ctrl-C in
    // the instant of the spawn, before the child has its own process
    // group, would reach the child too.
    expect(&mut p, "slow started");
    send(&mut p, "\x03");
    expect(&mut p, "pause or abort?");
    send(&mut p, ENTER);
    expect(&mut p, "pausing");
    expect(&mut p, "ok       slow");
    expect(&mut p, "paused by the operator (Ctrl-C)");
    assert_eq!(exit_code(p), 130);
    let run = env.only_run();
    let journal = env.journal(&run);
    assert!(records(&journal, "step_started")
        .iter()
        .all(|r| r["step"] != "next"));
    let out = env.plain(&["resume", &run]);
    let text = &out.stdout;
    assert_eq!(out.code, 0, "{}", out.dump());
    assert!(text.contains("next ran"), "{text}");
    assert!(
        !text.contains("slow started"),
        "slow must not run again: {text}"
    );
}

#[test]
fn a_second_ctrl_c_aborts_at_once_and_resume_reruns_the_step() {
    let env = Env::new();
    let file = env.runbook(&SLOW.replace("sleep 2", "sleep 20"));
    let mut p = env.pty(&args(&run_args(&file)));
    expect(&mut p, "start    slow");
    // The step's live output shows in its spinner. Wait for it: a Ctrl-C in
    // the instant of the spawn, before the child has its own process
    // group, would reach the child too.
    expect(&mut p, "slow started");
    send(&mut p, "\x03");
    expect(&mut p, "pause or abort?");
    let asked = std::time::Instant::now();
    send(&mut p, "\x03");
    // Output after the abort may be lost when the pty closes; the exit code
    // and the journal are the evidence.
    assert_eq!(exit_code(p), 130);
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "the abort waited for the step to finish"
    );
    let run = env.only_run();
    let journal = env.journal(&run);
    assert!(records(&journal, "step_succeeded").is_empty());
    assert_eq!(records(&journal, "interrupted").len(), 1);
    std::fs::write(&file, SLOW.replace("sleep 2", "sleep 0")).unwrap();
    let out = env.plain(&["resume", &run, "--allow-changed"]);
    let text = &out.stdout;
    assert_eq!(out.code, 0, "{}", out.dump());
    assert!(
        text.contains("slow done") && text.contains("next ran"),
        "{text}"
    );
}

const PROGRESS: &str = r#"
version: 1
name: progress
title: Progress display
rto: { target: 5m }
steps:
  - id: fetch
    kind: shell
    estimate: 2m
    with: { script: "echo fetching part 1; sleep 1.5; echo fetched" }
  - id: verify
    kind: shell
    needs: [fetch]
    estimate: 1m
    with: { script: "echo verified" }
"#;

#[test]
fn progress_shows_the_rto_clock_projection_bars_and_output_tail() {
    let env = Env::new();
    let file = env.runbook(PROGRESS);
    let mut p = env.pty(&args(&run_args(&file)));
    expect(&mut p, "Progress display │ RTO clock 00:00:0");
    expect(&mut p, "of 00:05:00 │ projected finish");
    expect(&mut p, "(within target)");
    expect(&mut p, "0/2 steps done");
    // The running step's spinner carries the tail of its output.
    expect(&mut p, "fetching part 1");
    expect(&mut p, "1/2 steps done");
    expect(&mut p, "finished succeeded");
    assert_eq!(exit_code(p), 0);
}

#[test]
fn no_color_turns_styles_off_on_a_terminal() {
    let env = Env::new();
    let file = env.runbook(PROGRESS);
    let mut cmd = env.command(&args(&run_args(&file)));
    cmd.env("NO_COLOR", "1");
    let mut p = util::start_pty(cmd, 120);
    let seen = p.expect("finished succeeded").expect("run finishes");
    let text = String::from_utf8_lossy(seen.before()).to_string();
    assert!(text.contains("fetch"), "{text}");
    // Bold (ESC[1m) and colours (ESC[3xm) are styles; cursor movement is not.
    assert!(!text.contains("\x1b[1m"), "bold despite NO_COLOR: {text:?}");
    assert!(
        !text.contains("\x1b[3"),
        "colour despite NO_COLOR: {text:?}"
    );
    assert_eq!(exit_code(p), 0);
}
