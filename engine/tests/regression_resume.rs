//! One test per reported problem with resume, drills and projections
//! ("The Vault runbooks survive real use", "The engine keeps every promise
//! its docs make"), each named after what it promises.

mod util;
mod vault_fixture;

use serde_json::Value;
use util::Sandbox;

fn of_step<'a>(journal: &'a [Value], ty: &str, step: &str) -> Vec<&'a Value> {
    journal
        .iter()
        .filter(|r| r["type"] == ty && r["step"] == step)
        .collect()
}

/// A `shell` script that kills the engine running it the first time
/// (a crash mid-step), and records every execution in `runs-<step>`.
fn crashes_once(step: &str) -> String {
    format!(
        "echo ran >> runs-{step}; if [ ! -e crashed-{step} ]; then touch crashed-{step}; kill -9 $PPID; sleep 5; fi"
    )
}

fn executions(sb: &Sandbox, run_id: &str, step: &str) -> usize {
    std::fs::read_to_string(sb.work_dir(run_id).join(format!("runs-{step}")))
        .unwrap_or_default()
        .lines()
        .count()
}

/// Starts a run that is expected to die (SIGKILL from a step); returns its id.
fn run_until_crash(sb: &Sandbox, file: &str) -> String {
    let ran = sb.run(&["run", file]);
    assert_eq!(
        ran.code,
        -1,
        "the engine should have been killed\n{}",
        ran.dump()
    );
    ran.run_id()
}

#[test]
fn mark_failed_then_resume_runs_the_step_again() {
    let sb = Sandbox::new();
    sb.write(
        "markfail.yaml",
        &format!(
            "version: 1\nname: markfail\nsteps:\n  - id: init_first\n    kind: shell\n    rerun: never\n    with: {{ script: {:?} }}\n  - id: after\n    kind: shell\n    needs: [init_first]\n    with: {{ run: [\"true\"] }}\n",
            crashes_once("init_first")
        ),
    );
    let id = run_until_crash(&sb, "markfail.yaml");
    // No terminal: the run pauses for a human.
    sb.run(&["resume", &id]).expect_code(3);
    let ran = sb.run(&["mark", &id, "init_first", "failed", "--as", "alice"]);
    ran.expect_code(0);
    assert!(
        ran.stdout.contains("resume runs it again"),
        "{}",
        ran.dump()
    );
    let ran = sb.run(&["resume", &id]);
    ran.expect_code(0);
    assert_eq!(executions(&sb, &id, "init_first"), 2, "{}", ran.dump());
    let journal = sb.journal(&id);
    assert_eq!(of_step(&journal, "step_started", "init_first").len(), 2);
    assert_eq!(of_step(&journal, "step_succeeded", "after").len(), 1);
}

#[test]
fn mark_failed_works_on_an_interrupted_never_step_of_a_failed_run() {
    let sb = Sandbox::new();
    // `boom` fails while `init_first` runs; `init_first` then crashes the
    // engine once `boom`'s failure is in the journal.
    let wait_for_boom = "for i in $(seq 400); do grep -q '\"step_failed\"' ../journal.jsonl && break; sleep 0.05; done; ";
    sb.write(
        "failedrun.yaml",
        &format!(
            "version: 1\nname: failedrun\nsteps:\n  - id: init_first\n    kind: shell\n    rerun: never\n    with: {{ script: {:?} }}\n  - id: boom\n    kind: shell\n    with: {{ script: \"test -e ../../../fixed\" }}\non_failure:\n  - id: cleanup\n    kind: shell\n    with: {{ run: [\"true\"] }}\n",
            format!("{wait_for_boom}{}", crashes_once("init_first"))
        ),
    );
    let id = run_until_crash(&sb, "failedrun.yaml");
    sb.run(&["resume", &id]).expect_code(3);
    sb.run(&["mark", &id, "init_first", "failed", "--as", "alice"])
        .expect_code(0);
    // `boom` still fails: the run fails before `init_first` can run again.
    sb.run(&["resume", &id]).expect_code(1);
    assert_eq!(executions(&sb, &id, "init_first"), 1);
    // The operator may still say (again) how the interrupted step ended.
    let ran = sb.run(&["mark", &id, "init_first", "failed", "--as", "bob"]);
    ran.expect_code(0);
    std::fs::write(sb.state_dir().join("fixed"), "").unwrap();
    let ran = sb.run(&["resume", &id]);
    ran.expect_code(0);
    assert_eq!(executions(&sb, &id, "init_first"), 2, "{}", ran.dump());
    let journal = sb.journal(&id);
    assert_eq!(of_step(&journal, "step_succeeded", "init_first").len(), 1);
    assert_eq!(of_step(&journal, "marked", "init_first")[1]["actor"], "bob");
}

