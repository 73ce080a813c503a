//! A read-only look at a stored run, for the commands that report on it
//! (`status`, `timeline`, `runs`) while an engine may still be driving it.

use std::sync::Arc;

use crate::journal::record::Record;
use crate::journal::run_store::{Driver, RunStore, StoreError};
use crate::journal::run_stores::{DrivenBy, RunStores};
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
    /// The live lease holder of a run in S3.
    pub driver: Option<Driver>,
    /// The journal's chain head (`None`: unchained).
    pub head: Option<String>,
}

impl RunSnapshot {
    pub fn open(stores: &RunStores, run_id: &str) -> Result<Self, StoreError> {
        let store = stores.open(run_id)?;
        let read = store.read()?;
        let runbook = stored_runbook(&*store);
        // Whether an engine is driving the run right now: never by taking
        // a lease, which would stop its driver.
        let driven_by = stores.driver(run_id)?;
        let engine_running = driven_by != DrivenBy::Nobody;
        let driver = match driven_by {
            DrivenBy::Lease(driver) => Some(driver),
            _ => None,
        };
        Ok(Self {
            records: read.records,
            runbook,
            now: Now {
                at_ms: jiff::Timestamp::now().as_millisecond(),
                engine_running,
            },
            warnings: read.warnings,
            driver,
            head: read.head,
        })
    }

    /// The name of the runbook the run started, from its first record.
    pub fn runbook_name(&self) -> Option<&str> {
        match &self.records.first()?.event {
            crate::journal::record::Event::RunStarted { runbook, .. } => Some(runbook),
            _ => None,
        }
    }
}

/// The run's own copy of its runbook (`runbook.yaml` in the store), if it
/// is still there and parses.
pub fn stored_runbook(store: &dyn RunStore) -> Option<Runbook> {
    let text = String::from_utf8(store.get_file("runbook.yaml").ok()?).ok()?;
    let path = store.dir().join("runbook.yaml");
    crate::runbook::loader::load(Arc::new(SourceFile::new(path, text))).0
}
