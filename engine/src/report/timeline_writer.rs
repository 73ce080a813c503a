//! Writes a run's timeline files into its local run directory at the end
//! of an execution (run or resume), while the run's lock is still held.

use std::path::PathBuf;

use lifeboat_steps::Redactor;

use crate::journal::local_run_store::write_file;
use crate::journal::run_store::{RunStore, StoreError};
use crate::journal::run_stores::RunStores;
use crate::report::drill_projection::history_for_drill;
use crate::report::run_snapshot::stored_runbook;
use crate::report::timeline::{render_all, Timeline};

/// Builds the timeline from the journal and writes `timeline.md`,
/// `timeline.json` and `timeline.html` (mode 0600) into the run's local
/// directory, whatever the store: they are derived, and a run in S3 keeps
/// only its record there. Returns the run directory.
pub fn write(
    store: &dyn RunStore,
    run_id: &str,
    redactor: &Redactor,
) -> Result<PathBuf, StoreError> {
    write_with(store, run_id, redactor, None)
}

/// [`write`], where a drill's projection reads the real runs in `stores`.
pub fn write_with(
    store: &dyn RunStore,
    run_id: &str,
    redactor: &Redactor,
    stores: Option<&RunStores>,
) -> Result<PathBuf, StoreError> {
    let read = store.read()?;
    let runbook = stored_runbook(store);
    let history = stores.and_then(|s| history_for_drill(s, &read.records));
    let timeline = Timeline::build(
        &read.records,
        read.head.as_deref(),
        runbook.as_ref(),
        None,
        history.as_ref(),
    )
    .ok_or_else(|| StoreError::Io(format!("run `{run_id}` has no start record")))?;
    for (name, text) in render_all(&timeline, redactor) {
        write_file(store.dir(), name, text.as_bytes())?;
    }
    Ok(store.dir().to_path_buf())
}
