//! The incident timeline, RTO report, `status` and `runs`, end to end: a run
//! declared five minutes before it started is killed mid-step, paused on an
//! unsafe-to-repeat step, decided by a human, annotated, and resumed to the
//! end. Its timeline files are checked field by field, and the HTML is
//! opened in headless Chromium (Debian's `chromium` package).

mod util;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use lifeboat::{parse_journal, JOURNAL_FILE};
use lifeboat::{Event, Record};
use serde_json::Value;
use util::chromium::dump_file_dom;
use util::{Ran, Sandbox, Test};

const RUNBOOK: &str = r#"version: 1
name: timeline-drill
title: Timeline drill
scenario: full-cluster-loss
rto: { target: 1m, stop_at: verify }
steps:
  - id: fetch_a
    kind: shell
    with: { script: "sleep 0.2" }
    estimate: 1s
  - id: fetch_b
    kind: shell
    with: { script: "sleep 0.1" }
  - id: fetched
    kind: checkpoint
    needs: [fetch_a, fetch_b]
    with: { description: "both halves fetched" }
  - id: restore
    kind: shell
    needs: [fetched]
    rerun: never
    with: { script: "sleep 1; echo restored" }
    estimate: 2s
  - id: verify
    kind: shell
    needs: [restore]
    with: { run: ["true"] }
finally:
  - id: cleanup
    kind: shell
    with: { run: ["true"] }
"#;

const SLOW: &str = r#"version: 1
name: slow-drill
title: Slow drill
rto: { target: 1h }
steps:
  - id: slow
    kind: shell
    with: { script: "sleep 5" }
    estimate: 10s
  - id: after
    kind: shell
    needs: [slow]
    with: { run: ["true"] }
    estimate: 5s
"#;

/// `lifeboat ARGS` as alice.
fn lifeboat(sb: &Sandbox, args: &[&str]) -> Test {
    sb.test().args(args).env("LIFEBOAT_OPERATOR", "alice")
}

/// Starts `lifeboat ARGS` as alice, its output discarded.
fn spawn(sb: &Sandbox, args: &[&str]) -> Child {
    lifeboat(sb, args)
        .with_command(|cmd| {
            cmd.stdout(Stdio::null());
        })
        .spawn()
}

fn records(dir: &Path) -> Vec<Record> {
    std::fs::read(dir.join(JOURNAL_FILE))
        .ok()
        .and_then(|b| parse_journal(&b, "journal").ok())
        .map(|r| r.records)
        .unwrap_or_default()
}

