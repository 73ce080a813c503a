//! `lifeboat metrics` through a real Prometheus pushgateway (Debian's
//! `prometheus-pushgateway`, started here on 127.0.0.1) and as a
//! node_exporter textfile, over a store of real, failed and drill runs
//! (`util::war_room`): pushed, scraped, parsed, values and labels checked.

mod util;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use lifeboat_harness::pushgateway::Pushgateway;
use serde_json::Value;
use util::war_room::store_with_runs;

type Labels = BTreeMap<String, String>;

/// A parsed exposition: HELP and TYPE by family, samples in order.
#[derive(Debug, Default)]
struct Exposition {
    help: BTreeMap<String, String>,
    types: BTreeMap<String, String>,
    samples: Vec<(String, Labels, f64)>,
}

impl Exposition {
    /// The one sample of `name` whose labels include `want`.
    fn value(&self, name: &str, want: &[(&str, &str)]) -> f64 {
        let found: Vec<f64> = self
            .samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && want
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.2)
            .collect();
        assert_eq!(found.len(), 1, "{name} {want:?} in {self:#?}");
        found[0]
    }
}

/// The text format, version 0.0.4, with label values unescaped.
fn parse(text: &str) -> Exposition {
    let mut out = Exposition::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            out.help.insert(name.into(), help.into());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            out.types.insert(name.into(), kind.into());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (name, rest) = match line.find('{') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => {
                let (n, v) = line.split_once(' ').expect("name value");
                out.samples
                    .push((n.into(), Labels::new(), v.parse().expect("value")));
                continue;
            }
        };
        let mut labels = Labels::new();
        let mut chars = rest.chars().peekable();
        loop {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            assert_eq!(chars.next(), Some('"'), "label {key} of {line}");
            let mut value = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('n') => value.push('\n'),
                        Some(other) => value.push(other),
                        None => panic!("dangling escape in {line}"),
                    },
                    '"' => break,
                    c => value.push(c),
                }
            }
            labels.insert(key.trim_start_matches(',').to_string(), value);
            match chars.next() {
                Some(',') if chars.peek() == Some(&'}') => {
                    chars.next();
                    break;
                }
                Some(',') => continue,
                Some('}') => break,
                other => panic!("unexpected {other:?} in {line}"),
            }
        }
        let value: String = chars.collect();
        let value = value.split_whitespace().next().expect("value");
        out.samples
            .push((name.into(), labels, value.parse().expect("a number")));
    }
    out
}

const FAMILIES: [&str; 6] = [
    "lifeboat_run_rto_seconds",
    "lifeboat_rto_target_seconds",
    "lifeboat_run_last_success_timestamp_seconds",
    "lifeboat_run_status",
    "lifeboat_run_human_seconds",
    "lifeboat_run_machine_seconds",
];

/// The checks both outputs pass, against what `runs` says of the same store.
fn check(m: &Exposition, runs: &[Value]) {
    for f in FAMILIES {
        assert_eq!(
            m.types.get(f).map(String::as_str),
            Some("gauge"),
            "{f} in {m:#?}"
        );
        assert!(m.help.get(f).is_some_and(|h| !h.is_empty()), "{f} HELP");
    }
    let real = [
        ("runbook", "restore"),
        ("scenario", "full-cluster-loss"),
        ("drill", "false"),
    ];
    let drill = [
        ("runbook", "restore"),
        ("scenario", "full-cluster-loss"),
        ("drill", "true"),
    ];
    let nightly = [
        ("runbook", "nightly"),
        ("scenario", r#"nightly "backup" \ export"#),
        ("drill", "true"),
    ];
    assert_eq!(m.value("lifeboat_rto_target_seconds", &real), 60.0);
    assert_eq!(m.value("lifeboat_rto_target_seconds", &nightly), 10.0);
    // The latest real run failed; the one before it succeeded.
    let status = |labels: &[(&str, &str)], s: &str| {
        let mut l = labels.to_vec();
        l.push(("status", s));
        m.value("lifeboat_run_status", &l)
    };
    assert_eq!(status(&real, "failed"), 1.0);
    assert_eq!(status(&real, "succeeded"), 0.0);
    assert_eq!(status(&drill, "succeeded"), 1.0);
    let of = |pred: &dyn Fn(&Value) -> bool| runs.iter().find(|r| pred(r)).expect("run");
    let success =
        of(&|r| r["runbook"] == "restore" && r["status"] == "succeeded" && r["drill"] == false);
    let finished_at = success["last_event_at"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap();
    assert_eq!(
        m.value("lifeboat_run_last_success_timestamp_seconds", &real),
        finished_at.as_millisecond() as f64 / 1000.0
    );
    let failed = of(&|r| r["runbook"] == "restore" && r["status"] == "failed");
    assert_eq!(
        m.value("lifeboat_run_rto_seconds", &real),
        failed["rto_ms"].as_f64().unwrap() / 1000.0
    );
    // Drills: the projection of a real run, never the drill's own time.
    let restore_drill = of(&|r| r["runbook"] == "restore" && r["drill"] == true);
    let projected = restore_drill["projection"]["projected_rto_ms"]
        .as_f64()
        .unwrap()
        / 1000.0;
    assert_eq!(m.value("lifeboat_run_rto_seconds", &drill), projected);
    assert_ne!(
        projected,
        restore_drill["rto_ms"].as_f64().unwrap() / 1000.0
    );
    assert_eq!(m.value("lifeboat_run_rto_seconds", &nightly), 90.0);
    assert_eq!(m.value("lifeboat_run_human_seconds", &nightly), 30.0);
    assert_eq!(m.value("lifeboat_run_machine_seconds", &nightly), 60.0);
    assert!(m.value("lifeboat_run_human_seconds", &real) >= 0.0);
}

fn runs_json(sandbox: &util::Sandbox) -> Vec<Value> {
    let ran = sandbox.run(&["runs", "--output", "json"]);
    ran.expect_code(0);
    serde_json::from_str(&ran.stdout).expect("runs JSON")
}

#[test]
fn the_textfile_is_written_atomically_for_node_exporter() {
    let sandbox = store_with_runs(0);
    let dir = sandbox.path().join("textfile");
    std::fs::create_dir(&dir).unwrap();
    let ran = sandbox.run(&["metrics", "--textfile", dir.to_str().unwrap()]);
    ran.expect_code(0);
    let file = dir.join("lifeboat.prom");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}\n{}", ran.dump()));
    check(&parse(&text), &runs_json(&sandbox));
    // Readable by node_exporter's user; no temporary file left behind.
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["lifeboat.prom"]);
    // Printed without --textfile or --push: the same text.
    let printed = sandbox.run(&["metrics"]);
    printed.expect_code(0);
    assert_eq!(printed.stdout, text);
    // A directory that is not there: one error naming the fix.
    let ran = sandbox.run(&["metrics", "--textfile", "nowhere"]);
    ran.expect_code(2);
    assert!(ran.stderr.contains("is not a directory"), "{}", ran.dump());
}

