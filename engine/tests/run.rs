//! Executing runbooks through the binary: exit codes, scheduling, failure
//! handling, dry runs, resume basics.

mod util;

use std::time::Duration;

use util::Sandbox;

/// A `date +%s.%N` timestamp a step wrote into its work directory.
fn stamp(work: &std::path::Path, name: &str) -> f64 {
    let text = std::fs::read_to_string(work.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{name} holds `{}`: {e}", text.trim()))
}

fn events<'a>(journal: &'a [serde_json::Value], ty: &str) -> Vec<&'a serde_json::Value> {
    journal.iter().filter(|r| r["type"] == ty).collect()
}

fn step_event<'a>(
    journal: &'a [serde_json::Value],
    ty: &str,
    step: &str,
) -> Option<&'a serde_json::Value> {
    journal
        .iter()
        .find(|r| r["type"] == ty && r["step"] == step)
}

#[test]
fn success_prints_the_run_id_first_and_exits_0() {
    let sb = Sandbox::new();
    sb.write(
        "ok.yaml",
        "version: 1\nname: ok\nsteps:\n  - id: a\n    kind: shell\n    with: { run: [\"true\"] }\n",
    );
    let ran = sb.run(&["run", "ok.yaml"]);
    ran.expect_code(0);
    let id = ran.run_id();
    assert!(
        id.starts_with("ok-"),
        "first line is the run id: {}",
        ran.dump()
    );
    let journal = sb.journal(&id);
    assert_eq!(journal.first().unwrap()["type"], "run_started");
    assert_eq!(journal.last().unwrap()["type"], "run_finished");
    assert_eq!(journal.last().unwrap()["status"], "succeeded");
    // Sequence numbers have no gaps.
    for (i, r) in journal.iter().enumerate() {
        assert_eq!(r["seq"], i as u64 + 1);
    }
}

#[test]
fn invalid_runbook_and_bad_usage_exit_2() {
    let sb = Sandbox::new();
    sb.write(
        "bad.yaml",
        "version: 1\nname: bad\nsteps:\n  - id: a\n    kind: nope\n",
    );
    let ran = sb.run(&["run", "bad.yaml"]);
    ran.expect_code(2);
    assert!(
        ran.stderr.contains("unknown step kind `nope`"),
        "{}",
        ran.dump()
    );
    assert!(
        !sb.state_dir().join("runs").exists(),
        "an invalid runbook leaves no run behind"
    );
    sb.run(&["run"]).expect_code(2);
    sb.run(&["frobnicate"]).expect_code(2);
}

#[test]
fn a_failed_step_skips_dependents_runs_on_failure_and_finally_and_exits_1() {
    let sb = Sandbox::new();
    sb.write(
        "fail.yaml",
        r#"version: 1
name: fail
steps:
  - id: boom
    kind: shell
    with: { script: "echo broken >&2; exit 3" }
  - id: after
    kind: shell
    needs: [boom]
    with: { run: ["touch", "after-ran"] }
  - id: tolerated
    kind: shell
    continue_on_failure: true
    with: { run: ["false"] }
  - id: after_tolerated
    kind: shell
    needs: [tolerated]
    with: { run: ["touch", "after-tolerated-ran"] }
on_failure:
  - id: alert
    kind: shell
    with: { run: ["bash", "-c", "echo '{{ run.failed_step }}: {{ run.error }}' > alert.txt"] }
finally:
  - id: tidy
    kind: shell
    with: { run: ["touch", "finally-ran"] }
"#,
    );
    let ran = sb.run(&["run", "fail.yaml", "--max-parallel", "1"]);
    ran.expect_code(1);
    let work = sb.work_dir(&ran.run_id());
    assert!(
        !work.join("after-ran").exists(),
        "a dependent of a failed step must not run"
    );
    assert!(work.join("finally-ran").exists(), "finally always runs");
    let alert = std::fs::read_to_string(work.join("alert.txt")).expect("on_failure ran");
    assert_eq!(alert.trim(), "boom: `bash` exited with 3: broken");
    let journal = sb.journal(&ran.run_id());
    let skipped = step_event(&journal, "step_skipped", "after").expect("after is skipped");
    assert_eq!(skipped["reason"], "needs `boom`, which failed");
    assert_eq!(journal.last().unwrap()["status"], "failed");
}

