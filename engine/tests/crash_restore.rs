//! A crash during a restore: `full-cluster-loss` on a real 3-node OpenBao
//! cluster is SIGKILLed at a sample of points (the start of a step, or
//! part-way through one), then recovered exactly as
//! docs/runbooks/full-cluster-loss.md ("After a crash") says for that
//! moment, and must end with every one of the 100 secrets verified.
//!
//! The full sweep (every step's start, and the middle of every step longer
//! than 100 ms) is `engine/benches/crash_sweep.sh`, which runs this test
//! with `LIFEBOAT_CRASH_SWEEP=all` (or a comma-separated list of steps, to
//! replay kills at their start).

mod util;
mod vault_fixture;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;
use vault_fixture::*;

/// Where a run is killed: when `step` starts, plus `after_ms`. A `step`
/// ending in `[` is the first of its loop's items to start.
#[derive(Debug, Clone)]
struct KillPoint {
    step: String,
    after_ms: u64,
}

/// The CI sample: every phase of the guide's table, at a step's start and
/// part-way through the long ones.
const SAMPLE: &[(&str, u64)] = &[
    ("download", 0),
    ("restore/unseal_first_fresh", 0),
    ("restore/init_first", 0),
    ("restore/force_restore", 0),
    ("restore/unseal_first", 0),
    // The first node's join to start (an item of the `restore/join` loop).
    ("restore/join[", 0),
    ("restore/tolerance", 300),
    ("restore/verify", 0),
];

/// What the guide says to do after a crash in `step` (the phases of
/// docs/runbooks/full-cluster-loss.md, "After a crash").
#[derive(Debug, PartialEq)]
enum Recovery {
    /// `lifeboat resume RUN_ID`.
    Resume,
    /// `lifeboat resume RUN_ID`; if that fails at `restore/init_first` (the engine
    /// died while node 1 was answering, so its throwaway keys were never
    /// saved), node 1 holds nothing the restore needs: start it empty
    /// again, delete `fresh-init.json` from the run's work directory if it
    /// is there, and `lifeboat resume RUN_ID --from verified`.
    ResumeElseFromVerified,
}

fn recovery_for(step: &str) -> Recovery {
    match step {
        "restore/init_first" => Recovery::ResumeElseFromVerified,
        _ => Recovery::Resume,
    }
}

fn inputs(world: &VaultWorld) -> Vec<(String, String)> {
    let addrs: Vec<String> = (0..3).map(|i| world.cluster.addr(i)).collect();
    let mut inputs = world.s3_inputs();
    inputs.push(("nodes".into(), serde_json::to_string(&addrs).unwrap()));
    inputs.push(("key_shares".into(), "3".into()));
    inputs.push(("key_threshold".into(), "2".into()));
    inputs
}

/// The platform's answer to losing every node: three empty nodes.
async fn fresh_nodes(world: &mut VaultWorld) {
    for i in 0..3 {
        world.cluster.kill(i);
        world.cluster.wipe(i);
    }
    for i in 0..3 {
        world.cluster.start_node(i).await.unwrap();
    }
}

/// Node 1 started empty again (it held nothing the restore needs).
async fn fresh_first(world: &mut VaultWorld) {
    world.cluster.kill(0);
    world.cluster.wipe(0);
    world.cluster.start_node(0).await.unwrap();
}

fn spawn(world: &VaultWorld, args: &[String]) -> Child {
    world.sandbox.test().args(args).envs(world.env()).spawn()
}

fn journal_has_start(path: &Path, step: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| {
        text.lines().any(|l| {
            serde_json::from_str::<Value>(l).is_ok_and(|v| {
                let started = v["rec"]["step"].as_str().unwrap_or_default();
                v["rec"]["type"] == "step_started"
                    && (started == step || step.ends_with('[') && started.starts_with(step))
            })
        })
    })
}

