use lifeboat_steps::duration::format as fmt;

use std::collections::{HashMap, HashSet};

use crate::cli::commands::load_or_report;
use crate::cli::error::{exit, CliError};
use crate::cli::{OutputFormat, PlanArgs};
use crate::journal::run_stores::RunStores;
use crate::report::projection::Projection;
use crate::report::step_history::StepHistory;
use crate::run::input_values;
use crate::run::launcher::lay_out_call_loops;
use crate::runbook::checked_runbook::registry;
use crate::runbook::step::Section;
use crate::runbook::step_graph::StepGraph;
use crate::runbook::templates::Templates;

pub fn run(args: PlanArgs) -> Result<i32, CliError> {
    let runbook = match load_or_report(&args.file) {
        Ok(rb) => rb,
        Err(code) => return Ok(code),
    };
    // The inputs `run` takes are accepted and checked the same way (known,
    // not secret, of the declared type), so the command line of the run to
    // come can be planned first. Only a loop of calls depends on their values.
    let mut values = input_values::given(&runbook, &args.inputs, args.inputs_file.as_deref())?;
    // A loop of calls is planned item by item when the inputs its list
    // reads are given or have defaults, else as one step.
    for decl in &runbook.inputs {
        if let (false, Some(default)) = (values.contains_key(&decl.name), &decl.default) {
            values.insert(decl.name.clone(), default.clone());
        }
    }
    let runbook = lay_out_call_loops(runbook.clone(), &values, &registry(), &Templates::new())
        .unwrap_or(runbook);
    let graph = StepGraph::new(&runbook, Section::Main);
    // Durations measured in earlier runs of this runbook beat estimates.
    let stores = RunStores::resolve(args.store.as_deref(), args.state_dir.as_deref())?;
    let history = StepHistory::load(&stores, &runbook.name, None);
    let levels = graph.levels();
    // The estimate is the projection of a run not yet started: up to where
    // the RTO clock stops (`rto.stop_at`), as `status` projects it.
    let nothing = (HashSet::new(), HashMap::new());
    let to_stop = Projection::of_a_new_run(&runbook, &history);
    let whole = Projection::whole_run(&runbook, &history).remaining(&nothing.0, &nothing.1);
    let path: Vec<usize> = to_stop
        .path
        .iter()
        .filter_map(|r| runbook.step_index(&r.step))
        .collect();
    let total = to_stop.total;
    let stop_at = runbook.rto.as_ref().and_then(|r| r.stop_at.as_deref());
    let unestimated: Vec<&str> = runbook
        .section(Section::Main)
        .filter(|s| history.expected(s).source == "none")
        .map(|s| s.id.as_str())
        .collect();
    let target = runbook.rto.as_ref().map(|r| r.target);
    match args.output {
        OutputFormat::Json => {
            let mut doc = serde_json::json!({
                "runbook": runbook.name,
                "levels": levels.iter().map(|l| l.iter().map(|&i| &runbook.steps[i].id).collect::<Vec<_>>()).collect::<Vec<_>>(),
                "critical_path": path.iter().map(|&i| &runbook.steps[i].id).collect::<Vec<_>>(),
                "estimate_ms": total.as_millis() as u64,
                "stop_at": stop_at,
                "whole_run_estimate_ms": whole.total.as_millis() as u64,
                "rto_target_ms": target.map(|t| t.as_millis() as u64),
                "fits_rto": target.map(|t| total <= t),
                "unestimated_steps": unestimated,
                "history_runs": history.runs,
                "measured_steps": runbook.steps.iter().filter(|s| history.expected(s).source == "history").map(|s| &s.id).collect::<Vec<_>>(),
            });
            // Loops, by step (only when the runbook has any).
            let loops: serde_json::Map<_, _> = runbook
                .steps
                .iter()
                .filter_map(|s| Some((s.id.clone(), s.for_each.as_ref()?.describe().into())))
                .collect();
            if let (Some(doc), false) = (doc.as_object_mut(), loops.is_empty()) {
                doc.insert("for_each".into(), loops.into());
            }
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        OutputFormat::Text => {
            println!("{} — {}", runbook.name, runbook.title);
            if let Some(s) = &runbook.scenario {
                println!("scenario: {s}");
            }
            println!();
            for (n, level) in levels.iter().enumerate() {
                let par = if level.len() > 1 {
                    format!("  ({} in parallel)", level.len())
                } else {
                    String::new()
                };
                println!("level {}{par}", n + 1);
                for &i in level {
                    let s = &runbook.steps[i];
                    // The duration the projection counts (`StepHistory::expected`).
                    let expected = history.expected(s);
                    let est = match expected.source {
                        "history" => format!("{} (m)", fmt(expected.duration)),
                        "none" => "?".into(),
                        _ => fmt(expected.duration),
                    };
                    let mark = if path.contains(&i) { "*" } else { " " };
                    println!(
                        "  {mark} {:<28} {:<22} {est:>8}  {}",
                        s.id,
                        s.kind,
                        s.title.as_deref().unwrap_or("")
                    );
                    if let Some(f) = &s.for_each {
                        println!("      {}", f.describe());
                    }
                }
            }
            for section in [Section::OnFailure, Section::Finally] {
                let ids: Vec<&str> = runbook.section(section).map(|s| s.id.as_str()).collect();
                if !ids.is_empty() {
                    println!("{}: {}", section.as_str(), ids.join(", "));
                }
            }
            println!();
            let ids: Vec<&str> = path.iter().map(|&i| runbook.steps[i].id.as_str()).collect();
            println!("critical path (*): {}", ids.join(" -> "));
            // Steps after the clock stops do not count against the RTO.
            let until = match stop_at {
                Some(stop) if whole.total != total => {
                    format!(" until the RTO clock stops at `{stop}`")
                }
                _ => String::new(),
            };
            match target {
                Some(t) => {
                    let verdict = if total <= t { "fits" } else { "EXCEEDS" };
                    println!(
                        "estimate: {}{until} against an RTO target of {} ({verdict})",
                        fmt(total),
                        fmt(t)
                    );
                }
                None => println!("estimate: {}{until} (no RTO target set)", fmt(total)),
            }
            if !until.is_empty() {
                println!("the whole run: {}", fmt(whole.total));
            }
            if history.runs > 0 {
                println!(
                    "durations marked (m) were measured: the median of {} earlier run(s) of `{}`",
                    history.runs, runbook.name
                );
            }
            if !unestimated.is_empty() {
                println!(
                    "{} step(s) have no `estimate` and count as 0: {}",
                    unestimated.len(),
                    unestimated.join(", ")
                );
            }
        }
    }
    Ok(exit::SUCCESS)
}