#[test]
fn continue_on_failure_lets_dependents_run() {
    let sb = Sandbox::new();
    sb.write(
        "tol.yaml",
        "version: 1\nname: tol\nsteps:\n  - id: flaky\n    kind: shell\n    continue_on_failure: true\n    with: { run: [\"false\"] }\n  - id: next\n    kind: shell\n    needs: [flaky]\n    with: { run: [\"echo\", \"{{ steps.flaky.status }}\"] }\n",
    );
    let ran = sb.run(&["run", "tol.yaml"]);
    ran.expect_code(0);
    let journal = sb.journal(&ran.run_id());
    let next = step_event(&journal, "step_succeeded", "next").expect("next ran");
    assert_eq!(next["outputs"]["stdout"], "failed");
}

#[test]
fn when_false_skips_and_dependents_still_run() {
    let sb = Sandbox::new();
    sb.write(
        "when.yaml",
        r#"version: 1
name: when
inputs:
  force: { type: boolean, default: false }
steps:
  - id: maybe
    kind: shell
    when: "inputs.force"
    with: { run: ["touch", "maybe-ran"] }
  - id: then
    kind: shell
    needs: [maybe]
    with: { run: ["echo", "{{ steps.maybe.status }}"] }
"#,
    );
    let ran = sb.run(&["run", "when.yaml"]);
    ran.expect_code(0);
    let journal = sb.journal(&ran.run_id());
    assert_eq!(
        step_event(&journal, "step_skipped", "maybe").unwrap()["reason"],
        "`when: inputs.force` is false"
    );
    assert_eq!(
        step_event(&journal, "step_succeeded", "then").unwrap()["outputs"]["stdout"],
        "skipped"
    );
    let ran = sb.run(&["run", "when.yaml", "--input", "force=true"]);
    ran.expect_code(0);
    assert!(sb.work_dir(&ran.run_id()).join("maybe-ran").exists());
}

/// Two 1 s branches of a diamond run at the same time: their recorded
/// intervals overlap. (How long it takes is for benchmarks, not tests.)
#[test]
fn independent_branches_run_in_parallel() {
    let sb = Sandbox::new();
    sb.write(
        "diamond.yaml",
        r#"version: 1
name: diamond
steps:
  - id: top
    kind: shell
    with: { run: ["true"] }
  - id: left
    kind: shell
    needs: [top]
    with: { script: "date +%s.%N > left.start; sleep 1; date +%s.%N > left.end" }
  - id: right
    kind: shell
    needs: [top]
    with: { script: "date +%s.%N > right.start; sleep 1; date +%s.%N > right.end" }
  - id: bottom
    kind: shell
    needs: [left, right]
    with: { run: ["true"] }
"#,
    );
    let ran = sb.run(&["run", "diamond.yaml"]);
    ran.expect_code(0);
    let work = sb.work_dir(&ran.run_id());
    let t = |n: &str| stamp(&work, n);
    let (ls, le, rs, re) = (
        t("left.start"),
        t("left.end"),
        t("right.start"),
        t("right.end"),
    );
    assert!(
        ls < re && rs < le,
        "branches did not overlap: left {ls}..{le}, right {rs}..{re}"
    );
}

#[test]
fn max_parallel_one_serialises_branches() {
    let sb = Sandbox::new();
    sb.write(
        "two.yaml",
        r#"version: 1
name: two
steps:
  - id: left
    kind: shell
    with: { script: "date +%s.%N > left.start; sleep 0.3; date +%s.%N > left.end" }
  - id: right
    kind: shell
    with: { script: "date +%s.%N > right.start; sleep 0.3; date +%s.%N > right.end" }
"#,
    );
    let ran = sb.run(&["run", "two.yaml", "--max-parallel", "1"]);
    ran.expect_code(0);
    let work = sb.work_dir(&ran.run_id());
    let t = |n: &str| stamp(&work, n);
    assert!(t("left.end") <= t("right.start") || t("right.end") <= t("left.start"));
}

#[test]
fn retries_until_the_condition_holds() {
    let sb = Sandbox::new();
    sb.write(
        "retry.yaml",
        r#"version: 1
name: retry
steps:
  - id: count
    kind: shell
    with: { script: "echo x >> tries; wc -l < tries" }
    until: "outputs.stdout | int >= 3"
    retry: { attempts: 5, delay: 10ms, backoff: 2.0 }
"#,
    );
    let ran = sb.run(&["run", "retry.yaml"]);
    ran.expect_code(0);
    let journal = sb.journal(&ran.run_id());
    let failed = events(&journal, "attempt_failed");
    assert_eq!(failed.len(), 2, "{}", ran.dump());
    assert_eq!(
        failed[0]["error"],
        "`until: outputs.stdout | int >= 3` is not yet true"
    );
    assert_eq!(failed[0]["retry_in_ms"], 10);
    assert_eq!(failed[1]["retry_in_ms"], 20, "backoff doubles the delay");
}

