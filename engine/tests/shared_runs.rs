//! Shared runs: a run in S3 (moto on 127.0.0.1) driven and seen from
//! several "machines". Each machine is its own [`Sandbox`] (its own HOME
//! and state directory); they share nothing but the store, given through
//! `LIFEBOAT_STORE` and the AWS variables.
//!
//! Each test starts its own moto (`S3Server` fails, never skips, when moto
//! is missing) and uses its own key prefix.

mod util;

use std::path::Path;
use std::process::Child;
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

/// An approval gate, then a step that names its approver.
const GATE: &str = "version: 1\nname: gate\nsteps:\n  - id: go\n    kind: approval\n    with: { prompt: \"Restore?\" }\n  - id: after\n    kind: shell\n    needs: [go]\n    with: { script: \"echo restored by {{ steps.go.outputs.approvers[0] }}\" }\n";

/// Machine B approves while machine A's engine waits at the gate with
/// `--wait`; they share only the S3 store. A continues within 3 s, the
/// journal names B's approver, and the wait is human time.
#[test]
fn an_approval_from_another_machine_reaches_the_driver_through_s3() {
    let (_rt, s3) = moto();
    let a = Machine::new(&s3, "approve", "alice");
    let b = Machine::new(&s3, "approve", "bob");
    a.sb.write("gate.yaml", GATE);
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

/// Whether a machine's local copy of the journal has a record of `kind`
/// (for `step`).
fn copy_has(m: &Machine, run: &str, kind: &str, step: Option<&str>) -> bool {
    let copy = std::fs::read_to_string(m.sb.run_dir(run).join("journal.jsonl")).unwrap_or_default();
    copy.lines().any(|l| {
        serde_json::from_str::<serde_json::Value>(l)
            .is_ok_and(|v| v["rec"]["type"] == kind && step.is_none_or(|s| v["rec"]["step"] == s))
    })
}

fn restartable_moto() -> (tokio::runtime::Runtime, S3Server) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let s3 = rt
        .block_on(S3Server::start_restartable())
        .unwrap_or_else(|e| panic!("{e}"));
    (rt, s3)
}

/// The journal objects of `run` in the store under `prefix`, in position
/// order, each with its writer (`x-amz-meta-writer`).
fn journal_objects(
    rt: &tokio::runtime::Runtime,
    s3: &S3Server,
    prefix: &str,
    run: &str,
) -> Vec<(String, String)> {
    rt.block_on(async {
        let client = moto_client();
        let listing = client
            .get(format!("{}/{}", s3.endpoint(), s3.bucket()))
            .query(&[
                ("list-type", "2"),
                ("prefix", &format!("{prefix}/runs/{run}/journal/")),
            ])
            .send()
            .await
            .expect("list the journal")
            .text()
            .await
            .expect("listing body");
        let mut keys: Vec<String> = listing
            .split("<Key>")
            .skip(1)
            .filter_map(|k| k.split("</Key>").next())
            .map(str::to_string)
            .collect();
        keys.sort();
        let mut objects = Vec::new();
        for key in keys {
            let head = client
                .head(format!("{}/{}/{key}", s3.endpoint(), s3.bucket()))
                .send()
                .await
                .expect("head a journal object");
            let writer = head
                .headers()
                .get("x-amz-meta-writer")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            objects.push((key, writer));
        }
        objects
    })
}

/// Every journal object after the first one `new` wrote (its claim) was
/// written by `new`: the old driver wrote nothing after the takeover.
fn nothing_written_after_takeover(objects: &[(String, String)], old: &str, new: &str) {
    let claim = objects
        .iter()
        .position(|(_, w)| w.starts_with(&format!("{new} on ")))
        .unwrap_or_else(|| panic!("no object by {new}: {objects:#?}"));
    assert!(
        objects[..claim]
            .iter()
            .any(|(_, w)| w.starts_with(&format!("{old} on "))),
        "{objects:#?}"
    );
    for (key, writer) in &objects[claim..] {
        assert!(
            writer.starts_with(&format!("{new} on ")),
            "{key} was written by {writer} after {new}'s takeover\n{objects:#?}"
        );
    }
}

