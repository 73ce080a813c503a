use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::json;

use crate::cli::error::{exit, CliError};
use crate::cli::{OutputFormat, StatusArgs};
use crate::journal::record::Event;
use crate::journal::run_state::{RunState, StepRecordState};
use crate::report::drill_projection::DrillProjection;
use crate::report::projection::{ProjectedFinish, Projection, Remaining};
use crate::report::rto_report::{human_ms, RtoReport, StepShape, StopReason};
use crate::report::run_snapshot::RunSnapshot;
use crate::report::step_history::StepHistory;
use crate::report::step_spans::{format_ms, parse_ms};
use crate::runbook::step::{item_id, split_item_id};
use crate::terminal_text::printable;

/// `println!` for the text report: its lines carry step output and server
/// text (a waiting reason, a rendered prompt), so each goes out through
/// [`printable`] (one line each) and cannot steer the terminal.
macro_rules! say {
    ($($arg:tt)*) => {
        println!("{}", printable(&format!($($arg)*)))
    };
}

/// `lifeboat status RUN_ID`: the live RTO clock, what runs or waits, and a
/// projected finish (elapsed plus the remaining critical path, with step
/// durations from earlier runs, else `estimate`).
pub fn run(args: StatusArgs) -> Result<i32, CliError> {
    let stores = args.location.stores()?;
    let snap = RunSnapshot::open(&stores, &args.run_id)?;
    let run = RunState::replay(&snap.records, &|_| Vec::new());
    if run.run_id.is_empty() {
        return Err(CliError::invalid(format!(
            "run `{}` has no start record; its journal is empty or damaged",
            args.run_id
        )));
    }
    let shape = snap.runbook.as_ref().map(StepShape::of).unwrap_or_default();
    let now = snap.now;
    let report = RtoReport::build(&snap.records, &shape, Some(now))
        .ok_or_else(|| CliError::invalid(format!("run `{}` has no start record", args.run_id)))?;
    let finished = report.stop != StopReason::Running;
    let history = StepHistory::load(&stores, &run.runbook, Some(&run.run_id));

    // What is in flight: a started step with no outcome is running if an
    // engine drives the run, else it was interrupted.
    let mut last_start = std::collections::HashMap::new();
    for r in &snap.records {
        if let Event::StepStarted { step, .. } = &r.event {
            last_start.insert(step.clone(), parse_ms(&r.ts).unwrap_or(now.at_ms));
        }
    }
    let mut running: Vec<(String, i64)> = Vec::new();
    let mut interrupted: Vec<String> = Vec::new();
    let mut waiting: Vec<(String, String, Vec<String>)> = Vec::new();
    for (id, s) in &run.steps {
        match s {
            StepRecordState::Interrupted { .. } if now.engine_running => {
                running.push((
                    id.clone(),
                    now.at_ms - last_start.get(id).copied().unwrap_or(now.at_ms),
                ));
            }
            StepRecordState::Interrupted { .. } => interrupted.push(id.clone()),
            StepRecordState::Waiting { reason, commands } => {
                waiting.push((id.clone(), reason.clone(), commands.clone()))
            }
            _ => {}
        }
    }
    running.sort();
    interrupted.sort();
    waiting.sort();

    let projection = ProjectedFinish {
        remaining: if finished {
            Remaining::default()
        } else {
            remaining(&snap, &run, &history, &running)
        },
        now_ms: now.at_ms,
        elapsed_ms: Some(report.achieved_ms),
        target_ms: report.target_ms,
    };
    let status = match (&report.stop, run.finished) {
        (_, Some(s)) => format!("{s:?}").to_lowercase(),
        _ if !waiting.is_empty() => "waiting".into(),
        _ if now.engine_running => "running".into(),
        _ => "interrupted".into(),
    };

    let loops = loop_items(&snap, &run, now.engine_running);
    // A drill's own time is no recovery time: what a real run would take.
    let drill_projection = match (&run.dry_run, &snap.runbook) {
        (Some(mode), Some(rb)) => Some(DrillProjection::of(mode, rb, &history, report.target_ms)),
        _ => None,
    };

    match args.output {
        OutputFormat::Json => {
            let mut doc = json!({
                "run_id": run.run_id,
                "runbook": run.runbook,
                "status": status,
                "drill": run.dry_run.is_some(),
                "engine_running": now.engine_running,
                "now": format_ms(now.at_ms),
                "clock_start": report.clock_start,
                "elapsed_ms": report.achieved_ms,
                "running": running.iter().map(|(s, e)| json!({"step": s, "elapsed_ms": e})).collect::<Vec<_>>(),
                "interrupted": interrupted,
                "waiting": waiting.iter().map(|(s, r, c)| json!({"step": s, "reason": r, "commands": c})).collect::<Vec<_>>(),
                "history_runs": history.runs,
                "rto": report,
                "drill_projection": drill_projection,
            });
            // The items of `for_each` steps, by step (only when there are).
            if let (Some(doc), false) = (doc.as_object_mut(), loops.is_empty()) {
                let items = loops.iter().map(|(step, items)| {
                    let list = items.iter().map(|(key, status)| json!({"step": item_id(step, key), "key": key, "status": status}));
                    (step.clone(), list.collect::<serde_json::Value>())
                });
                doc.insert(
                    "items".into(),
                    items.collect::<serde_json::Map<_, _>>().into(),
                );
            }
            // A run in S3: who drives it, from which machine, until when.
            if let (Some(doc), Some(d)) = (doc.as_object_mut(), &snap.driver) {
                doc.insert(
                    "driver".into(),
                    json!({"holder": d.holder, "machine": d.machine, "pid": d.pid, "lease_until": d.until}),
                );
            }
            // The projection's own fields, as the JSON console shows them;
            // a run whose clock has stopped has no finish left to project.
            if let (Some(doc), serde_json::Value::Object(fields)) =
                (doc.as_object_mut(), projection.to_json())
            {
                doc.extend(fields);
                if finished {
                    doc.insert("projected_finish".into(), serde_json::Value::Null);
                }
            }
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        OutputFormat::Text => {
            let drill = if run.dry_run.is_some() {
                " [DRILL]"
            } else {
                ""
            };
            say!("{} ({}){drill}", run.run_id, run.runbook);
            say!("status:   {status}");
            if let Some(d) = &snap.driver {
                say!("driver:   {d}");
            }
            let since = if report.declared_at.is_some() && report.clock_start != report.run_started
            {
                "declaration"
            } else {
                "run start"
            };
            if finished {
                for (step, items) in &loops {
                    say!("items:    {step}: {}", count_words(items));
                }
                say!(
                    "clock:    stopped at {} ({} since {since})",
                    report.clock_stop,
                    human_ms(report.achieved_ms)
                );
                say!("{}", report.verdict_line());
                if let Some(p) = &drill_projection {
                    say!("a real run: {}", p.line());
                    say!("{}", p.gates_line());
                }
                let s = &report.split;
                say!(
                    "split:    machine {}, waiting on humans {}, interrupted {}{}",
                    human_ms(s.machine_ms),
                    human_ms(s.human_ms),
                    human_ms(s.interrupted_ms),
                    if s.before_start_ms > 0 {
                        format!(", before the run {}", human_ms(s.before_start_ms))
                    } else {
                        String::new()
                    }
                );
                return Ok(exit::SUCCESS);
            }
            for (step, items) in &loops {
                say!("items:    {step}: {}", count_words(items));
            }
            say!(
                "clock:    {} since {since} ({} UTC)",
                human_ms(report.achieved_ms),
                report.clock_start
            );
            for (s, e) in &running {
                say!("running:  {s} ({})", human_ms(*e));
            }
            for s in &interrupted {
                say!(
                    "interrupted: {s} (no engine is running; `lifeboat resume {}` continues)",
                    run.run_id
                );
            }
            for (s, r, c) in &waiting {
                say!("waiting:  {s}: {r}");
                for cmd in c {
                    say!("          {cmd}");
                }
            }
            if !now.engine_running && waiting.is_empty() {
                say!(
                    "no engine is running this run; continue it with `lifeboat resume {}`",
                    run.run_id
                );
            }
            say!("remaining critical path: {}", projection.path_text());
            say!("projected finish: {}", projection.finish_text());
            if !waiting.is_empty() {
                say!("(the projection does not include the time until a human acts)");
            }
            if let Some(p) = &drill_projection {
                say!("a real run: {}", p.line());
                say!("{}", p.gates_line());
            }
            if history.runs > 0 {
                say!("(step durations measured in {} earlier run(s) where available, else `estimate`)", history.runs);
            }
        }
    }
    Ok(exit::SUCCESS)
}

/// The items of each `for_each` step the journal has, in the order they
/// were first journalled, with their status: `(step, [(key, status)])`.
fn loop_items(
    snap: &RunSnapshot,
    run: &RunState,
    engine_running: bool,
) -> Vec<(String, Vec<(String, &'static str)>)> {
    let Some(runbook) = &snap.runbook else {
        return Vec::new();
    };
    let mut loops: Vec<(String, Vec<(String, &'static str)>)> = Vec::new();
    let mut seen = HashSet::new();
    for r in &snap.records {
        let Some(execution) = r.event.step() else {
            continue;
        };
        let Some((id, key)) = split_item_id(execution) else {
            continue;
        };
        if runbook.step(id).is_none_or(|s| s.for_each.is_none()) || !seen.insert(execution) {
            continue;
        }
        let status = match run.steps.get(execution) {
            Some(StepRecordState::Succeeded { .. }) => "succeeded",
            Some(StepRecordState::Failed { .. }) => "failed",
            Some(StepRecordState::Skipped { .. }) => "skipped",
            Some(StepRecordState::Waiting { .. }) => "waiting",
            Some(StepRecordState::Interrupted { .. }) if engine_running => "running",
            _ => "interrupted",
        };
        match loops.iter_mut().find(|(s, _)| s == id) {
            Some((_, items)) => items.push((key.to_string(), status)),
            None => loops.push((id.to_string(), vec![(key.to_string(), status)])),
        }
    }
    loops
}

/// `3 succeeded, 1 running`: how many items are in each status.
fn count_words(items: &[(String, &'static str)]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for (_, status) in items {
        match counts.iter_mut().find(|(s, _)| s == status) {
            Some((_, n)) => *n += 1,
            None => counts.push((status, 1)),
        }
    }
    counts
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What remains of the run, from the one projection (`projection.rs`):
/// succeeded and skipped steps are done; a running step counts for what
/// remains of its expected duration.
fn remaining(
    snap: &RunSnapshot,
    run: &RunState,
    history: &StepHistory,
    running: &[(String, i64)],
) -> Remaining {
    let Some(runbook) = &snap.runbook else {
        return Remaining::default();
    };
    let done: HashSet<String> = run
        .steps
        .iter()
        .filter(|(_, s)| {
            matches!(
                s,
                StepRecordState::Succeeded { .. } | StepRecordState::Skipped { .. }
            )
        })
        .map(|(id, _)| id.clone())
        .collect();
    let running: HashMap<String, Duration> = running
        .iter()
        .map(|(s, e)| (s.clone(), Duration::from_millis((*e).max(0) as u64)))
        .collect();
    Projection::to_clock_stop(runbook, history).remaining(&done, &running)
}
