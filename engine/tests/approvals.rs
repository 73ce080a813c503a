//! Approval and manual steps without a terminal, through the binary: the
//! run pauses with exit 3 and prints the commands; other processes (as
//! other people) approve, reject or confirm; `resume` continues.

mod util;

use std::path::{Path, PathBuf};

use serde_json::Value;
use util::{Ran, Sandbox};

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

    fn runbook(&self, name: &str, text: &str) -> PathBuf {
        let path = self.root.join(name);
        std::fs::write(&path, text).expect("write runbook");
        path
    }

    /// Runs the binary with no terminal (stdin is /dev/null), as `operator`.
    fn lifeboat(&self, args: &[&str]) -> Ran {
        self.sandbox
            .test()
            .args(args)
            .env("LIFEBOAT_OPERATOR", "oscar")
            .any_status()
            .run()
    }

    /// Starts a run; returns its id and output.
    fn run(&self, file: &Path) -> (String, Ran) {
        let out = self.lifeboat(&["run", file.to_str().unwrap()]);
        let id = out.run_id();
        assert!(!id.is_empty(), "no run id in: {}", out.stdout);
        (id, out)
    }

    fn journal_path(&self, run: &str) -> PathBuf {
        self.root.join("state/runs").join(run).join("journal.jsonl")
    }

    fn journal(&self, run: &str) -> Vec<Value> {
        std::fs::read_to_string(self.journal_path(run))
            .expect("journal")
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("json line")["rec"].clone())
            .collect()
    }
}

fn code(out: &Ran) -> i32 {
    out.code
}

fn text(out: &Ran) -> String {
    out.printed()
}

fn of_type<'a>(journal: &'a [Value], ty: &str) -> Vec<&'a Value> {
    journal.iter().filter(|r| r["type"] == ty).collect()
}

fn step_record<'a>(journal: &'a [Value], ty: &str, step: &str) -> Option<&'a Value> {
    journal
        .iter()
        .rev()
        .find(|r| r["type"] == ty && r["step"] == step)
}

const RESTORE: &str = r#"
version: 1
name: restore
title: Restore with four eyes
steps:
  - id: inspect
    kind: shell
    with: { script: "echo 42" }
  - id: approve_restore
    kind: approval
    needs: [inspect]
    with:
      prompt: "Restore snapshot over the current cluster?"
      details: "Index {{ steps.inspect.outputs.stdout }}"
      min_approvals: 2
      approvers: [oscar, alice, bob, carol]
      distinct_from_initiator: true
  - id: side
    kind: shell
    with: { script: "echo independent branch ran" }
  - id: restore
    kind: shell
    needs: [approve_restore]
    with: { script: "echo restored by {{ steps.approve_restore.outputs.approvers | join(',') }}" }
on_failure:
  - id: cleanup
    kind: shell
    with: { script: "echo cleanup after {{ run.failed_step }}" }
"#;

#[test]
fn approval_pauses_with_exit_3_and_two_other_people_approve_then_resume_succeeds() {
    let env = Env::new();
    let file = env.runbook("restore.yaml", RESTORE);
    let (run, out) = env.run(&file);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains(&format!(
            "lifeboat approve {run} approve_restore --as NAME [--comment TEXT]"
        )),
        "{shown}"
    );
    assert!(shown.contains(&format!("lifeboat reject {run} approve_restore")));
    assert!(shown.contains(&format!("lifeboat resume {run}")));
    // The rendered question is shown, and the independent branch still ran.
    assert!(shown.contains("Index 42"), "{shown}");
    assert!(shown.contains("independent branch ran"), "{shown}");
    let journal = env.journal(&run);
    assert!(step_record(&journal, "step_succeeded", "side").is_some());
    assert!(step_record(&journal, "step_started", "restore").is_none());
    let req = step_record(&journal, "approval_requested", "approve_restore").unwrap();
    assert_eq!(req["details"], "Index 42");
    assert_eq!(req["digest"].as_str().unwrap().len(), 64);

    let a = env.lifeboat(&[
        "approve",
        &run,
        "approve_restore",
        "--as",
        "alice",
        "--comment",
        "checked the index",
    ]);
    assert_eq!(code(&a), 0, "{}", text(&a));
    assert!(text(&a).contains("1 of 2"), "{}", text(&a));
    // One approval is not enough: resume pauses again.
    let r = env.lifeboat(&["resume", &run]);
    assert_eq!(code(&r), 3, "{}", text(&r));
    let b = env.lifeboat(&["approve", &run, "approve_restore", "--as", "bob"]);
    assert_eq!(code(&b), 0, "{}", text(&b));
    assert!(
        text(&b).contains(&format!("continue with: lifeboat resume {run}")),
        "{}",
        text(&b)
    );
    let r = env.lifeboat(&["resume", &run]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    assert!(text(&r).contains("restored by alice,bob"), "{}", text(&r));

    // Every decision is a journal record with its actor and comment.
    let journal = env.journal(&run);
    let decisions = of_type(&journal, "approval");
    assert_eq!(decisions.len(), 2);
    assert_eq!(decisions[0]["actor"], "alice");
    assert_eq!(decisions[0]["decision"], "approved");
    assert_eq!(decisions[0]["comment"], "checked the index");
    assert_eq!(decisions[0]["digest"], req["digest"]);
    assert_eq!(decisions[1]["actor"], "bob");
    let ok = step_record(&journal, "step_succeeded", "approve_restore").unwrap();
    assert_eq!(
        ok["outputs"]["approvers"],
        serde_json::json!(["alice", "bob"])
    );
    assert_eq!(
        ok["outputs"]["comments"],
        serde_json::json!(["checked the index", ""])
    );
    assert!(step_record(&journal, "step_started", "cleanup").is_none());
}