#[test]
fn retries_give_up_after_the_last_attempt() {
    let sb = Sandbox::new();
    sb.write(
        "giveup.yaml",
        "version: 1\nname: giveup\nsteps:\n  - id: never_ok\n    kind: shell\n    with: { run: [\"false\"] }\n    retry: { attempts: 3, delay: 1ms }\n",
    );
    let ran = sb.run(&["run", "giveup.yaml"]);
    ran.expect_code(1);
    let journal = sb.journal(&ran.run_id());
    let failed = step_event(&journal, "step_failed", "never_ok").unwrap();
    assert_eq!(failed["error"], "`false` exited with 1 (after 3 attempts)");
}

#[test]
fn a_timeout_kills_the_child_process() {
    let sb = Sandbox::new();
    sb.write(
        "slow.yaml",
        "version: 1\nname: slow\nsteps:\n  - id: slow\n    kind: shell\n    timeout: 500ms\n    with: { script: \"echo $$ > pid; sleep 30\" }\n",
    );
    let ran = sb.run(&["run", "slow.yaml"]);
    ran.expect_code(1);
    let journal = sb.journal(&ran.run_id());
    let failed = step_event(&journal, "step_failed", "slow").unwrap();
    assert_eq!(
        failed["error"],
        "timed out after 500ms (the step's `timeout`)"
    );
    let pid = std::fs::read_to_string(sb.work_dir(&ran.run_id()).join("pid")).unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "the child survived its timeout"
    );
}

#[test]
fn template_values_never_become_shell_syntax() {
    let sb = Sandbox::new();
    sb.write(
        "quote.yaml",
        r#"version: 1
name: quote
inputs:
  evil: { type: string, default: "x; touch pwned; echo $(touch pwned2)" }
steps:
  - id: script
    kind: shell
    with: { script: "printf '%s\n' {{ inputs.evil }} | wc -l" }
  - id: argv
    kind: shell
    with: { run: ["echo", "{{ inputs.evil }}"] }
"#,
    );
    let ran = sb.run(&["run", "quote.yaml"]);
    ran.expect_code(0);
    let work = sb.work_dir(&ran.run_id());
    assert!(!work.join("pwned").exists() && !work.join("pwned2").exists());
    let journal = sb.journal(&ran.run_id());
    assert_eq!(
        step_event(&journal, "step_succeeded", "script").unwrap()["outputs"]["stdout"],
        "1"
    );
    assert_eq!(
        step_event(&journal, "step_succeeded", "argv").unwrap()["outputs"]["stdout"],
        "x; touch pwned; echo $(touch pwned2)"
    );
    // The journal shows the script as a human would type it, quoted.
    let started = step_event(&journal, "step_started", "script").unwrap();
    assert!(
        started["description"]
            .as_str()
            .unwrap()
            .contains("'x; touch pwned; echo $(touch pwned2)' | wc -l"),
        "{started}"
    );
}

#[test]
fn dry_run_changes_nothing_and_renders_every_step() {
    let sb = Sandbox::new();
    sb.write(
        "dry.yaml",
        r#"version: 1
name: dry
inputs:
  target: { type: string, default: "/tmp/x" }
steps:
  - id: make
    kind: shell
    with: { run: ["touch", "made-{{ inputs.target | basename }}"] }
  - id: latest
    kind: shell
    with: { run: ["touch", "probe-ran"] }
    read_only: true
  - id: use
    kind: shell
    needs: [latest, make]
    with: { run: ["echo", "{{ steps.latest.outputs.stdout }}", "{{ steps.make.outputs.stdout }}"] }
"#,
    );
    let ran = sb.run(&["run", "dry.yaml", "--dry-run"]);
    ran.expect_code(0);
    let work = sb.work_dir(&ran.run_id());
    assert!(
        !work.join("made-x").exists() && !work.join("probe-ran").exists(),
        "a dry run executed something"
    );
    assert!(
        ran.stdout.contains("would run make:\n    touch made-x"),
        "{}",
        ran.dump()
    );
    assert!(
        ran.stdout.contains(
            "echo '<dry-run:steps.latest.outputs.stdout>' '<dry-run:steps.make.outputs.stdout>'"
        ),
        "{}",
        ran.dump()
    );
    assert!(
        ran.stderr
            .contains("warning  use: renders simulated values"),
        "{}",
        ran.dump()
    );
    let ran = sb.run(&["run", "dry.yaml", "--dry-run=probes"]);
    ran.expect_code(0);
    // A drill leaves its work directory empty, so the journal says what ran.
    let journal = sb.journal(&ran.run_id());
    assert!(
        step_event(&journal, "step_started", "latest").is_some(),
        "probes mode runs read-only steps"
    );
    assert!(
        step_event(&journal, "step_started", "make").is_none(),
        "probes mode simulates the rest"
    );
}

