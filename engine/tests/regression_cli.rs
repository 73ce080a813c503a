//! Regressions of what `run` and `resume` promise on the command line, one
//! test per reported problem: the run id first, warnings on stderr,
//! `NO_COLOR`, a closed stdout, and step processes of a killed engine.

mod util;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use util::Sandbox;

const MISSING_SECRET: &str = r#"
version: 1
name: drill
inputs:
  token: { type: secret, env: LIFEBOAT_REGRESSION_UNSET_TOKEN }
steps:
  - id: use
    kind: shell
    with: { run: ["true", "{{ inputs.token }}"] }
"#;

#[test]
fn run_id_is_the_first_line_when_a_secret_is_missing_in_a_drill() {
    let sb = Sandbox::new();
    sb.write("drill.yaml", MISSING_SECRET);
    let ran = sb.run(&["run", "drill.yaml", "--dry-run"]);
    ran.expect_code(0);
    let id = ran.run_id();
    assert!(
        id.starts_with("drill-") && sb.run_dir(&id).is_dir(),
        "first line is not the run id\n{}",
        ran.dump()
    );
    // The warning about the placeholder is on stderr, not stdout.
    ran.snapshot_settings()
        .bind(|| insta::assert_snapshot!(ran.transcript()));
}

#[test]
fn run_started_is_the_first_json_line_when_a_secret_is_missing_in_a_drill() {
    let sb = Sandbox::new();
    sb.write("drill.yaml", MISSING_SECRET);
    let ran = sb.run(&["run", "drill.yaml", "--dry-run", "--output", "json"]);
    ran.expect_code(0);
    let lines: Vec<serde_json::Value> = ran
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines[0]["type"], "run_started", "{}", ran.dump());
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "warning"
                && l["message"].as_str().unwrap_or("").contains("`token`")),
        "the warning is lost\n{}",
        ran.dump()
    );
}

#[test]
fn empty_no_color_keeps_colours() {
    use expectrl::{Eof, Expect};
    let sb = Sandbox::new();
    sb.write(
        "styled.yaml",
        r#"
version: 1
name: styled
steps:
  - id: fetch
    kind: shell
    with: { script: "echo fetching; sleep 1.5; echo fetched" }
"#,
    );
    let mut cmd = sb.pty_command(&["run", "styled.yaml"]);
    cmd.env("NO_COLOR", "")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE");
    let mut p = util::start_pty(cmd, 120);
    let seen = p.expect("finished succeeded").expect("run finishes");
    let text = String::from_utf8_lossy(seen.before()).to_string();
    let _ = p.expect(Eof);
    // The running step's name is bold (ESC[1m) unless colours are off.
    assert!(
        text.contains("\x1b[1m"),
        "no styles with NO_COLOR set but empty: {text:?}"
    );
}

#[test]
fn closing_stdout_does_not_kill_the_run() {
    let sb = Sandbox::new();
    sb.write(
        "piped.yaml",
        r#"
version: 1
name: piped
steps:
  - id: first
    kind: shell
    with: { script: "echo one" }
  - id: later
    kind: shell
    needs: [first]
    with: { script: "sleep 0.5; for i in 1 2 3; do echo line $i; done" }
  - id: signals
    kind: shell
    needs: [later]
    with: { script: "grep SigIgn /proc/$$/status" }
"#,
    );
    // `R=$(lifeboat run piped.yaml | head -1)`
    let mut child = sb
        .test()
        .args(["run", "piped.yaml"])
        .with_command(|cmd| {
            cmd.stderr(Stdio::piped());
        })
        .spawn();
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut first)
        .expect("read the first line");
    // The reader is gone: stdout is closed.
    let status = child.wait().expect("lifeboat exits");
    let run = first.trim().to_string();
    assert_eq!(status.code(), Some(0), "{status:?} (run {run})");
    let journal = sb.journal(&run);
    assert!(
        journal.iter().any(|r| r["type"] == "note"
            && r["text"]
                .as_str()
                .unwrap_or("")
                .contains("stdout was closed")),
        "no note about the closed stdout: {journal:#?}"
    );
    assert_eq!(journal.last().unwrap()["type"], "run_finished");
    assert!(sb.run_dir(&run).join("timeline.md").exists());
    // Steps get the default SIGPIPE disposition back (signal 13 is bit 12).
    let signals = journal
        .iter()
        .find(|r| r["type"] == "step_succeeded" && r["step"] == "signals")
        .expect("signals step succeeded");
    let mask = signals["outputs"]["stdout"]
        .as_str()
        .and_then(|s| s.split_whitespace().last())
        .and_then(|m| u64::from_str_radix(m, 16).ok())
        .expect("a SigIgn mask");
    assert_eq!(mask & (1 << 12), 0, "steps inherit an ignored SIGPIPE");
}

/// Whether a process exists and is not a zombie.
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().chars().next())
        })
        .flatten()
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// Kills a process group when dropped, so a failing test leaves nothing behind.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0 > 0 {
            // SAFETY: kill(2) on a process group; no memory preconditions.
            unsafe { libc::kill(-self.0, libc::SIGKILL) };
        }
    }
}

#[test]
fn step_processes_do_not_outlive_a_killed_engine() {
    let sb = Sandbox::new();
    sb.write(
        "long.yaml",
        r#"
version: 1
name: long
steps:
  - id: long
    kind: shell
    rerun: safe
    with:
      script: |
        if [ -e started ]; then echo "second run"; exit 0; fi
        touch started
        sleep 60 &
        echo $! > sleeper
        echo $$ > leader
        wait
"#,
    );
    let mut engine = sb.test().args(["run", "long.yaml"]).spawn();
    let mut first = String::new();
    BufReader::new(engine.stdout.take().expect("piped"))
        .read_line(&mut first)
        .expect("the run id");
    let run = first.trim().to_string();
    let work = sb.work_dir(&run);
    let read_pid = |name: &str| -> Option<i32> {
        std::fs::read_to_string(work.join(name))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    };
    let mut pids = None;
    for _ in 0..200 {
        if let (Some(leader), Some(sleeper)) = (read_pid("leader"), read_pid("sleeper")) {
            pids = Some((leader, sleeper));
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (leader, sleeper) = pids.expect("the step started its children");
    let _cleanup = KillOnDrop(leader);
    // SIGKILL: the engine cannot stop its children.
    engine.kill().expect("kill the engine");
    engine.wait().expect("reap the engine");
    assert!(
        running(sleeper),
        "the step's child died with the engine already"
    );

    let resumed = sb.run(&["resume", &run]);
    resumed.expect_code(0);
    assert!(
        !running(sleeper) && !running(leader),
        "the killed engine's step still runs after the resume\n{}",
        resumed.dump()
    );
    let journal = sb.journal(&run);
    let recorded = journal
        .iter()
        .find(|r| r["type"] == "process_started" && r["step"] == "long")
        .expect("the process group is journalled");
    assert_eq!(recorded["pgid"].as_i64(), Some(leader as i64));
    let note = journal
        .iter()
        .position(|r| {
            r["type"] == "note"
                && r["text"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("step `long`: process group")
        })
        .expect("a note says the group was stopped");
    let rerun = journal
        .iter()
        .rposition(|r| r["type"] == "step_started" && r["step"] == "long")
        .unwrap();
    assert!(
        note < rerun,
        "the group was stopped after the step ran again"
    );
}
