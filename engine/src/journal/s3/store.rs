//! [`S3RunStore`]: a run's journal, files, lease and inbox in S3.
//!
//! ```text
//! PREFIX/runs/<run id>/
//!   journal/<20-digit position>.jsonl   one object per group commit, create-only
//!   files/<name>                        runbook.yaml, runbook.sha256, inputs.json
//!   lease.json                          who drives the run, until when
//!   inbox/<time>-<random>.json          decisions left for the driver, create-only
//! ```
//!
//! **Positions fence writers.** The store remembers the position after the
//! journal as it last read it; once it has written, only its own writes
//! move that position. Every journal object is created with
//! `If-None-Match: *`, so a write lands only if nobody wrote that position
//! since: its records follow exactly the records this engine has seen, and
//! their sequence numbers cannot clash. A 412 means another writer took the
//! position; the store then refuses every later write
//! ([`StoreError::LostRace`], then [`StoreError::Fenced`]). Taking the lease
//! claims the next position with an empty object, so a stale holder that
//! still believes it drives the run fails at its very next write.
//!
//! A local copy of the journal (`journal.jsonl` in the directory the store
//! is given, in the local store's format) gets every committed object, and
//! the journal as read at each read if that is longer (`LocalCopy`: one
//! short local lock, so that several processes on one machine keep one
//! copy that only grows), so the operator always has the record in front
//! of them.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::journal::inbox::{self, InboxEntry, InboxItem};
use crate::journal::local_run_store::{
    self, encode_line, parse_journal, parse_journal_from, JOURNAL_FILE,
};
use crate::journal::record::Record;
use crate::journal::run_store::{
    Driver, JournalRead, LostLease, RawJournal, RawPart, RunStore, StoreError, TakeOver,
};
use crate::journal::s3::client::{self, Condition, Put, S3Client, StoreObserver};
use crate::journal::s3::lease::{self, Held, Lease, LeaseGuard};
use crate::journal::store_url::S3Location;

/// The default `--store-timeout`: how long the store may stay unreachable
/// before the engine stops, resumably.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(120);
/// The default time to live of a lease; it is renewed every third of it.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

/// How many times taking the lease re-reads the journal to claim a
/// position another writer took first.
const CLAIM_ATTEMPTS: usize = 20;
/// How many journal objects are read at once.
const PARALLEL_READS: usize = 16;

/// How an [`S3RunStore`] is opened.
#[derive(Clone)]
pub struct S3StoreOptions {
    /// The operator this engine acts for: named in the lease and on every
    /// journal object it writes.
    pub holder: String,
    /// Where the local copy of the journal (and of the run's files) is
    /// kept, created 0700 if needed.
    pub local_dir: PathBuf,
    /// An S3-compatible endpoint; `None` for AWS S3. Default:
    /// `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// How long requests are retried before [`StoreError::Unreachable`].
    pub store_timeout: Duration,
    pub lease_ttl: Duration,
    /// Told of retries and of local copy failures (the console).
    pub observer: Option<StoreObserver>,
}

impl S3StoreOptions {
    pub fn new(holder: &str, local_dir: &Path) -> Self {
        let endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|e| !e.is_empty()));
        Self {
            holder: holder.to_string(),
            local_dir: local_dir.to_path_buf(),
            endpoint,
            store_timeout: DEFAULT_STORE_TIMEOUT,
            lease_ttl: DEFAULT_LEASE_TTL,
            observer: None,
        }
    }
}

/// Who writes: named in the lease and in every journal object's metadata.
pub(crate) struct Identity {
    pub holder: String,
    pub machine: String,
    pub pid: u32,
}

impl Identity {
    /// `alice on laptop-a (pid 4242)`, in printable ASCII (an HTTP header).
    fn label(&self) -> String {
        format!("{} on {} (pid {})", self.holder, self.machine, self.pid)
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect()
    }
}

/// What the store, its lease guard and the renewal task share.
pub(crate) struct Shared {
    pub client: S3Client,
    pub run_id: String,
    pub identity: Identity,
    pub lease_ttl: Duration,
    /// The lease this store holds, if any. Renewals hold the lock across
    /// their request, so two never race each other.
    pub lease: tokio::sync::Mutex<Option<Held>>,
    /// Why this store writes nothing more, once it must not.
    fenced: Mutex<Option<String>>,
    /// Fired by the renewal task when it finds the lease taken, so the
    /// scheduler stops without waiting for its next write.
    pub lost: LostLease,
}