/// moto does not check signatures, but answers an anonymous request's
/// failed precondition with a bare 403: requests carry a (fake) signature.
fn moto_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "authorization",
        reqwest::header::HeaderValue::from_static(
            "AWS4-HMAC-SHA256 Credential=AKIALIFEBOATTEST/20261201/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
        ),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("a client")
}

/// The harness's restart brings moto's objects back: bodies, metadata and
/// ETags, and conditional PUTs answer as before the stop.
#[test]
fn a_restarted_moto_keeps_its_objects_etags_and_conditional_writes() {
    let (rt, mut s3) = restartable_moto();
    let url = format!("{}/{}/k", s3.endpoint(), s3.bucket());
    let client = moto_client();
    let put = |body: &'static str, header: (&'static str, String)| {
        let request = client.put(&url).header(header.0, header.1).body(body);
        async move {
            let response = request.send().await.expect("put");
            let etag = response
                .headers()
                .get("etag")
                .map(|v| v.to_str().unwrap().to_string());
            (response.status().as_u16(), etag)
        }
    };
    let (status, first) = rt.block_on(put("one", ("If-None-Match", "*".into())));
    assert_eq!(status, 200);
    let first = first.expect("an etag");
    let (status, _) = rt.block_on(put("again", ("If-None-Match", "*".into())));
    assert_eq!(status, 412);
    let (status, second) = rt.block_on(put("two", ("If-Match", first.clone())));
    assert_eq!(status, 200);
    let second = second.expect("an etag");
    rt.block_on(async {
        let meta = client
            .put(format!("{url}-meta"))
            .header("x-amz-meta-writer", "alice on a (pid 1)")
            .body("m")
            .send()
            .await
            .unwrap();
        assert_eq!(meta.status().as_u16(), 200);
    });

    s3.stop();
    let refused = rt.block_on(client.get(&url).send());
    assert!(
        refused.as_ref().is_err_and(|e| e.is_connect()),
        "a stopped moto refuses connections: {refused:?}"
    );
    rt.block_on(s3.restart()).unwrap_or_else(|e| panic!("{e}"));

    rt.block_on(async {
        let got = client.get(&url).send().await.unwrap();
        assert_eq!(got.status().as_u16(), 200);
        assert_eq!(got.headers()["etag"].to_str().unwrap(), second);
        assert_eq!(got.text().await.unwrap(), "two");
        let meta = client.head(format!("{url}-meta")).send().await.unwrap();
        assert_eq!(meta.headers()["x-amz-meta-writer"], "alice on a (pid 1)");
    });
    // The stale ETag still loses, the current one still wins, and the key
    // still exists for a create-only PUT.
    let (status, _) = rt.block_on(put("stale", ("If-Match", first)));
    assert_eq!(status, 412);
    let (status, _) = rt.block_on(put("again", ("If-None-Match", "*".into())));
    assert_eq!(status, 412);
    let (status, _) = rt.block_on(put("three", ("If-Match", second)));
    assert_eq!(status, 200);
}

