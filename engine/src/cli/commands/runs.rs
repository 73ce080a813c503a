use crate::cli::error::{exit, CliError};
use crate::cli::{OutputFormat, RunsArgs};
use crate::journal::record::RunStatus;
use crate::journal::run_state::{RunState, StepRecordState};
use crate::report::rto_report::{human_ms, RtoReport, StepShape, Verdict};

pub fn run(args: RunsArgs) -> Result<i32, CliError> {
    let stores = args.location.stores()?;
    let mut rows = Vec::new();
    // Oldest first, as a log reads.
    for id in stores.list()?.into_iter().rev() {
        let Ok(store) = stores.open(&id) else {
            continue;
        };
        let (status, run, rto) = match store.read() {
            Ok(read) => {
                let run = RunState::replay(&read.records, &|_| Vec::new());
                // The critical path is not shown here, so no runbook shape.
                let rto = RtoReport::build(&read.records, &StepShape::default(), None);
                (status_of(&run), Some(run), rto)
            }
            Err(_) => ("damaged".to_string(), None, None),
        };
        rows.push((id, status, run, rto));
    }
    match args.output {
        OutputFormat::Json => {
            let docs: Vec<_> = rows
                .iter()
                .map(|(id, status, run, rto)| {
                    serde_json::json!({
                        "run_id": id,
                        "runbook": run.as_ref().map(|r| r.runbook.clone()),
                        "status": status,
                        "started_at": run.as_ref().map(|r| r.started_at.clone()),
                        "last_event_at": run.as_ref().map(|r| r.last_ts.clone()),
                        "drill": run.as_ref().is_some_and(|r| r.dry_run.is_some()),
                        "rto_ms": rto.as_ref().map(|r| r.achieved_ms),
                        "rto_target_ms": rto.as_ref().and_then(|r| r.target_ms),
                        "rto_met": rto.as_ref().and_then(|r| r.verdict).and_then(|v| match v {
                            Verdict::Met => Some(true),
                            Verdict::Missed => Some(false),
                            Verdict::OnTrack => None,
                        }),
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&docs).unwrap_or_default()
            );
        }
        OutputFormat::Text => {
            if rows.is_empty() {
                println!("no runs in {}", stores.describe());
            } else {
                print_row("RUN", "RUNBOOK", "STATUS", "STARTED (UTC)", "RTO", "");
            }
            for (id, status, run, rto) in rows {
                let (runbook, started, drill) = match &run {
                    Some(r) => (
                        r.runbook.as_str(),
                        r.started_at.get(..19).unwrap_or(""),
                        if r.dry_run.is_some() { "DRILL" } else { "" },
                    ),
                    None => ("?", "", ""),
                };
                let rto = rto.as_ref().map(rto_cell).unwrap_or_default();
                print_row(&id, runbook, &status, started, &rto, drill);
            }
        }
    }
    Ok(exit::SUCCESS)
}

fn print_row(id: &str, runbook: &str, status: &str, started: &str, rto: &str, drill: &str) {
    let line = format!("{id:<48} {runbook:<24} {status:<12} {started:<20} {rto:<24} {drill}");
    println!("{}", line.trim_end());
}

/// `4m12s / 5m00s met`, `35.0s / 30.0s MISSED`, `1m02s` (no target).
fn rto_cell(r: &RtoReport) -> String {
    let achieved = human_ms(r.achieved_ms);
    match (r.target_ms, r.verdict) {
        (Some(t), Some(Verdict::Met)) => format!("{achieved} / {} met", human_ms(t)),
        (Some(t), Some(Verdict::Missed)) => format!("{achieved} / {} MISSED", human_ms(t)),
        (Some(t), _) => format!("{achieved} / {} so far", human_ms(t)),
        (None, _) => achieved,
    }
}

fn status_of(run: &RunState) -> String {
    match run.finished {
        Some(RunStatus::Succeeded) => "succeeded".into(),
        Some(RunStatus::Failed) => "failed".into(),
        None if run
            .steps
            .values()
            .any(|s| matches!(s, StepRecordState::Waiting { .. })) =>
        {
            "waiting".into()
        }
        None => "unfinished".into(),
    }
}
