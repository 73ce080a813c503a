//! One projection: the terminal header, the consoles' `projection` events,
//! `lifeboat status` and `lifeboat plan` project the same finish for the
//! same run, and none of them counts what runs after the RTO clock stops
//! (`rto.stop_at`): the DNS switch after `verify` in the issue's case, whose
//! header once projected half an hour too late.

mod util;

use std::time::{Duration, Instant};

use serde_json::Value;
use util::{exit_code, expect, Sandbox};

/// `verify` stops the RTO clock; the 30-minute DNS switch comes after it.
const GATED: &str = r#"
version: 1
name: projection-agrees
rto: { target: 10m, stop_at: verify }
steps:
  - id: restore
    kind: shell
    estimate: 2m
    with: { run: ["true"] }
  - id: approve
    kind: approval
    needs: [restore]
    estimate: 1m
    with: { prompt: "restored; verify it?" }
  - id: verify
    kind: shell
    needs: [approve]
    estimate: 3m
    with: { run: ["true"] }
  - id: switch_dns
    kind: manual
    needs: [verify]
    estimate: 30m
    with: { instructions: "point DNS at the restored cluster" }
"#;

fn json(ran: &util::Ran) -> Value {
    serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}\n{}", ran.dump()))
}

/// The JSON console's lines.
fn events(ran: &util::Ran) -> Vec<Value> {
    ran.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{}", ran.dump())))
        .collect()
}

/// The `projection` events a run or resume printed, in order.
fn projections(ran: &util::Ran) -> Vec<Value> {
    events(ran)
        .into_iter()
        .filter(|e| e["event"] == "projection")
        .collect()
}