#[test]
fn misuse_is_refused_with_exit_2_and_leaves_the_journal_unchanged() {
    let env = Env::new();
    let file = env.runbook("restore.yaml", RESTORE);
    let (run, out) = env.run(&file);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let a = env.lifeboat(&["approve", &run, "approve_restore", "--as", "alice"]);
    assert_eq!(code(&a), 0, "{}", text(&a));
    let before = std::fs::read(env.journal_path(&run)).unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["approve", &run, "approve_restore", "--as", "mallory"],
            "`mallory` is not an approver of `approve_restore`; the runbook allows: oscar, alice, bob, carol",
        ),
        (
            &["approve", &run, "approve_restore", "--as", "oscar"],
            "`oscar` started this run and cannot approve `approve_restore`",
        ),
        (
            &["approve", &run, "approve_restore", "--as", "alice"],
            "`alice` already approved `approve_restore`",
        ),
        (
            &["reject", &run, "approve_restore", "--as", "alice"],
            "`alice` already approved `approve_restore`",
        ),
        (
            &["confirm", &run, "approve_restore", "--as", "bob"],
            "is an approval, not a manual step",
        ),
        (
            &["approve", &run, "side", "--as", "bob"],
            "step `side` of run",
        ),
        (
            &["approve", &run, "restore", "--as", "bob"],
            "the run has not reached it",
        ),
        (
            &["approve", "no-such-run", "approve_restore", "--as", "bob"],
            "no run `no-such-run`",
        ),
    ];
    for (args, expected) in cases {
        let out = env.lifeboat(args);
        assert_eq!(code(&out), 2, "{args:?}: {}", text(&out));
        let err = out.stderr.as_str();
        assert!(
            err.contains(expected),
            "{args:?}: expected `{expected}` in: {err}"
        );
        let after = std::fs::read(env.journal_path(&run)).unwrap();
        assert_eq!(before, after, "{args:?} changed the journal");
    }
}

