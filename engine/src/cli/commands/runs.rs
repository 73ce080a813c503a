use crate::cli::error::{exit, CliError};
use crate::cli::{OutputFormat, RunsArgs};
use crate::report::run_summary::RunSummary;

pub fn run(args: RunsArgs) -> Result<i32, CliError> {
    let stores = args.location.stores()?;
    let rows = RunSummary::list(&stores)?;
    match args.output {
        OutputFormat::Json => {
            let docs: Vec<_> = rows.iter().map(RunSummary::to_json).collect();
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
            for r in &rows {
                print_row(
                    &r.run_id,
                    r.runbook(),
                    &r.status,
                    r.started(),
                    &r.rto_cell(),
                    if r.drill.is_some() { "DRILL" } else { "" },
                );
            }
        }
    }
    Ok(exit::SUCCESS)
}

fn print_row(id: &str, runbook: &str, status: &str, started: &str, rto: &str, drill: &str) {
    let line = format!("{id:<48} {runbook:<24} {status:<12} {started:<20} {rto:<32} {drill}");
    println!("{}", line.trim_end());
}