impl Shared {
    /// The key of `rel` in this run.
    pub fn key(&self, rel: &str) -> String {
        format!("runs/{}/{rel}", self.run_id)
    }

    pub fn is_fenced(&self) -> bool {
        self.fenced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Refuses every later write, and says why.
    pub fn fence(&self, reason: String) -> StoreError {
        let mut fenced = self.fenced.lock().unwrap_or_else(|e| e.into_inner());
        fenced.get_or_insert(reason.clone());
        let error = StoreError::Fenced {
            run: self.run_id.clone(),
            reason,
        };
        // Fenced by a write (a lost race, a lease found taken) or by the
        // renewal: either way the engine has lost the run.
        self.lost.fire(&error);
        error
    }

    fn check_not_fenced(&self) -> Result<(), StoreError> {
        match &*self.fenced.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(reason) => Err(StoreError::Fenced {
                run: self.run_id.clone(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }
}

/// The journal's writing state.
#[derive(Default)]
struct Writer {
    /// The position the next journal object takes; `None` until the
    /// journal was read or this store wrote.
    next: Option<u64>,
    /// Set once this store has written (or claimed) a position: from then
    /// on only its own writes move `next`.
    pinned: bool,
    /// Lines appended lazily and not yet committed.
    pending: Vec<u8>,
}

/// A run kept in S3. See the module documentation.
pub struct S3RunStore {
    shared: Arc<Shared>,
    writer: Mutex<Writer>,
    local: LocalCopy,
    /// Where the last read ended: the next position and the last record's
    /// sequence number, for [`RunStore::read_after`].
    tail: Mutex<Option<(u64, u64)>>,
}

fn position_key(position: u64) -> String {
    format!("journal/{position:020}.jsonl")
}

fn parse_position(key: &str) -> Option<u64> {
    let name = key.rsplit('/').next()?.strip_suffix(".jsonl")?;
    (name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.parse().ok())
        .flatten()
}

/// Every journal object of the run, in position order, with its position
/// (gaps included: [`S3RunStore::read_locked`] refuses them, `verify`
/// reports them).
async fn journal_objects(shared: &Arc<Shared>) -> Result<(Vec<u64>, Vec<Vec<u8>>), StoreError> {
    let keys = shared.client.list(&shared.key("journal/")).await?;
    let positions: Vec<u64> = keys.iter().filter_map(|k| parse_position(k)).collect();
    let mut bodies: Vec<Vec<u8>> = Vec::with_capacity(positions.len());
    for chunk in positions.chunks(PARALLEL_READS) {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, position) in chunk.iter().enumerate() {
            let shared = shared.clone();
            let key = shared.key(&position_key(*position));
            tasks.spawn(async move { (i, shared.client.get(&key).await) });
        }
        let mut got: Vec<Option<Vec<u8>>> = vec![None; chunk.len()];
        while let Some(done) = tasks.join_next().await {
            let (i, object) =
                done.map_err(|e| StoreError::Io(format!("a journal read failed: {e}")))?;
            got[i] = Some(object?.map(|o| o.bytes).unwrap_or_default());
        }
        bodies.extend(got.into_iter().map(Option::unwrap_or_default));
    }
    Ok((positions, bodies))
}

impl S3RunStore {
    /// A store for a new run. Fails when a journal already exists for
    /// `run_id`.
    pub fn create(
        location: &S3Location,
        run_id: &str,
        options: S3StoreOptions,
    ) -> Result<Self, StoreError> {
        let store = Self::connect(location, run_id, options)?;
        let shared = store.shared.clone();
        let existing =
            client::run(async move { shared.client.list(&shared.key("journal/")).await })??;
        if !existing.is_empty() {
            return Err(StoreError::Io(format!(
                "run `{run_id}` already exists in the store `{location}`; `lifeboat resume {run_id}` continues it"
            )));
        }
        store.writer.lock().unwrap_or_else(|e| e.into_inner()).next = Some(1);
        store.local.replace(b"");
        Ok(store)
    }

    /// A store for an existing run: [`StoreError::NotFound`] without a
    /// journal.
    pub fn open(
        location: &S3Location,
        run_id: &str,
        options: S3StoreOptions,
    ) -> Result<Self, StoreError> {
        let store = Self::connect(location, run_id, options)?;
        let shared = store.shared.clone();
        let existing =
            client::run(async move { shared.client.list(&shared.key("journal/")).await })??;
        if existing.is_empty() {
            return Err(StoreError::NotFound(run_id.to_string()));
        }
        Ok(store)
    }

    fn connect(
        location: &S3Location,
        run_id: &str,
        options: S3StoreOptions,
    ) -> Result<Self, StoreError> {
        if run_id.is_empty()
            || !run_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            || run_id.starts_with('.')
        {
            return Err(StoreError::Io(format!(
                "`{run_id}` is not a run id (letters, digits, `-`, `_` and `.`); `lifeboat runs` lists the runs"
            )));
        }
        let local = LocalCopy::new(&options.local_dir, options.observer.clone());
        let location = location.clone();
        let S3StoreOptions {
            holder,
            endpoint,
            store_timeout,
            lease_ttl,
            observer,
            ..
        } = options;
        let client = client::run(async move {
            S3Client::connect(location, endpoint, store_timeout, observer).await
        })??;
        Ok(Self {
            shared: Arc::new(Shared {
                client,
                run_id: run_id.to_string(),
                identity: Identity {
                    holder,
                    machine: inbox::machine_name(),
                    pid: std::process::id(),
                },
                // Renewed every third of it: a zero would spin.
                lease_ttl: lease_ttl.max(Duration::from_secs(1)),
                lease: tokio::sync::Mutex::new(None),
                fenced: Mutex::new(None),
                lost: LostLease::default(),
            }),
            writer: Mutex::new(Writer::default()),
            local,
            tail: Mutex::new(None),
        })
    }

    /// The run ids under `location`.
    pub fn list_runs(
        location: &S3Location,
        options: S3StoreOptions,
    ) -> Result<Vec<String>, StoreError> {
        let location = location.clone();
        client::run(async move {
            let client = S3Client::connect(
                location,
                options.endpoint,
                options.store_timeout,
                options.observer,
            )
            .await?;
            let keys = client.list("runs/").await?;
            let mut runs: Vec<String> = keys
                .iter()
                .filter_map(|k| {
                    let rest = k.strip_prefix("runs/")?;
                    let (run, tail) = rest.split_once('/')?;
                    tail.starts_with("journal/").then(|| run.to_string())
                })
                .collect();
            runs.dedup();
            Ok(runs)
        })?
    }

    /// The live lease holder, without taking anything: for `status`.
    pub fn driver(&self) -> Result<Option<Driver>, StoreError> {
        let shared = self.shared.clone();
        client::run(async move { lease::driver(&shared).await })?
    }

    /// The lease as stored, live or not.
    pub fn lease(&self) -> Result<Option<Lease>, StoreError> {
        let shared = self.shared.clone();
        client::run(async move { Ok(lease::read(&shared).await?.map(|(l, _)| l)) })?
    }

    /// The directory of the local copy.
    pub fn local_dir(&self) -> &Path {
        &self.local.dir
    }

    /// Takes the lease (see [`RunStore::take_over`]), claims the next
    /// journal position, and starts renewing.
    fn acquire(&self, force: bool) -> Result<TakeOver, StoreError> {
        self.shared.check_not_fenced()?;
        let shared = self.shared.clone();
        let previous = client::run(async move { lease::acquire(&shared, force).await })??;
        let guard = LeaseGuard::start(self.shared.clone())?;
        self.claim()?;
        Ok(TakeOver {
            guard: Box::new(guard),
            previous,
        })
    }

    /// Creates an empty journal object at the position after the journal as
    /// it stands, re-reading when another writer is quicker, so that every
    /// earlier holder's next write fails.
    fn claim(&self) -> Result<(), StoreError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..CLAIM_ATTEMPTS {
            let shared = self.shared.clone();
            let label = shared.identity.label();
            let claimed = client::run(async move {
                let keys = shared.client.list(&shared.key("journal/")).await?;
                let next = keys
                    .iter()
                    .filter_map(|k| parse_position(k))
                    .max()
                    .unwrap_or(0)
                    + 1;
                let key = shared.key(&position_key(next));
                let put = shared
                    .client
                    .put(&key, Vec::new(), Condition::Absent, Some(&label))
                    .await?;
                Ok::<_, StoreError>(match put {
                    Put::Done(_) => Some(next),
                    Put::ConditionFailed => None,
                })
            })??;
            if let Some(position) = claimed {
                writer.next = Some(position + 1);
                writer.pinned = true;
                return Ok(());
            }
        }
        Err(self.shared.fence(format!(
            "other writers kept writing the journal while this engine tried to claim a position {CLAIM_ATTEMPTS} times"
        )))
    }

    /// Commits `body` (whole lines) as the next journal object.
    fn commit(&self, writer: &mut Writer, body: Vec<u8>) -> Result<(), StoreError> {
        self.shared.check_not_fenced()?;
        let position = match writer.next {
            Some(position) => position,
            None => {
                self.read_locked(writer)?;
                writer.next.unwrap_or(1)
            }
        };
        let shared = self.shared.clone();
        let sent = body.clone();
        let outcome = client::run(async move {
            lease::ensure_valid(&shared).await?;
            let key = shared.key(&position_key(position));
            let label = shared.identity.label();
            match shared
                .client
                .put(&key, sent.clone(), Condition::Absent, Some(&label))
                .await?
            {
                Put::Done(_) => Ok(()),
                Put::ConditionFailed => {
                    let object = shared.client.get(&key).await?;
                    // Our own earlier attempt landed, its answer lost.
                    if object.as_ref().is_some_and(|o| o.bytes == sent) {
                        return Ok(());
                    }
                    Err(StoreError::LostRace {
                        run: shared.run_id.clone(),
                        position,
                        writer: object.and_then(|o| o.writer),
                        driver: lease::driver(&shared).await.ok().flatten().map(Box::new),
                    })
                }
            }
        });
        match outcome.and_then(|r| r) {
            Ok(()) => {
                writer.next = Some(position + 1);
                writer.pinned = true;
                writer.pending.clear();
                self.local.append(&body);
                Ok(())
            }
            Err(err) => {
                let reason = match &err {
                    // Every later refusal names who drives now, too.
                    StoreError::LostRace { writer, driver, .. } => {
                        let writer = writer
                            .as_deref()
                            .map_or_else(String::new, |w| format!(" ({w})"));
                        let now = driver.as_deref().map_or_else(
                            || "no engine holds the run's lease now".to_string(),
                            |d| format!("{d} drives the run now"),
                        );
                        format!(
                            "another engine{writer} wrote journal position {position} first; {now}"
                        )
                    }
                    StoreError::Fenced { reason, .. } => reason.clone(),
                    other => format!("a journal write did not complete ({other})"),
                };
                self.shared.fence(reason);
                Err(err)
            }
        }
    }

    fn read_locked(&self, writer: &mut Writer) -> Result<JournalRead, StoreError> {
        let shared = self.shared.clone();
        let (positions, bytes, starts) = client::run(async move {
            let (positions, bodies) = journal_objects(&shared).await?;
            if let Some((i, p)) = positions
                .iter()
                .enumerate()
                .find(|(i, p)| **p != *i as u64 + 1)
            {
                return Err(StoreError::Corrupt {
                    path: shared.client.location.url(&shared.key("journal/")),
                    line: 0,
                    problem: format!(
                        "position {} is missing (the next object is position {p}); objects are never deleted by lifeboat: restore it from the bucket's versions, or start a new run",
                        i + 1
                    ),
                });
            }
            let mut bytes = Vec::new();
            let mut starts = Vec::with_capacity(bodies.len());
            let mut line = 1usize;
            for body in bodies {
                starts.push(line);
                line += body.iter().filter(|b| **b == b'\n').count();
                bytes.extend_from_slice(&body);
            }
            Ok((positions, bytes, starts))
        })??;
        let journal_url = self
            .shared
            .client
            .location
            .url(&self.shared.key("journal/"));
        let read = parse_journal(&bytes, &journal_url).map_err(|err| match err {
            // Name the object and the line inside it.
            StoreError::Corrupt { line, problem, .. } => {
                let i = starts
                    .partition_point(|start| *start <= line)
                    .saturating_sub(1);
                let position = positions.get(i).copied().unwrap_or(0);
                StoreError::Corrupt {
                    path: self
                        .shared
                        .client
                        .location
                        .url(&self.shared.key(&position_key(position))),
                    line: line + 1 - starts.get(i).copied().unwrap_or(1),
                    problem,
                }
            }
            other => other,
        })?;
        if !writer.pinned {
            writer.next = Some(positions.last().copied().unwrap_or(0) + 1);
        }
        *self.tail.lock().unwrap_or_else(|e| e.into_inner()) = Some((
            positions.last().copied().unwrap_or(0) + 1,
            read.records.last().map_or(0, |r| r.seq),
        ));
        self.local.replace(&bytes);
        Ok(read)
    }

    fn encode(records: &[Record]) -> Result<Vec<u8>, StoreError> {
        let mut buf = Vec::with_capacity(256 * records.len());
        for record in records {
            buf.extend_from_slice(encode_line(record)?.as_bytes());
        }
        Ok(buf)
    }
}

impl RunStore for S3RunStore {
    fn lazy_appends_survive_a_kill(&self) -> bool {
        // `append_lazy` buffers in this process until the next commit.
        false
    }

    fn append(&self, records: &[Record]) -> Result<(), StoreError> {
        let lines = Self::encode(records)?;
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut body = writer.pending.clone();
        body.extend_from_slice(&lines);
        self.commit(&mut writer, body)
    }

    fn append_lazy(&self, records: &[Record]) -> Result<(), StoreError> {
        self.shared.check_not_fenced()?;
        let lines = Self::encode(records)?;
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.pending.extend_from_slice(&lines);
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if writer.pending.is_empty() {
            return Ok(());
        }
        let body = writer.pending.clone();
        self.commit(&mut writer, body)
    }

    fn read(&self) -> Result<JournalRead, StoreError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        self.read_locked(&mut writer)
    }

    fn read_after(&self, seq: u64) -> Result<Vec<Record>, StoreError> {
        let known = *self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let Some((next, _)) = known.filter(|(_, last)| *last == seq) else {
            return Ok(self
                .read()?
                .records
                .into_iter()
                .filter(|r| r.seq > seq)
                .collect());
        };
        let shared = self.shared.clone();
        let fetched = client::run(async move {
            let keys = shared.client.list(&shared.key("journal/")).await?;
            let positions: Vec<u64> = keys
                .iter()
                .filter_map(|k| parse_position(k))
                .filter(|p| *p >= next)
                .collect();
            // A gap: the whole read below reports it.
            if positions.iter().zip(next..).any(|(p, want)| *p != want) {
                return Ok(None);
            }
            let mut bytes = Vec::new();
            for position in &positions {
                let key = shared.key(&position_key(*position));
                match shared.client.get(&key).await? {
                    Some(object) => bytes.extend_from_slice(&object.bytes),
                    None => return Ok(None),
                }
            }
            Ok::<_, StoreError>(Some((positions.last().copied(), bytes)))
        })??;
        let Some((last_position, bytes)) = fetched else {
            return Ok(self
                .read()?
                .records
                .into_iter()
                .filter(|r| r.seq > seq)
                .collect());
        };
        let url = self
            .shared
            .client
            .location
            .url(&self.shared.key("journal/"));
        let records = parse_journal_from(&bytes, &url, seq + 1)?.records;
        *self.tail.lock().unwrap_or_else(|e| e.into_inner()) = Some((
            last_position.map_or(next, |p| p + 1),
            records.last().map_or(seq, |r| r.seq),
        ));
        Ok(records)
    }

    fn read_raw(&self) -> Result<RawJournal, StoreError> {
        let shared = self.shared.clone();
        let (positions, bodies) = client::run(async move { journal_objects(&shared).await })??;
        let mut raw = RawJournal::default();
        let mut expected = 1;
        for (position, bytes) in positions.into_iter().zip(bodies) {
            if position != expected {
                raw.gaps.push(format!(
                    "journal objects {expected}..{} are missing before {}",
                    position - 1,
                    position_key(position)
                ));
            }
            expected = position + 1;
            raw.parts.push(RawPart {
                name: self
                    .shared
                    .client
                    .location
                    .url(&self.shared.key(&position_key(position))),
                bytes,
            });
        }
        Ok(raw)
    }

    fn lock(&self) -> Result<Box<dyn Send + Sync>, StoreError> {
        Ok(self.acquire(false)?.guard)
    }

    fn take_over(&self, force: bool) -> Result<TakeOver, StoreError> {
        self.acquire(force)
    }

    fn dir(&self) -> &Path {
        self.local_dir()
    }

    fn put_file(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.shared.check_not_fenced()?;
        check_file_name(name)?;
        let shared = self.shared.clone();
        let key = shared.key(&format!("files/{name}"));
        let body = bytes.to_vec();
        client::run(async move {
            shared
                .client
                .put(&key, body, Condition::None, None)
                .await
                .map(|_| ())
        })??;
        self.local.put_file(name, bytes);
        Ok(())
    }

    fn get_file(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        check_file_name(name)?;
        let shared = self.shared.clone();
        let key = shared.key(&format!("files/{name}"));
        let url = shared.client.location.url(&key);
        let object = client::run(async move { shared.client.get(&key).await })??;
        match object {
            Some(object) => {
                self.local.put_file(name, &object.bytes);
                Ok(object.bytes)
            }
            None => Err(StoreError::Io(format!("{url}: no such file in the run"))),
        }
    }

    fn post_decision(&self, entry: &InboxEntry) -> Result<String, StoreError> {
        let bytes = inbox::entry_bytes(entry)?;
        let shared = self.shared.clone();
        client::run(async move {
            // A name is 64 random bits after the nanosecond: a clash is
            // next to impossible, and a second name settles it.
            for _ in 0..2 {
                // The name is fixed before the first attempt, so a retry
                // (an attempt that landed but whose answer was lost) finds
                // its own entry rather than posting a second one.
                let name = inbox::new_entry_name()?;
                let key = shared.key(&format!("{}/{name}", inbox::INBOX_DIR));
                let label = shared.identity.label();
                match shared
                    .client
                    .put(&key, bytes.clone(), Condition::Absent, Some(&label))
                    .await?
                {
                    Put::Done(_) => return Ok(name),
                    Put::ConditionFailed => {
                        // Our own earlier attempt, or (next to never)
                        // another poster's entry under the same name.
                        // Gone already: the driver took our entry.
                        match shared.client.get(&key).await? {
                            Some(object) if object.bytes != bytes => continue,
                            _ => return Ok(name),
                        }
                    }
                }
            }
            Err(StoreError::Io(
                "two inbox entry names were taken; post the decision again".to_string(),
            ))
        })?
    }

    fn list_inbox(&self) -> Result<Vec<InboxItem>, StoreError> {
        let shared = self.shared.clone();
        client::run(async move {
            let prefix = shared.key(&format!("{}/", inbox::INBOX_DIR));
            let keys = shared.client.list(&prefix).await?;
            let mut items = Vec::new();
            for key in keys {
                let Some(name) = key
                    .strip_prefix(&prefix)
                    .filter(|n| inbox::is_entry_name(n))
                else {
                    continue;
                };
                // Removed since it was listed: the driver took it.
                let Some(object) = shared.client.get(&key).await? else {
                    continue;
                };
                items.push(InboxItem {
                    name: name.to_string(),
                    entry: inbox::parse_entry(&object.bytes),
                });
            }
            Ok(items)
        })?
    }

    fn remove_inbox(&self, names: &[String]) -> Result<(), StoreError> {
        // Removing is a write: a fenced engine leaves the inbox to the
        // driver (whose journal may hold these entries).
        self.shared.check_not_fenced()?;
        if let Some(bad) = names.iter().find(|n| !inbox::is_entry_name(n)) {
            return Err(StoreError::Io(format!(
                "`{bad}` is not an inbox entry name; pass the names `list_inbox` returned"
            )));
        }
        let shared = self.shared.clone();
        let names = names.to_vec();
        client::run(async move {
            for name in names {
                let key = shared.key(&format!("{}/{name}", inbox::INBOX_DIR));
                shared.client.delete(&key).await?;
            }
            Ok(())
        })?
    }

    fn lost_lease(&self) -> Option<LostLease> {
        Some(self.shared.lost.clone())
    }
}

fn check_file_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Io(format!(
            "`{name}` is not a run file name (letters, digits, `-`, `_` and `.`)"
        )))
    }
}

