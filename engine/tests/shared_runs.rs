//! Shared runs: a run in S3 (moto on 127.0.0.1) driven and seen from
//! several "machines". Each machine is its own [`Sandbox`] (its own HOME
//! and state directory); they share nothing but the store, given through
//! `LIFEBOAT_STORE` and the AWS variables.
//!
//! Each test starts its own moto (`S3Server` fails, never skips, when moto
//! is missing) and uses its own key prefix.

mod util;

use std::path::Path;
use std::time::{Duration, Instant};

use lifeboat_harness::s3_server::S3Server;
use util::machine::{output, read_run_id, wait_for, Machine};

fn moto() -> (tokio::runtime::Runtime, S3Server) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let s3 = rt
        .block_on(S3Server::start())
        .unwrap_or_else(|e| panic!("{e}"));
    (rt, s3)
}

fn markers(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("markers"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn count(lines: &[String], id: &str) -> usize {
    lines.iter().filter(|l| *l == id).count()
}

/// The journal as a machine's local copy holds it (`status` refreshes it).
fn journal(m: &Machine, run: &str) -> Vec<serde_json::Value> {
    m.run(&["status", run]).expect_code(0);
    m.sb.journal(run)
}

fn events<'a>(
    journal: &'a [serde_json::Value],
    kind: &str,
    step: &str,
) -> Vec<&'a serde_json::Value> {
    journal
        .iter()
        .filter(|r| r["type"] == kind && r["step"] == step)
        .collect()
}

#[test]
fn a_run_in_s3_is_seen_from_another_machine() {
    let (_rt, s3) = moto();
    let a = Machine::new(&s3, "seen", "alice");
    let b = Machine::new(&s3, "seen", "bob");
    a.sb.write(
        "rb.yaml",
        "version: 1\nname: shared\nsteps:\n  - id: one\n    kind: shell\n    with: { script: \"echo one\" }\n  - id: two\n    kind: shell\n    needs: [one]\n    with: { script: \"echo two\" }\n",
    );
    let ran = a.run(&["run", "rb.yaml"]);
    ran.expect_code(0);
    let run = ran.run_id();
    let runs = b.run(&["runs"]);
    runs.expect_code(0);
    assert!(
        runs.stdout
            .lines()
            .any(|l| l.starts_with(&run) && l.contains("succeeded")),
        "{}",
        runs.dump()
    );
    let status = b.run(&["status", &run]);
    status.expect_code(0);
    assert!(
        status.stdout.contains("status:   succeeded"),
        "{}",
        status.dump()
    );
    let timeline = b.run(&["timeline", &run]);
    timeline.expect_code(0);
    assert!(
        timeline.stdout.contains("one") && timeline.stdout.contains("two"),
        "{}",
        timeline.dump()
    );
    // B's machine now holds the record too.
    let copy = b.sb.journal(&run);
    assert_eq!(copy.first().unwrap()["actor"], "alice");
    // That copy is not a local run: without the store it is refused, so it
    // can never be driven a second time beside the shared run.
    let local = b.sb.test().args(["resume", &run]).any_status().run();
    assert_eq!(local.code, 2, "{}", local.dump());
    assert!(
        local.stderr.contains("lives in the shared store s3://"),
        "{}",
        local.dump()
    );
}

/// Machine B approves while machine A's engine waits at the gate with
/// `--wait`; they share only the S3 store. A continues within 3 s, the
/// journal names B's approver, and the wait is human time.
#[test]
fn an_approval_from_another_machine_reaches_the_driver_through_s3() {
    let (_rt, s3) = moto();
    let a = Machine::new(&s3, "approve", "alice");
    let b = Machine::new(&s3, "approve", "bob");
    a.sb.write(
        "gate.yaml",
        "version: 1\nname: gate\nsteps:\n  - id: go\n    kind: approval\n    with: { prompt: \"Restore?\" }\n  - id: after\n    kind: shell\n    needs: [go]\n    with: { script: \"echo restored by {{ steps.go.outputs.approvers[0] }}\" }\n",
    );
    let mut child = a.spawn(&["run", "gate.yaml", "--wait"]);
    let run = read_run_id(&mut child);
    wait_for("the gate to wait", Duration::from_secs(30), || {
        std::thread::sleep(Duration::from_millis(200));
        b.run(&["status", &run]).code == 0
            && b.sb.journal(&run).iter().any(|r| r["type"] == "waiting")
    });
    std::thread::sleep(Duration::from_millis(1200));
    let approved = b.run(&["approve", &run, "go", "--as", "bob"]);
    approved.expect_code(0);
    assert!(
        approved
            .stdout
            .contains("(recorded by the engine driving the run)"),
        "{}",
        approved.dump()
    );
    let decided = Instant::now();
    let (code, shown) = output(child);
    assert_eq!(code, 0, "{shown}");
    assert!(
        decided.elapsed() < Duration::from_secs(3),
        "A took {:?} after the approval",
        decided.elapsed()
    );
    let records = journal(&b, &run);
    let approval = records
        .iter()
        .find(|r| r["type"] == "approval")
        .expect("an approval record");
    assert_eq!(approval["actor"], "bob");
    let status = b.run(&["status", &run, "--output", "json"]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).expect("status json");
    let human = status["rto"]["split"]["human_ms"]
        .as_i64()
        .expect("human_ms");
    assert!(human >= 1000, "human time {human} ms\n{status}");
}

