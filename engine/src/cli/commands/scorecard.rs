use crate::cli::error::{exit, CliError};
use crate::cli::{ScorecardArgs, ScorecardFormat};
use crate::report::run_summary::RunSummary;
use crate::report::scorecard::Scorecard;

/// `lifeboat scorecard`: one row per runbook from every run in the store.
pub fn run(args: ScorecardArgs) -> Result<i32, CliError> {
    let stores = args.location.stores()?;
    let runs = RunSummary::list(&stores)?;
    let card = Scorecard::build(
        &runs,
        jiff::Timestamp::now().as_millisecond(),
        args.max_age.as_millis() as i64,
        args.last as usize,
    );
    let text = match args.output {
        ScorecardFormat::Md => crate::report::scorecard_markdown::render(&card),
        ScorecardFormat::Json => card.to_json(),
        ScorecardFormat::Html => crate::report::scorecard_html::render(&card),
    };
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
    Ok(exit::SUCCESS)
}
