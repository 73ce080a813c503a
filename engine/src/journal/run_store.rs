//! The storage interface of a run: append records, read them back, keep
//! files beside them, take the run's lock. The scheduler and the commands
//! reach storage only through [`RunStore`].

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::journal::chain::Tail;
use crate::journal::inbox::{InboxEntry, InboxItem};
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

    /// Whether what [`RunStore::append_lazy`] wrote survives a SIGKILL of
    /// the engine before the next sync: true for a local file (the kernel
    /// has it), false for a store that buffers in memory (S3).
    fn lazy_appends_survive_a_kill(&self) -> bool {
        true
    }

    /// Makes everything appended so far durable; a no-op when nothing is
    /// pending. The scheduler calls it before any step's side effect
    /// begins and before it waits, so one fsync covers every record written
    /// since the last one (group commit).
    fn sync(&self) -> Result<(), StoreError>;

    /// Reads the whole journal. A torn final line (a crash mid-write) is
    /// dropped and reported in [`JournalRead::warnings`]; damage anywhere
    /// else is an error.
    fn read(&self) -> Result<JournalRead, StoreError>;

    /// The records after `seq`, reading only what was written since this
    /// store's last read when that read ended at `seq` (a decision command
    /// waiting for the engine to take its entry: on S3, one LIST and a GET
    /// per new object, not the whole journal). Otherwise the whole journal
    /// is read. A line being written right now is read next time.
    fn read_after(&self, seq: u64) -> Result<Vec<Record>, StoreError> {
        Ok(self
            .read()?
            .records
            .into_iter()
            .filter(|r| r.seq > seq)
            .collect())
    }

    /// The journal's bytes as stored, damaged or not, for `lifeboat verify`.
    fn read_raw(&self) -> Result<RawJournal, StoreError> {
        Err(StoreError::Io(
            "this store cannot show its journal's stored bytes".to_string(),
        ))
    }

    /// Takes the run's exclusive lock: one engine drives a run at a time.
    /// The lock is released when the returned guard is dropped.
    fn lock(&self) -> Result<Box<dyn Send + Sync>, StoreError>;

    /// Writes a named file of the run (the runbook copy, its inputs).
    fn put_file(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError>;

    /// Reads a named file of the run.
    fn get_file(&self, name: &str) -> Result<Vec<u8>, StoreError>;

    /// The run's directory on this machine, `state/runs/<id>/`, whatever
    /// the store: timeline files, the work directory, the journal (or its
    /// local copy).
    fn dir(&self) -> &Path;

    /// Takes the run's lock like [`RunStore::lock`]; with `force`, also from
    /// a live holder on another machine (`resume --take-over`). Returns the
    /// guard and whom it was taken from. A local lock belongs to a live
    /// process on this machine and is never taken over: stop that process.
    fn take_over(&self, force: bool) -> Result<TakeOver, StoreError> {
        let _ = force;
        Ok(TakeOver {
            guard: self.lock()?,
            previous: None,
        })
    }

    /// Leaves a decision (an approval, a confirmation, a mark, a note) for
    /// the engine driving the run, without its lock. Each entry gets a new,
    /// unique name, so posting never contends with the driver or with
    /// another poster. Returns the entry's name.
    fn post_decision(&self, entry: &InboxEntry) -> Result<String, StoreError>;

    /// The decisions posted and not yet removed, oldest first.
    fn list_inbox(&self) -> Result<Vec<InboxItem>, StoreError>;

    /// Removes inbox entries by name, once the driver has journalled them
    /// durably (list, journal, then remove: an entry is never lost, and a
    /// crash in between delivers it again).
    fn remove_inbox(&self, names: &[String]) -> Result<(), StoreError>;

    /// What fires when this store learns, between writes, that another
    /// engine drives the run now (see [`LostLease`]); `None` for a store
    /// whose lock cannot be taken from a live holder (a local run).
    fn lost_lease(&self) -> Option<LostLease> {
        None
    }
}

/// Fires when a store learns without writing that it must write nothing
/// more: its lease renewal found the lease taken (a takeover, or the lease
/// expired and another engine claimed it). The scheduler watches it while
/// it waits (at a gate, for a step's result, on the inbox), so an idle
/// engine stops at once instead of at its next journal write.
#[derive(Clone, Default)]
pub struct LostLease {
    fired: CancellationToken,
    /// The store's refusal, as shown: who drives the run now.
    message: Arc<OnceLock<String>>,
}

impl LostLease {
    /// Raises the signal with the store's refusal; only the first counts.
    pub fn fire(&self, error: &StoreError) {
        let _ = self.message.set(error.to_string());
        self.fired.cancel();
    }

    /// Whether the signal was raised: this engine must write nothing more.
    pub fn fired(&self) -> bool {
        self.fired.is_cancelled()
    }

