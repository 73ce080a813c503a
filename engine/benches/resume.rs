//! Resume speed: how long `lifeboat resume` takes to reach its first new
//! step when the run's journal holds 10,000 records.
//!
//! Two runs, each a chain of `shell` steps:
//! - `polling`: a 100-step runbook whose first step polled 9,899 times
//!   (`attempt_failed` records, as an `until:` wait on a slow restore
//!   writes) and whose first 50 steps succeeded: 10,000 records.
//! - `wide`: a 6,000-step runbook with 5,000 steps done: 10,001 records.
//!
//! Each iteration copies the pristine run directory, starts `lifeboat
//! resume` and stops the clock when the console prints the start of the
//! first step not yet done. As the noisy-machine baseline, the same script
//! times `lifeboat validate` of the same runbook (process start, YAML parse,
//! validation: work a resume must also do). Prints medians and the ratio.
//!
//!     cargo bench -p lifeboat --bench resume

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lifeboat::LocalRunStore;
use lifeboat::RunStore;
use lifeboat::{Event, Record, JOURNAL_VERSION};
use serde_json::{json, Map};

const BIN: &str = env!("CARGO_BIN_EXE_lifeboat");
const ITERATIONS: usize = 7;

/// A run to resume: `steps` in a chain, the first `done` succeeded, the
/// first of them after `polls` failed attempts.
struct Scenario {
    name: &'static str,
    steps: usize,
    done: usize,
    polls: usize,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "polling",
        steps: 100,
        done: 50,
        polls: 9_899,
    },
    Scenario {
        name: "wide",
        steps: 6_000,
        done: 5_000,
        polls: 0,
    },
];

fn step_id(i: usize) -> String {
    format!("s{i:05}")
}

fn runbook(sc: &Scenario) -> String {
    let mut y = String::from("version: 1\nname: big\ntitle: Big runbook\nsteps:\n");
    for i in 1..=sc.steps {
        y.push_str(&format!(
            "  - id: {}\n    kind: shell\n    rerun: safe\n    with: {{ run: [\"true\"] }}\n",
            step_id(i)
        ));
        if i > 1 {
            y.push_str(&format!("    needs: [{}]\n", step_id(i - 1)));
        }
    }
    y
}

fn record(seq: u64, event: Event) -> Record {
    let ms = 1_700_000_000_000 + seq as i64 * 3;
    Record {
        v: JOURNAL_VERSION,
        seq,
        ts: jiff::Timestamp::from_millisecond(ms)
            .unwrap()
            .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string(),
        actor: "bench".into(),
        inbox: None,
        signed: None,
        prev: None,
        event,
    }
}

/// A run directory under `runs` whose journal has 10,001 records.
fn build_run(runs: &Path, text: &str, sc: &Scenario) -> usize {
    let store = LocalRunStore::create(runs, "big-run").unwrap();
    store.put_file("runbook.yaml", text.as_bytes()).unwrap();
    store.put_file("inputs.json", b"{}").unwrap();
    let mut records = vec![record(
        1,
        Event::RunStarted {
            run_id: "big-run".into(),
            runbook: "big".into(),
            title: "Big runbook".into(),
            digest: lifeboat_steps::checksum::sha256_hex(text.as_bytes()),
            scenario: None,
            inputs: Map::new(),
            secret_inputs: vec![],
            dry_run: None,
            declared_at: None,
            rto_target_ms: None,
            rto_stop_at: None,
            engine_version: "bench".into(),
            launch_dir: None,
            recipients: Box::default(),
            allowed_signers: None,
            allowed_signers_sha256: None,
            require_signed: false,
        },
    )];
    for i in 1..=sc.done {
        let seq = records.len() as u64 + 1;
        records.push(record(
            seq,
            Event::StepStarted {
                step: step_id(i),
                attempt: 1,
                description: "true".into(),
            },
        ));
        if i == 1 {
            for attempt in 1..=sc.polls {
                let seq = records.len() as u64 + 1;
                records.push(record(
                    seq,
                    Event::AttemptFailed {
                        step: step_id(i),
                        attempt: attempt as u32,
                        error: "`until: outputs.stdout == 'restored'` is not yet true".into(),
                        retry_in_ms: 1000,
                    },
                ));
            }
        }
        let seq = records.len() as u64 + 1;
        let mut outputs = Map::new();
        outputs.insert("exit_code".into(), json!(0));
        outputs.insert("stdout".into(), json!(""));
        outputs.insert("stderr".into(), json!(""));
        records.push(record(
            seq,
            Event::StepSucceeded {
                step: step_id(i),
                outputs,
                secret_outputs: vec![],
                sealed_outputs: None,
                simulated: false,
                duration_ms: 2,
            },
        ));
    }
    store.append(&records).unwrap();
    records.len()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Starts `lifeboat resume` and returns the time until step 5,001 starts.
fn time_resume(state: &Path, sc: &Scenario) -> Duration {
    let first_new = format!(" {} ", step_id(sc.done + 1));
    let start = Instant::now();
    let mut child = Command::new(BIN)
        .args(["resume", "big-run", "--state-dir"])
        .arg(state)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut elapsed = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.contains(" start ") && line.contains(&first_new) {
            elapsed = Some(start.elapsed());
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    elapsed.expect("resume never started the first new step")
}

fn time_validate(file: &Path) -> Duration {
    let start = Instant::now();
    let out = Command::new(BIN)
        .arg("validate")
        .arg(file)
        .output()
        .unwrap();
    let d = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` runs benches in test
    // mode with no argument: then check the setup works, quickly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let iterations = if quick { 1 } else { ITERATIONS };
    for sc in SCENARIOS {
        let tmp = tempfile::tempdir().unwrap();
        let text = runbook(sc);
        let file = tmp.path().join("big.yaml");
        std::fs::write(&file, &text).unwrap();
        let pristine = tmp.path().join("pristine");
        let n = build_run(&pristine.join("runs"), &text, sc);
        // For profiling: LIFEBOAT_BENCH_KEEP=DIR keeps a copy of each run.
        if let Some(keep) = std::env::var_os("LIFEBOAT_BENCH_KEEP") {
            copy_dir(&pristine, &Path::new(&keep).join(sc.name));
        }
        let mut resumes = Vec::new();
        let mut validates = Vec::new();
        for i in 0..iterations {
            let state = tmp.path().join(format!("state{i}"));
            copy_dir(&pristine, &state);
            resumes.push(time_resume(&state, sc));
            validates.push(time_validate(&file));
        }
        let (r, v) = (median(resumes), median(validates));
        println!(
            "[{}] resume to first new step, journal of {n} records, {}-step runbook: {:.1} ms (median of {iterations})",
            sc.name,
            sc.steps,
            r.as_secs_f64() * 1e3
        );
        println!(
            "[{}] baseline `lifeboat validate` of the same runbook: {:.1} ms; ratio resume/validate: {:.2}",
            sc.name,
            v.as_secs_f64() * 1e3,
            r.as_secs_f64() / v.as_secs_f64()
        );
    }
}