/// The ids along a projection's remaining critical path.
fn path(projection: &Value) -> Vec<String> {
    projection["remaining_path"]
        .as_array()
        .unwrap_or_else(|| panic!("no `remaining_path` in {projection}"))
        .iter()
        .map(|s| s["step"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn ms(ts: &Value) -> i64 {
    let text = ts.as_str().unwrap_or_else(|| panic!("not a time: {ts}"));
    text.parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{e}: {text}"))
        .as_millisecond()
}

#[test]
fn the_console_status_and_plan_count_only_up_to_the_clock_stop() {
    let sb = Sandbox::new();
    sb.write("rb.yaml", GATED);

    // Before the run: up to `verify`, not the DNS switch.
    let plan = json(&sb.run(&["plan", "rb.yaml", "--output", "json"]));
    assert_eq!(plan["estimate_ms"], 360_000, "{plan}");
    assert_eq!(plan["whole_run_estimate_ms"], 2_160_000, "{plan}");

    // Without a terminal the approval pauses the run (exit 3).
    let ran = sb.run(&["run", "rb.yaml", "--output", "json"]);
    ran.expect_code(3);
    let id = events(&ran)[0]["run_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no run id\n{}", ran.dump()))
        .to_string();
    let shown = projections(&ran);
    assert_eq!(shown.len(), 2, "{}", ran.dump());
    // When it starts, the run projects what `plan` estimated.
    assert_eq!(shown[0]["remaining_ms"], plan["estimate_ms"]);
    assert_eq!(path(&shown[0]), ["restore", "approve", "verify"]);
    // When it pauses at the gate: the gate and `verify`, never `switch_dns`.
    let paused = &shown[1];
    assert_eq!(path(paused), ["approve", "verify"], "{paused}");
    assert_eq!(paused["remaining_ms"], 240_000);

    // `status` on the paused run projects the same remaining path, so at
    // the same moment the same finish: its finish is its `now` plus it.
    let status = json(&sb.run(&["status", &id, "--output", "json"]));
    assert_eq!(
        status["remaining_path"], paused["remaining_path"],
        "{status}"
    );
    assert_eq!(status["remaining_ms"], paused["remaining_ms"], "{status}");
    assert_eq!(
        ms(&status["projected_finish"]) - ms(&status["now"]),
        240_000,
        "{status}"
    );
    // The console's projection was made at its pause, before `status` ran.
    let console_now = ms(&paused["projected_finish"]) - 240_000;
    assert!(console_now <= ms(&status["now"]), "{paused}\n{status}");
    assert_eq!(paused["projected_verdict"], status["projected_verdict"]);

    // Approved and resumed: `verify` stops the clock, then the manual DNS
    // switch pauses the run again. Nothing is left to project: the DNS
    // switch runs after the clock stopped.
    sb.run(&["approve", &id, "approve", "--as", "bob"])
        .expect_code(0);
    let resumed = sb.run(&["resume", &id, "--output", "json"]);
    resumed.expect_code(3);
    let shown = projections(&resumed);
    let last = shown
        .last()
        .unwrap_or_else(|| panic!("no projection\n{}", resumed.dump()));
    assert_eq!(path(last), Vec::<String>::new(), "{}", resumed.dump());
    assert_eq!(last["remaining_ms"], 0, "{last}");
    let status = json(&sb.run(&["status", &id, "--output", "json"]));
    assert_eq!(status["rto"]["stop"]["reason"], "stop_at", "{status}");
    assert_eq!(status["remaining_path"], last["remaining_path"], "{status}");
    assert_eq!(status["remaining_ms"], 0, "{status}");
    assert_eq!(status["waiting"][0]["step"], "switch_dns", "{status}");
}

/// `verify` and the DNS switch run until the test lets them finish, so the
/// header can be read while each runs.
const SLOW: &str = r#"
version: 1
name: projection-header
title: Projection header
rto: { target: 10m, stop_at: verify }
steps:
  - id: restore
    kind: shell
    estimate: 2m
    with: { run: ["true"] }
  - id: verify
    kind: shell
    needs: [restore]
    estimate: 3m
    with: { script: "for i in $(seq 1200); do test -e ../../../verify.go && exit 0; sleep 0.1; done; exit 1" }
  - id: switch_dns
    kind: shell
    needs: [verify]
    estimate: 30m
    with: { script: "for i in $(seq 1200); do test -e ../../../dns.go && exit 0; sleep 0.1; done; exit 1" }
"#;

/// The header's `projected finish HH:MM:SS UTC`, as seconds of the day,
/// from a header drawn after `since` and what happened before it.
///
/// The header renders itself once a second; between renders, every redraw
/// of the bars (a spinner's tick, a line printed above them) repeats its
/// last rendering. So headers are read as they come until one arrives 3 s
/// after `since`: that one was rendered after it.
fn header_finish(p: &mut util::Pty, since: Instant) -> i64 {
    use expectrl::Expect;
    loop {
        let found = p
            .expect(expectrl::Regex(
                r"projected finish (\d\d):(\d\d):(\d\d) UTC",
            ))
            .unwrap_or_else(|e| panic!("no header with a projected finish: {e}"));
        if since.elapsed() < Duration::from_secs(3) {
            continue;
        }
        let part = |i: usize| -> i64 {
            let bytes = found.get(i).expect("a capture group");
            String::from_utf8_lossy(bytes).parse().expect("two digits")
        };
        return part(1) * 3600 + part(2) * 60 + part(3);
    }
}

/// The header's stopped RTO clock (seconds) and what follows `│`, from a
/// header drawn 3 s after `since` (see [`header_finish`]).
fn header_stopped_clock(p: &mut util::Pty, since: Instant) -> (i64, String) {
    use expectrl::Expect;
    loop {
        let found = p
            .expect(expectrl::Regex(
                r"RTO clock (\d\d):(\d\d):(\d\d) of \d\d:\d\d:\d\d │ (stopped at [a-z_]+ \([a-z ]+\))",
            ))
            .unwrap_or_else(|e| panic!("no header with a stopped clock: {e}"));
        if since.elapsed() < Duration::from_secs(3) {
            continue;
        }
        let text =
            |i: usize| String::from_utf8_lossy(found.get(i).expect("a capture group")).into_owned();
        let part = |i: usize| -> i64 { text(i).parse().expect("two digits") };
        return (part(1) * 3600 + part(2) * 60 + part(3), text(4));
    }
}

/// Seconds of the day (UTC) of milliseconds since the epoch.
fn second_of_day(ms: i64) -> i64 {
    (ms / 1000).rem_euclid(86_400)
}

/// How far apart two times of day are, across midnight too.
fn apart(a: i64, b: i64) -> i64 {
    let d = (a - b).rem_euclid(86_400);
    d.min(86_400 - d)
}

/// The one run in the sandbox, once its journal has a `step_started` for
/// `step`.
fn started(sb: &Sandbox, step: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let runs = sb.state_dir().join("runs");
        let id = std::fs::read_dir(&runs)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned());
        if let Some(id) = id {
            let journal =
                std::fs::read_to_string(runs.join(&id).join("journal.jsonl")).unwrap_or_default();
            if journal.lines().any(|l| {
                l.contains("\"type\":\"step_started\"")
                    && l.contains(&format!("\"step\":\"{step}\""))
            }) {
                return id;
            }
        }
        assert!(Instant::now() < deadline, "`{step}` never started");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_terminal_header_projects_what_status_projects() {
    let sb = Sandbox::new();
    sb.write("rb.yaml", SLOW);
    let mut p = sb.pty(&["run", "rb.yaml"]);

    // While `verify` runs, both project its start plus its 3 minutes: the
    // header as `now + what remains of verify`, `status` from the journal.
    // Counting the DNS switch would put both half an hour later.
    expect(&mut p, "start    verify");
    let since = Instant::now();
    let id = started(&sb, "verify");
    let status = json(&sb.run(&["status", &id, "--output", "json"]));
    assert_eq!(path(&status), ["verify"], "{status}");
    let header = header_finish(&mut p, since);
    let projected = second_of_day(ms(&status["projected_finish"]));
    assert!(
        apart(header, projected) <= 60,
        "header {header}s, status {projected}s (of the day)\n{status}"
    );

    // While the DNS switch runs, the clock has stopped: nothing is left.
    // The header stops its clock where `status` stopped it, instead of
    // counting on (and calling the run over target) during the DNS switch.
    std::fs::write(sb.state_dir().join("verify.go"), "").unwrap();
    expect(&mut p, "start    switch_dns");
    let since = Instant::now();
    started(&sb, "switch_dns");
    let status = json(&sb.run(&["status", &id, "--output", "json"]));
    assert_eq!(status["rto"]["stop"]["reason"], "stop_at", "{status}");
    assert_eq!(status["remaining_ms"], 0, "{status}");
    let (clock, rest) = header_stopped_clock(&mut p, since);
    let achieved = status["elapsed_ms"].as_i64().expect("elapsed_ms") / 1000;
    assert!(
        (clock - achieved).abs() <= 1,
        "header clock {clock}s, status {achieved}s\n{status}"
    );
    assert_eq!(rest, "stopped at verify (within target)");
    // It stays stopped: a header drawn 3 s later shows the same clock.
    let (later, _) = header_stopped_clock(&mut p, Instant::now());
    assert_eq!(later, clock, "the stopped clock moved on");

    std::fs::write(sb.state_dir().join("dns.go"), "").unwrap();
    assert_eq!(exit_code(p), 0);
}
