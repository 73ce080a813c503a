//! A read-only look at a stored run, for the commands that report on it
//! (`status`, `timeline`, `runs`) while an engine may still be driving it.

use std::sync::Arc;

use crate::journal::local_run_store::LocalRunStore;
use crate::journal::record::Record;
use crate::journal::run_store::{RunStore, StoreError};
use crate::journal::state_dir::StateDir;
use crate::report::step_spans::Now;
use crate::runbook::source_file::SourceFile;
use crate::runbook::Runbook;

pub struct RunSnapshot {
    pub records: Vec<Record>,
    /// The run's own copy of its runbook, if it still parses.
    pub runbook: Option<Runbook>,
    pub now: Now,
    /// A torn final line and the like, for the operator.
    pub warnings: Vec<String>,
}

impl RunSnapshot {
    pub fn open(state: &StateDir, run_id: &str) -> Result<Self, StoreError> {
        let store = LocalRunStore::open(&state.runs(), run_id)?;
        let read = store.read()?;
        let runbook = store
            .get_file("runbook.yaml")
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|text| {
                let path = store.dir().join("runbook.yaml");
                crate::runbook::loader::load(Arc::new(SourceFile::new(path, text))).0
            });
        // The lock tells whether an engine is driving the run right now;
        // taking it for an instant does not disturb a later resume.
        let engine_running = matches!(store.lock(), Err(StoreError::Locked { .. }));
        Ok(Self {
            records: read.records,
            runbook,
            now: Now {
                at_ms: jiff::Timestamp::now().as_millisecond(),
                engine_running,
            },
            warnings: read.warnings,
        })
    }
}
