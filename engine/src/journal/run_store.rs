//! The storage interface of a run: append records, read them back, keep
//! files beside them, take the run's lock. The scheduler and the commands
//! reach storage only through [`RunStore`].

use crate::journal::record::Record;

/// Where a run's journal and files live. The scheduler reaches storage only
/// through this interface: local files are the embedded default
/// ([`crate::journal::local_run_store::LocalRunStore`]); a shared store (object
/// storage with conditional writes, so responders on different machines can
/// take over a run) implements the same four operations.
pub trait RunStore: Send + Sync {
    /// Appends records. When it returns `Ok`, they are durable (written and
    /// fsynced), together with anything appended by [`RunStore::append_lazy`]
    /// before.
    fn append(&self, records: &[Record]) -> Result<(), StoreError>;

    /// Appends records without waiting for durability. The next
    /// [`RunStore::append`] makes them durable (group commit). Used only for
    /// records whose loss is harmless, e.g. the start of a step that is safe
    /// to run again.
    fn append_lazy(&self, records: &[Record]) -> Result<(), StoreError>;

    /// Makes everything appended so far durable; a no-op when nothing is
    /// pending. The scheduler calls it before any step's side effect
    /// begins and before it waits, so one fsync covers every record written
    /// since the last one (group commit).
    fn sync(&self) -> Result<(), StoreError>;

    /// Reads the whole journal. A torn final line (a crash mid-write) is
    /// dropped and reported in [`JournalRead::warnings`]; damage anywhere
    /// else is an error.
    fn read(&self) -> Result<JournalRead, StoreError>;

    /// Takes the run's exclusive lock: one engine drives a run at a time.
    /// The lock is released when the returned guard is dropped.
    fn lock(&self) -> Result<Box<dyn Send + Sync>, StoreError>;

    /// Writes a named file of the run (the runbook copy, its inputs).
    fn put_file(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError>;

    /// Reads a named file of the run.
    fn get_file(&self, name: &str) -> Result<Vec<u8>, StoreError>;
}

/// What [`RunStore::read`] returns.
#[derive(Debug, Default)]
pub struct JournalRead {
    pub records: Vec<Record>,
    pub warnings: Vec<String>,
}

/// A run store failure, written for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Io(String),
    #[error("the journal `{path}` is damaged at line {line}: {problem}; it is never rewritten in place — copy the run directory aside and inspect the line, or start a new run")]
    Corrupt {
        path: String,
        line: usize,
        problem: String,
    },
    #[error("run `{run}` is in use by another lifeboat process (a run, resume or decision in progress); wait for it to finish, or stop it with Ctrl-C, and try again")]
    Locked { run: String },
    #[error("no run `{0}` in the state directory; `lifeboat runs` lists the runs")]
    NotFound(String),
}