/// The local copy of the journal and of the run's files.
///
/// Every process that reads the run on this machine keeps it current (the
/// driver, and `status` or `timeline` in other shells), so the operator
/// always has the record in front of them. Writers of the journal's copy
/// take a short lock of their own (`journal.copy.lock`, only around a
/// local write, never across a request to the store) and the copy only
/// ever grows: a reader installs the journal it read (through a temporary
/// file of its own, renamed into place) only if that is longer than the
/// copy, and the driver appends a committed object only where the copy
/// ends at the length it expects.
struct LocalCopy {
    dir: PathBuf,
    /// How long the journal is, as far as this store knows: its last read,
    /// plus what it committed since. `None` before either.
    known: Mutex<Option<u64>>,
    /// Set when an append failed: appends stop (a hole would mislead) until
    /// the next read rewrites the copy.
    broken: AtomicBool,
    observer: Option<StoreObserver>,
}

/// The name of the lock writers of the journal's copy take.
const COPY_LOCK: &str = "journal.copy.lock";

/// How many times (1 ms apart) the driver tries the copy's lock before it
/// leaves the copy to the next read.
const COPY_LOCK_TRIES: usize = 200;

impl LocalCopy {
    /// The directory is created (0700) at the first write, so that a run
    /// that cannot be opened leaves nothing behind.
    fn new(dir: &Path, observer: Option<StoreObserver>) -> Self {
        Self {
            dir: dir.to_path_buf(),
            known: Mutex::new(None),
            broken: AtomicBool::new(false),
            observer,
        }
    }