/// Waits (bounded) until the journal of `run_id` shows `step` started, then
/// `after_ms`, then SIGKILLs the engine. Returns false when the process
/// ended before the step started (it paused, or finished).
fn kill_at(world: &VaultWorld, child: &mut Child, run_id: &str, point: &KillPoint) -> bool {
    let journal = world.sandbox.run_dir(run_id).join("journal.jsonl");
    let started = Instant::now();
    loop {
        if journal_has_start(&journal, &point.step) {
            break;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(started.elapsed() < WAIT, "`{}` never started", point.step);
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(point.after_ms));
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    true
}

/// The step whose failure ended the run's last execution.
fn failed_step(world: &VaultWorld, run_id: &str) -> String {
    world
        .sandbox
        .journal(run_id)
        .iter()
        .rev()
        // A call fails after the step of it that failed: skip the calls.
        .find(|r| r["type"] == "step_failed" && r["step"] != "restore")
        .and_then(|r| r["step"].as_str().map(String::from))
        .unwrap_or_default()
}

fn lifeboat(world: &VaultWorld, args: &[&str]) -> util::Ran {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    world.lifeboat(&args, &[])
}

/// Answers the pauses a resume stops at (the approval, the manual DNS
/// step) as the guide's second person does, until the run ends.
fn answer_pauses(world: &VaultWorld, run_id: &str, mut ran: util::Ran) -> util::Ran {
    for _ in 0..6 {
        if ran.code != 3 {
            return ran;
        }
        let all = format!("{}{}", ran.stdout, ran.stderr);
        ran = if all.contains("switch_traffic") && all.contains("confirm") {
            world.confirm_and_resume(run_id, "switch_traffic")
        } else if all.contains("approve_restore") {
            world.approve_and_resume(run_id, "approve_restore")
        } else {
            panic!("an unexpected pause\n{}", ran.dump());
        };
    }
    ran
}

/// One kill point: fresh nodes, a run killed at `point`, the guide's
/// recovery, and the check that every secret came back.
async fn crash_and_recover(world: &mut VaultWorld, point: &KillPoint) {
    fresh_nodes(world).await;
    let file = runbook("full-cluster-loss").display().to_string();
    let mut args = vec!["run".to_string(), file];
    for (k, v) in inputs(world) {
        args.push("--input".into());
        args.push(format!("{k}={v}"));
    }
    let mut child = spawn(world, &args);
    let mut first = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut first).unwrap();
    // Keep reading: a closed pipe would end the engine before the kill.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let run_id = first.trim().to_string();
    assert!(!run_id.is_empty(), "no run id from `lifeboat run`");
    let mut killed = kill_at(world, &mut child, &run_id, point);
    if !killed {
        // The run paused at the approval before the step: approve and
        // resume, and kill that.
        let approve = lifeboat(
            world,
            &["approve", &run_id, "approve_restore", "--as", APPROVER],
        );
        assert_eq!(approve.code, 0, "{}", approve.dump());
        let mut child = spawn(world, &["resume".to_string(), run_id.clone()]);
        let mut out = child.stdout.take().unwrap();
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        killed = kill_at(world, &mut child, &run_id, point);
    }
    assert!(killed, "the run ended before `{}` started", point.step);

    let mut ran = lifeboat(world, &["resume", &run_id]);
    if recovery_for(&point.step) == Recovery::ResumeElseFromVerified
        && ran.code == 1
        && failed_step(world, &run_id) == "restore/init_first"
    {
        fresh_first(world).await;
        let keys = world.work_dir(&run_id).join("fresh-init.json");
        if keys.exists() {
            std::fs::remove_file(&keys).unwrap();
        }
        ran = lifeboat(world, &["resume", &run_id, "--from", "verified"]);
    }
    let ran = answer_pauses(world, &run_id, ran);
    assert_eq!(
        ran.code,
        0,
        "after a kill at {point:?} the guide's recovery ({:?}) did not finish the run\n{}\n{}",
        recovery_for(&point.step),
        ran.dump(),
        world.failures(&run_id)
    );
    let verified = world
        .sandbox
        .journal(&run_id)
        .iter()
        .rev()
        .find(|r| r["type"] == "step_succeeded" && r["step"] == "restore/verify")
        .and_then(|r| r["outputs"]["checked"].as_u64())
        .unwrap_or(0);
    assert_eq!(verified, SECRETS as u64, "after a kill at {point:?}");
    let token = world.root_token();
    let active = world.cluster.wait_active_addr().await.unwrap();
    assert_eq!(world.assert_all_secrets(&active, &token).await, SECRETS);
    assert!(!world.work_dir(&run_id).join("fresh-init.json").exists());
    println!(
        "CRASH-POINT {} +{}ms: recovered ({:?})",
        point.step,
        point.after_ms,
        recovery_for(&point.step)
    );
}