/// moto is stopped mid-run (its port refuses connections), past
/// `--store-timeout`; the engine retries with a warning each time, then
/// stops resumably. moto is restarted with its objects, and `resume`
/// finishes the run with nothing lost or repeated.
#[test]
fn a_stopped_store_stops_the_run_resumably_and_resume_finishes_it_after_a_restart() {
    let (rt, mut s3) = restartable_moto();
    let shared = tempfile::tempdir().unwrap();
    let m = shared.path().join("markers");
    let m = m.display();
    let a = Machine::new(&s3, "stopped", "alice").with("LIFEBOAT_LEASE_TTL", "2s");
    a.sb.write(
        "rb.yaml",
        &format!("version: 1\nname: stopped\nsteps:\n  - id: one\n    kind: shell\n    with: {{ script: \"echo one >> {m}\" }}\n  - id: two\n    kind: shell\n    read_only: true\n    needs: [one]\n    with: {{ script: \"sleep 1; echo two >> {m}\" }}\n  - id: three\n    kind: shell\n    needs: [two]\n    with: {{ script: \"echo three >> {m}\" }}\n"),
    );
    let mut child = a.spawn(&["run", "rb.yaml", "--store-timeout", "4s"]);
    let run = read_run_id(&mut child);
    // Once `two` has started durably, its result is what meets the outage.
    wait_for("step two to start", Duration::from_secs(30), || {
        copy_has(&a, &run, "step_started", Some("two"))
    });
    s3.stop();
    let (code, text) = output(child);
    assert_eq!(code, 130, "{text}");
    assert!(
        text.contains("warning  store unreachable (") && text.contains("retry 2 in "),
        "each retry is a warning on the console\n{text}"
    );
    assert!(text.contains("did not answer for 4s"), "{text}");
    assert!(!text.contains(s3.secret_access_key()), "{text}");
    rt.block_on(s3.restart()).unwrap_or_else(|e| panic!("{e}"));
    let ran = a.test(&["resume", &run]).any_status().run();
    ran.expect_code(0);
    // `two` finished while the store was down, its result not durable: the
    // resume runs it again (it is read-only). Nothing journalled as done
    // ran again, and nothing journalled before the stop was lost.
    let lines = markers(shared.path());
    assert_eq!(lines, ["one", "two", "two", "three"], "{}", ran.dump());
    let journal = journal(&a, &run);
    for (id, starts) in [("one", 1), ("two", 2), ("three", 1)] {
        assert_eq!(events(&journal, "step_succeeded", id).len(), 1, "{id}");
        assert_eq!(events(&journal, "step_started", id).len(), starts, "{id}");
    }
    assert_eq!(
        journal.iter().filter(|r| r["type"] == "resumed").count(),
        1,
        "{journal:#?}"
    );
}

