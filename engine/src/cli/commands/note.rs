use crate::cli::error::{exit, CliError};
use crate::cli::NoteArgs;
use crate::journal::local_run_store::LocalRunStore;
use crate::journal::record::Event;
use crate::journal::run_store::RunStore;
use crate::journal::state_dir::{operator_name, StateDir};
use crate::journal::Journal;

/// Appends a note. Notes may be added while the run is being driven by
/// another process: they wait for the run's lock for up to ten seconds.
pub fn run(args: NoteArgs) -> Result<i32, CliError> {
    let state = StateDir::resolve(args.state_dir.as_deref());
    let store = std::sync::Arc::new(LocalRunStore::open(&state.runs(), &args.run_id)?);
    let mut lock = store.lock();
    for _ in 0..100 {
        if lock.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        lock = store.lock();
    }
    let _lock = lock?;
    let last = store.read()?.records.last().map(|r| r.seq).unwrap_or(0);
    let actor = operator_name(args.actor.as_deref());
    Journal::new(store, last, lifeboat_steps::Redactor::new(), &actor)
        .record(Event::Note { text: args.text })?;
    println!("noted in run {}", args.run_id);
    Ok(exit::SUCCESS)
}
