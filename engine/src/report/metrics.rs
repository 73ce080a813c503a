//! Prometheus metrics from the runs in a store, in the text exposition
//! format (version 0.0.4) that node_exporter's textfile collector and the
//! pushgateway read. Every series has the labels `runbook`, `scenario`
//! (empty when the runbook sets none) and `drill` (`true` for dry runs).
//! A drill's RTO and split are those projected for a real run
//! ([`crate::report::drill_projection`]), never its own few milliseconds.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::report::run_summary::RunSummary;
use crate::report::step_spans::parse_ms;

/// The statuses `lifeboat_run_status` has a series for.
const STATUSES: [&str; 4] = ["succeeded", "failed", "waiting", "unfinished"];

/// One metric family: its name, its HELP text and its samples.
struct Family {
    name: &'static str,
    help: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

/// The exposition text for `runs` (oldest first, as [`RunSummary::list`]
/// returns them): per runbook, scenario and drill, the latest run.
pub fn render(runs: &[RunSummary]) -> String {
    // The runs of each series, oldest first.
    let mut series: BTreeMap<(String, String, bool), Vec<&RunSummary>> = BTreeMap::new();
    for r in runs {
        let Some(runbook) = &r.runbook else { continue };
        let key = (
            runbook.clone(),
            r.scenario.clone().unwrap_or_default(),
            r.drill.is_some(),
        );
        series.entry(key).or_default().push(r);
    }
    let mut rto = family(
        "lifeboat_run_rto_seconds",
        "RTO of the latest finished run: achieved by a real run (drill=\"false\"), projected from history and estimates for a drill (drill=\"true\").",
    );
    let mut target = family(
        "lifeboat_rto_target_seconds",
        "The runbook's RTO target, as its latest run recorded it.",
    );
    let mut success = family(
        "lifeboat_run_last_success_timestamp_seconds",
        "When the latest successful run finished, in seconds since the epoch.",
    );
    let mut status = family(
        "lifeboat_run_status",
        "The latest run's status: 1 for the status it is in, 0 for the others.",
    );
    let mut human = family(
        "lifeboat_run_human_seconds",
        "Time the latest finished run waited on people (a drill: its gates' share of the projection).",
    );
    let mut machine = family(
        "lifeboat_run_machine_seconds",
        "Time the latest finished run spent in machine steps (a drill: the rest of the projection).",
    );
    for ((runbook, scenario, drill), runs) in &series {
        let labels = vec![
            ("runbook", runbook.clone()),
            ("scenario", scenario.clone()),
            ("drill", drill.to_string()),
        ];
        let latest = runs.last().copied();
        let finished = runs.iter().rev().find(|r| r.finished());
        if let Some(ms) = finished.and_then(|r| r.recovery_ms()) {
            rto.samples.push((labels.clone(), seconds(ms)));
        }
        let target_ms = latest
            .and_then(|r| r.projection.as_ref().map(|p| p.target_ms))
            .unwrap_or_else(|| {
                latest
                    .and_then(|r| r.rto.as_ref())
                    .and_then(|r| r.target_ms)
            });
        if let Some(t) = target_ms {
            target.samples.push((labels.clone(), seconds(t)));
        }
        let last_success = runs
            .iter()
            .filter_map(|r| r.succeeded_at.as_deref().and_then(parse_ms))
            .max();
        if let Some(t) = last_success {
            success.samples.push((labels.clone(), seconds(t)));
        }
        if let Some(latest) = latest {
            for s in STATUSES {
                let mut l = labels.clone();
                l.push(("status", s.to_string()));
                status
                    .samples
                    .push((l, if latest.status == s { 1.0 } else { 0.0 }));
            }
        }
        if let Some((h, m)) = finished.and_then(|r| r.human_machine_ms()) {
            human.samples.push((labels.clone(), seconds(h)));
            machine.samples.push((labels, seconds(m)));
        }
    }
    let mut out = String::new();
    for f in [rto, target, success, status, human, machine] {
        if f.samples.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(f.help));
        let _ = writeln!(out, "# TYPE {} gauge", f.name);
        for (labels, value) in &f.samples {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            let _ = writeln!(out, "{}{{{}}} {value}", f.name, labels.join(","));
        }
    }
    out
}

fn family(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        help,
        samples: Vec::new(),
    }
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// A label value: backslash, double quote and line feed escaped.
pub fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// HELP text: backslash and line feed escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("two\nlines"), "two\\nlines");
        assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
    }
}
