//! Crash test: `lifeboat` is killed with SIGKILL at random points, well over
//! a hundred times across runs of a 30-step runbook with parallel branches,
//! and each run is resumed until it finishes.
//!
//! Every step appends a line to its own marker file, so the files count
//! executions independently of the journal. The test then checks, per run:
//! - the run ends with `run_finished: succeeded`;
//! - every `safe` step succeeded exactly once, never started again after its
//!   success was journalled, and ran no more often than the journal says it
//!   started (write-ahead); a safe step that started once ran exactly once;
//! - every `never` step ran exactly once: when a kill interrupts one, the
//!   test decides it like an operator would, from its marker (written as the
//!   step's last action): `mark done` if present, else `mark failed`, which
//!   makes the resume run it again.
//!
//! A SIGKILL leaves the step's child process running (it has its own process
//! group), just as a crashed engine would; the test waits for such orphans
//! before it reads markers, so it decides on what really happened.

mod util;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use lifeboat::{parse_journal, JOURNAL_FILE};
use lifeboat::{Event, MarkOutcome, Record, RunStatus};
use util::Sandbox;

const KILLS_WANTED: usize = 110;
const MAX_RUNS: usize = 40;
const MAX_KILLS_PER_RUN: usize = 14;
const MAX_INVOCATIONS_PER_RUN: usize = 60;
/// Fail rather than hang: the whole test must finish within this.
const WALL_LIMIT: Duration = Duration::from_secs(170);

/// xorshift64*: deterministic per seed, no crate needed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const NEVER: &[&str] = &["a5", "b3", "c7", "join"];

fn step_ids() -> Vec<String> {
    let mut ids = vec!["start".to_string()];
    for branch in ["a", "b", "c"] {
        for i in 1..=9 {
            ids.push(format!("{branch}{i}"));
        }
    }
    ids.push("join".into());
    ids.push("finish".into());
    ids
}

/// 30 steps: `start`, three chains of nine in parallel (with one cross
/// link), `join` and `finish`. Safe steps write their marker first, then
/// work; never steps work, then write their marker as their last action.
fn runbook(markers: &Path) -> String {
    let m = markers.display();
    let mut y = String::from(
        "version: 1\nname: crash-drill\ntitle: Crash test runbook\ndefaults: { timeout: 30s }\nsteps:\n",
    );
    let ids = step_ids();
    for (n, id) in ids.iter().enumerate() {
        let needs: Vec<String> = match id.as_str() {
            "start" => vec![],
            "join" => vec!["a9".into(), "b9".into(), "c9".into()],
            "finish" => vec!["join".into()],
            "b5" => vec!["b4".into(), "a4".into()],
            other => {
                let (branch, i) = other.split_at(1);
                let i: u32 = i.parse().unwrap();
                if i == 1 {
                    vec!["start".into()]
                } else {
                    vec![format!("{branch}{}", i - 1)]
                }
            }
        };
        let sleep = format!("0.0{}", 1 + (n * 7) % 5);
        let (rerun, script) = if NEVER.contains(&id.as_str()) {
            ("never", format!("sleep {sleep}; echo done >> {m}/{id}"))
        } else {
            ("safe", format!("echo run >> {m}/{id}; sleep {sleep}"))
        };
        y.push_str(&format!(
            "  - id: {id}\n    kind: shell\n    rerun: {rerun}\n    needs: [{}]\n    with: {{ script: \"{script}\" }}\n",
            needs.join(", ")
        ));
    }
    y
}

fn read_journal(dir: &Path) -> Vec<Record> {
    match std::fs::read(dir.join(JOURNAL_FILE)) {
        Ok(bytes) => parse_journal(&bytes, "journal")
            .map(|r| r.records)
            .unwrap_or_else(|e| panic!("journal of {} is damaged: {e}", dir.display())),
        Err(_) => Vec::new(),
    }
}

/// The run directory with a started journal, if any.
fn run_dir(state: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(state.join("runs")).ok()?;
    entries.filter_map(|e| e.ok()).map(|e| e.path()).find(|p| {
        read_journal(p)
            .first()
            .is_some_and(|r| matches!(r.event, Event::RunStarted { .. }))
    })
}

