//! Writes a run's timeline files into its local run directory at the end
//! of an execution (run or resume), while the run's lock is still held.

use std::path::PathBuf;
use std::sync::Arc;

use lifeboat_steps::Redactor;

use crate::journal::local_run_store::write_file;
use crate::journal::run_store::{RunStore, StoreError};
use crate::report::timeline::{render_all, Timeline};
use crate::runbook::source_file::SourceFile;

/// Builds the timeline from the journal and writes `timeline.md`,
/// `timeline.json` and `timeline.html` (mode 0600) into the run's local
/// directory, whatever the store: they are derived, and a run in S3 keeps
/// only its record there. Returns the run directory.
pub fn write(
    store: &dyn RunStore,
    run_id: &str,
    redactor: &Redactor,
) -> Result<PathBuf, StoreError> {
    let read = store.read()?;
    let runbook = store
        .get_file("runbook.yaml")
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|text| {
            let path = store.dir().join("runbook.yaml");
            crate::runbook::loader::load(Arc::new(SourceFile::new(path, text))).0
        });
    let timeline = Timeline::build(&read.records, read.head.as_deref(), runbook.as_ref(), None)
        .ok_or_else(|| StoreError::Io(format!("run `{run_id}` has no start record")))?;
    for (name, text) in render_all(&timeline, redactor) {
        write_file(store.dir(), name, text.as_bytes())?;
    }
    Ok(store.dir().to_path_buf())
}
