//! The one way to a run's store: `--store URL`, else `LIFEBOAT_STORE`, else
//! the local state directory (`--state-dir`, `LIFEBOAT_STATE_DIR`, …).
//!
//! Every command and the launcher open runs through [`RunStores`], so a run
//! in S3 and a run on this machine are driven, reported on and decided in
//! by the same code. Either way a run's local directory (timeline files,
//! work directory, the journal or its local copy) is `state/runs/<id>/`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::journal::local_run_store::LocalRunStore;
use crate::journal::run_store::{Driver, RunStore, StoreError};
use crate::journal::s3::{S3RunStore, S3StoreOptions, StoreObserver, DEFAULT_STORE_TIMEOUT};
use crate::journal::state_dir::StateDir;
use crate::journal::store_url::{S3Location, StoreUrl, STORE_ENV};

/// A hidden setting for tests: the S3 lease's time to live (a duration
/// such as `2s`). Operators keep the default.
pub const LEASE_TTL_ENV: &str = "LIFEBOAT_LEASE_TTL";

/// Where runs live, resolved once from the command line and environment.
#[derive(Clone)]
pub struct RunStores {
    /// The local state directory: the whole store for a local run, the
    /// local copies for a run in S3.
    pub state: StateDir,
    /// `Some` for a shared store in S3.
    s3: Option<S3Location>,
    holder: String,
    store_timeout: Duration,
    observer: Option<StoreObserver>,
}

/// Whether an engine drives a run right now, as far as the store can tell
/// without taking anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrivenBy {
    Nobody,
    /// A process on this machine holds the local lock.
    LocalProcess,
    /// The live lease holder of a run in S3.
    Lease(Driver),
}

impl RunStores {
    /// `--store`, else `LIFEBOAT_STORE`, else the local state directory
    /// (`--state-dir`, `LIFEBOAT_STATE_DIR`, XDG, `~/.local/state`). A plain
    /// path as the store is the local state directory it names.
    pub fn resolve(store: Option<&str>, state_dir: Option<&Path>) -> Result<Self, StoreError> {
        let url = match store {
            Some(text) => Some(text.to_string()),
            None => std::env::var(STORE_ENV).ok().filter(|s| !s.is_empty()),
        };
        let (state, s3) = match url.as_deref().map(StoreUrl::parse).transpose()? {
            None => (StateDir::resolve(state_dir), None),
            Some(StoreUrl::Local(path)) => (StateDir { root: path }, None),
            Some(StoreUrl::S3(location)) => (StateDir::resolve(state_dir), Some(location)),
        };
        Ok(Self {
            state,
            s3,
            holder: crate::journal::state_dir::operator_name(None),
            store_timeout: DEFAULT_STORE_TIMEOUT,
            observer: None,
        })
    }

    /// The operator named in the lease and on every object written.
    pub fn with_holder(mut self, holder: &str) -> Self {
        self.holder = holder.to_string();
        self
    }

    /// How long an unreachable store is retried (`--store-timeout`).
    pub fn with_store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// Told of retries and recoveries (the console, while a run executes).
    pub fn with_observer(mut self, observer: StoreObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Where runs are, for messages: the S3 URL or the local runs directory.
    pub fn describe(&self) -> String {
        match &self.s3 {
            Some(location) => location.url("runs"),
            None => self.state.runs().display().to_string(),
        }
    }

    /// A run's local directory.
    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.state.runs().join(run_id)
    }

    fn options(&self, run_id: &str) -> S3StoreOptions {
        let mut options = S3StoreOptions::new(&self.holder, &self.run_dir(run_id));
        options.store_timeout = self.store_timeout;
        options.observer = self.observer.clone();
        if let Some(ttl) = std::env::var(LEASE_TTL_ENV)
            .ok()
            .and_then(|t| humantime::parse_duration(&t).ok())
        {
            options.lease_ttl = ttl;
        }
        options
    }

    /// A store for a new run.
    pub fn create(&self, run_id: &str) -> Result<Arc<dyn RunStore>, StoreError> {
        Ok(match &self.s3 {
            None => Arc::new(LocalRunStore::create(&self.state.runs(), run_id)?),
            Some(location) => {
                let store = S3RunStore::create(location, run_id, self.options(run_id))?;
                make_work_dir(&self.run_dir(run_id))?;
                mark_remote(&self.run_dir(run_id), location)?;
                Arc::new(store)
            }
        })
    }

    /// The store of an existing run: [`StoreError::NotFound`] without one.
    pub fn open(&self, run_id: &str) -> Result<Arc<dyn RunStore>, StoreError> {
        Ok(match &self.s3 {
            None => Arc::new(LocalRunStore::open(&self.state.runs(), run_id)?),
            Some(location) => {
                let store = S3RunStore::open(location, run_id, self.options(run_id))?;
                // Another machine's run gets its local directory here.
                make_work_dir(&self.run_dir(run_id))?;
                mark_remote(&self.run_dir(run_id), location)?;
                Arc::new(store)
            }
        })
    }

    /// Run ids, newest first.
    pub fn list(&self) -> Result<Vec<String>, StoreError> {
        match &self.s3 {
            None => Ok(self.state.run_ids().into_iter().rev().collect()),
            Some(location) => {
                let mut ids = S3RunStore::list_runs(location, self.options("runs"))?;
                // Ids end in `-YYYYMMDD-HHMMSS-xxxx`: sort by that time.
                ids.sort_by(|a, b| started_key(b).cmp(started_key(a)).then(b.cmp(a)));
                Ok(ids)
            }
        }
    }

    /// Whether an engine drives the run, without taking its lock or lease:
    /// a reader is never in the way of an engine taking the lock.
    pub fn driver(&self, run_id: &str) -> Result<DrivenBy, StoreError> {
        match &self.s3 {
            None => {
                let store = LocalRunStore::open(&self.state.runs(), run_id)?;
                Ok(if store.is_locked() {
                    DrivenBy::LocalProcess
                } else {
                    DrivenBy::Nobody
                })
            }
            Some(location) => {
                let store = S3RunStore::open(location, run_id, self.options(run_id))?;
                Ok(match store.driver()? {
                    Some(driver) => DrivenBy::Lease(driver),
                    None => DrivenBy::Nobody,
                })
            }
        }
    }
}

/// `20261201-121508` from `name-20261201-121508-ab12`, for ordering.
fn started_key(id: &str) -> &str {
    let parts: Vec<&str> = id.rsplitn(4, '-').collect();
    match parts.as_slice() {
        [_, time, date, _] => &id[id.len() - parts[0].len() - time.len() - date.len() - 2..],
        _ => "",
    }
}

/// Marks a run's local directory as the copy of a run in `location`, so
/// that the local store refuses to drive it as a local run (which would
/// run its steps a second time beside the shared run).
fn mark_remote(dir: &std::path::Path, location: &S3Location) -> Result<(), StoreError> {
    let path = dir.join(crate::journal::local_run_store::REMOTE_MARKER);
    if path.is_file() {
        return Ok(());
    }
    std::fs::write(&path, format!("{location}\n"))
        .map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))
}

/// The work directory of a run in S3 (the local store makes its own).
fn make_work_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir.join("work"))
        .map_err(|e| StoreError::Io(format!("cannot create `{}`: {e}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_in_s3_sort_by_their_start_time() {
        assert_eq!(
            started_key("db-restore-20261201-121508-ab12"),
            "20261201-121508-ab12"
        );
        assert_eq!(started_key("x"), "");
    }
}
