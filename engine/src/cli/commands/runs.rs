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
            for row in &rows {
                let drill = if row.drill() { "DRILL" } else { "" };
                print_row(
                    &row.run_id,
                    row.runbook(),
                    &row.status,
                    row.started(),
                    &row.rto_cell(),
                    drill,
                );
            }
        }
    }
    Ok(exit::SUCCESS)
}

fn print_row(id: &str, runbook: &str, status: &str, started: &str, rto: &str, drill: &str) {
    let line = format!("{id:<48} {runbook:<24} {status:<12} {started:<20} {rto:<24} {drill}");
    println!("{}", line.trim_end());
}