/// Every step's start, and the middle of every step longer than 100 ms,
/// from a reference run's journal.
fn sweep_points(world: &VaultWorld, run_id: &str) -> Vec<KillPoint> {
    let journal = world.sandbox.journal(run_id);
    let ts = |r: &Value| {
        r["ts"]
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    };
    let mut out = Vec::new();
    for r in &journal {
        if r["type"] != "step_started" {
            continue;
        }
        let step = r["step"].as_str().unwrap().to_string();
        if [
            "approve_restore",
            "switch_traffic",
            "remove_local_files",
            "keep_local_files",
        ]
        .contains(&step.as_str())
        {
            continue;
        }
        out.push(KillPoint {
            step: step.clone(),
            after_ms: 0,
        });
        let end = journal.iter().find(|e| {
            e["step"] == step.as_str()
                && (e["type"] == "step_succeeded" || e["type"] == "step_failed")
        });
        if let (Some(t0), Some(t1)) = (ts(r), end.and_then(ts)) {
            let ms = t1.duration_since(t0).as_millis() as u64;
            if ms > 100 {
                out.push(KillPoint {
                    step,
                    after_ms: ms / 2,
                });
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_cluster_loss_recovers_from_a_crash_at_each_sampled_point() {
    let mut world = VaultWorld::start().await;
    world.backup();
    let sweep = std::env::var("LIFEBOAT_CRASH_SWEEP").unwrap_or_default();
    let points: Vec<KillPoint> = if sweep == "all" {
        // A reference run, uninterrupted, to find the steps and their length.
        fresh_nodes(&mut world).await;
        let file = runbook("full-cluster-loss").display().to_string();
        let mut args = vec!["run".to_string(), file];
        for (k, v) in inputs(&world) {
            args.push("--input".into());
            args.push(format!("{k}={v}"));
        }
        let ran = world.lifeboat(&args, &[]);
        let run_id = ran.run_id();
        let ran = answer_pauses(&world, &run_id, ran);
        assert_eq!(ran.code, 0, "{}", ran.dump());
        sweep_points(&world, &run_id)
    } else if !sweep.is_empty() {
        // A list of steps, killed at their start (to replay one point).
        sweep
            .split(',')
            .map(|s| KillPoint {
                step: s.trim().to_string(),
                after_ms: 0,
            })
            .collect()
    } else {
        SAMPLE
            .iter()
            .map(|(s, ms)| KillPoint {
                step: s.to_string(),
                after_ms: *ms,
            })
            .collect()
    };
    // `LIFEBOAT_CRASH_SKIP=N` starts a sweep at its N-th point (to go on
    // after a failure).
    let skip = std::env::var("LIFEBOAT_CRASH_SKIP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    for (i, point) in points.iter().enumerate().skip(skip) {
        println!("CRASH-POINT #{i}: {} +{}ms", point.step, point.after_ms);
        crash_and_recover(&mut world, point).await;
    }
    println!("CRASH-SWEEP {} kill points recovered", points.len());
}
