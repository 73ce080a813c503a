//! One file per subcommand. Each returns the process exit code or a
//! [`CliError`](crate::cli::error::CliError).

use std::path::Path;

pub mod decide;
pub mod deliver;
pub mod graph;
pub mod kinds;
pub mod mark;
pub mod metrics;
pub mod note;
pub mod plan;
pub mod run;
pub mod runs;
pub mod schema;
pub mod scorecard;
pub mod serve;
pub mod status;
pub mod timeline;
pub mod validate;
pub mod verify;

use crate::cli::error::{exit, CliError};
use crate::cli::{Cli, Command};
use crate::runbook::checked_runbook::{load_checked, registry, CheckedRunbook};
use crate::runbook::templates::Templates;

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> Result<i32, CliError> {
    match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Graph(a) => graph::run(a),
        Command::Run(a) => run::run(a),
        Command::Resume(a) => run::resume(a),
        Command::Mark(a) => mark::run(a),
        Command::Approve(a) => decide::approve(a, true),
        Command::Reject(a) => decide::approve(a, false),
        Command::Confirm(a) => decide::confirm(a),
        Command::Note(a) => note::run(a),
        Command::Runs(a) => runs::run(a),
        Command::Status(a) => status::run(a),
        Command::Scorecard(a) => scorecard::run(a),
        Command::Metrics(a) => metrics::run(a),
        Command::Timeline(a) => timeline::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Kinds(a) => kinds::run(a),
        Command::Schema(a) => schema::run(a),
    }
}

/// For commands that need a valid runbook (`plan`, `graph`): the runbook,
/// or every problem printed to stderr and the exit code for an invalid one.
fn load_or_report(path: &Path) -> Result<CheckedRunbook, i32> {
    load_checked(path, &registry(), &Templates::new())
        .map(|(runbook, _)| runbook)
        .map_err(|diagnostics| {
            for d in diagnostics {
                eprint!("{}", d.render());
            }
            exit::INVALID
        })
}
