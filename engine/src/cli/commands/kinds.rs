use crate::cli::error::{exit, CliError};
use crate::cli::{KindsArgs, OutputFormat};
use crate::runbook::checked_runbook::registry;
use crate::runbook::engine_kind::EngineKind;

pub fn run(args: KindsArgs) -> Result<i32, CliError> {
    let registry = registry();
    let mut rows: Vec<(String, String)> = registry
        .kinds()
        .map(|k| (k.name().to_string(), k.summary().to_string()))
        .collect();
    rows.extend(
        EngineKind::ALL
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string())),
    );
    rows.sort();
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(
                &rows
                    .iter()
                    .map(|(n, s)| serde_json::json!({"kind": n, "summary": s}))
                    .collect::<Vec<_>>()
            )
            .unwrap_or_default()
        ),
        OutputFormat::Text => {
            for (n, s) in rows {
                println!("{n:<24} {s}");
            }
        }
    }
    Ok(exit::SUCCESS)
}