#[test]
fn pushed_metrics_are_scraped_back_from_a_real_pushgateway() {
    let gateway = Pushgateway::start().unwrap_or_else(|e| panic!("{e}"));
    let sandbox = store_with_runs(0);
    let ran = sandbox.run(&["metrics", "--push", &gateway.url()]);
    ran.expect_code(0);
    assert!(ran.stderr.contains("metrics: pushed to"), "{}", ran.dump());
    let scraped = gateway.scrape().unwrap();
    let m = parse(&scraped);
    check(&m, &runs_json(&sandbox));
    // The pushgateway adds the grouping label.
    let (_, labels, _) = m
        .samples
        .iter()
        .find(|s| s.0 == "lifeboat_rto_target_seconds")
        .expect("pushed");
    assert_eq!(
        labels.get("job").map(String::as_str),
        Some("lifeboat"),
        "{labels:?}"
    );

    // A run pushes when it stops: the nightly drill again, now with a
    // success after the first push.
    let before = m.value(
        "lifeboat_run_last_success_timestamp_seconds",
        &[("runbook", "nightly"), ("drill", "true")],
    );
    let ran = sandbox.run(&[
        "run",
        "nightly.yaml",
        "--dry-run",
        "--push-metrics",
        &gateway.url(),
    ]);
    ran.expect_code(0);
    assert!(
        ran.stdout.contains("metrics: pushed to http://127.0.0.1:"),
        "{}",
        ran.dump()
    );
    let m = parse(&gateway.scrape().unwrap());
    let after = m.value(
        "lifeboat_run_last_success_timestamp_seconds",
        &[("runbook", "nightly"), ("drill", "true")],
    );
    assert!(after > before, "{before} then {after}");
}

#[test]
fn an_unreachable_pushgateway_is_one_error_without_the_password() {
    let sandbox = util::Sandbox::new();
    // Nothing listens on a port just handed out and never bound.
    let port = lifeboat_harness::tools::free_port();
    let url = format!("http://ops:hunter2-not-shown@127.0.0.1:{port}");
    let no_password = |ran: &util::Ran| {
        assert!(
            !ran.printed().contains("hunter2-not-shown"),
            "{}",
            ran.dump()
        );
    };
    let ran = sandbox.run(&["metrics", "--push", &url]);
    ran.expect_code(1);
    assert!(
        ran.stderr.contains("could not reach the pushgateway"),
        "{}",
        ran.dump()
    );
    no_password(&ran);
    assert_eq!(ran.stderr.matches("error:").count(), 1, "{}", ran.dump());
    // A run still ends as the run did: the push failing only warns.
    sandbox.write("nightly.yaml", util::war_room::NIGHTLY);
    let ran = sandbox.run(&["run", "nightly.yaml", "--dry-run", "--push-metrics", &url]);
    ran.expect_code(0);
    assert!(
        ran.printed().contains("metrics not pushed"),
        "{}",
        ran.dump()
    );
    no_password(&ran);
    let ran = sandbox.run(&["metrics", "--push", "pushgateway:9091"]);
    ran.expect_code(2);
    assert!(
        ran.stderr.contains("is not an http(s) URL"),
        "{}",
        ran.dump()
    );
}
