use crate::cli::{OutputFormat, RunsArgs};
use crate::cli_error::{exit, CliError};
use crate::journal_record::RunStatus;
use crate::local_run_store::LocalRunStore;
use crate::run_state::{RunState, StepRecordState};
use crate::run_store::RunStore;
use crate::state_dir::StateDir;

pub fn run(args: RunsArgs) -> Result<i32, CliError> {
    let state = StateDir::resolve(args.state_dir.as_deref());
    let mut rows = Vec::new();
    for id in state.run_ids() {
        let Ok(store) = LocalRunStore::open(&state.runs(), &id) else {
            continue;
        };
        let (status, run) = match store.read() {
            Ok(read) => {
                let run = RunState::replay(&read.records, &|_| Vec::new());
                (status_of(&run), Some(run))
            }
            Err(_) => ("damaged".to_string(), None),
        };
        rows.push((id, status, run));
    }
    match args.output {
        OutputFormat::Json => {
            let docs: Vec<_> = rows
                .iter()
                .map(|(id, status, run)| {
                    serde_json::json!({
                        "run_id": id,
                        "runbook": run.as_ref().map(|r| r.runbook.clone()),
                        "status": status,
                        "started_at": run.as_ref().map(|r| r.started_at.clone()),
                        "last_event_at": run.as_ref().map(|r| r.last_ts.clone()),
                        "drill": run.as_ref().is_some_and(|r| r.dry_run.is_some()),
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
                println!("no runs in {}", state.runs().display());
            }
            for (id, status, run) in rows {
                let (runbook, started, drill) = match &run {
                    Some(r) => (
                        r.runbook.as_str(),
                        r.started_at.get(..19).unwrap_or(""),
                        if r.dry_run.is_some() { "DRILL" } else { "" },
                    ),
                    None => ("?", "", ""),
                };
                println!("{id:<48} {runbook:<24} {status:<12} {started:<20} {drill}");
            }
        }
    }
    Ok(exit::SUCCESS)
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
