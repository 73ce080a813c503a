//! `lifeboat note`: a line in the run's journal, while an engine drives
//! the run or not (`deliver.rs`).

use crate::cli::commands::deliver::OpenRun;
use crate::cli::error::{exit, CliError};
use crate::cli::NoteArgs;
use crate::journal::record::Event;
use crate::journal::state_dir::operator_name;

pub fn run(args: NoteArgs) -> Result<i32, CliError> {
    let actor = operator_name(args.actor.as_deref());
    let stores = args.location.stores()?.with_holder(&actor);
    let open = OpenRun::open(stores.open(&args.run_id)?)?;
    let delivery = open.deliver(&actor, Event::Note { text: args.text }, None)?;
    match delivery.note(&args.run_id) {
        Some(by) => println!("noted in run {} {by}", args.run_id),
        None => println!("noted in run {}", args.run_id),
    }
    Ok(exit::SUCCESS)
}