/// Waits (bounded) until the single run in `state` has started `step`.
fn wait_for_start(state: &Path, step: &str) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(entries) = std::fs::read_dir(state.join("runs")) {
            for e in entries.flatten() {
                let started = records(&e.path())
                    .iter()
                    .any(|r| matches!(&r.event, Event::StepStarted { step: s, .. } if s == step));
                if started {
                    return e.path();
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("step `{step}` did not start within 30s");
}

fn json(out: &Ran) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", out.dump()))
}

#[test]
fn an_interrupted_paused_and_resumed_run_has_a_complete_timeline() {
    let sb = Sandbox::new();
    let state = sb.state_dir();
    let file = sb.write("timeline.yaml", RUNBOOK);
    let declared = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(300);
    let declared = declared.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();

    // Killed while `restore` (rerun: never) runs.
    let mut child = spawn(
        &sb,
        &["run", file.to_str().unwrap(), "--declared-at", &declared],
    );
    let dir = wait_for_start(&state, "restore");
    child.kill().unwrap();
    child.wait().unwrap();
    let run_id = dir.file_name().unwrap().to_string_lossy().to_string();

    let status = lifeboat(&sb, &["status", &run_id, "--output", "json"]).run();
    let s = json(&status);
    assert_eq!(s["status"], "interrupted", "{s}");
    assert_eq!(s["engine_running"], false);
    assert_eq!(s["interrupted"][0], "restore");

    lifeboat(&sb, &["resume", &run_id]).status(3).run();
    std::thread::sleep(Duration::from_millis(300));
    lifeboat(
        &sb,
        &[
            "note",
            &run_id,
            "restore confirmed on the dashboard",
            "--as",
            "bob",
        ],
    )
    .run();
    lifeboat(&sb, &["mark", &run_id, "restore", "done", "--as", "carol"]).run();
    let done = lifeboat(&sb, &["resume", &run_id, "--operator", "dave"]).run();
    assert!(
        done.printed().contains("timeline: "),
        "the run says where its timeline is: {}",
        done.dump()
    );

    // timeline.json
    let t: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("timeline.json")).unwrap()).unwrap();
    assert_eq!(t["status"], "succeeded");
    assert_eq!(t["scenario"], "full-cluster-loss");
    assert_eq!(t["drill"], Value::Null);
    let rto = &t["rto"];
    assert_eq!(rto["stop"]["reason"], "stop_at");
    assert_eq!(rto["stop"]["step"], "verify");
    assert_eq!(rto["declared_at"], declared.as_str());
    assert_eq!(rto["target_ms"], 60_000);
    assert_eq!(rto["verdict"], "missed", "five minutes before the start");
    let split = &rto["split"];
    let ms = |k: &str| split[k].as_i64().unwrap();
    assert!(
        ms("before_start_ms") >= 299_000,
        "declared 5 minutes early: {split}"
    );
    assert!(ms("human_ms") >= 300, "paused for a decision: {split}");
    assert!(ms("interrupted_ms") > 0, "killed: {split}");
    assert!(ms("machine_ms") >= 200, "fetch_a sleeps 0.2s: {split}");
    assert_eq!(
        ms("before_start_ms") + ms("machine_ms") + ms("human_ms") + ms("interrupted_ms"),
        rto["achieved_ms"].as_i64().unwrap()
    );
    assert_eq!(
        rto["margin_ms"].as_i64().unwrap(),
        60_000 - rto["achieved_ms"].as_i64().unwrap()
    );
    let phases: Vec<(&str, &str)> = rto["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["from"].as_str().unwrap(), p["to"].as_str().unwrap()))
        .collect();
    assert_eq!(phases, [("declared", "fetched"), ("fetched", "stop")]);
    let path: Vec<&str> = rto["critical_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["step"].as_str().unwrap())
        .collect();
    assert_eq!(path, ["fetch_a", "fetched", "restore", "verify"]);

    let events = t["events"].as_array().unwrap();
    let find = |event: &str| {
        events
            .iter()
            .find(|e| e["event"] == event)
            .unwrap_or_else(|| panic!("no `{event}` event in {events:?}"))
    };
    assert_eq!(find("marked")["actor"], "carol");
    assert_eq!(find("marked")["step"], "restore");
    // The resume after the kill also notes the step processes it stopped.
    let note = events
        .iter()
        .find(|e| e["event"] == "note" && e["actor"] == "bob")
        .unwrap_or_else(|| panic!("no note by bob in {events:?}"));
    assert_eq!(note["summary"], "restore confirmed on the dashboard");
    assert_eq!(find("waiting")["step"], "restore");
    assert!(events
        .iter()
        .any(|e| e["event"] == "resumed" && e["actor"] == "dave"));
    assert_eq!(find("run_started")["actor"], "alice");
    for e in events {
        let ts = e["ts"].as_str().unwrap();
        assert!(
            ts.ends_with('Z') && ts.parse::<jiff::Timestamp>().is_ok(),
            "UTC timestamp: {ts}"
        );
    }
    assert_eq!(t["counts"]["succeeded"], 6, "{}", t["counts"]);

    // timeline.md
    let md = std::fs::read_to_string(dir.join("timeline.md")).unwrap();
    for needle in [
        "# Incident timeline: Timeline drill",
        "| Scenario | full-cluster-loss |",
        "| RTO target | 1m00s |",
        "MISSED by",
        "| Waiting on humans |",
        "| Interrupted (no engine running) |",
        "| fetched | stop |",
        "restore confirmed on the dashboard",
        "| carol [unsigned] | `restore` | marked done |",
    ] {
        assert!(md.contains(needle), "`{needle}` missing from:\n{md}");
    }

    // The files are private, and the on-demand rendering matches.
    let html_path = dir.join("timeline.html");
    for name in ["timeline.md", "timeline.json", "timeline.html"] {
        let mode = std::fs::metadata(dir.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }
    lifeboat(&sb, &["timeline", &run_id, "--format", "html"])
        .stdout(&std::fs::read_to_string(&html_path).unwrap())
        .run();
    lifeboat(&sb, &["timeline", &run_id]).stdout(&md).run();

    // The HTML renders in a real browser with its Gantt chart.
    let dom = dump_file_dom(&html_path);
    assert!(
        dom.contains("id=\"gantt\""),
        "no Gantt chart in DOM:\n{dom}"
    );
    for step in [
        "fetch_a", "fetch_b", "fetched", "restore", "verify", "cleanup",
    ] {
        assert!(
            ["", " critical", " interrupted critical"]
                .iter()
                .any(|c| dom.contains(&format!("class=\"bar executing{c}\" data-step=\"{step}\""))),
            "no bar for `{step}`"
        );
    }
    assert!(
        dom.contains("class=\"bar waiting critical\" data-step=\"restore\""),
        "the human wait on `restore` is drawn on the critical path"
    );
    assert!(dom.contains("class=\"bar executing critical\" data-step=\"verify\""));
    assert!(
        !dom.contains("class=\"bar executing critical\" data-step=\"fetch_b\""),
        "fetch_b is not critical"
    );
    assert!(dom.contains("class=\"down\""), "no-engine time is shaded");
    assert!(!dom.contains("class=\"drill-banner\""));

    // `runs` reports the RTO.
    let runs = json(&lifeboat(&sb, &["runs", "--output", "json"]).run());
    let row = &runs.as_array().unwrap()[0];
    assert_eq!(row["rto_target_ms"], 60_000);
    assert_eq!(row["rto_met"], false);
    assert_eq!(row["drill"], false);
    assert_eq!(row["rto_ms"], rto["achieved_ms"]);

    // `status` on a finished run shows the final figures.
    let s = json(&lifeboat(&sb, &["status", &run_id, "--output", "json"]).run());
    assert_eq!(s["status"], "succeeded");
    assert_eq!(s["elapsed_ms"], rto["achieved_ms"]);

    // A drill is marked as one everywhere, and `plan` now uses the measured
    // durations of the real run.
    let drill = lifeboat(&sb, &["run", file.to_str().unwrap(), "--dry-run"]).run();
    let drill_id = drill.run_id();
    let drill_dir = state.join("runs").join(&drill_id);
    let drill_md = std::fs::read_to_string(drill_dir.join("timeline.md")).unwrap();
    assert!(
        drill_md.starts_with("# DRILL — Incident timeline"),
        "{drill_md}"
    );
    let drill_dom = dump_file_dom(&drill_dir.join("timeline.html"));
    assert!(drill_dom.contains("class=\"drill-banner\""));
    // Honest: the drill's header projects a real run from the one real run
    // above, and never says its own few milliseconds met the target.
    assert!(
        drill_dom.contains("<span id=\"projected\">projected "),
        "{drill_dom}"
    );
    assert!(drill_dom.contains("from 1 earlier run(s)"), "{drill_dom}");
    assert!(!drill_dom.contains(": met"), "{drill_dom}");
    let runs = json(&lifeboat(&sb, &["runs", "--output", "json"]).run());
    assert!(runs
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["run_id"] == drill_id.as_str() && r["drill"] == true));
    let plan = json(&lifeboat(&sb, &["plan", file.to_str().unwrap(), "--output", "json"]).run());
    assert_eq!(plan["history_runs"], 1, "{plan}");
}

#[test]
fn status_projects_the_finish_of_a_live_run() {
    let sb = Sandbox::new();
    let state = sb.state_dir();
    let file = sb.write("slow.yaml", SLOW);
    let mut child = spawn(&sb, &["run", file.to_str().unwrap()]);
    let dir = wait_for_start(&state, "slow");
    let run_id = dir.file_name().unwrap().to_string_lossy().to_string();
    let out = lifeboat(&sb, &["status", &run_id, "--output", "json"]).run();
    let text_out = lifeboat(&sb, &["status", &run_id]).run();
    child.kill().unwrap();
    child.wait().unwrap();
    let s = json(&out);
    assert_eq!(s["status"], "running", "{s}");
    assert_eq!(s["engine_running"], true);
    assert_eq!(s["running"][0]["step"], "slow");
    let path: Vec<&str> = s["remaining_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["step"].as_str().unwrap())
        .collect();
    assert_eq!(path, ["slow", "after"]);
    assert_eq!(s["remaining_path"][0]["source"], "estimate");
    let remaining = s["remaining_ms"].as_i64().unwrap();
    assert!(
        (10_000..=15_000).contains(&remaining),
        "10s estimate minus the time `slow` has run, plus 5s: {remaining}"
    );
    let elapsed = s["elapsed_ms"].as_i64().unwrap();
    assert_eq!(s["projected_rto_ms"].as_i64().unwrap(), elapsed + remaining);
    assert_eq!(s["projected_verdict"], "met");
    let projected: jiff::Timestamp = s["projected_finish"].as_str().unwrap().parse().unwrap();
    let now: jiff::Timestamp = s["now"].as_str().unwrap().parse().unwrap();
    assert_eq!(projected.as_millisecond() - now.as_millisecond(), remaining);
    // What is running, the remaining critical path and the projection.
    text_out
        .snapshot_settings()
        .bind(|| insta::assert_snapshot!(text_out.stdout));
}
