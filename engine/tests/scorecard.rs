//! `lifeboat scorecard` over a store holding real, failed and drill runs,
//! all made by really running small runbooks (`util::war_room`): one row
//! per runbook, the last real run and drill, the RTOs against the target
//! (a drill's projected, never its own time), the split, the trend, stale
//! runbooks flagged, and the HTML chart.

mod util;

use serde_json::Value;
use util::war_room::store_with_runs;
use util::Sandbox;

/// Between the nightly drill and the restore runs: the `--max-age` that
/// flags one and not the other falls in this gap.
const GAP_MS: u64 = 4_000;

fn scorecard_json(sandbox: &Sandbox, max_age: &str) -> Value {
    let ran = sandbox.run(&["scorecard", "--output", "json", "--max-age", max_age]);
    ran.expect_code(0);
    serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}\n{}", ran.dump()))
}

fn row<'a>(card: &'a Value, runbook: &str) -> &'a Value {
    card["runbooks"]
        .as_array()
        .expect("runbooks")
        .iter()
        .find(|r| r["runbook"] == runbook)
        .unwrap_or_else(|| panic!("no row for {runbook} in {card:#}"))
}

fn ms(t: &Value) -> i64 {
    t.as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .unwrap_or_else(|| panic!("not a time: {t}"))
        .as_millisecond()
}

