use crate::cli::error::{exit, CliError};
use crate::cli::{OutputFormat, ValidateArgs};
use crate::runbook::checked_runbook::{load_checked, registry};
use crate::runbook::templates::Templates;

pub fn run(args: ValidateArgs) -> Result<i32, CliError> {
    let registry = registry();
    let templates = Templates::new();
    let mut any_error = false;
    let mut reports = Vec::new();
    for file in &args.files {
        let (ok, diagnostics, steps) = match load_checked(file, &registry, &templates) {
            Ok((rb, warnings)) => (true, warnings, rb.steps.len()),
            Err(diags) => (false, diags, 0),
        };
        any_error |= !ok;
        match args.output {
            OutputFormat::Text => {
                for d in &diagnostics {
                    eprint!("{}", d.render());
                    eprintln!();
                }
                let errors = diagnostics.iter().filter(|d| d.is_error()).count();
                if ok {
                    println!("{}: ok ({steps} steps)", file.display());
                } else {
                    eprintln!(
                        "{}: {errors} error{}",
                        file.display(),
                        if errors == 1 { "" } else { "s" }
                    );
                }
            }
            OutputFormat::Json => reports.push(serde_json::json!({
                "file": file.display().to_string(),
                "valid": ok,
                "steps": steps,
                "diagnostics": diagnostics.iter().map(|d| d.to_json()).collect::<Vec<_>>(),
            })),
        }
    }
    if args.output == OutputFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "files": reports }))
                .unwrap_or_default()
        );
    }
    Ok(if any_error {
        exit::INVALID
    } else {
        exit::SUCCESS
    })
}
