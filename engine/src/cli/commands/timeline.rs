use crate::cli::error::{exit, CliError};
use crate::cli::{TimelineArgs, TimelineFormat};
use crate::journal::allowed_signers;
use crate::journal::run_state::RunState;
use crate::report::drill_projection::history_for_drill;
use crate::report::run_snapshot::RunSnapshot;
use crate::report::timeline::Timeline;

/// Prints a run's timeline. Works on a run that is still going: its spans
/// are drawn up to now.
pub fn run(args: TimelineArgs) -> Result<i32, CliError> {
    let stores = args.location.stores()?;
    let snap = RunSnapshot::open(&stores, &args.run_id)?;
    for w in &snap.warnings {
        eprintln!("warning: {w}");
    }
    let history = history_for_drill(&stores, &snap.records);
    let mut timeline = Timeline::build(
        &snap.records,
        snap.head.as_deref(),
        snap.runbook.as_ref(),
        Some(snap.now),
        history.as_ref(),
    )
    .ok_or_else(|| {
        CliError::invalid(format!(
            "run `{}` has no start record; its journal is empty or damaged",
            args.run_id
        ))
    })?;
    // Signatures are verified again when the run's allowed signers file
    // is here; otherwise the timeline shows what was verified when each
    // decision was journalled.
    let run = RunState::replay(&snap.records, &|_| Vec::new());
    match allowed_signers::for_run(
        &args.run_id,
        run.allowed_signers.as_deref(),
        run.allowed_signers_sha256.as_deref(),
        args.signers.allowed_signers.as_deref(),
    ) {
        Ok(Some(signers)) => timeline.verify_signatures(&snap.records, &signers),
        Ok(None) => {}
        Err(e) if args.signers.allowed_signers.is_some() => return Err(CliError::invalid(e)),
        Err(_) => {}
    }
    let text = match args.format {
        TimelineFormat::Md => crate::report::timeline_markdown::render(&timeline),
        TimelineFormat::Json => timeline.to_json(),
        TimelineFormat::Html => crate::report::timeline_html::render(&timeline),
    };
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
    Ok(exit::SUCCESS)
}