const SLOW: &str = "version: 1\nname: race\nsteps:\n  - id: first\n    kind: shell\n    with: { script: \"true\" }\n  - id: slow\n    kind: shell\n    read_only: true\n    needs: [first]\n    with: { script: \"sleep 30\" }\n";

/// Starts a run whose `slow` step is running, then kills its engine: an
/// interrupted run whose lease lives on for its time to live.
fn interrupted_run(a: &Machine) -> String {
    a.sb.write("rb.yaml", SLOW);
    let mut child = a.spawn(&["run", "rb.yaml"]);
    let run = read_run_id(&mut child);
    let dir = a.sb.run_dir(&run);
    wait_for("the slow step to start", Duration::from_secs(30), || {
        std::fs::read_to_string(dir.join("journal.jsonl"))
            .is_ok_and(|j| j.contains("\"step_started\"") && j.contains("\"slow\""))
    });
    child.kill().unwrap();
    let _ = child.wait();
    run
}

#[test]
fn two_resumes_at_the_same_instant_one_drives() {
    let (_rt, s3) = moto();
    let ttl = ("LIFEBOAT_LEASE_TTL", "2s");
    let a = Machine::new(&s3, "race", "alice").with(ttl.0, ttl.1);
    let run = interrupted_run(&a);
    let b = Machine::new(&s3, "race", "bob").with(ttl.0, ttl.1);
    let c = Machine::new(&s3, "race", "carol").with(ttl.0, ttl.1);
    for round in 0..20 {
        let barrier = std::sync::Barrier::new(2);
        let (mut kb, mut kc) = std::thread::scope(|s| {
            let hb = s.spawn(|| {
                barrier.wait();
                b.spawn(&["resume", &run])
            });
            let hc = s.spawn(|| {
                barrier.wait();
                c.spawn(&["resume", &run])
            });
            (hb.join().unwrap(), hc.join().unwrap())
        });
        let mut first = None;
        wait_for("one resume to give up", Duration::from_secs(40), || {
            if kb.try_wait().unwrap().is_some() {
                first = Some('b');
            } else if kc.try_wait().unwrap().is_some() {
                first = Some('c');
            }
            first.is_some()
        });
        let (loser, mut winner, driver) = match first {
            Some('b') => (kb, kc, "carol"),
            _ => (kc, kb, "bob"),
        };
        // The other one still drives.
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            winner.try_wait().unwrap().is_none(),
            "round {round}: both resumes exited"
        );
        let (code, text) = output(loser);
        assert_eq!(code, 2, "round {round}: {text}");
        assert!(
            text.contains(&format!("is driven by `{driver}` on `")),
            "round {round}: the message names the driver\n{text}"
        );
        winner.kill().unwrap();
        let _ = winner.wait();
    }
}

