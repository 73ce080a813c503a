//! `lifeboat note`: a line in the run's journal, while an engine drives
//! the run or not (`deliver.rs`).

use crate::cli::commands::deliver::OpenRun;
use crate::cli::error::{exit, CliError};
use crate::cli::NoteArgs;
use crate::journal::local_run_store::LocalRunStore;
use crate::journal::record::Event;
use crate::journal::state_dir::{operator_name, StateDir};

pub fn run(args: NoteArgs) -> Result<i32, CliError> {
    let state = StateDir::resolve(args.state_dir.as_deref());
    let store = std::sync::Arc::new(LocalRunStore::open(&state.runs(), &args.run_id)?);
    let open = OpenRun::open(store)?;
    let actor = operator_name(args.actor.as_deref());
    let delivery = open.deliver(&actor, Event::Note { text: args.text })?;
    match delivery.note(&args.run_id) {
        Some(by) => println!("noted in run {} {by}", args.run_id),
        None => println!("noted in run {}", args.run_id),
    }
    Ok(exit::SUCCESS)
}
