use crate::cli::error::{exit, CliError};
use crate::cli::{OutputFormat, StatusArgs};
use crate::report::run_snapshot::RunSnapshot;
use crate::report::run_status::RunStatusView;
use crate::report::step_history::StepHistory;
use crate::terminal_text::printable;

/// `lifeboat status RUN_ID`: the live RTO clock, what runs or waits, and a
/// projected finish (elapsed plus the remaining critical path, with step
/// durations from earlier runs, else `estimate`).
pub fn run(args: StatusArgs) -> Result<i32, CliError> {
    let stores = args.location.stores()?;
    let snap = RunSnapshot::open(&stores, &args.run_id)?;
    let no_start = || {
        CliError::invalid(format!(
            "run `{}` has no start record; its journal is empty or damaged",
            args.run_id
        ))
    };
    let runbook = snap.runbook_name().ok_or_else(no_start)?;
    let history = StepHistory::load(&stores, runbook, Some(&args.run_id));
    let view = RunStatusView::build(&snap, &history).map_err(|_| no_start())?;
    match args.output {
        OutputFormat::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&view.to_json()).unwrap_or_default()
            );
        }
        OutputFormat::Text => {
            // Its lines carry step output and server text (a waiting
            // reason, a rendered prompt): each goes out through
            // `printable`, one line each, and cannot steer the terminal.
            for line in view.text_lines() {
                println!("{}", printable(&line));
            }
        }
    }
    Ok(exit::SUCCESS)
}