/// A runbook of 24 steps in three parallel chains; every step appends its
/// id to `markers` in a directory all machines share. `c4` is `rerun:
/// never` and works before it writes its marker.
fn parallel_runbook(shared: &Path) -> String {
    let m = shared.join("markers");
    let m = m.display();
    let mut y = String::from("version: 1\nname: takeover\ndefaults: { timeout: 30s }\nsteps:\n  - id: start\n    kind: shell\n    rerun: safe\n    with: { script: \"echo start >> ");
    y.push_str(&format!("{m}\" }}\n"));
    for branch in ["a", "b", "c"] {
        for i in 1..=7 {
            let id = format!("{branch}{i}");
            let needs = if i == 1 {
                "start".to_string()
            } else {
                format!("{branch}{}", i - 1)
            };
            let (rerun, script) = if id == "c4" {
                ("never", format!("sleep 1.2; echo {id} >> {m}"))
            } else {
                ("safe", format!("echo {id} >> {m}; sleep 0.5"))
            };
            y.push_str(&format!(
                "  - id: {id}\n    kind: shell\n    rerun: {rerun}\n    needs: [{needs}]\n    with: {{ script: \"{script}\" }}\n"
            ));
        }
    }
    y.push_str(&format!("  - id: join\n    kind: shell\n    rerun: safe\n    needs: [a7, b7, c7]\n    with: {{ script: \"echo join >> {m}\" }}\n"));
    y.push_str(&format!("  - id: finish\n    kind: shell\n    rerun: safe\n    needs: [join]\n    with: {{ script: \"echo finish >> {m}\" }}\n"));
    y
}

/// Waits until no process has its working directory under `dir`: the
/// step children a killed engine left (they run in their own process
/// groups, as on a machine that lost its engine).
fn wait_for_orphans(dir: &Path) {
    wait_for(
        "orphaned step processes to end",
        Duration::from_secs(30),
        || {
            !std::fs::read_dir("/proc").is_ok_and(|entries| {
                entries.filter_map(|e| e.ok()).any(|e| {
                    std::fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
                })
            })
        },
    );
}

/// Whether `c4` started (as the driver's local copy of the journal says)
/// and has not written its marker yet.
fn c4_working(m: &Machine, run: &str, shared: &Path) -> bool {
    let copy = std::fs::read_to_string(m.sb.run_dir(run).join("journal.jsonl")).unwrap_or_default();
    let started = copy.lines().any(|l| {
        serde_json::from_str::<serde_json::Value>(l)
            .is_ok_and(|v| v["rec"]["type"] == "step_started" && v["rec"]["step"] == "c4")
    });
    started && count(&markers(shared), "c4") == 0
}

fn step_ids() -> Vec<String> {
    let mut ids = vec!["start".to_string()];
    for branch in ["a", "b", "c"] {
        for i in 1..=7 {
            ids.push(format!("{branch}{i}"));
        }
    }
    ids.extend(["join".to_string(), "finish".to_string()]);
    ids
}

