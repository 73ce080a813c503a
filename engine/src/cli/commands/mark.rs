use crate::cli::error::{exit, CliError};
use crate::cli::{MarkArgs, MarkAs};
use crate::journal::record::{Event, MarkOutcome, RunStatus};
use crate::journal::run_state::{RunState, StepRecordState};
use crate::journal::run_stores::RunStores;
use crate::journal::Journal;

pub fn run(args: MarkArgs) -> Result<i32, CliError> {
    let stores = RunStores::resolve(args.store.as_deref(), args.state_dir.as_deref())?
        .with_holder(&args.actor);
    let store = stores.open(&args.run_id)?;
    let _lock = store.lock()?;
    let read = store.read()?;
    let run = RunState::replay(&read.records, &|_| Vec::new());
    if run.finished == Some(RunStatus::Succeeded) {
        // Marking asks to change a step's outcome; a succeeded run has
        // none left to change, so the request is refused (exit 2).
        return Err(CliError::invalid(format!(
            "run `{}` already succeeded; there is nothing to mark (nothing changed)",
            args.run_id
        )));
    }
    match run.steps.get(&args.step) {
        // Interrupted mid-step, whatever happened since (a pause, an earlier
        // mark, a failed run that skipped it): a human may say, or correct,
        // how it ended until it runs again.
        Some(_) if run.unconfirmed.contains_key(&args.step) => {}
        Some(StepRecordState::Waiting { .. } | StepRecordState::Interrupted { .. }) => {}
        Some(other) => {
            return Err(CliError::invalid(format!(
                "step `{}` of run `{}` is not waiting for a decision (it is {}); nothing changed",
                args.step,
                args.run_id,
                describe(other)
            )))
        }
        None => {
            return Err(CliError::invalid(format!(
                "step `{}` of run `{}` has not started; only an interrupted step can be marked",
                args.step, args.run_id
            )))
        }
    }
    let outcome = match args.outcome {
        MarkAs::Done => MarkOutcome::Done,
        MarkAs::Failed => MarkOutcome::Failed,
    };
    let journal = Journal::new(
        store,
        run.last_seq,
        lifeboat_steps::Redactor::new(),
        &args.actor,
    );
    journal.record(Event::Marked {
        step: args.step.clone(),
        outcome,
    })?;
    let (word, meaning) = match outcome {
        MarkOutcome::Done => ("done", "it completed; resume goes on after it"),
        MarkOutcome::Failed => ("failed", "it did not complete; resume runs it again"),
    };
    println!(
        "marked `{}` {word} as {} ({meaning}); continue with: lifeboat resume {}",
        args.step, args.actor, args.run_id
    );
    Ok(exit::SUCCESS)
}

fn describe(state: &StepRecordState) -> &'static str {
    match state {
        StepRecordState::Succeeded { .. } => "succeeded",
        StepRecordState::Failed { .. } => "failed",
        StepRecordState::Skipped { .. } => "skipped",
        StepRecordState::Interrupted { .. } => "interrupted",
        StepRecordState::Waiting { .. } => "waiting",
    }
}