#[test]
fn output_json_streams_one_event_per_line() {
    let sb = Sandbox::new();
    sb.write("j.yaml", "version: 1\nname: j\nsteps:\n  - id: a\n    kind: shell\n    with: { run: [\"echo\", \"hi\"] }\n");
    let ran = sb.run(&["run", "j.yaml", "--output", "json"]);
    ran.expect_code(0);
    let lines: Vec<serde_json::Value> = ran
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines[0]["type"], "run_started");
    assert!(lines
        .iter()
        .any(|l| l["event"] == "output" && l["line"] == "hi"));
    assert!(lines
        .iter()
        .any(|l| l["type"] == "run_finished" && l["status"] == "succeeded"));
    assert!(lines.iter().any(|l| l["event"] == "info"
        && l["message"]
            .as_str()
            .is_some_and(|m| m.contains("timeline.md"))));
}

#[test]
fn secrets_cannot_be_passed_on_the_command_line_and_must_exist() {
    let sb = Sandbox::new();
    sb.write(
        "s.yaml",
        "version: 1\nname: s\ninputs:\n  key: { type: secret, env: LB_TEST_KEY }\nsteps:\n  - id: a\n    kind: shell\n    with: { run: [\"true\", \"{{ inputs.key }}\"] }\n",
    );
    let ran = sb.run(&["run", "s.yaml", "--input", "key=hunter2"]);
    ran.expect_code(2);
    assert!(
        ran.stderr
            .contains("`key` is a secret input and cannot be passed in arguments"),
        "{}",
        ran.dump()
    );
    assert!(!ran.stderr.contains("hunter2"));
    let ran = sb.run(&["run", "s.yaml"]);
    ran.expect_code(2);
    assert!(
        ran.stderr.contains(
            "missing credential: secret input `key` reads $LB_TEST_KEY, which is not set"
        ),
        "{}",
        ran.dump()
    );
    let ran = sb.run(&["run", "s.yaml", "--dry-run"]);
    ran.expect_code(0);
    assert!(
        ran.stderr
            .contains("secret input `key` is not set; the drill uses a placeholder"),
        "{}",
        ran.dump()
    );
}

#[test]
fn unknown_and_missing_inputs_are_named() {
    let sb = Sandbox::new();
    sb.write("i.yaml", "version: 1\nname: i\ninputs:\n  nodes: { type: integer }\nsteps:\n  - id: a\n    kind: shell\n    with: { run: [\"true\"] }\n");
    let ran = sb.run(&["run", "i.yaml", "--input", "node=3"]);
    ran.expect_code(2);
    assert!(
        ran.stderr
            .contains("unknown input `node`; did you mean `nodes`?"),
        "{}",
        ran.dump()
    );
    let ran = sb.run(&["run", "i.yaml", "--input", "nodes=three"]);
    ran.expect_code(2);
    assert!(
        ran.stderr
            .contains("input `nodes` is an integer; got `three`"),
        "{}",
        ran.dump()
    );
    let ran = sb.run(&["run", "i.yaml"]);
    ran.expect_code(2);
    assert!(
        ran.stderr
            .contains("`nodes` (integer): pass --input nodes=VALUE"),
        "{}",
        ran.dump()
    );
    sb.write("in.yaml", "nodes: 3\n");
    sb.run(&["run", "i.yaml", "--inputs", "in.yaml"])
        .expect_code(0);
}

/// SIGINT stops the running child cleanly and exits 130; resume continues.
#[test]
fn ctrl_c_interrupts_with_130_and_resume_finishes() {
    interrupt_then_resume(2);
}