#[test]
fn one_row_per_runbook_with_real_failed_and_drill_runs() {
    let sandbox = store_with_runs(GAP_MS);
    let card = scorecard_json(&sandbox, "90d");
    assert_eq!(card["runs"], 4, "{card:#}");
    let names: Vec<&str> = card["runbooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["runbook"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nightly", "restore"]);

    let restore = row(&card, "restore");
    assert_eq!(restore["scenario"], "full-cluster-loss");
    assert_eq!(restore["rto_target_ms"], 60_000);
    assert_eq!(restore["last_real_run"]["status"], "failed");
    assert_eq!(restore["last_real_run"]["verdict"], "failed");
    assert_eq!(restore["last_drill"]["drill"], "render");
    let recent = restore["recent"].as_array().unwrap();
    let verdicts: Vec<&str> = recent
        .iter()
        .map(|p| p["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["met", "failed", "fits"], "{restore:#}");
    // The real success waited on bob: measured human time, and machine time.
    assert!(recent[0]["human_ms"].as_i64().unwrap() > 0, "{restore:#}");
    assert!(
        recent[0]["machine_ms"].as_i64().unwrap() >= 300,
        "{restore:#}"
    );
    // The drill's figure is the projection of a real run from the one
    // successful real run's measured durations, which includes bob's wait
    // at `go`: never the drill's own few milliseconds, never under the
    // measured 0.3 s of `fetch`.
    let drill = &recent[2];
    let projected = drill["rto_ms"].as_i64().unwrap();
    assert!(projected >= 300, "{drill:#}");
    assert!(projected < 60_000, "{drill:#}");
    assert_eq!(drill["human_ms"], restore["recent"][2]["human_ms"]);
    assert!(
        drill["human_ms"].as_i64().unwrap() > 0,
        "the gate counts: {drill:#}"
    );
    assert_eq!(restore["trend"], "unknown", "one successful real run only");
    assert_eq!(restore["stale"], false);

    let nightly = row(&card, "nightly");
    assert_eq!(nightly["last_real_run"], Value::Null);
    assert_eq!(nightly["scenario"], r#"nightly "backup" \ export"#);
    // No history: estimates, 1m + 30s against 10s.
    assert_eq!(nightly["last_drill"]["rto_ms"], 90_000);
    assert_eq!(nightly["last_drill"]["verdict"], "EXCEEDS");
    assert_eq!(nightly["last_drill"]["human_ms"], 30_000);
    assert_eq!(nightly["last_drill"]["machine_ms"], 60_000);
    assert_eq!(nightly["stale"], false);

    // `--max-age` between the two: the nightly drill is older than it, the
    // restore runs are not (GAP_MS apart, with 2 s of slack either way).
    let nightly_at = ms(&nightly["last_drilled_at"]);
    let restore_at = ms(&restore["last_drilled_at"]);
    assert!(restore_at - nightly_at >= GAP_MS as i64);
    let now = jiff::Timestamp::now().as_millisecond();
    let max_age = now - nightly_at - 2_000;
    let card = scorecard_json(&sandbox, &format!("{max_age}ms"));
    assert_eq!(row(&card, "nightly")["stale"], true, "{card:#}");
    assert_eq!(row(&card, "restore")["stale"], false, "{card:#}");

    // The Markdown table: one row each, the stale one flagged.
    let md = sandbox.run(&["scorecard", "--max-age", &format!("{max_age}ms")]);
    md.expect_code(0);
    let rows: Vec<&str> = md.stdout.lines().filter(|l| l.starts_with("| `")).collect();
    assert_eq!(rows.len(), 2, "{}", md.stdout);
    assert!(rows[0].starts_with("| `nightly` | never | "), "{}", rows[0]);
    assert!(
        rows[0].contains("drill: projected 1m30s EXCEEDS (target 10.0s)"),
        "{}",
        rows[0]
    );
    assert!(rows[0].contains("| **STALE**: last "), "{}", rows[0]);
    assert!(rows[1].starts_with("| `restore` | "), "{}", rows[1]);
    assert!(rows[1].contains(" met, "), "{}", rows[1]);
    assert!(
        rows[1].contains(" failed, drill: projected "),
        "{}",
        rows[1]
    );
    assert!(!rows[1].contains("STALE"), "{}", rows[1]);
    assert!(!md.stdout.contains("drill: projected 0ms"), "{}", md.stdout);
}

#[test]
fn the_html_plots_each_runbooks_rto_history_against_its_target() {
    let sandbox = store_with_runs(0);
    let ran = sandbox.run(&["scorecard", "--output", "html"]);
    ran.expect_code(0);
    let html = &ran.stdout;
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(!html.contains("<script"), "no JavaScript needed");
    let restore = section(html, "svg-restore");
    // Two real runs (filled), one drill (hollow), and the dashed target.
    assert_eq!(
        restore.matches("class=\"point real").count(),
        2,
        "{restore}"
    );
    assert_eq!(
        restore.matches("class=\"point drill").count(),
        1,
        "{restore}"
    );
    assert!(restore.contains("class=\"target\""), "{restore}");
    assert!(restore.contains("<title>target 1m00s</title>"), "{restore}");
    // The target line is above the met run's point (SVG y grows down).
    let target_y = attr(restore, "class=\"target\"", "y1");
    let met_y = attr(restore, "class=\"point real met\"", "cy");
    assert!(
        met_y > target_y,
        "met point at {met_y}, target at {target_y}"
    );
    let nightly = section(html, "svg-nightly");
    // The drill exceeds its target: its point is above the target line.
    let target_y = attr(nightly, "class=\"target\"", "y1");
    let drill_y = attr(nightly, "class=\"point drill EXCEEDS\"", "cy");
    assert!(
        drill_y < target_y,
        "drill at {drill_y}, target at {target_y}"
    );
    // Labels are escaped.
    assert!(
        html.contains("Nightly &quot;export&quot; \\ check"),
        "{html}"
    );
}

/// The `<svg id="ID" …>…</svg>` element.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no {id} in {html}"));
    let end = start + html[start..].find("</svg>").expect("</svg>");
    &html[start..end]
}

/// The numeric attribute `name` of the first element with `marker`.
fn attr(svg: &str, marker: &str, name: &str) -> f64 {
    let at = svg
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {svg}"));
    let rest = &svg[at..];
    let key = format!("{name}=\"");
    let from = rest.find(&key).expect("attribute") + key.len();
    rest[from..from + rest[from..].find('"').unwrap()]
        .parse()
        .expect("a number")
}

#[test]
fn an_empty_store_says_how_to_start_and_bad_flags_name_the_fix() {
    let sandbox = Sandbox::new();
    let ran = sandbox.run(&["scorecard"]);
    ran.expect_code(0);
    assert!(
        ran.stdout
            .contains("No runs yet: drill a runbook with `lifeboat run FILE --dry-run`."),
        "{}",
        ran.dump()
    );
    let ran = sandbox.run(&["scorecard", "--max-age", "ninety days"]);
    ran.expect_code(2);
    assert!(ran.stderr.contains("--max-age"), "{}", ran.dump());
}

/// Runs in the S3 store, made on one machine, scored and exported on
/// another that shares nothing but the bucket.
#[tokio::test(flavor = "multi_thread")]
async fn the_scorecard_and_metrics_read_a_shared_store() {
    use util::machine::Machine;
    let s3 = util::s3_api::moto().await;
    let a = Machine::new(&s3, "scored", "alice");
    let b = Machine::new(&s3, "scored", "bob");
    a.sb.write("restore.yaml", util::war_room::RESTORE);
    let ran = a.run(&["run", "restore.yaml"]);
    ran.expect_code(3);
    let id = ran.run_id();
    a.run(&["approve", &id, "go", "--as", "bob"]).expect_code(0);
    a.run(&["resume", &id]).expect_code(0);
    a.run(&["run", "restore.yaml", "--dry-run"]).expect_code(0);

    let ran = b.run(&["scorecard", "--output", "json"]);
    ran.expect_code(0);
    let card: Value =
        serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}\n{}", ran.dump()));
    let restore = row(&card, "restore");
    assert_eq!(restore["last_real_run"]["run_id"], id.as_str(), "{card:#}");
    let verdicts: Vec<&str> = restore["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["met", "fits"], "{card:#}");
    let metrics = b.run(&["metrics"]);
    metrics.expect_code(0);
    assert!(
        metrics.stdout.contains(
            "lifeboat_rto_target_seconds{runbook=\"restore\",scenario=\"full-cluster-loss\",drill=\"true\"} 60\n"
        ),
        "{}",
        metrics.dump()
    );
}