#[test]
fn a_killed_driver_is_taken_over_and_nothing_runs_twice() {
    let (_rt, s3) = moto();
    let shared = tempfile::tempdir().unwrap();
    let machines = [
        Machine::new(&s3, "takeover", "alice"),
        Machine::new(&s3, "takeover", "bob"),
    ];
    machines[0]
        .sb
        .write("rb.yaml", &parallel_runbook(shared.path()));
    let mut child = machines[0].spawn(&["run", "rb.yaml"]);
    let run = read_run_id(&mut child);
    let delays = [400u64, 500, 450, 550, 500, 600, 450, 500];
    let mut kills = 0;
    let mut driver = 0;
    let mut killed_in_c4 = false;
    // Kills at fixed delays, then one while `c4` (`rerun: never`) works.
    let waits = delays
        .iter()
        .map(|d| Some(Duration::from_millis(*d)))
        .chain([None]);
    for wait in waits {
        let until = Instant::now() + wait.unwrap_or(Duration::from_secs(30));
        while Instant::now() < until && child.try_wait().unwrap().is_none() {
            if !killed_in_c4 && c4_working(&machines[driver], &run, shared.path()) {
                killed_in_c4 = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap();
        let _ = child.wait();
        kills += 1;
        driver = 1 - driver;
        child = machines[driver].spawn(&["resume", &run, "--take-over", "--yes"]);
        if wait.is_none() && !killed_in_c4 {
            break;
        }
    }
    let (mut code, mut text) = output(child);
    // A `rerun: never` step interrupted mid-step waits for a human: its
    // marker (written as its last action) says how it ended.
    for _ in 0..3 {
        if code != 3 {
            break;
        }
        // Decide as an operator would, on what really happened: the killed
        // engine's step child may still be working on its machine.
        for m in &machines {
            wait_for_orphans(m.sb.path());
        }
        let outcome = if count(&markers(shared.path()), "c4") == 1 {
            "done"
        } else {
            "failed"
        };
        machines[driver]
            .run(&["mark", &run, "c4", outcome, "--as", "bob"])
            .expect_code(0);
        let ran = machines[driver].run(&["resume", &run]);
        (code, text) = (ran.code, ran.printed());
    }
    assert_eq!(code, 0, "after {kills} kills:\n{text}");
    assert!(kills >= 5, "only {kills} kills landed before the run ended");
    assert!(killed_in_c4, "no kill landed while `c4` worked");
    for m in &machines {
        wait_for_orphans(m.sb.path());
    }
    let journal = journal(&machines[driver], &run);
    let lines = markers(shared.path());
    for id in step_ids() {
        let ran = count(&lines, &id);
        let started = events(&journal, "step_started", &id).len();
        // Succeeded, or (an interrupted `never` step) marked done by a human.
        let mut succeeded = events(&journal, "step_succeeded", &id);
        succeeded.extend(
            events(&journal, "marked", &id)
                .into_iter()
                .filter(|r| r["outcome"] == "done"),
        );
        assert_eq!(succeeded.len(), 1, "`{id}` succeeded once\n{lines:?}");
        let done_at = succeeded[0]["seq"].as_u64().unwrap();
        assert!(
            events(&journal, "step_started", &id)
                .iter()
                .all(|r| r["seq"].as_u64().unwrap() < done_at),
            "`{id}` started again after its success was journalled"
        );
        assert!(
            ran >= 1 && ran <= started,
            "`{id}` ran {ran} times, started {started} times (write-ahead)"
        );
    }
    let c4: Vec<_> = journal.iter().filter(|r| r["step"] == "c4").collect();
    assert_eq!(
        count(&lines, "c4"),
        1,
        "the `rerun: never` step ran once\n{c4:#?}\n{text}"
    );
    // Takeovers are journalled: who took over from whom.
    let takeovers: Vec<_> = journal
        .iter()
        .filter(|r| r["type"] == "resumed")
        .filter_map(|r| r["took_over_from"].as_str())
        .collect();
    assert!(
        takeovers.iter().any(|t| t.starts_with("alice on ")),
        "{takeovers:?}"
    );
}

#[test]
fn an_unreachable_store_stops_the_run_resumably_and_resume_finishes_it() {
    let (_rt, s3) = moto();
    let shared = tempfile::tempdir().unwrap();
    let m = shared.path().join("markers");
    let m = m.display();
    let a = Machine::new(&s3, "outage", "alice").with("LIFEBOAT_LEASE_TTL", "2s");
    a.sb.write(
        "rb.yaml",
        &format!("version: 1\nname: outage\nsteps:\n  - id: one\n    kind: shell\n    with: {{ script: \"echo one >> {m}\" }}\n  - id: two\n    kind: shell\n    read_only: true\n    needs: [one]\n    with: {{ script: \"sleep 2; echo two >> {m}\" }}\n  - id: three\n    kind: shell\n    needs: [two]\n    with: {{ script: \"echo three >> {m}\" }}\n"),
    );
    // Past one attempt's 5 s, so that a retry is shown before the timeout.
    let mut child = a.spawn(&["run", "rb.yaml", "--store-timeout", "7s"]);
    let run = read_run_id(&mut child);
    wait_for("step one", Duration::from_secs(30), || {
        count(&markers(shared.path()), "one") == 1
    });
    std::thread::sleep(Duration::from_millis(300));
    s3.pause();
    let (code, text) = output(child);
    s3.resume();
    assert_eq!(code, 130, "{text}");
    assert!(
        text.contains("warning  store unreachable ("),
        "each retry is a warning on the console\n{text}"
    );
    assert!(text.contains("did not answer for 7s"), "{text}");
    let ran = a.test(&["resume", &run]).any_status().run();
    ran.expect_code(0);
    let lines = markers(shared.path());
    assert_eq!(count(&lines, "one"), 1, "{lines:?}");
    assert_eq!(count(&lines, "three"), 1, "{lines:?}");
    let journal = journal(&a, &run);
    for id in ["one", "two", "three"] {
        assert_eq!(events(&journal, "step_succeeded", id).len(), 1, "{id}");
    }
}

#[test]
fn resume_waits_for_a_live_lease_then_drives() {
    let (_rt, s3) = moto();
    let ttl = ("LIFEBOAT_LEASE_TTL", "3s");
    let a = Machine::new(&s3, "wait", "alice").with(ttl.0, ttl.1);
    let run = interrupted_run(&a);
    let b = Machine::new(&s3, "wait", "bob").with(ttl.0, ttl.1);
    let started = Instant::now();
    let mut child = b.spawn(&["resume", &run]);
    let copy = b.sb.run_dir(&run).join("journal.jsonl");
    // B drives once A's lease expired: it writes its `resumed` record and
    // starts `slow` again (it is safe to repeat).
    wait_for("bob to drive", Duration::from_secs(30), || {
        std::fs::read_to_string(&copy).is_ok_and(|j| j.matches("\"step_started\"").count() >= 3)
    });
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "bob did not wait for alice's lease"
    );
    child.kill().unwrap();
    let (_, text) = output(child);
    assert!(
        text.contains("is driven by `alice` on `")
            && text.contains("waiting for that lease to expire"),
        "{text}"
    );
    let journal = b.sb.journal(&run);
    let resumed: Vec<_> = journal.iter().filter(|r| r["type"] == "resumed").collect();
    assert_eq!(resumed.len(), 1, "{text}");
    assert_eq!(resumed[0]["actor"], "bob");
    assert!(resumed[0].get("took_over_from").is_none());
    assert_eq!(events(&journal, "step_started", "slow").len(), 2, "{text}");
}

#[test]
fn a_driver_whose_run_is_taken_over_stops_and_names_the_new_driver() {
    let (_rt, s3) = moto();
    let a = Machine::new(&s3, "fenced", "alice");
    let b = Machine::new(&s3, "fenced", "bob");
    a.sb.write(
        "rb.yaml",
        "version: 1\nname: fenced\nsteps:\n  - id: slow\n    kind: shell\n    read_only: true\n    with: { script: \"sleep 3\" }\n  - id: after\n    kind: shell\n    needs: [slow]\n    with: { script: \"true\" }\n",
    );
    let mut child = a.spawn(&["run", "rb.yaml"]);
    let run = read_run_id(&mut child);
    let dir = a.sb.run_dir(&run);
    wait_for("the slow step to start", Duration::from_secs(30), || {
        std::fs::read_to_string(dir.join("journal.jsonl"))
            .is_ok_and(|j| j.contains("\"step_started\""))
    });
    // Without a terminal, a takeover needs --yes; nothing changes.
    let refused = b.run(&["resume", &run, "--take-over"]);
    refused.expect_code(2);
    assert!(
        refused.stderr.contains("is driven by `alice` on `")
            && refused.stderr.contains("needs --yes"),
        "{}",
        refused.dump()
    );
    let taken = b.spawn(&["resume", &run, "--take-over", "--yes"]);
    // Alice's engine, alive, finds at its next write that bob drives now.
    let (code, text) = output(child);
    assert_eq!(code, 130, "{text}");
    assert!(
        text.contains("`bob` on `"),
        "the message names the new driver\n{text}"
    );
    let (code, text) = output(taken);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("took over from alice on "), "{text}");
}