fn json(ran: &util::Ran) -> Value {
    serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}\n{}", ran.dump()))
}

fn measured(plan: &Value) -> Vec<&str> {
    plan["measured_steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect()
}

#[test]
fn projections_use_only_clean_executions() {
    let sb = Sandbox::new();
    let text = format!(
        "version: 1\nname: honest\nsteps:\n  - id: quick\n    kind: shell\n    read_only: true\n    estimate: 1m\n    with: {{ run: [\"true\"] }}\n  - id: approve_restore\n    kind: approval\n    needs: [quick]\n    estimate: 10m\n    with: {{ prompt: \"restore?\" }}\n  - id: tolerance\n    kind: shell\n    needs: [approve_restore]\n    estimate: 6s\n    rerun: safe\n    with: {{ script: {:?} }}\n",
        crashes_once("tolerance")
    );
    sb.write("honest.yaml", &text);
    // A drill measures nothing: not its real read-only steps, not its gates.
    sb.run(&["run", "honest.yaml", "--dry-run=probes"])
        .expect_code(0);
    let plan = json(&sb.run(&["plan", "honest.yaml", "--output", "json"]));
    assert_eq!(plan["history_runs"], 0, "{plan}");
    assert_eq!(measured(&plan), Vec::<&str>::new(), "{plan}");
    // A real run, paused at the gate, crashed in `tolerance` and resumed:
    // `tolerance`'s second execution found its work done and took no time.
    let ran = sb.run(&["run", "honest.yaml"]);
    ran.expect_code(3);
    let id = ran.run_id();
    sb.run(&["approve", &id, "approve_restore", "--as", "alice"])
        .expect_code(0);
    sb.run(&["resume", &id]).expect_code(-1);
    sb.run(&["resume", &id]).expect_code(0);
    let plan = json(&sb.run(&["plan", "honest.yaml", "--output", "json"]));
    assert_eq!(plan["history_runs"], 1, "{plan}");
    // The gate was decided by a person in a real run: that counts.
    assert_eq!(measured(&plan), ["quick", "approve_restore"], "{plan}");
    let text = sb.run(&["plan", "honest.yaml"]);
    assert!(
        text.stdout.contains(" 6.0s  "),
        "`tolerance` keeps its estimate\n{}",
        text.dump()
    );
}

const PROJECTED: &str = "version: 1
name: projected
rto: { target: 15m, stop_at: verify }
steps:
  - id: prepare
    kind: shell
    estimate: 30s
    with: { run: [\"true\"] }
  - id: approve
    kind: approval
    needs: [prepare]
    estimate: 10m
    with: { prompt: \"restore?\" }
  - id: verify
    kind: shell
    needs: [approve]
    estimate: 1m
    with: { run: [\"true\"] }
  - id: dns
    kind: manual
    needs: [verify]
    estimate: 20m
    with: { instructions: \"switch DNS to the restored cluster\" }
";

#[test]
fn the_console_and_status_show_one_projection() {
    let sb = Sandbox::new();
    sb.write("projected.yaml", PROJECTED);
    let ran = sb.run(&["run", "projected.yaml", "--output", "json"]);
    ran.expect_code(3);
    let events: Vec<Value> = ran
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let id = events[0]["run_id"].as_str().unwrap().to_string();
    let shown = events
        .iter()
        .rev()
        .find(|e| e["event"] == "projection")
        .unwrap_or_else(|| panic!("no projection event\n{}", ran.dump()));
    let status = json(&sb.run(&["status", &id, "--output", "json"]));
    assert_eq!(
        shown["remaining_path"], status["remaining_path"],
        "{status}"
    );
    assert_eq!(shown["remaining_ms"], status["remaining_ms"]);
    // Up to `rto.stop_at`: the 20-minute manual step after `verify` does not
    // count against the RTO.
    assert_eq!(status["remaining_ms"], 660_000);
    let steps: Vec<&str> = status["remaining_path"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["step"].as_str())
        .collect();
    assert_eq!(steps, ["approve", "verify"]);
    // The plain console prints the same line `status` does.
    let resumed = sb.run(&["resume", &id]);
    resumed.expect_code(3);
    let status_text = sb.run(&["status", &id]);
    let path_line = |out: &str| {
        out.lines()
            .find_map(|l| l.split("remaining critical path: ").nth(1))
            .map(|rest| rest.split(';').next().unwrap_or_default().to_string())
    };
    assert_eq!(
        path_line(&resumed.stdout),
        path_line(&status_text.stdout),
        "{}\n{}",
        resumed.dump(),
        status_text.dump()
    );
    assert_eq!(
        path_line(&status_text.stdout).as_deref(),
        Some("approve (10m00s) -> verify (1m00s)")
    );
}

#[test]
fn plan_stops_counting_at_rto_stop_at() {
    let sb = Sandbox::new();
    sb.write("projected.yaml", PROJECTED);
    let ran = sb.run(&["plan", "projected.yaml"]);
    ran.expect_code(0);
    insta::assert_snapshot!(ran.stdout);
    let plan = json(&sb.run(&["plan", "projected.yaml", "--output", "json"]));
    assert_eq!(plan["estimate_ms"], 690_000);
    assert_eq!(plan["fits_rto"], true);
    assert_eq!(plan["whole_run_estimate_ms"], 1_890_000);
    assert_eq!(
        plan["critical_path"],
        serde_json::json!(["prepare", "approve", "verify"])
    );
}

#[test]
fn plan_accepts_inputs_like_run() {
    let sb = Sandbox::new();
    sb.write(
        "inputs.yaml",
        "version: 1\nname: inputs\ninputs:\n  region: { type: string }\n  replicas: { type: integer, default: 3 }\nsteps:\n  - id: a\n    kind: shell\n    estimate: 5s\n    with: { run: [\"echo\", \"{{ inputs.region }}\"] }\n",
    );
    sb.write("in.yaml", "region: eu-west-1\nreplicas: 5\n");
    sb.run(&[
        "plan",
        "inputs.yaml",
        "--inputs",
        "in.yaml",
        "--input",
        "region=us-east-1",
    ])
    .expect_code(0);
    let ran = sb.run(&["plan", "inputs.yaml", "--input", "zone=a"]);
    ran.expect_code(2);
    assert!(ran.stderr.contains("`zone`"), "{}", ran.dump());
    let ran = sb.run(&["plan", "inputs.yaml", "--input", "replicas=many"]);
    ran.expect_code(2);
    assert!(ran.stderr.contains("`replicas`"), "{}", ran.dump());
}

#[test]
fn a_probes_drill_can_pass_and_leaves_nothing_behind() {
    let sb = Sandbox::new();
    // `fetch` downloads (read-only, runs for real); `decrypt` would make
    // `backup.snap` (mutating, simulated); `inspect` reads that file (it
    // needs `decrypt`), `report` reads `decrypt`'s outputs in a template.
    sb.write(
        "drill.yaml",
        r#"version: 1
name: drill
steps:
  - id: fetch
    kind: shell
    read_only: true
    with: { script: "echo data > downloaded.bin" }
  - id: decrypt
    kind: shell
    needs: [fetch]
    with: { script: "cp downloaded.bin backup.snap; echo backup.snap" }
    dry_run: { outputs: { stdout: backup.snap } }
  - id: inspect
    kind: shell
    read_only: true
    needs: [decrypt]
    with: { script: "test -s backup.snap" }
finally:
  - id: report
    kind: shell
    read_only: true
    with: { run: ["test", "-s", "{{ steps.decrypt.outputs.stdout }}"] }
"#,
    );
    let ran = sb.run(&["run", "drill.yaml", "--dry-run=probes"]);
    ran.expect_code(0);
    let id = ran.run_id();
    let journal = sb.journal(&id);
    let simulated = |step: &str| of_step(&journal, "step_succeeded", step)[0]["simulated"] == true;
    assert!(!simulated("fetch"), "{}", ran.dump());
    for step in ["decrypt", "inspect", "report"] {
        assert!(simulated(step), "`{step}`\n{}", ran.dump());
    }
    assert!(
        ran.stderr
            .contains("warning  inspect: read-only, but simulated: it depends on `decrypt`"),
        "{}",
        ran.dump()
    );
    let left: Vec<_> = std::fs::read_dir(sb.work_dir(&id))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.is_empty(),
        "the drill left {left:?} in its work directory"
    );
}

const STEP_THROUGH: &str = r#"version: 1
name: stepped
steps:
  - id: autopilot_before
    kind: shell
    with: { script: "echo healthy" }
  - id: restore
    kind: shell
    needs: [autopilot_before]
    with: { script: "echo restored >> restores; test \"{{ steps.autopilot_before.outputs.stdout | default('') }}\" = healthy" }
  - id: seal
    kind: shell
    rerun: never
    needs: [restore]
    with: { script: "echo sealed >> seals" }
"#;

/// `run --step` at a terminal: skips `autopilot_before`, runs the rest;
/// `restore` then fails for want of its outputs. Returns the run id.
fn skip_in_step_through(sb: &Sandbox) -> String {
    const ENTER: &str = "\r";
    sb.write("stepped.yaml", STEP_THROUGH);
    let mut p = sb.pty(&["run", "stepped.yaml", "--step"]);
    util::expect(&mut p, "Next: autopilot_before");
    util::send(&mut p, &format!("j{ENTER}"));
    util::expect(&mut p, "Why skip it?");
    util::send(&mut p, &format!("looked fine{ENTER}"));
    util::expect(&mut p, "Next: restore");
    util::send(&mut p, ENTER);
    util::expect(&mut p, "finished failed");
    assert_eq!(util::exit_code(p), 1);
    let runs: Vec<String> = std::fs::read_dir(sb.state_dir().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    runs[0].clone()
}

#[test]
fn resume_step_asks_again_about_a_step_skipped_in_step_through() {
    let sb = Sandbox::new();
    let id = skip_in_step_through(&sb);
    let mut p = sb.pty(&["resume", &id, "--step"]);
    util::expect(&mut p, "Next: autopilot_before");
    util::send(&mut p, "\r");
    util::expect(&mut p, "Next: restore");
    util::send(&mut p, "\r");
    util::expect(&mut p, "Next: seal");
    util::send(&mut p, "\r");
    util::expect(&mut p, "finished succeeded");
    assert_eq!(util::exit_code(p), 0);
    let journal = sb.journal(&id);
    assert_eq!(
        of_step(&journal, "step_succeeded", "autopilot_before").len(),
        1
    );
}

#[test]
fn resume_redo_runs_a_skipped_or_completed_step_again() {
    let sb = Sandbox::new();
    let id = skip_in_step_through(&sb);
    // Without --step, a step-through skip stands...
    sb.run(&["resume", &id]).expect_code(1);
    // ...until someone asks for it to run, and says why.
    let mut refusals = String::new();
    let mut refused = |args: &[&str]| {
        let ran = sb.run(args);
        ran.expect_code(2);
        refusals.push_str(&format!("$ {}\n{}", ran.command, ran.stderr).replace(&id, "[RUN_ID]"));
    };
    refused(&["resume", &id, "--redo", "autopilot_before"]);
    refused(&["resume", &id, "--redo", "autopilot", "--reason", "x"]);
    let ran = sb.run(&[
        "resume",
        &id,
        "--redo",
        "autopilot_before",
        "--reason",
        "skipped by mistake",
    ]);
    ran.expect_code(0);
    let journal = sb.journal(&id);
    let resumed = journal
        .iter()
        .rev()
        .find(|r| r["type"] == "resumed")
        .unwrap();
    assert_eq!(resumed["redo"], serde_json::json!(["autopilot_before"]));
    assert_eq!(resumed["reason"], "skipped by mistake");
    assert_eq!(resumed["actor"], "tester");
    assert_eq!(
        of_step(&journal, "step_succeeded", "autopilot_before").len(),
        1
    );
    // A completed step that is unsafe to repeat needs --yes.
    refused(&[
        "resume",
        &id,
        "--redo",
        "seal",
        "--reason",
        "the seal was undone",
    ]);
    insta::assert_snapshot!(refusals);
    sb.run(&[
        "resume",
        &id,
        "--redo",
        "seal",
        "--reason",
        "the seal was undone",
        "--yes",
    ])
    .expect_code(0);
    let seals = std::fs::read_to_string(sb.work_dir(&id).join("seals")).unwrap();
    assert_eq!(seals.lines().count(), 2);
}

#[test]
fn an_until_that_never_holds_fails_with_the_authors_message() {
    let sb = Sandbox::new();
    sb.write(
        "until.yaml",
        r#"version: 1
name: until
steps:
  - id: raft_ready
    kind: shell
    retry: { attempts: 2, delay: 10ms }
    until:
      that: "outputs.stdout == 'ready'"
      message: "the raft cluster is not ready (last answer: {{ outputs.stdout }}); check the peers with `bao operator raft list-peers`"
    with: { script: "echo electing" }
"#,
    );
    let ran = sb.run(&["run", "until.yaml"]);
    ran.expect_code(1);
    let journal = sb.journal(&ran.run_id());
    assert_eq!(
        of_step(&journal, "step_failed", "raft_ready")[0]["error"],
        "the raft cluster is not ready (last answer: electing); check the peers with `bao operator raft list-peers` (after 2 attempts)"
    );
    // A message that reads what does not exist is refused at validation.
    sb.write(
        "bad.yaml",
        "version: 1\nname: bad\nsteps:\n  - id: a\n    kind: shell\n    until: { that: \"true\", message: \"{{ inputs.nope }}\" }\n    with: { run: [\"true\"] }\n",
    );
    let ran = sb.run(&["validate", "bad.yaml"]);
    ran.expect_code(2);
    assert!(
        ran.stdout.contains("`inputs.nope`") || ran.stderr.contains("`inputs.nope`"),
        "{}",
        ran.dump()
    );
}

#[test]
fn runs_lists_with_a_header_row() {
    let sb = Sandbox::new();
    sb.write("one.yaml", "version: 1\nname: one\nrto: { target: 5m }\nsteps:\n  - id: a\n    kind: shell\n    with: { run: [\"true\"] }\n");
    sb.run(&["run", "one.yaml"]).expect_code(0);
    sb.run(&["run", "one.yaml", "--dry-run"]).expect_code(0);
    let ran = sb.run(&["runs"]);
    ran.expect_code(0);
    // Run ids, start times and achieved RTOs change from run to run.
    let runs = json(&sb.run(&["runs", "--output", "json"]));
    let mut shown = ran.stdout.clone();
    for r in runs.as_array().unwrap() {
        let id = r["run_id"].as_str().unwrap();
        shown = shown.replacen(id, &format!("{:<1$}", "[RUN_ID]", id.len()), 1);
        let started = &r["started_at"].as_str().unwrap()[..19];
        shown = shown.replacen(started, &format!("{:<19}", "[STARTED]"), 1);
    }
    let shown: String = shown
        .lines()
        .map(|l| match l.split_once(" / 5m00s") {
            Some((before, after)) => {
                // A drill's figure is `projected 1.0s`: only the duration varies.
                let (head, _achieved) = before.rsplit_once(' ').unwrap();
                let mut words = after.split_whitespace();
                let verdict = words.next().unwrap_or_default();
                let drill = words.collect::<Vec<_>>().join(" ");
                let (head, figure) = match head.strip_suffix(" projected") {
                    Some(head) => (head, format!("projected [RTO] / 5m00s {verdict}")),
                    None => (head, format!("[RTO] / 5m00s {verdict}")),
                };
                let row = format!("{head} {figure:<32} {drill}");
                format!("{}\n", row.trim_end())
            }
            None => format!("{l}\n"),
        })
        .collect();
    insta::assert_snapshot!(shown);
}

/// A runbook with one `s3.*` step on the given moto server.
fn s3_runbook(
    name: &str,
    s3: &lifeboat_harness::s3_server::S3Server,
    step: &str,
    kind: &str,
    with: Value,
) -> String {
    let mut params = s3.connection();
    params
        .as_object_mut()
        .unwrap()
        .extend(with.as_object().unwrap().clone());
    format!(
        "version: 1\nname: {name}\nsteps:\n  - id: make\n    kind: shell\n    with: {{ script: \"echo backup > backup.snap\" }}\n  - id: {step}\n    kind: {kind}\n    needs: [make]\n    with: {params}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probes_drill_removes_what_s3_get_downloaded() {
    let s3 = lifeboat_harness::s3_server::S3Server::start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sb = Sandbox::new();
    sb.write(
        "upload.yaml",
        &s3_runbook(
            "upload",
            &s3,
            "upload",
            "s3.put",
            serde_json::json!({"key": "daily/backup.snap", "path": "backup.snap"}),
        ),
    );
    sb.run(&["run", "upload.yaml"]).expect_code(0);
    // `fetch` is read-only: the drill downloads for real, then cleans up.
    let text = s3_runbook(
        "fetch",
        &s3,
        "fetch",
        "s3.get",
        serde_json::json!({"key": "daily/backup.snap", "path": "downloaded.snap"}),
    )
    .replace(
        "  - id: make\n    kind: shell\n    with: { script: \"echo backup > backup.snap\" }\n",
        "  - id: make\n    kind: shell\n    read_only: true\n    with: { run: [\"true\"] }\n",
    );
    sb.write("fetch.yaml", &text);
    let ran = sb.run(&["run", "fetch.yaml", "--dry-run=probes"]);
    ran.expect_code(0);
    let id = ran.run_id();
    let journal = sb.journal(&id);
    let fetched = of_step(&journal, "step_succeeded", "fetch")[0];
    assert!(fetched["simulated"] != true, "{}", ran.dump());
    assert_eq!(fetched["outputs"]["bytes"], 7, "{}", ran.dump());
    let left: Vec<_> = std::fs::read_dir(sb.work_dir(&id))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.is_empty(),
        "the drill left {left:?} in its work directory"
    );
}

/// Seen: "`--dry-run=probes` of full-cluster-loss can never pass": the
/// read-only `inspect` ran for real on `backup.snap`, which the simulated
/// `decrypt` never produced. Against a real OpenBao cluster (every node
/// lost and replaced by an empty one) and moto holding a real backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probes_drill_of_full_cluster_loss_passes() {
    let mut world = vault_fixture::VaultWorld::start().await;
    world.backup();
    for i in 0..3 {
        world.cluster.kill(i);
        world.cluster.wipe(i);
    }
    for i in 0..3 {
        world.cluster.start_node(i).await.unwrap();
    }
    let addrs: Vec<String> = (0..3).map(|i| world.cluster.addr(i)).collect();
    let mut args = vec![
        "run".to_string(),
        vault_fixture::runbook("full-cluster-loss")
            .display()
            .to_string(),
        "--dry-run=probes".to_string(),
    ];
    let mut inputs = world.s3_inputs();
    inputs.push(("nodes".into(), serde_json::to_string(&addrs).unwrap()));
    inputs.push(("key_shares".into(), "3".into()));
    inputs.push(("key_threshold".into(), "2".into()));
    for (k, v) in inputs {
        args.push("--input".into());
        args.push(format!("{k}={v}"));
    }
    let ran = world.lifeboat(&args, &[]);
    let id = ran.run_id();
    assert_eq!(ran.code, 0, "{}\n{}", ran.dump(), world.failures(&id));
    let journal = world.sandbox.journal(&id);
    let simulated = |step: &str| {
        of_step(&journal, "step_succeeded", step)
            .first()
            .map(|r| r["simulated"] == true)
    };
    // The backup was really fetched and checked; what needed the simulated
    // decryption and restore was simulated too.
    assert_eq!(simulated("download"), Some(false), "{}", ran.dump());
    assert_eq!(simulated("checksum"), Some(false), "{}", ran.dump());
    assert_eq!(simulated("decrypt"), Some(true), "{}", ran.dump());
    assert_eq!(simulated("inspect"), Some(true), "{}", ran.dump());
    assert_eq!(
        simulated("restore/restored_active"),
        Some(true),
        "{}",
        ran.dump()
    );
    let left: Vec<_> = std::fs::read_dir(world.work_dir(&id))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.is_empty(),
        "the drill left {left:?} in its work directory"
    );
}

/// `resume --redo a` after a run that failed at `d` (a -> b -> c -> d):
/// `d`'s need `c` is done, but `d` must wait for `a` to run again, since
/// what `d` builds on is about to change. It started at once, beside `a`.
#[test]
fn a_step_below_a_redone_one_waits_for_it_to_run_again() {
    let sb = Sandbox::new();
    sb.write(
        "redo.yaml",
        r#"version: 1
name: redo
steps:
  - id: a
    kind: shell
    rerun: safe
    with: { script: "sleep 1; echo run >> a-runs" }
  - id: b
    kind: shell
    needs: [a]
    with: { run: ["true"] }
  - id: c
    kind: shell
    needs: [b]
    with: { run: ["true"] }
  - id: d
    kind: shell
    needs: [c]
    with: { script: "test \"$(wc -l < a-runs)\" -ge 2" }
"#,
    );
    let ran = sb.run(&["run", "redo.yaml"]);
    ran.expect_code(1);
    let id = ran.run_id();
    let ran = sb.run(&["resume", &id, "--redo", "a", "--reason", "a was undone"]);
    ran.expect_code(0);
    let journal = sb.journal(&id);
    let seq = |ty: &str, step: &str| -> u64 {
        of_step(&journal, ty, step).last().unwrap()["seq"]
            .as_u64()
            .unwrap()
    };
    assert!(
        seq("step_started", "d") > seq("step_succeeded", "a"),
        "{}",
        ran.dump()
    );
    // b and c were not asked to run again, and did not.
    assert_eq!(of_step(&journal, "step_succeeded", "b").len(), 1);
    assert_eq!(of_step(&journal, "step_succeeded", "c").len(), 1);
}