/// SIGTERM (kill, systemd, CI cancellation) does the same: children are not
/// orphaned.
#[test]
fn sigterm_interrupts_with_130_and_resume_finishes() {
    interrupt_then_resume(15);
}

fn interrupt_then_resume(signal: i32) {
    let sb = Sandbox::new();
    sb.write(
        "long.yaml",
        r#"version: 1
name: long
steps:
  - id: first
    kind: shell
    with: { run: ["true"] }
  - id: long
    kind: shell
    needs: [first]
    rerun: safe
    with: { script: "echo $$ > pid; if [ -e second-time ]; then exit 0; fi; touch second-time; sleep 30" }
"#,
    );
    let mut child = sb.test().args(["run", "long.yaml"]).spawn();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let runs = sb.state_dir().join("runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let pid_file = loop {
        let found = std::fs::read_dir(&runs)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path().join("work/pid"));
        if let Some(p) = found.filter(|p| {
            p.exists() && std::fs::read_to_string(p).is_ok_and(|s| !s.trim().is_empty())
        }) {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the long step never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // SAFETY: signalling our own child process.
    unsafe { libc_kill(child.id() as i32, signal) };
    let status = child.wait().unwrap();
    let stdout = reader.join().unwrap();
    assert_eq!(status.code(), Some(130), "{stdout}");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "the child survived Ctrl-C"
    );
    let run_id = stdout.lines().next().unwrap().trim().to_string();
    assert!(
        stdout.contains(&format!("lifeboat resume {run_id}")),
        "{stdout}"
    );
    let journal = sb.journal(&run_id);
    assert_eq!(journal.last().unwrap()["type"], "interrupted");
    let ran = sb.run(&["resume", &run_id]);
    ran.expect_code(0);
    let journal = sb.journal(&run_id);
    assert_eq!(
        events(&journal, "step_succeeded")
            .iter()
            .filter(|r| r["step"] == "first")
            .count(),
        1,
        "first must not run twice"
    );
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn an_interrupted_never_step_waits_for_a_human() {
    let sb = Sandbox::new();
    sb.write(
        "never.yaml",
        "version: 1\nname: never\nsteps:\n  - id: restore\n    kind: shell\n    rerun: never\n    with: { script: \"sleep 30\" }\n  - id: verify\n    kind: shell\n    needs: [restore]\n    with: { run: [\"true\"] }\n",
    );
    let mut child = sb.test().args(["run", "never.yaml"]).spawn();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let run_id = lines.next().unwrap().unwrap();
    for line in lines.by_ref() {
        if line.unwrap().contains("start    restore") {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL: a crash mid-step
    child.wait().unwrap();
    let ran = sb.run(&["resume", &run_id]);
    ran.expect_code(3);
    assert!(
        ran.stdout
            .contains(&format!("lifeboat mark {run_id} restore done --as NAME")),
        "{}",
        ran.dump()
    );
    let ran = sb.run(&["mark", &run_id, "verify", "done", "--as", "alice"]);
    ran.expect_code(2);
    assert!(ran.stderr.contains("has not started"), "{}", ran.dump());
    sb.run(&["mark", &run_id, "restore", "done", "--as", "alice"])
        .expect_code(0);
    sb.run(&["resume", &run_id]).expect_code(0);
    let journal = sb.journal(&run_id);
    let starts = journal
        .iter()
        .filter(|r| r["type"] == "step_started" && r["step"] == "restore")
        .count();
    assert_eq!(starts, 1, "a never step must not run twice");
    let marked = step_event(&journal, "marked", "restore").unwrap();
    assert_eq!(marked["actor"], "alice");
}

#[test]
fn a_changed_runbook_is_refused_on_resume() {
    let sb = Sandbox::new();
    let text = "version: 1\nname: chg\nsteps:\n  - id: a\n    kind: shell\n    with: { run: [\"false\"] }\n";
    let path = sb.write("chg.yaml", text);
    let ran = sb.run(&["run", "chg.yaml"]);
    ran.expect_code(1);
    let id = ran.run_id();
    std::fs::write(
        &path,
        text.replace("[\"false\"]", "[\"true\"]")
            + "  - id: b\n    kind: shell\n    with: { run: [\"true\"] }\n",
    )
    .unwrap();
    let ran = sb.run(&["resume", &id]);
    ran.expect_code(2);
    assert!(ran.stderr.contains("changed since run"), "{}", ran.dump());
    assert!(
        ran.stderr.contains("+ added step `b`") && ran.stderr.contains("~ changed step `a`"),
        "{}",
        ran.dump()
    );
    sb.run(&["resume", &id, "--allow-changed"]).expect_code(0);
}

#[test]
fn a_damaged_journal_stops_resume_with_the_line() {
    let sb = Sandbox::new();
    sb.write(
        "d.yaml",
        "version: 1\nname: d\nsteps:\n  - id: a\n    kind: shell\n    with: { run: [\"false\"] }\n",
    );
    let ran = sb.run(&["run", "d.yaml"]);
    let id = ran.run_id();
    let path = sb.run_dir(&id).join("journal.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let before = text.clone();
    std::fs::write(&path, text.replacen("\"step\":\"a\"", "\"step\":\"b\"", 1)).unwrap();
    let ran = sb.run(&["resume", &id]);
    ran.expect_code(2);
    assert!(
        ran.stderr.contains(
            "is broken, so it is not resumed: seq 2 was changed after it was written: checksum mismatch (stored "
        ) && ran.stderr.contains(&format!("(at {}:2)", path.display())),
        "{}",
        ran.dump()
    );
    assert_ne!(
        std::fs::read_to_string(&path).unwrap(),
        before,
        "sanity: the file was altered by the test"
    );
}

#[test]
fn an_unfinished_run_is_offered_for_resume() {
    let sb = Sandbox::new();
    sb.write("u.yaml", "version: 1\nname: u\nsteps:\n  - id: a\n    kind: shell\n    rerun: never\n    with: { run: [\"sleep\", \"30\"] }\n");
    let mut child = sb.test().args(["run", "u.yaml"]).spawn();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let run_id = lines.next().unwrap().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let ran = sb.run(&["run", "u.yaml"]);
    ran.expect_code(2);
    assert!(
        ran.stderr.contains(&format!("lifeboat resume {run_id}")),
        "{}",
        ran.dump()
    );
}

#[test]
fn a_template_error_names_the_field_and_the_expression() {
    // `json` is a declared `shell` output, so `validate` accepts it, but a
    // step whose stdout is not JSON has none: rendering fails at run time.
    let sb = Sandbox::new();
    sb.write(
        "te.yaml",
        "version: 1\nname: te\nsteps:\n  - id: a\n    kind: shell\n    with: { run: [\"true\"] }\n  - id: b\n    kind: shell\n    needs: [a]\n    with: { run: [\"echo\", \"{{ steps.a.outputs.json }}\"] }\n",
    );
    let ran = sb.run(&["run", "te.yaml"]);
    ran.expect_code(1);
    let journal = sb.journal(&ran.run_id());
    let failed = step_event(&journal, "step_failed", "b").unwrap();
    assert_eq!(
        failed["error"],
        "template error in `with`: `run[1]` (`{{ steps.a.outputs.json }}`): `steps.a.outputs.json` is undefined"
    );
}

/// Resuming a failed run retries the failed step; a completed `on_failure`
/// step that is unsafe to repeat is not run again, `finally` steps that are
/// safe to repeat are.
#[test]
fn resuming_a_failed_run_retries_it_without_repeating_unsafe_handlers() {
    let sb = Sandbox::new();
    sb.write(
        "retry.yaml",
        r#"version: 1
name: retryable
steps:
  - id: flaky
    kind: shell
    rerun: safe
    with: { script: "if [ -e ../fixed ]; then echo ok; else exit 1; fi" }
on_failure:
  - id: page
    kind: shell
    with: { script: "echo page >> ../pages" }
finally:
  - id: tidy
    kind: shell
    rerun: safe
    with: { script: "echo tidy >> ../tidies" }
"#,
    );
    let ran = sb.run(&["run", "retry.yaml"]);
    ran.expect_code(1);
    let id = ran.run_id();
    let run_dir = sb.run_dir(&id);
    std::fs::write(run_dir.join("fixed"), "").unwrap();
    sb.run(&["resume", &id]).expect_code(0);
    let count = |name: &str| {
        std::fs::read_to_string(run_dir.join(name))
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(
        count("pages"),
        1,
        "the completed on_failure step (rerun: never by default) ran again"
    );
    assert_eq!(
        count("tidies"),
        2,
        "finally runs again at the end of the resumed run"
    );
}