#[test]
fn rejection_fails_the_step_and_on_failure_runs() {
    let env = Env::new();
    let file = env.runbook("restore.yaml", RESTORE);
    let (run, out) = env.run(&file);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let r = env.lifeboat(&[
        "reject",
        &run,
        "approve_restore",
        "--as",
        "carol",
        "--comment",
        "wrong snapshot",
    ]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    assert!(text(&r).contains("fails the step and runs on_failure"));
    let out = env.lifeboat(&["resume", &run]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("cleanup after approve_restore"),
        "{}",
        text(&out)
    );
    let journal = env.journal(&run);
    let failed = step_record(&journal, "step_failed", "approve_restore").unwrap();
    assert_eq!(failed["error"], "rejected by `carol`: wrong snapshot");
    let decision = step_record(&journal, "approval", "approve_restore").unwrap();
    assert_eq!(decision["actor"], "carol");
    assert_eq!(decision["decision"], "rejected");
    assert_eq!(decision["comment"], "wrong snapshot");
    assert!(step_record(&journal, "step_started", "restore").is_none());
}

#[test]
fn parallel_gates_are_decided_independently() {
    let env = Env::new();
    let file = env.runbook(
        "two.yaml",
        r#"
version: 1
name: two
title: Two gates
steps:
  - id: gate_a
    kind: approval
    with: { prompt: "Fail over region A?" }
  - id: gate_b
    kind: approval
    with: { prompt: "Fail over region B?" }
  - id: after_a
    kind: shell
    needs: [gate_a]
    with: { script: "echo region A done" }
  - id: after_b
    kind: shell
    needs: [gate_b]
    with: { script: "echo region B done" }
"#,
    );
    let (run, out) = env.run(&file);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let journal = env.journal(&run);
    assert_eq!(of_type(&journal, "waiting").len(), 2);

    let a = env.lifeboat(&["approve", &run, "gate_a", "--as", "alice"]);
    assert_eq!(code(&a), 0, "{}", text(&a));
    let out = env.lifeboat(&["resume", &run]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(text(&out).contains("region A done"), "{}", text(&out));
    assert!(!text(&out).contains("region B done"), "{}", text(&out));
    let journal = env.journal(&run);
    assert!(step_record(&journal, "step_succeeded", "after_a").is_some());
    assert!(step_record(&journal, "step_started", "after_b").is_none());

    let b = env.lifeboat(&["approve", &run, "gate_b", "--as", "bob"]);
    assert_eq!(code(&b), 0, "{}", text(&b));
    let out = env.lifeboat(&["resume", &run]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("region B done"), "{}", text(&out));
    // after_a ran once only.
    let journal = env.journal(&run);
    let started_a = journal
        .iter()
        .filter(|r| r["type"] == "step_started" && r["step"] == "after_a")
        .count();
    assert_eq!(started_a, 1);
}

#[test]
fn manual_step_is_confirmed_from_another_process_with_a_note() {
    let env = Env::new();
    let file = env.runbook(
        "dns.yaml",
        r#"
version: 1
name: dns
title: Manual DNS change
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
    with: { script: "echo evidence: {{ steps.dns.outputs.note }} by {{ steps.dns.outputs.confirmed_by }}" }
"#,
    );
    let (run, out) = env.run(&file);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("Change the **A record**"), "{shown}");
    assert!(shown.contains("[ ] TTL expired"), "{shown}");
    assert!(
        shown.contains(&format!(
            "lifeboat confirm {run} dns --as NAME [--note TEXT]"
        )),
        "{shown}"
    );
    let wrong = env.lifeboat(&["approve", &run, "dns", "--as", "alice"]);
    assert_eq!(code(&wrong), 2);
    assert!(
        text(&wrong).contains("lifeboat confirm"),
        "{}",
        text(&wrong)
    );
    let c = env.lifeboat(&[
        "confirm",
        &run,
        "dns",
        "--as",
        "alice",
        "--note",
        "changed the A record at 14:02",
    ]);
    assert_eq!(code(&c), 0, "{}", text(&c));
    let again = env.lifeboat(&["confirm", &run, "dns", "--as", "alice"]);
    assert_eq!(code(&again), 2, "{}", text(&again));
    let out = env.lifeboat(&["resume", &run]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("evidence: changed the A record at 14:02 by alice"),
        "{}",
        text(&out)
    );
    let journal = env.journal(&run);
    let confirmed = step_record(&journal, "manual_confirmed", "dns").unwrap();
    assert_eq!(confirmed["actor"], "alice");
    assert_eq!(confirmed["note"], "changed the A record at 14:02");
    assert_eq!(
        confirmed["checklist"],
        serde_json::json!(["A record changed", "TTL expired"])
    );
}

#[test]
fn a_question_that_renders_differently_on_resume_is_asked_again() {
    let env = Env::new();
    let original = r#"
version: 1
name: changed
title: Changed question
steps:
  - id: gate
    kind: approval
    with: { prompt: "Restore snapshot A?" }
  - id: after
    kind: shell
    needs: [gate]
    with: { script: "echo approved by {{ steps.gate.outputs.approvers | join(',') }}" }
"#;
    let file = env.runbook("changed.yaml", original);
    let (run, out) = env.run(&file);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let a = env.lifeboat(&["approve", &run, "gate", "--as", "alice"]);
    assert_eq!(code(&a), 0, "{}", text(&a));
    std::fs::write(&file, original.replace("snapshot A", "snapshot B")).unwrap();
    let out = env.lifeboat(&["resume", &run, "--allow-changed"]);
    assert_eq!(code(&out), 3, "alice approved A, not B: {}", text(&out));
    assert!(text(&out).contains("Restore snapshot B?"), "{}", text(&out));
    let journal = env.journal(&run);
    let requests = of_type(&journal, "approval_requested");
    assert_eq!(requests.len(), 2);
    assert_ne!(requests[0]["digest"], requests[1]["digest"]);
    // alice may approve the new question.
    let a = env.lifeboat(&["approve", &run, "gate", "--as", "alice"]);
    assert_eq!(code(&a), 0, "{}", text(&a));
    let out = env.lifeboat(&["resume", &run]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("approved by alice"), "{}", text(&out));
    let journal = env.journal(&run);
    let decisions = of_type(&journal, "approval");
    assert_eq!(decisions[1]["digest"], requests[1]["digest"]);
}

#[test]
fn an_approval_that_times_out_is_rejected_by_default() {
    let env = Env::new();
    let file = env.runbook(
        "timeout.yaml",
        r#"
version: 1
name: timeout
title: Approval with a timeout
steps:
  - id: gate
    kind: approval
    with: { prompt: "Go?", timeout: 1s }
on_failure:
  - id: cleanup
    kind: shell
    with: { script: "echo cleanup ran" }
"#,
    );
    let (run, out) = env.run(&file);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(
        text(&out).contains("after the request (then rejected)"),
        "{}",
        text(&out)
    );
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let out = env.lifeboat(&["resume", &run]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("cleanup ran"), "{}", text(&out));
    let journal = env.journal(&run);
    let decision = step_record(&journal, "approval", "gate").unwrap();
    assert_eq!(decision["actor"], "lifeboat");
    assert_eq!(decision["decision"], "rejected");
    assert_eq!(decision["timed_out"], true);
    let failed = step_record(&journal, "step_failed", "gate").unwrap();
    assert!(failed["error"]
        .as_str()
        .unwrap()
        .starts_with("not approved in time"));
}

#[test]
fn invalid_gate_parameters_are_reported_at_validation() {
    let env = Env::new();
    let file = env.runbook(
        "bad.yaml",
        r#"
version: 1
name: bad
title: Bad gates
steps:
  - id: gate
    kind: approval
    with: { prompt: "Go?", min_approvals: 3, approvers: [alice, bob], timeout: soon }
  - id: todo
    kind: manual
    with: { instructions: "Do it", checklist: "not a list" }
"#,
    );
    let out = env.lifeboat(&["validate", file.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    // All three mistakes, located: too few approvers for `min_approvals`,
    // the invalid `timeout` and the `checklist` that is not a list.
    out.snapshot_settings()
        .bind(|| insta::assert_snapshot!(out.transcript()));
}

#[test]
fn a_drill_shows_gates_without_waiting() {
    let env = Env::new();
    let file = env.runbook("restore.yaml", RESTORE);
    let out = env.lifeboat(&["run", file.to_str().unwrap(), "--dry-run"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("ask for approval: Restore snapshot over the current cluster?"),
        "{}",
        text(&out)
    );
}

#[test]
fn json_output_streams_gate_records() {
    let env = Env::new();
    let file = env.runbook("restore.yaml", RESTORE);
    let out = env.lifeboat(&["run", file.to_str().unwrap(), "--output", "json"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let events: Vec<Value> = out
        .stdout
        .as_str()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert!(events
        .iter()
        .any(|e| e["type"] == "approval_requested" && e["step"] == "approve_restore"));
    assert!(events
        .iter()
        .any(|e| e["type"] == "waiting" && e["commands"].as_array().is_some_and(|c| c.len() == 3)));
}

#[test]
fn without_a_terminal_output_is_plain_lines_and_step_mode_is_refused() {
    let env = Env::new();
    let file = env.runbook("restore.yaml", RESTORE);
    let (_, out) = env.run(&file);
    let shown = text(&out);
    assert!(
        !shown.contains('\x1b'),
        "escape codes without a TTY: {shown:?}"
    );
    for line in out.stdout.as_str().lines().skip(1) {
        let first = line.trim_start().chars().next().unwrap_or('0');
        assert!(
            line.starts_with(char::is_numeric) || line.starts_with(' ') || first.is_alphabetic(),
            "{line}"
        );
    }
    let step = env.lifeboat(&["run", file.to_str().unwrap(), "--step", "--new"]);
    assert_eq!(code(&step), 2, "{}", text(&step));
    assert!(text(&step).contains("--step asks before each step and needs a terminal"));
}
