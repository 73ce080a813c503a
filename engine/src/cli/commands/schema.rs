//! `lifeboat schema`: the JSON Schema of the runbook format, for editors.

use crate::cli::error::{exit, CliError};
use crate::cli::SchemaArgs;
use crate::runbook::checked_runbook::registry;
use crate::runbook::runbook_schema::runbook_schema;

pub fn run(_args: SchemaArgs) -> Result<i32, CliError> {
    let schema = runbook_schema(&registry());
    println!(
        "{}",
        serde_json::to_string_pretty(&schema).unwrap_or_default()
    );
    Ok(exit::SUCCESS)
}