    /// Waits until the signal is raised; returns the store's refusal.
    pub async fn wait(&self) -> String {
        self.fired.cancelled().await;
        self.message.get().cloned().unwrap_or_default()
    }
}

/// What [`RunStore::take_over`] returns.
pub struct TakeOver {
    /// Releases the lock when dropped.
    pub guard: Box<dyn Send + Sync>,
    /// The live driver the lock was taken from, if there was one.
    pub previous: Option<Driver>,
}

/// Who drives a run: the holder of its lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Driver {
    /// The operator's name.
    pub holder: String,
    /// The machine's hostname.
    pub machine: String,
    pub pid: u32,
    /// RFC 3339, UTC: when the lease expires unless it is renewed.
    pub until: String,
}

impl std::fmt::Display for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` on `{}` (pid {}, lease until {})",
            self.holder, self.machine, self.pid, self.until
        )
    }
}

/// What [`RunStore::read`] returns.
#[derive(Debug, Default)]
pub struct JournalRead {
    pub records: Vec<Record>,
    pub warnings: Vec<String>,
    /// The chain head: `sha256:<hex>` of the last record's stored bytes,
    /// when it is chained (`journal/chain.rs`); `None` for an empty or an
    /// unchained journal.
    pub head: Option<String>,
}

impl JournalRead {
    /// Where the journal ends, for a [`crate::journal::Journal`] that
    /// continues it (a resume, a takeover, a decision).
    pub fn tail(&self) -> Tail {
        match self.records.last() {
            None => Tail::empty(),
            Some(last) => Tail {
                seq: last.seq,
                link: self.head.clone(),
            },
        }
    }
}

/// A journal's bytes exactly as stored, for `lifeboat verify`, which reports
/// damage instead of stopping at it.
#[derive(Debug, Default)]
pub struct RawJournal {
    /// In order: the local file, or each group-commit object.
    pub parts: Vec<RawPart>,
    /// What is missing between parts (an object position), for the report.
    pub gaps: Vec<String>,
}

#[derive(Debug)]
pub struct RawPart {
    /// The file's path or the object's URL.
    pub name: String,
    pub bytes: Vec<u8>,
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
    #[error("{}", locked_message(run, driver.as_deref()))]
    Locked {
        run: String,
        /// The lease holder, for a shared store; `None` for a local lock.
        driver: Option<Box<Driver>>,
    },
    #[error("no run `{0}` in the state directory; `lifeboat runs` lists the runs")]
    NotFound(String),
    /// Another writer created the journal position this engine was about
    /// to write: it drives the run now, and this store never writes again.
    #[error("{}", lost_race_message(run, *position, writer.as_deref(), driver.as_deref()))]
    LostRace {
        run: String,
        position: u64,
        /// Who wrote that position, from the object's metadata.
        writer: Option<String>,
        /// Who holds the lease now.
        driver: Option<Box<Driver>>,
    },
    /// This store lost its lease, or a race, or a write of it failed: it
    /// refuses every later write.
    #[error("run `{run}`: {reason}; this engine writes nothing more to it: `lifeboat status {run}` shows where the run is, and `lifeboat resume {run}` continues it once no other engine drives it")]
    Fenced { run: String, reason: String },
    /// The store did not answer within the store timeout. Nothing that was
    /// reported durable is lost; the run can be resumed.
    #[error("the store {store} did not answer for {}s ({cause}); nothing durable is lost: check the network and the store, then `lifeboat resume` the run (`--store-timeout` waits longer)", waited.as_secs())]
    Unreachable {
        store: String,
        waited: Duration,
        cause: String,
    },
    /// The store cannot be used as configured (credentials, bucket,
    /// endpoint, URL): retrying would not help. The message says the fix.
    #[error("{0}")]
    Misconfigured(String),
}

fn locked_message(run: &str, driver: Option<&Driver>) -> String {
    match driver {
        None => format!("run `{run}` is in use by another lifeboat process (a run, resume or decision in progress); wait for it to finish, or stop it with Ctrl-C, and try again"),
        Some(d) => format!("run `{run}` is driven by {d}; wait for that lease to expire, or if that engine is gone, `lifeboat resume {run} --take-over`"),
    }
}

fn lost_race_message(
    run: &str,
    position: u64,
    writer: Option<&str>,
    driver: Option<&Driver>,
) -> String {
    let writer = writer.map_or_else(
        || "another engine".to_string(),
        |w| format!("another engine ({w})"),
    );
    let now = match driver {
        Some(d) => format!("{d} drives the run now"),
        None => "no engine holds the run's lease now".to_string(),
    };
    format!("run `{run}`: {writer} wrote journal position {position} first; {now}. This engine stops and writes nothing more: `lifeboat status {run}` shows where the run is")
}