#[test]
fn a_misconfigured_store_is_one_clear_error_without_the_secret() {
    let (rt, s3) = moto();
    let refusing = rt
        .block_on(S3Server::start_refusing_credentials())
        .unwrap_or_else(|e| panic!("{e}"));
    let secret = s3.secret_access_key().to_string();
    let cases = [
        (Machine::new(&refusing, "p", "alice"), "was denied"),
        (
            Machine::new(&s3, "p", "alice").with("LIFEBOAT_STORE", "s3://no-such-bucket/p"),
            "bucket `no-such-bucket` does not exist",
        ),
        (
            Machine::new(&s3, "p", "alice").with("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
            "cannot reach the store",
        ),
    ];
    for (m, says) in cases {
        m.sb.write("rb.yaml", SLOW);
        for args in [
            &["run", "rb.yaml"][..],
            &["runs"][..],
            &["status", "r-1"][..],
        ] {
            let ran = m.run(args);
            ran.expect_code(2);
            assert!(ran.stderr.contains(says), "{}", ran.dump());
            assert_eq!(
                ran.stderr
                    .lines()
                    .filter(|l| l.starts_with("error:"))
                    .count(),
                1,
                "{}",
                ran.dump()
            );
            assert!(!ran.printed().contains(&secret), "{}", ran.dump());
        }
        // Nothing was left behind for the run that could not start.
        assert!(
            !m.sb.state_dir().join("runs").exists()
                || std::fs::read_dir(m.sb.state_dir().join("runs"))
                    .unwrap()
                    .next()
                    .is_none()
        );
    }
}