/// Waits until no process has its working directory under `dir`: the
/// orphaned children of a killed engine.
fn wait_for_orphans(dir: &Path, deadline: Instant) {
    std::thread::sleep(Duration::from_millis(20));
    for _ in 0..1000 {
        let alive = std::fs::read_dir("/proc")
            .map(|entries| {
                entries.filter_map(|e| e.ok()).any(|e| {
                    std::fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
                })
            })
            .unwrap_or(false);
        if !alive {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "orphaned step processes did not finish"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!(
        "orphaned step processes under {} did not exit",
        dir.display()
    );
}

/// Starts `lifeboat ARGS` with both streams piped, for [`drive`].
fn spawn(sb: &Sandbox, args: &[&str]) -> Child {
    sb.test()
        .args(args)
        .env("LIFEBOAT_OPERATOR", "crash-test")
        .with_command(|cmd| {
            cmd.stderr(Stdio::piped());
        })
        .spawn()
}

/// Runs `child`, killing it after `kill_after` if given. Returns the exit
/// code (`None` when killed) and the output.
fn drive(mut child: Child, kill_after: Option<Duration>) -> (Option<i32>, String) {
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut killed = false;
    if let Some(delay) = kill_after {
        let until = Instant::now() + delay;
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if Instant::now() >= until {
                child.kill().expect("SIGKILL lifeboat");
                killed = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let status = child.wait().unwrap();
    let text = format!(
        "{}\n--- stderr ---\n{}",
        out.join().unwrap(),
        err.join().unwrap()
    );
    if killed {
        (None, text)
    } else {
        (status.code(), text)
    }
}

#[derive(Default)]
struct Totals {
    kills: usize,
    runs: usize,
    reruns_of_safe_steps: usize,
    never_decisions: usize,
    never_marked_failed: usize,
}

#[test]
fn sigkill_at_random_points_never_repeats_completed_work() {
    let started = Instant::now();
    let deadline = started + WALL_LIMIT;
    let mut totals = Totals::default();
    while totals.kills < KILLS_WANTED {
        assert!(
            totals.runs < MAX_RUNS,
            "only {} kills in {} runs",
            totals.kills,
            totals.runs
        );
        assert!(
            Instant::now() < deadline,
            "crash test exceeded {WALL_LIMIT:?} with {} kills",
            totals.kills
        );
        one_run(totals.runs as u64, deadline, &mut totals);
        totals.runs += 1;
    }
    eprintln!(
        "crash test: {} kills over {} runs in {:.1}s; {} safe-step re-executions after a kill mid-step; {} never-step decisions ({} marked failed and run again)",
        totals.kills,
        totals.runs,
        started.elapsed().as_secs_f64(),
        totals.reruns_of_safe_steps,
        totals.never_decisions,
        totals.never_marked_failed
    );
    assert!(totals.kills >= 100);
    assert!(
        totals.reruns_of_safe_steps > 0,
        "no kill ever landed mid-step; the test did not exercise resume"
    );
}

fn one_run(seed: u64, deadline: Instant, totals: &mut Totals) {
    let sb = Sandbox::new();
    let state = sb.state_dir();
    let markers = sb.path().join("markers");
    std::fs::create_dir_all(&markers).unwrap();
    sb.write("crash.yaml", &runbook(&markers));
    let mut rng = Rng::new(seed + 1);
    let mut kills = 0;
    let mut log = String::new();
    let mut finished = false;
    for _ in 0..MAX_INVOCATIONS_PER_RUN {
        assert!(Instant::now() < deadline, "time limit reached\n{log}");
        let dir = run_dir(&state);
        let child = match &dir {
            None => {
                // Not started, or killed before its first record: start over.
                let _ = std::fs::remove_dir_all(state.join("runs"));
                spawn(&sb, &["run", "crash.yaml"])
            }
            Some(d) => {
                let id = d.file_name().unwrap().to_string_lossy().to_string();
                spawn(&sb, &["resume", &id])
            }
        };
        let kill_after = (kills < MAX_KILLS_PER_RUN && rng.below(100) < 90)
            .then(|| Duration::from_millis(rng.below(180)));
        let (code, output) = drive(child, kill_after);
        wait_for_orphans(&state, deadline);
        log.push_str(&format!(
            "=== exit {code:?} (kill after {kill_after:?})\n{output}\n"
        ));
        match code {
            None => {
                kills += 1;
                totals.kills += 1;
            }
            Some(0) => {
                finished = true;
                break;
            }
            Some(3) => decide_never_steps(&sb, &markers, totals),
            Some(other) => panic!("lifeboat exited {other}\n{log}"),
        }
    }
    assert!(finished, "run did not finish\n{log}");
    check_run(&state, &markers, totals, &log);
    if kills > 0 {
        // The timeline written by the last resume accounts for the crashes.
        let dir = run_dir(&state).unwrap();
        let json = std::fs::read_to_string(dir.join("timeline.json")).expect("timeline.json");
        let t: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(t["status"], "succeeded");
        let split = &t["rto"]["split"];
        let total = [
            "before_start_ms",
            "machine_ms",
            "human_ms",
            "interrupted_ms",
        ]
        .iter()
        .map(|k| split[k].as_i64().unwrap())
        .sum::<i64>();
        assert_eq!(total, t["rto"]["achieved_ms"].as_i64().unwrap());
        assert!(
            split["interrupted_ms"].as_i64().unwrap() > 0,
            "{kills} kills but no interrupted time: {split}"
        );
    }
}

/// Answers the waiting `never` steps from their markers, as an operator
/// would from the system's state.
fn decide_never_steps(sb: &Sandbox, markers: &Path, totals: &mut Totals) {
    let dir = run_dir(&sb.state_dir()).expect("a paused run has a journal");
    let id = dir.file_name().unwrap().to_string_lossy().to_string();
    let mut waiting: Vec<String> = Vec::new();
    for r in read_journal(&dir) {
        match &r.event {
            Event::Waiting { step, .. } if !waiting.contains(step) => waiting.push(step.clone()),
            Event::Marked { step, .. }
            | Event::StepSucceeded { step, .. }
            | Event::StepFailed { step, .. } => waiting.retain(|w| w != step),
            _ => {}
        }
    }
    assert!(!waiting.is_empty(), "exit 3 but nothing waits");
    for step in waiting {
        assert!(NEVER.contains(&step.as_str()), "safe step `{step}` waits");
        let done = std::fs::read_to_string(markers.join(&step)).is_ok_and(|m| m.contains("done"));
        let outcome = if done { "done" } else { "failed" };
        totals.never_marked_failed += usize::from(!done);
        sb.test()
            .args(["mark", &id, &step, outcome, "--as", "tester"])
            .run();
        totals.never_decisions += 1;
    }
}

fn check_run(state: &Path, markers: &Path, totals: &mut Totals, log: &str) {
    let dir = run_dir(state).unwrap();
    let records = read_journal(&dir);
    let finishes: Vec<RunStatus> = records
        .iter()
        .filter_map(|r| match r.event {
            Event::RunFinished { status } => Some(status),
            _ => None,
        })
        .collect();
    assert_eq!(
        finishes,
        [RunStatus::Succeeded],
        "the run must finish once, successfully\n{log}"
    );
    for id in step_ids() {
        let lines = std::fs::read_to_string(markers.join(&id))
            .unwrap_or_default()
            .lines()
            .count();
        let mut starts = 0;
        let mut successes = 0;
        let mut started_after_success = false;
        for r in &records {
            match &r.event {
                Event::StepStarted { step, .. } if *step == id => {
                    starts += 1;
                    started_after_success |= successes > 0;
                }
                Event::StepSucceeded { step, .. } if *step == id => successes += 1,
                Event::Marked {
                    step,
                    outcome: MarkOutcome::Done,
                } if *step == id => successes += 1,
                _ => {}
            }
        }
        assert_eq!(successes, 1, "`{id}` must succeed exactly once\n{log}");
        assert!(
            !started_after_success,
            "`{id}` started again after its success was journalled\n{log}"
        );
        if NEVER.contains(&id.as_str()) {
            assert_eq!(lines, 1, "never step `{id}` ran {lines} times\n{log}");
        } else {
            assert!(
                lines >= 1 && lines <= starts,
                "safe step `{id}` ran {lines} times but started {starts} times\n{log}"
            );
            if starts == 1 {
                assert_eq!(lines, 1, "`{id}` started once but ran {lines} times");
            }
            totals.reruns_of_safe_steps += starts - 1;
        }
    }
}