    fn make_dir(&self) -> std::io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
    }

    /// The copy's lock, tried `tries` times 1 ms apart; `None` if another
    /// writer kept it.
    fn lock(&self, tries: usize) -> std::io::Result<Option<File>> {
        self.make_dir()?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(self.dir.join(COPY_LOCK))?;
        for attempt in 0..tries.max(1) {
            // SAFETY: flock(2) on a descriptor we own; no memory is shared.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(Some(file));
            }
            if attempt + 1 < tries {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(None)
    }

    /// Installs the whole journal as read, unless the copy is already as
    /// long (another process read it later), or another writer holds the
    /// copy's lock right now (it is writing what it read).
    fn replace(&self, bytes: &[u8]) {
        *self.known.lock().unwrap_or_else(|e| e.into_inner()) = Some(bytes.len() as u64);
        let path = self.dir.join(JOURNAL_FILE);
        let installed = self.lock(1).and_then(|held| {
            // Busy: the writer holding it keeps the copy; ours is not
            // known to be whole, so appends stay as they were.
            let Some(_held) = held else { return Ok(false) };
            match fs::metadata(&path) {
                Ok(meta) if meta.len() >= bytes.len() as u64 => Ok(true),
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => local_run_store::write_whole(&self.dir, JOURNAL_FILE, bytes, false)
                    .map(|()| true),
            }
        });
        match installed {
            Ok(true) => self.broken.store(false, Ordering::SeqCst),
            Ok(false) => {}
            Err(e) => self.failed(&path, &e),
        }
    }

    /// Appends a committed object. A failure is reported, not returned:
    /// the store has the record.
    fn append(&self, bytes: &[u8]) {
        let before = {
            let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            let Some(before) = *known else { return };
            *known = Some(before + bytes.len() as u64);
            before
        };
        if self.broken.load(Ordering::SeqCst) || bytes.is_empty() {
            return;
        }
        let path = self.dir.join(JOURNAL_FILE);
        let appended = self.lock(COPY_LOCK_TRIES).and_then(|held| {
            let Some(_held) = held else {
                return Err(std::io::Error::other(
                    "another process kept the copy's lock; the next read rewrites it",
                ));
            };
            let len = match fs::metadata(&path) {
                Ok(meta) => meta.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(e),
            };
            if len == before {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(&path)?
                    .write_all(bytes)
            } else if len >= before + bytes.len() as u64 {
                // A reader on this machine already installed it.
                Ok(())
            } else {
                Err(std::io::Error::other(format!(
                    "it holds {len} bytes where {before} were expected; the next read rewrites it"
                )))
            }
        });
        if let Err(e) = appended {
            self.failed(&path, &e);
        }
    }

    fn put_file(&self, name: &str, bytes: &[u8]) {
        let written = self
            .make_dir()
            .and_then(|()| local_run_store::write_whole(&self.dir, name, bytes, false));
        if let Err(e) = written {
            self.report(&self.dir.join(name), &e);
        }
    }

    fn failed(&self, path: &Path, err: &std::io::Error) {
        self.broken.store(true, Ordering::SeqCst);
        self.report(path, err);
    }

    fn report(&self, path: &Path, err: &std::io::Error) {
        if let Some(observer) = &self.observer {
            observer(&client::StoreEvent::LocalCopyFailed {
                path: path.display().to_string(),
                error: err.to_string(),
            });
        }
    }
}
