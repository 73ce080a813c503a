use crate::cli::error::{exit, CliError};
use crate::cli::NoteArgs;
use crate::journal::record::Event;
use crate::journal::run_stores::RunStores;
use crate::journal::state_dir::operator_name;
use crate::journal::Journal;

/// Appends a note. Notes may be added while the run is being driven by
/// another process: they wait for the run's lock for up to ten seconds.
pub fn run(args: NoteArgs) -> Result<i32, CliError> {
    let actor = operator_name(args.actor.as_deref());
    let stores =
        RunStores::resolve(args.store.as_deref(), args.state_dir.as_deref())?.with_holder(&actor);
    let store = stores.open(&args.run_id)?;
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
    Journal::new(store, last, lifeboat_steps::Redactor::new(), &actor)
        .record(Event::Note { text: args.text })?;
    println!("noted in run {}", args.run_id);
    Ok(exit::SUCCESS)
}
