//! One test per finding of the "Security hardening" review that the engine
//! answers (findings 6, 8, 10 and 12), named after it, and the gaps a later
//! review found in them (`gap_…`). Each failed before its fix.

mod util;

use std::os::unix::process::CommandExt;
use std::time::Duration;

use expectrl::{Eof, Expect};
use util::Sandbox;

/// A runbook whose first step fails, so the run can be resumed.
const FAILING: &str =
    "version: 1\nname: swap\nsteps:\n  - id: a\n    kind: shell\n    with: { run: [\"false\"] }\n";

fn started_steps(sb: &Sandbox, run_id: &str) -> Vec<String> {
    sb.journal(run_id)
        .iter()
        .filter(|r| r["type"] == "step_started")
        .map(|r| r["step"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Finding 6: the run directory's `runbook.yaml` was edited and
/// `source_path` pointed at a missing file; resume ran the edited runbook.
#[test]
fn finding_6_an_edited_runbook_copy_is_refused_on_resume() {
    let sb = Sandbox::new();
    sb.write("swap.yaml", FAILING);
    let ran = sb.run(&["run", "swap.yaml"]);
    ran.expect_code(1);
    let id = ran.run_id();
    let copy = sb.run_dir(&id).join("runbook.yaml");
    let swapped = FAILING.replace("[\"false\"]", "[\"true\"]")
        + "  - id: planted\n    kind: shell\n    with: { run: [\"touch\", \"planted\"] }\n";
    std::fs::write(&copy, &swapped).unwrap();
    std::fs::write(
        sb.run_dir(&id).join("source_path"),
        "/nonexistent/swap.yaml",
    )
    .unwrap();
    let recorded = sb.journal(&id)[0]["digest"].as_str().unwrap().to_string();

    for args in [vec!["resume", &id], vec!["resume", &id, "--allow-changed"]] {
        let ran = sb.run(&args);
        ran.expect_code(2);
        let first = ran.stderr.lines().next().unwrap_or_default();
        assert!(
            first.contains(&format!(
                "the run's copy of its runbook `{}` does not match the journal of run `{id}`",
                copy.display()
            )) && first.contains(&format!("the journal records sha256 {recorded}"))
                && first.contains(&format!(
                    "the copy's is {}",
                    lifeboat_steps::checksum::sha256_hex(swapped.as_bytes())
                ))
                && first.contains("the journal is authoritative"),
            "{}",
            ran.dump()
        );
        assert!(
            ran.stderr.contains(
                "the original `/nonexistent/swap.yaml` cannot be read either; put the recorded version back in"
            ),
            "{}",
            ran.dump()
        );
    }
    assert_eq!(started_steps(&sb, &id), ["a"], "nothing ran after the swap");
    assert!(!sb.path().join("planted").exists());
    assert!(!sb.work_dir(&id).join("planted").exists());

    // With the original back in place the message says what differs and
    // how to restore the copy; restoring it makes the run resumable.
    std::fs::write(
        sb.run_dir(&id).join("source_path"),
        sb.path().join("swap.yaml").display().to_string(),
    )
    .unwrap();
    let ran = sb.run(&["resume", &id]);
    ran.expect_code(2);
    assert!(
        ran.stderr.contains("+ added step `planted`")
            && ran.stderr.contains("~ changed step `a`")
            && ran
                .stderr
                .contains("still holds the recorded version: copy it to"),
        "{}",
        ran.dump()
    );
    std::fs::write(&copy, FAILING).unwrap();
    sb.run(&["resume", &id]).expect_code(1);
    assert_eq!(started_steps(&sb, &id), ["a", "a"]);
}

/// Finding 6: after `--allow-changed` the journal's last `resumed` digest
/// is the recorded one, so the new copy is trusted and the old one is not.
#[test]
fn finding_6_a_change_allowed_on_resume_becomes_the_recorded_digest() {
    let sb = Sandbox::new();
    let path = sb.write("swap.yaml", FAILING);
    let ran = sb.run(&["run", "swap.yaml"]);
    let id = ran.run_id();
    let changed = FAILING.replace("[\"false\"]", "[\"sh\", \"-c\", \"exit 3\"]");
    std::fs::write(&path, &changed).unwrap();
    sb.run(&["resume", &id, "--allow-changed"]).expect_code(1);
    let resumed = sb
        .journal(&id)
        .into_iter()
        .find(|r| r["type"] == "resumed")
        .unwrap();
    assert_eq!(
        resumed["digest"],
        lifeboat_steps::checksum::sha256_hex(changed.as_bytes())
    );
    sb.run(&["resume", &id]).expect_code(1);
    // The old text in the copy no longer matches what the journal records.
    std::fs::write(sb.run_dir(&id).join("runbook.yaml"), FAILING).unwrap();
    std::fs::remove_file(&path).unwrap();
    let ran = sb.run(&["resume", &id]);
    ran.expect_code(2);
    assert!(
        ran.stderr.contains("does not match the journal"),
        "{}",
        ran.dump()
    );
    assert_eq!(started_steps(&sb, &id), ["a", "a", "a"]);
}

/// `validate` with its address space capped, so a reader without a budget
/// fails fast instead of taking the machine's memory.
fn validate_capped(sb: &Sandbox, file: &str) -> util::Ran {
    capped(sb, &["validate", file], 2 << 30)
}

/// `lifeboat ARGS` with its address space (`RLIMIT_AS`) capped at `bytes`.
/// The address space also grows with threads (stacks, malloc arenas), so
/// the engine gets two tokio workers and two malloc arenas whatever the
/// machine's core count; its normal peak is then about 60 MiB.
fn capped(sb: &Sandbox, args: &[&str], bytes: u64) -> util::Ran {
    sb.test()
        .args(args)
        .env("TOKIO_WORKER_THREADS", "2")
        .env("MALLOC_ARENA_MAX", "2")
        .any_status()
        .note(&format!("address space {} MiB", bytes >> 20))
        .with_command(move |cmd| {
            // SAFETY: setrlimit is async-signal-safe and touches no memory
            // of the parent; it runs in the child between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: bytes as libc::rlim_t,
                        rlim_max: bytes as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        })
        .run()
}

/// Finding 8: a YAML alias bomb of a few hundred bytes drove `validate` to
/// 23 GB; the reader now stops at the alias that breaches its budget.
#[test]
fn finding_8_an_alias_bomb_is_stopped_by_the_reader_budget() {
    let sb = Sandbox::new();
    let mut bomb = String::from(
        "version: 1\nname: bomb\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let p = i - 1;
        bomb.push_str(&format!(
            "x{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    bomb.push_str("steps: []\n");
    assert!(bomb.len() < 1000, "a few hundred bytes: {}", bomb.len());
    sb.write("bomb.yaml", &bomb);
    let ran = validate_capped(&sb, "bomb.yaml");
    ran.expect_code(2);
    // a4 holds 111,111 nodes: its second alias, in x5, breaches 250,000.
    assert!(
        ran.stderr.contains("bomb.yaml:8:")
            && ran.stderr.contains(
                "alias `*a4` brings the nodes copied by aliases past 250000 (the runbook reader's alias budget; budget breached)"
            )
            && ran.stderr.contains("aliases copy their anchor's whole subtree"),
        "{}",
        ran.dump()
    );

    // Deep nesting, written out or built from aliases, has a budget too.
    let deep = format!(
        "version: 1\nname: deep\nx: {}{}\n",
        "[".repeat(130),
        "]".repeat(130)
    );
    sb.write("deep.yaml", &deep);
    let ran = validate_capped(&sb, "deep.yaml");
    ran.expect_code(2);
    assert!(
        ran.stderr.contains("deep.yaml:3:")
            && ran
                .stderr
                .contains("values nest more than 128 levels deep here"),
        "{}",
        ran.dump()
    );
    let mut tall = String::from("version: 1\nname: tall\n");
    let mut previous = String::from("x");
    for i in 0..40 {
        tall.push_str(&format!(
            "l{i}: &t{i} {}{previous}{}\n",
            "[".repeat(60),
            "]".repeat(60)
        ));
        previous = format!("*t{i}");
    }
    sb.write("tall.yaml", &tall);
    let ran = validate_capped(&sb, "tall.yaml");
    ran.expect_code(2);
    assert!(
        ran.stderr
            .contains("values nest more than 128 levels deep here"),
        "{}",
        ran.dump()
    );

    // Ordinary aliases still work.
    sb.write(
        "ok.yaml",
        "version: 1\nname: ok\nsteps:\n  - id: a\n    kind: shell\n    with: &w { run: [\"true\"] }\n  - id: b\n    kind: shell\n    with: *w\n",
    );
    validate_capped(&sb, "ok.yaml").expect_code(0);
}

/// Finding 10: a step printing one huge line without a newline was held
/// whole (1 GiB used 3.1 GB; 2 GiB aborted the engine). What is kept and
/// shown is now bounded whatever the line structure: the engine runs with
/// its address space capped at 512 MiB (its normal peak is about 60 MiB)
/// while the step prints 768 MiB in one line, so an engine that held the
/// line whole could not finish.
#[test]
fn finding_10_one_huge_output_line_keeps_only_the_last_mib() {
    let sb = Sandbox::new();
    sb.write(
        "huge.yaml",
        "version: 1\nname: huge\nsteps:\n  - id: flood\n    kind: shell\n    with:\n      script: |\n        printf START\n        head -c 805306368 /dev/zero | tr '\\0' x\n        printf END\n",
    );
    let ran = capped(&sb, &["run", "huge.yaml"], 512 << 20);
    ran.expect_code(0);
    let id = ran.run_id();
    let journal = sb.journal(&id);
    let done = journal
        .iter()
        .find(|r| r["type"] == "step_succeeded" && r["step"] == "flood")
        .unwrap_or_else(|| panic!("the run finished the step\n{}", ran.dump()));
    let stdout = done["outputs"]["stdout"].as_str().unwrap();
    assert_eq!(stdout.len(), 1 << 20, "the last 1 MiB is kept");
    assert!(stdout.ends_with("xxxEND") && !stdout.contains("START"));
    assert!(journal.iter().any(|r| r["type"] == "run_finished"));
    // The console showed the head of the line, not 768 MiB of it.
    assert!(
        ran.stdout.len() < 64 << 10,
        "console output is {} bytes",
        ran.stdout.len()
    );
    assert!(
        ran.stdout
            .contains(&format!("| flood: START{}", "x".repeat(100)))
            && ran.stdout.contains("more bytes)"),
        "{}",
        &ran.stdout[..ran.stdout.len().min(2000)]
    );
}

/// Gap in finding 1: a `check` probe may be `shell` now, but `validate`
/// checked only the step's own `with` for template quoting and arithmetic;
/// the probe's script got neither.
#[test]
fn gap_validate_checks_a_shell_probe_script_like_the_steps_own() {
    let sb = Sandbox::new();
    sb.write(
        "probe.yaml",
        r#"version: 1
name: probe
inputs:
  name: { type: string, default: x }
steps:
  - id: status
    kind: shell
    with: { run: ["echo", "3"] }
  - id: copy
    kind: shell
    needs: [status]
    rerun: check
    check:
      kind: shell
      read_only: true
      with: { script: "[[ {{ steps.status.outputs.stdout }} -lt 5 ]]" }
    with: { run: ["true"] }
  - id: quoted
    kind: shell
    rerun: check
    check:
      kind: shell
      read_only: true
      with: { script: "test -e '{{ inputs.name }}'" }
    with: { run: ["true"] }
"#,
    );
    // A warning about arithmetic on `copy`'s probe (probe.yaml:16:27) and
    // an error about the single quotes in `quoted`'s.
    let ran = sb
        .test()
        .args(["validate", "probe.yaml"])
        .status(2)
        .stdout("")
        .run();
    ran.snapshot_settings()
        .bind(|| insta::assert_snapshot!(ran.stderr));
}

/// Gap in finding 1: the arithmetic warning fired for a template that reads
/// an input declared `type: integer`, whose value is checked to be an
/// integer when the run starts; it still fires for anything else.
#[test]
fn gap_validate_does_not_warn_about_arithmetic_on_an_integer_input() {
    let sb = Sandbox::new();
    sb.write(
        "int.yaml",
        r#"version: 1
name: int
inputs:
  nodes: { type: integer, default: 3 }
  label: { type: string, default: "3" }
steps:
  - id: wait
    kind: shell
    with:
      script: |
        (( {{ inputs.nodes }} > 1 ))
        [[ {{ inputs.label }} -lt 5 ]]
"#,
    );
    let ran = sb.run(&["validate", "int.yaml"]);
    ran.expect_code(0);
    assert!(!ran.stderr.contains("inputs.nodes"), "{}", ran.dump());
    assert_eq!(ran.stderr.matches("warning:").count(), 1, "{}", ran.dump());
    // The one warning, about `inputs.label`.
    ran.snapshot_settings()
        .bind(|| insta::assert_snapshot!(ran.stderr));
    // The integer still computes at run time.
    sb.run(&["run", "int.yaml"]).expect_code(0);
}

/// What a step prints to spoof the operator's terminal.
const SPOOF: &str = r#"version: 1
title: "Spoof \e]0;title\a"
name: spoof
steps:
  - id: spoof
    kind: shell
    with:
      script: |
        printf '\033]0;owned\007\033[2Jcleared\rFAKE: all good\n'
        sleep 0.5
        printf 'bye\033[1A\n' >&2
        exit 1
"#;

/// The step's sequences, raw; `extra` adds those the console itself never
/// writes (indicatif moves the cursor up, so a TTY check leaves that out).
fn assert_no_raw_sequences(text: &str, extra: &[&str]) {
    let step = ["\x1b]0;owned", "\x1b[2J", "\x07", "\rFAKE", "\x1b]0;title"];
    for raw in step.iter().chain(extra) {
        assert!(
            !text.contains(raw),
            "raw {raw:?} reached the terminal:\n{text:?}"
        );
    }
}

/// Finding 12: title changes, clear-screen and `\r` line spoofing from step
/// output were printed raw by the plain console.
#[test]
fn finding_12_escape_sequences_in_step_output_are_written_out_on_plain_output() {
    let sb = Sandbox::new();
    sb.write("spoof.yaml", SPOOF);
    let ran = sb.run(&["run", "spoof.yaml"]);
    ran.expect_code(1);
    assert_no_raw_sequences(&ran.stdout, &["\x1b[1A"]);
    assert!(
        !ran.stdout.contains('\x1b') && !ran.stdout.contains('\r'),
        "{:?}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains(r"| spoof: \u{1b}]0;owned\u{7}\u{1b}[2Jcleared\rFAKE: all good")
            && ran
                .stdout
                .contains(r"FAILED   spoof: `bash` exited with 1: bye\u{1b}[1A")
            && ran.stdout.contains(r"run      Spoof \u{1b}]0;title\u{7}"),
        "{}",
        ran.dump()
    );
}

/// Finding 12, on a terminal: the spinner's last output line, the header's
/// title and the lines above the bars are escaped too.
#[test]
fn finding_12_escape_sequences_in_step_output_are_written_out_on_a_tty() {
    let sb = Sandbox::new();
    let path = sb.write("spoof.yaml", SPOOF);
    let mut p = util::start_pty(sb.pty_command(&["run", path.to_str().unwrap()]), 200);
    p.set_expect_timeout(Some(Duration::from_secs(60)));
    let seen = p.expect(Eof).expect("lifeboat ends");
    let text: String = seen
        .matches()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect::<Vec<_>>()
        .concat();
    let text = String::from_utf8_lossy(seen.before()).into_owned() + &text;
    assert_no_raw_sequences(&text, &[]);
    assert!(
        text.contains(r"\u{1b}]0;owned\u{7}\u{1b}[2Jcleared\rFAKE: all good"),
        "{text:?}"
    );
}

/// A step prints a spoofing address; a Vault step warns about it (no TLS
/// verification), and a gate shows it in its prompt, details and rules.
const SPOOF_GATE: &str = r#"version: 1
title: "Spoof \e]0;title\a"
name: spoofgate
steps:
  - id: said
    kind: shell
    with:
      script: |
        printf 'http://127.0.0.1:9/\033]0;title\007\033[2J\rFAKE: all good'
  - id: probe
    kind: vault.health
    needs: [said]
    continue_on_failure: true
    with:
      addr: "{{ steps.said.outputs.stdout }}"
      tls_skip_verify: true
  - id: gate
    kind: approval
    needs: [probe]
    with:
      prompt: "promote {{ steps.said.outputs.stdout }}?"
      details: "the step said: {{ steps.said.outputs.stdout }}"
      approvers: [alice, "{{ steps.said.outputs.stdout }}"]
"#;

/// The step's text as [`lifeboat::terminal_text`] writes it out.
const SPOOF_SHOWN: &str = r"\u{1b}]0;title\u{7}\u{1b}[2J\rFAKE: all good";

/// `text`, shown by no-TTY output, holds the step's text written out
/// (`shown`) and no control character at all.
fn assert_written_out(what: &str, text: &str, shown: &str) {
    assert!(
        !text.contains('\x1b') && !text.contains('\r') && !text.contains('\x07'),
        "raw control characters reached {what}:\n{text:?}"
    );
    assert!(
        text.contains(shown),
        "{what} does not show the step's text:\n{text}"
    );
}

/// Finding 12, the rest of the outputs: plain-mode warnings on stderr,
/// `status`'s `waiting:` line, what `approve` prints and `timeline.md`
/// carried the step's escape sequences raw.
#[test]
fn finding_12_escape_sequences_from_a_step_are_written_out_in_warnings_status_decisions_and_timeline(
) {
    let sb = Sandbox::new();
    sb.write("gate.yaml", SPOOF_GATE);
    let ran = sb.run(&["run", "gate.yaml"]);
    ran.expect_code(3);
    let id = ran.run_id();
    assert_written_out("the console", &ran.stdout, SPOOF_SHOWN);
    assert!(
        ran.stderr
            .contains("warning  probe: TLS certificate verification is disabled"),
        "{}",
        ran.dump()
    );
    assert_written_out("a warning on stderr", &ran.stderr, SPOOF_SHOWN);

    let status = sb.run(&["status", &id]);
    status.expect_code(0);
    assert!(
        status.stdout.contains(&format!(
            "approvers: alice, http://127.0.0.1:9/{SPOOF_SHOWN}"
        )),
        "{}",
        status.dump()
    );
    assert_written_out("`status`", &status.stdout, SPOOF_SHOWN);

    let approved = sb.run(&["approve", &id, "gate", "--as", "alice"]);
    approved.expect_code(0);
    assert_written_out("`approve`", &approved.stdout, SPOOF_SHOWN);

    sb.run(&["resume", &id]).expect_code(0);
    let md = std::fs::read_to_string(sb.run_dir(&id).join("timeline.md")).expect("timeline.md");
    assert!(
        md.starts_with(r"# Incident timeline: Spoof \u{1b}]0;title\u{7}"),
        "{md}"
    );
    // The timeline flattens line breaks (`\r` too) into spaces.
    assert_written_out(
        "`timeline.md`",
        &md,
        r"\u{1b}]0;title\u{7}\u{1b}[2J FAKE: all good",
    );
}

/// Reads the terminal up to `needle` and appends all of it to `seen`.
fn read_until(p: &mut util::Pty, needle: &str, seen: &mut String) {
    let found = p
        .expect(needle)
        .unwrap_or_else(|e| panic!("did not see `{needle}` on the terminal: {e}\n{seen:?}"));
    seen.push_str(&String::from_utf8_lossy(found.before()));
    for m in found.matches() {
        seen.push_str(&String::from_utf8_lossy(m));
    }
}

/// Finding 12, at a terminal: a manual step's instructions and checklist
/// and an approval's prompt, details and approvers (dialoguer questions)
/// were printed raw.
#[test]
fn finding_12_escape_sequences_in_questions_at_a_terminal_are_written_out() {
    let sb = Sandbox::new();
    let yaml = r#"version: 1
name: spoofask
steps:
  - id: said
    kind: shell
    with:
      script: |
        printf '\033]0;title\007\033[2J\rFAKE: all good'
  - id: switch
    kind: manual
    needs: [said]
    with:
      instructions: |
        ## Check {{ steps.said.outputs.stdout }}
        The step said **{{ steps.said.outputs.stdout }}**.
      checklist: ["saw {{ steps.said.outputs.stdout }}"]
  - id: gate
    kind: approval
    needs: [switch]
    with:
      prompt: "promote {{ steps.said.outputs.stdout }}?"
      details: "the step said: {{ steps.said.outputs.stdout }}"
"#;
    sb.write("ask.yaml", yaml);
    let mut p = sb.pty(&["run", "ask.yaml"]);
    let mut seen = String::new();
    read_until(&mut p, "done?", &mut seen);
    util::send(&mut p, "y\r");
    read_until(&mut p, "Your name", &mut seen);
    util::send(&mut p, "\r");
    read_until(&mut p, "Note as evidence", &mut seen);
    util::send(&mut p, "\r");
    read_until(&mut p, "Decision", &mut seen);
    // Decide later: the run pauses.
    util::send(&mut p, "jj\r");
    read_until(&mut p, "paused", &mut seen);
    assert_eq!(util::exit_code(p), 3, "{seen:?}");
    assert_no_raw_sequences(&seen, &[]);
    for shown in [
        format!("Check {SPOOF_SHOWN}"),
        format!("saw {SPOOF_SHOWN} — done?"),
        format!("promote {SPOOF_SHOWN}?"),
        format!("the step said: {SPOOF_SHOWN}"),
    ] {
        assert!(seen.contains(&shown), "`{shown}` not shown:\n{seen:?}");
    }
}
