//! Honest drills: a render-only or probes drill reports the RTO a real run
//! would take (projected from the real runs' history and the estimates, as
//! `plan` does) and the human gates it would wait on, never "met" from its
//! own few milliseconds: in the timeline (Markdown, JSON, HTML), `status`,
//! `runs`. The scorecard and the metrics are checked in their own tests.

mod util;

use serde_json::Value;
use util::war_room::{real_run, NIGHTLY, RESTORE};
use util::Sandbox;

fn drill(sandbox: &Sandbox, file: &str, mode: &str) -> String {
    let ran = sandbox.run(&["run", file, mode]);
    ran.expect_code(0);
    ran.run_id()
}

#[test]
fn a_drill_projects_a_real_run_from_history_and_lists_its_gates() {
    let sandbox = Sandbox::new();
    sandbox.write("restore.yaml", RESTORE);
    real_run(&sandbox, "restore.yaml", &[], 0);
    let id = drill(&sandbox, "restore.yaml", "--dry-run");

    let timeline: Value = serde_json::from_str(
        &std::fs::read_to_string(sandbox.run_dir(&id).join("timeline.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        timeline["rto"]["verdict"],
        Value::Null,
        "no verdict from a drill's own time"
    );
    assert_eq!(timeline["rto"]["drill"], "render");
    let p = &timeline["drill_projection"];
    assert_eq!(p["mode"], "render");
    assert_eq!(p["history_runs"], 1);
    assert_eq!(p["fits"], true);
    assert_eq!(p["target_ms"], 60_000);
    let projected = p["projected_rto_ms"].as_i64().unwrap();
    assert!(
        projected > timeline["rto"]["achieved_ms"].as_i64().unwrap(),
        "{p:#}"
    );
    assert_eq!(p["human_gates"][0]["step"], "go");
    assert_eq!(p["human_gates"][0]["kind"], "approval");
    assert_eq!(
        p["human_ms"].as_i64().unwrap() + p["machine_ms"].as_i64().unwrap(),
        projected
    );

    let md = std::fs::read_to_string(sandbox.run_dir(&id).join("timeline.md")).unwrap();
    let line = |prefix: &str| {
        md.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in\n{md}"))
            .to_string()
    };
    assert!(
        line("| Verdict |").contains("DRILL (dry-run=render) took "),
        "{md}"
    );
    assert!(line("| Verdict |").contains("not a recovery time"), "{md}");
    assert!(
        line("| A real run |")
            .contains("against a target of 1m00s: fits (from 1 earlier run(s) and estimates)"),
        "{md}"
    );
    assert!(
        line("| Human gates |")
            .starts_with("| Human gates | a real run waits on 1 human gate: go (approval, "),
        "{md}"
    );
    assert!(line("| Drill took |").len() > 14, "{md}");
    assert!(!md.contains(": met"), "{md}");

    let html = std::fs::read_to_string(sandbox.run_dir(&id).join("timeline.html")).unwrap();
    assert!(html.contains("<span id=\"projected\">projected "), "{html}");
    assert!(
        html.contains("<span id=\"gates\">a real run waits on 1 human gate: go (approval"),
        "{html}"
    );
    assert!(!html.contains(": met"), "{html}");

    let status = sandbox.run(&["status", &id]);
    status.expect_code(0);
    assert!(
        status.stdout.contains("\na real run: projected "),
        "{}",
        status.dump()
    );
    assert!(
        status
            .stdout
            .contains(": fits (from 1 earlier run(s) and estimates)"),
        "{}",
        status.dump()
    );
    assert!(
        status
            .stdout
            .contains("\na real run waits on 1 human gate: go (approval, "),
        "{}",
        status.dump()
    );
    assert!(!status.stdout.contains(": met"), "{}", status.dump());
    let json = sandbox.run(&["status", &id, "--output", "json"]);
    let json: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["drill_projection"], timeline["drill_projection"]);

    let runs = sandbox.run(&["runs"]);
    runs.expect_code(0);
    let row = runs
        .stdout
        .lines()
        .find(|l| l.starts_with(&id))
        .expect("the drill's row");
    assert!(row.contains(" projected "), "{row}");
    assert!(row.contains(" / 1m00s fits"), "{row}");
    assert!(row.ends_with("DRILL"), "{row}");
    assert!(!row.contains("met"), "{row}");
    let runs: Vec<Value> =
        serde_json::from_str(&sandbox.run(&["runs", "--output", "json"]).stdout).unwrap();
    let doc = runs.iter().find(|r| r["run_id"] == id.as_str()).unwrap();
    assert_eq!(doc["rto_met"], Value::Null);
    assert_eq!(doc["projection"], timeline["drill_projection"]);
}

#[test]
fn a_probes_drill_without_history_projects_from_estimates() {
    let sandbox = Sandbox::new();
    sandbox.write("nightly.yaml", NIGHTLY);
    let id = drill(&sandbox, "nightly.yaml", "--dry-run=probes");
    let md = std::fs::read_to_string(sandbox.run_dir(&id).join("timeline.md")).unwrap();
    assert!(
        md.contains("| A real run | projected 1m30s against a target of 10.0s: EXCEEDS it by 1m20s (from estimates) |"),
        "{md}"
    );
    assert!(
        md.contains("| Human gates | a real run waits on 1 human gate: confirm (manual, 30.0s) |"),
        "{md}"
    );
    assert!(md.contains("DRILL (dry-run=probes) took "), "{md}");
    // `plan` projects the same figure.
    let plan = sandbox.run(&["plan", "nightly.yaml"]);
    assert!(
        plan.stdout
            .contains("estimate: 1m30s against an RTO target of 10.0s (EXCEEDS)"),
        "{}",
        plan.dump()
    );
}
