//! `lifeboat mark`: a human says whether an interrupted step completed,
//! while an engine drives the run or not (`deliver.rs`).

use crate::cli::commands::deliver::OpenRun;
use crate::cli::error::{exit, CliError};
use crate::cli::{MarkArgs, MarkAs};
use crate::journal::record::{Event, MarkOutcome};

pub fn run(args: MarkArgs) -> Result<i32, CliError> {
    let stores = args.location.stores()?.with_holder(&args.actor);
    let open = OpenRun::open(stores.open(&args.run_id)?)?.with_given_signers(&args.sign);
    let outcome = match args.outcome {
        MarkAs::Done => MarkOutcome::Done,
        MarkAs::Failed => MarkOutcome::Failed,
    };
    let event = Event::Marked {
        step: args.step.clone(),
        outcome,
    };
    let signing = open.sign_and_check(&args.run_id, &args.actor, &event, &args.sign)?;
    let delivery = open.deliver(&args.actor, event, signing.signed)?;
    let (word, meaning) = match outcome {
        MarkOutcome::Done => ("done", "it completed; resume goes on after it"),
        MarkOutcome::Failed => ("failed", "it did not complete; resume runs it again"),
    };
    let head = format!(
        "marked `{}` {word} as {} ({meaning})",
        args.step, args.actor
    );
    match delivery.note(&args.run_id) {
        Some(by) => println!("{head} {by}"),
        None => println!("{head}; continue with: lifeboat resume {}", args.run_id),
    }
    if let Some(line) = signing.line {
        println!("{line}");
    }
    Ok(exit::SUCCESS)
}