/// Machine B approves while machine A's engine asks at a terminal (a pty);
/// they share only the S3 store. The question closes and names bob, A
/// continues within 3 s, the journal names bob and the wait is human time.
#[test]
fn an_approval_from_another_machine_closes_the_question_at_a_terminal_through_s3() {
    let (_rt, s3) = moto();
    let a = Machine::new(&s3, "pty", "alice");
    let b = Machine::new(&s3, "pty", "bob");
    a.sb.write("gate.yaml", GATE);
    let mut cmd = a.sb.pty_command(&["run", "gate.yaml"]);
    cmd.envs(a.env.iter().map(|(k, v)| (k.clone(), v.clone())))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
    let mut p = util::start_pty(cmd, 120);
    util::expect(
        &mut p,
        "the decision may also come from another shell or machine:",
    );
    util::expect(&mut p, "Decision [1]: ");
    let run = std::fs::read_dir(a.sb.state_dir().join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned();
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
    util::expect(&mut p, "approved by bob from another shell");
    util::expect(&mut p, "the question is closed");
    util::expect(&mut p, "restored by bob");
    assert!(
        decided.elapsed() < Duration::from_secs(3),
        "A took {:?} after the approval",
        decided.elapsed()
    );
    util::expect(&mut p, "finished succeeded");
    assert_eq!(util::exit_code(p), 0);
    let records = journal(&b, &run);
    let approvals: Vec<_> = records.iter().filter(|r| r["type"] == "approval").collect();
    assert_eq!(approvals.len(), 1, "{records:#?}");
    assert_eq!(approvals[0]["actor"], "bob");
    assert_eq!(approvals[0]["decision"], "approved");
    let status = b.run(&["status", &run, "--output", "json"]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).expect("status json");
    let human = status["rto"]["split"]["human_ms"]
        .as_i64()
        .expect("human_ms");
    assert!(human >= 1000, "human time {human} ms\n{status}");
    let timeline = b.run(&["timeline", &run]);
    timeline.expect_code(0);
    assert!(timeline.stdout.contains("bob"), "{}", timeline.dump());
}

/// Waits for a spawned engine to exit, at most `limit`; kills it and fails
/// with what it printed when it does not.
fn exits_within(mut child: Child, limit: Duration, why: &str) -> (i32, String) {
    let until = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= until {
            child.kill().unwrap();
            let (_, text) = output(child);
            panic!("the engine did not exit within {limit:?} {why}\n{text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    output(child)
}

/// A waits at a gate with `--wait` (writing nothing); B takes the run over.
/// A's lease renewal finds the lease taken, and A stops at once, naming B,
/// and writes nothing more; B drives the run to its end.
#[test]
fn a_driver_waiting_at_a_gate_stops_at_once_when_its_lease_is_taken() {
    let (rt, s3) = moto();
    let ttl = ("LIFEBOAT_LEASE_TTL", "3s");
    let a = Machine::new(&s3, "idle-gate", "alice").with(ttl.0, ttl.1);
    let b = Machine::new(&s3, "idle-gate", "bob").with(ttl.0, ttl.1);
    a.sb.write("gate.yaml", GATE);
    let mut child = a.spawn(&["run", "gate.yaml", "--wait"]);
    let run = read_run_id(&mut child);
    wait_for("the gate to wait", Duration::from_secs(30), || {
        copy_has(&a, &run, "waiting", Some("go"))
    });
    // A waits, writing nothing but its lease's renewals.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(child.try_wait().unwrap().is_none(), "A stopped on its own");
    let taken = b.spawn(&["resume", &run, "--take-over", "--yes", "--wait"]);
    let (code, text) = exits_within(child, Duration::from_secs(15), "after the takeover");
    assert_eq!(code, 130, "{text}");
    assert!(
        text.contains("this engine lost the run's lease (`bob` on `"),
        "the console names the new driver\n{text}"
    );
    assert!(!text.contains("restored by"), "{text}");
    // It says not to resume the run here, not "continue with: resume".
    assert!(
        text.contains("stopped: another engine drives run ")
            && !text.contains("interrupted; continue with"),
        "{text}"
    );
    wait_for("bob to drive", Duration::from_secs(30), || {
        copy_has(&b, &run, "resumed", None)
    });
    let approved = b.run(&["approve", &run, "go", "--as", "carol"]);
    approved.expect_code(0);
    let (code, text) = output(taken);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("restored by carol"), "{text}");
    nothing_written_after_takeover(
        &journal_objects(&rt, &s3, "idle-gate", &run),
        "alice",
        "bob",
    );
}

/// A runs a long `sleep` step (no process, nothing written); B takes the
/// run over. A stops at once, names B and writes nothing more; B runs the
/// step again (short for bob) and finishes.
#[test]
fn a_driver_in_a_long_sleep_step_stops_at_once_when_its_lease_is_taken() {
    let (rt, s3) = moto();
    let shared = tempfile::tempdir().unwrap();
    let m = shared.path().join("markers");
    let m = m.display();
    let ttl = ("LIFEBOAT_LEASE_TTL", "3s");
    let a = Machine::new(&s3, "idle-sleep", "alice").with(ttl.0, ttl.1);
    let b = Machine::new(&s3, "idle-sleep", "bob").with(ttl.0, ttl.1);
    a.sb.write(
        "rb.yaml",
        &format!("version: 1\nname: idle\nsteps:\n  - id: slow\n    kind: sleep\n    with: {{ duration: \"{{{{ '60s' if run.operator == 'alice' else '0s' }}}}\" }}\n  - id: after\n    kind: shell\n    needs: [slow]\n    with: {{ script: \"echo after-{{{{ run.operator }}}} >> {m}\" }}\n"),
    );
    let mut child = a.spawn(&["run", "rb.yaml"]);
    let run = read_run_id(&mut child);
    wait_for("the slow step to start", Duration::from_secs(30), || {
        copy_has(&a, &run, "step_started", Some("slow"))
    });
    std::thread::sleep(Duration::from_millis(2500));
    let taken = b.spawn(&["resume", &run, "--take-over", "--yes"]);
    let (code, text) = exits_within(child, Duration::from_secs(15), "after the takeover");
    assert_eq!(code, 130, "{text}");
    assert!(
        text.contains("this engine lost the run's lease (`bob` on `"),
        "the console names the new driver\n{text}"
    );
    let (code, text) = output(taken);
    assert_eq!(code, 0, "{text}");
    assert_eq!(markers(shared.path()), ["after-bob"]);
    nothing_written_after_takeover(
        &journal_objects(&rt, &s3, "idle-sleep", &run),
        "alice",
        "bob",
    );
}

/// A runs a long shell step; B takes the run over. A stops at once: the
/// step's process is stopped (as at SIGTERM), the console names B, and A
/// writes nothing more; B runs the step again (read-only) and finishes.
#[test]
fn a_driver_running_a_long_step_stops_it_at_once_when_its_lease_is_taken() {
    let (rt, s3) = moto();
    let shared = tempfile::tempdir().unwrap();
    let m = shared.path().join("markers");
    let m = m.display();
    let ttl = ("LIFEBOAT_LEASE_TTL", "3s");
    // Only A's step is long: the step reads how long from its machine. It
    // ignores SIGTERM: both "machines" share this host's processes, and
    // B's resume stops the process groups a journal names as left running
    // (SIGTERM, then SIGKILL after 3 s); without the trap B would end A's
    // step at once, and A would find the takeover at the write of its
    // failure rather than through its lease.
    let a = Machine::new(&s3, "idle-step", "alice")
        .with(ttl.0, ttl.1)
        .with("SLOW_FOR", "60");
    let b = Machine::new(&s3, "idle-step", "bob").with(ttl.0, ttl.1);
    a.sb.write(
        "rb.yaml",
        &format!("version: 1\nname: idle\nsteps:\n  - id: slow\n    kind: shell\n    read_only: true\n    with: {{ script: \"trap '' TERM; sleep ${{SLOW_FOR:-0}}; echo slow-$LIFEBOAT_OPERATOR >> {m}\" }}\n  - id: after\n    kind: shell\n    needs: [slow]\n    with: {{ script: \"echo after >> {m}\" }}\n"),
    );
    let mut child = a.spawn(&["run", "rb.yaml"]);
    let run = read_run_id(&mut child);
    wait_for("the slow step to start", Duration::from_secs(30), || {
        copy_has(&a, &run, "step_started", Some("slow"))
    });
    std::thread::sleep(Duration::from_millis(2500));
    let taken = b.spawn(&["resume", &run, "--take-over", "--yes"]);
    let (code, text) = exits_within(child, Duration::from_secs(15), "after the takeover");
    assert_eq!(code, 130, "{text}");
    assert!(
        text.contains("this engine lost the run's lease (`bob` on `"),
        "the console names the new driver\n{text}"
    );
    // A stopped through its lease, not when B's resume ended the step.
    assert!(!text.contains("cannot write the journal"), "{text}");
    // A's `sleep 60` was stopped with its engine.
    wait_for_orphans(a.sb.path());
    let (code, text) = output(taken);
    assert_eq!(code, 0, "{text}");
    assert_eq!(markers(shared.path()), ["slow-bob", "after"]);
    nothing_written_after_takeover(
        &journal_objects(&rt, &s3, "idle-step", &run),
        "alice",
        "bob",
    );
}

/// A asks at its terminal (a pty) at a gate; B takes the run over. A's
/// question closes, A names B and exits resumably, and writes nothing more.
#[test]
fn a_driver_asking_at_a_terminal_stops_at_once_when_its_lease_is_taken() {
    let (rt, s3) = moto();
    let ttl = ("LIFEBOAT_LEASE_TTL", "3s");
    let a = Machine::new(&s3, "idle-pty", "alice").with(ttl.0, ttl.1);
    let b = Machine::new(&s3, "idle-pty", "bob").with(ttl.0, ttl.1);
    a.sb.write("gate.yaml", GATE);
    let mut cmd = a.sb.pty_command(&["run", "gate.yaml"]);
    cmd.envs(a.env.iter().map(|(k, v)| (k.clone(), v.clone())))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
    let mut p = util::start_pty(cmd, 200);
    util::expect(&mut p, "Decision [1]: ");
    let run = std::fs::read_dir(a.sb.state_dir().join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned();
    std::thread::sleep(Duration::from_millis(2500));
    let mut taken = b.spawn(&["resume", &run, "--take-over", "--yes", "--wait"]);
    util::expect(&mut p, "this engine lost the run's lease (`bob` on `");
    assert_eq!(util::exit_code(p), 130);
    taken.kill().unwrap();
    let _ = taken.wait();
    nothing_written_after_takeover(&journal_objects(&rt, &s3, "idle-pty", &run), "alice", "bob");
}
