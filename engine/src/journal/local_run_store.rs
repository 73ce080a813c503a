//! The embedded run store: one directory per run under the state directory.
//!
//! ```text
//! <state dir>/runs/<run id>/      mode 0700
//!   runbook.yaml                  the runbook as it was started (0600)
//!   runbook.sha256                its digest
//!   inputs.json                   the non-secret inputs
//!   journal.jsonl                 the append-only journal
//!   lock                          held (an OFD lock, fcntl(2)) while an engine drives the run
//!   inbox/<name>.json             decisions left for the driver (`journal::inbox`)
//!   work/                         scratch space for steps (downloads, snapshots)
//! ```
//!
//! Each journal line is `{"crc":"<crc32 of rec>","rec":{...}}`; the checksum
//! covers the exact bytes of `rec`, so any damage is caught on read.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::journal::inbox::{self, InboxEntry, InboxItem};
use crate::journal::record::Record;
use crate::journal::run_store::{JournalRead, RawJournal, RawPart, RunStore, StoreError};

/// In a run's local directory: the shared store the run lives in, when the
/// directory is only its local copy (see `run_stores.rs`).
pub const REMOTE_MARKER: &str = "store.url";

pub const JOURNAL_FILE: &str = "journal.jsonl";

pub struct LocalRunStore {
    dir: PathBuf,
    run_id: String,
    /// The open journal, appended to under this lock.
    file: Mutex<Option<File>>,
    /// Set when a write failed: the file may end in a partial line.
    poisoned: std::sync::atomic::AtomicBool,
    /// Set while records have been written but not yet fsynced.
    /// Records were written since the last fsync.
    dirty: std::sync::atomic::AtomicBool,
    fsyncs: std::sync::atomic::AtomicU64,
    /// Where the last read ended: the byte offset after its last complete
    /// line and that line's sequence number, so that [`RunStore::read_after`]
    /// reads only what was appended since.
    tail: Mutex<Option<(u64, u64)>>,
}

#[derive(Deserialize)]
struct Line<'a> {
    crc: &'a str,
    #[serde(borrow)]
    rec: &'a RawValue,
}

impl LocalRunStore {
    /// Creates the directory for a new run.
    pub fn create(runs_dir: &Path, run_id: &str) -> Result<Self, StoreError> {
        let dir = runs_dir.join(run_id);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(runs_dir)
            .map_err(|e| io_error(runs_dir, e))?;
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| io_error(&dir, e))?;
        fs::DirBuilder::new()
            .mode(0o700)
            .create(dir.join("work"))
            .map_err(|e| io_error(&dir, e))?;
        Ok(Self::at(dir, run_id))
    }

    /// Opens an existing run.
    pub fn open(runs_dir: &Path, run_id: &str) -> Result<Self, StoreError> {
        let dir = runs_dir.join(run_id);
        if !dir.join(JOURNAL_FILE).is_file() {
            return Err(StoreError::NotFound(run_id.to_string()));
        }
        if let Ok(url) = fs::read_to_string(dir.join(REMOTE_MARKER)) {
            let url = url.trim();
            return Err(StoreError::Misconfigured(format!(
                "run `{run_id}` lives in the shared store {url}; `{}` is only its local copy: give `--store {url}` (or set LIFEBOAT_STORE) to use it",
                dir.display()
            )));
        }
        Ok(Self::at(dir, run_id))
    }

    fn at(dir: PathBuf, run_id: &str) -> Self {
        Self {
            dir,
            run_id: run_id.to_string(),
            file: Mutex::new(None),
            poisoned: std::sync::atomic::AtomicBool::new(false),
            dirty: std::sync::atomic::AtomicBool::new(false),
            fsyncs: std::sync::atomic::AtomicU64::new(0),
            tail: Mutex::new(None),
        }
    }

    /// Whether a process holds the run's lock (an engine drives the run),
    /// found without taking it: a reader (`status`, `timeline`) never
    /// blocks, and is never in the way of, an engine taking the lock.
    pub fn is_locked(&self) -> bool {
        let Ok(file) = File::open(self.dir.join("lock")) else {
            return false;
        };
        let mut probe = whole_file_lock(libc::F_WRLCK);
        // SAFETY: fcntl(2) F_OFD_GETLK on a descriptor we own, with a
        // `flock` struct we own; it only reports, it takes nothing.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut probe) };
        rc == 0 && probe.l_type != libc::F_UNLCK as libc::c_short
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn write(&self, records: &[Record], sync: bool) -> Result<(), StoreError> {
        let mut buf = Vec::with_capacity(256 * records.len());
        for record in records {
            buf.extend_from_slice(encode_line(record)?.as_bytes());
        }
        let path = self.dir.join(JOURNAL_FILE);
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if self.poisoned.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Io(format!(
                "{}: an earlier write failed, so nothing more is appended; fix the cause (disk full?) and `lifeboat resume` the run",
                path.display()
            )));
        }
        if guard.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| io_error(&path, e))?;
            self.repair_torn_tail(&file, &path)?;
            *guard = Some(file);
        }
        let file = guard.as_mut().expect("opened above");
        let result = file.write_all(&buf).and_then(|()| {
            if sync {
                self.fsyncs
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(e) = result {
            // A partial line may now end the file: refuse further appends,
            // which would otherwise glue onto it. The next open repairs it.
            self.poisoned
                .store(true, std::sync::atomic::Ordering::SeqCst);
            return Err(io_error(&path, e));
        }
        // What is written without a sync waits for the next one (`sync`, or
        // a synced append, which covers the whole file).
        self.dirty.store(!sync, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// How many times the journal was fsynced: the cost the group commit
    /// keeps down, and what the tests of it count.
    pub fn fsync_count(&self) -> u64 {
        self.fsyncs.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Before the first append: a crash mid-write can leave a final line
    /// without its newline. A complete record only gets its newline; a torn
    /// one is moved to `journal.torn` (kept for inspection) and cut off, so
    /// that new records never glue onto it.
    fn repair_torn_tail(&self, file: &File, path: &Path) -> Result<(), StoreError> {
        use std::io::{Read, Seek, SeekFrom};
        let mut reader = file;
        let len = file.metadata().map_err(|e| io_error(path, e))?.len();
        if len == 0 {
            return Ok(());
        }
        let tail_window = len.min(1 << 20);
        let mut tail = vec![0u8; tail_window as usize];
        reader
            .seek(SeekFrom::Start(len - tail_window))
            .map_err(|e| io_error(path, e))?;
        reader
            .read_exact(&mut tail)
            .map_err(|e| io_error(path, e))?;
        if tail.last() == Some(&b'\n') {
            return Ok(());
        }
        let cut = tail
            .iter()
            .rposition(|b| *b == b'\n')
            .map(|p| p + 1)
            .unwrap_or(0);
        let torn = &tail[cut..];
        if decode_line(torn).is_ok() {
            let mut writer = file;
            writer.write_all(b"\n").map_err(|e| io_error(path, e))?;
        } else {
            let keep = self.dir.join("journal.torn");
            let mut saved = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&keep)
                .map_err(|e| io_error(&keep, e))?;
            saved
                .write_all(torn)
                .and_then(|()| saved.write_all(b"\n"))
                .map_err(|e| io_error(&keep, e))?;
            file.set_len(len - torn.len() as u64)
                .map_err(|e| io_error(path, e))?;
        }
        file.sync_data().map_err(|e| io_error(path, e))
    }
}

impl RunStore for LocalRunStore {
    fn append(&self, records: &[Record]) -> Result<(), StoreError> {
        self.write(records, true)
    }

    fn append_lazy(&self, records: &[Record]) -> Result<(), StoreError> {
        self.write(records, false)
    }

    fn sync(&self) -> Result<(), StoreError> {
        if !self.dirty.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        let path = self.dir.join(JOURNAL_FILE);
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = guard.as_mut() {
            self.fsyncs
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if let Err(e) = file.sync_data() {
                self.poisoned
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                return Err(io_error(&path, e));
            }
        }
        self.dirty.store(false, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    fn read(&self) -> Result<JournalRead, StoreError> {
        let path = self.dir.join(JOURNAL_FILE);
        let bytes = fs::read(&path).map_err(|e| io_error(&path, e))?;
        let read = parse_journal(&bytes, &path.display().to_string())?;
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        // A torn final line: the next read starts over.
        *tail = (bytes.is_empty() || bytes.ends_with(b"\n"))
            .then(|| (bytes.len() as u64, read.records.last().map_or(0, |r| r.seq)));
        Ok(read)
    }

    fn read_after(&self, seq: u64) -> Result<Vec<Record>, StoreError> {
        use std::io::{Read, Seek, SeekFrom};
        let known = *self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let path = self.dir.join(JOURNAL_FILE);
        let Some((offset, _)) = known.filter(|(_, last)| *last == seq) else {
            return Ok(after(self.read()?.records, seq));
        };
        let mut file = File::open(&path).map_err(|e| io_error(&path, e))?;
        let len = file.metadata().map_err(|e| io_error(&path, e))?.len();
        if len < offset {
            return Ok(after(self.read()?.records, seq));
        }
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(|e| io_error(&path, e))?;
        // A line the engine is writing right now is read next time.
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
        let records =
            parse_journal_from(&bytes[..whole], &path.display().to_string(), seq + 1)?.records;
        *self.tail.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((offset + whole as u64, records.last().map_or(seq, |r| r.seq)));
        Ok(records)
    }

    fn read_raw(&self) -> Result<RawJournal, StoreError> {
        let path = self.dir.join(JOURNAL_FILE);
        let bytes = fs::read(&path).map_err(|e| io_error(&path, e))?;
        Ok(RawJournal {
            parts: vec![RawPart {
                name: path.display().to_string(),
                bytes,
            }],
            gaps: Vec::new(),
        })
    }

    fn lock(&self) -> Result<Box<dyn Send + Sync>, StoreError> {
        let path = self.dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        // An open file description lock (not flock(2)): a reader can ask
        // whether it is held without taking it (`is_locked`).
        let mut lock = whole_file_lock(libc::F_WRLCK);
        // SAFETY: fcntl(2) F_OFD_SETLK on a descriptor we own, with a
        // `flock` struct we own; no memory is shared.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut lock) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if matches!(err.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) {
                return Err(StoreError::Locked {
                    run: self.run_id.clone(),
                    driver: None,
                });
            }
            return Err(io_error(&path, err));
        }
        // The lock lives as long as the open file.
        Ok(Box::new(file))
    }

    fn put_file(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        write_file(&self.dir, name, bytes)
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn get_file(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.dir.join(name);
        fs::read(&path).map_err(|e| io_error(&path, e))
    }

    fn post_decision(&self, entry: &InboxEntry) -> Result<String, StoreError> {
        inbox::post_local(&self.dir.join(inbox::INBOX_DIR), entry)
    }

    fn list_inbox(&self) -> Result<Vec<InboxItem>, StoreError> {
        inbox::list_local(&self.dir.join(inbox::INBOX_DIR))
    }

    fn remove_inbox(&self, names: &[String]) -> Result<(), StoreError> {
        inbox::remove_local(&self.dir.join(inbox::INBOX_DIR), names)
    }
}

/// Writes `dir/name` whole (0600, synced, renamed into place): a run's
/// files, and the timeline files of any run's local directory.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    write_whole(dir, name, bytes, true).map_err(|e| io_error(&dir.join(name), e))
}

/// Writes `dir/name` whole through a temporary file of this writer's own
/// (a new random name, created exclusively, 0600), renamed into place: two
/// processes writing the same file at once (two shells' `timeline`) never
/// write into each other's temporary file, and a reader sees the old file
/// or the new one, never a mix.
pub(crate) fn write_whole(dir: &Path, name: &str, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    write_whole_with_mode(dir, name, bytes, sync, 0o600)
}

/// [`write_whole`] with the file's permission bits (`lifeboat metrics
/// --textfile` writes 0644: node_exporter runs as another user).
pub(crate) fn write_whole_with_mode(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    sync: bool,
    mode: u32,
) -> std::io::Result<()> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!(".{name}.{}-{hex}.tmp", std::process::id()));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            if sync {
                file.sync_data()?;
            }
            Ok(())
        })
        .and_then(|()| fs::rename(&tmp, dir.join(name)));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// A lock of a whole file, of `kind` (`F_WRLCK`), for fcntl(2).
fn whole_file_lock(kind: libc::c_int) -> libc::flock {
    // SAFETY: `flock` is a plain C struct; all zeroes is a valid value.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock
}

/// The records of `records` after `seq`.
fn after(records: Vec<Record>, seq: u64) -> Vec<Record> {
    records.into_iter().filter(|r| r.seq > seq).collect()
}

/// One journal line, newline included: `{"crc":"<crc32 of rec>","rec":{...}}`.
pub fn encode_line(record: &Record) -> Result<String, StoreError> {
    let rec = crate::journal::chain::record_bytes(record)?;
    let crc = crc32fast::hash(rec.as_bytes());
    Ok(format!("{{\"crc\":\"{crc:08x}\",\"rec\":{rec}}}\n"))
}

/// Parses journal bytes: every complete line must be intact; a final line
/// without its newline is a torn write and is dropped with a warning.
pub fn parse_journal(bytes: &[u8], path: &str) -> Result<JournalRead, StoreError> {
    parse_journal_from(bytes, path, 1)
}

/// Parses the part of a journal that starts at record `first` (the tail
/// read by [`RunStore::read_after`]); line numbers count from its start.
pub(crate) fn parse_journal_from(
    bytes: &[u8],
    path: &str,
    first: u64,
) -> Result<JournalRead, StoreError> {
    let mut out = JournalRead::default();
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let torn = lines.last().is_some_and(|l| !l.is_empty());
    let last = lines.pop().unwrap_or_default();
    let corrupt = |line: usize, problem: String| StoreError::Corrupt {
        path: path.to_string(),
        line,
        problem,
    };
    let mut last_rec: &[u8] = &[];
    for (i, raw) in lines.iter().enumerate() {
        let (record, rec) = decode_line(raw).map_err(|p| corrupt(i + 1, p))?;
        last_rec = rec;
        let expected = out.records.len() as u64 + first;
        if record.seq != expected {
            return Err(corrupt(
                i + 1,
                format!(
                    "sequence number {} where {expected} was expected",
                    record.seq
                ),
            ));
        }
        out.records.push(record);
    }
    if torn {
        match decode_line(last) {
            // A complete record that only lacks its newline is kept.
            Ok((record, rec)) if record.seq == out.records.len() as u64 + first => {
                last_rec = rec;
                out.records.push(record);
            }
            _ => out.warnings.push(format!(
                "{path}: dropped a torn final line {} ({} bytes): the engine stopped while writing it",
                lines.len() + 1,
                last.len()
            )),
        }
    }
    // One hash per read, of the last record only: where the chain goes on.
    if out.records.last().is_some_and(|r| r.prev.is_some()) {
        out.head = Some(crate::journal::chain::link(last_rec));
    }
    Ok(out)
}

/// A line's record and the exact bytes of its `rec`.
fn decode_line(raw: &[u8]) -> Result<(Record, &[u8]), String> {
    // Fast path for lines in exactly the shape `write` produces: the record
    // is parsed once instead of twice (resume reads whole journals).
    const HEAD: &[u8] = b"{\"crc\":\"";
    const MID: &[u8] = b"\",\"rec\":";
    if raw.len() > HEAD.len() + 8 + MID.len() + 1
        && raw.starts_with(HEAD)
        && raw[HEAD.len() + 8..].starts_with(MID)
        && raw.ends_with(b"}")
    {
        let crc = &raw[HEAD.len()..HEAD.len() + 8];
        let rec = &raw[HEAD.len() + 8 + MID.len()..raw.len() - 1];
        let computed = format!("{:08x}", crc32fast::hash(rec));
        if computed.as_bytes() == crc {
            if let Ok(record) = serde_json::from_slice(rec) {
                return Ok((record, rec));
            }
        }
        // Anything unexpected: the general path explains what is wrong.
    }
    let text = std::str::from_utf8(raw).map_err(|_| "not UTF-8".to_string())?;
    let line: Line =
        serde_json::from_str(text).map_err(|e| format!("not a journal record ({e})"))?;
    let crc = format!("{:08x}", crc32fast::hash(line.rec.get().as_bytes()));
    if crc != line.crc {
        return Err(format!(
            "checksum mismatch (stored {}, computed {crc})",
            line.crc
        ));
    }
    let record =
        serde_json::from_str(line.rec.get()).map_err(|e| format!("unreadable record ({e})"))?;
    // `rec` borrows from `raw`: find its bytes there.
    let rec = line.rec.get().as_bytes();
    let start = rec.as_ptr() as usize - raw.as_ptr() as usize;
    Ok((record, &raw[start..start + rec.len()]))
}

pub(crate) fn io_error(path: &Path, err: std::io::Error) -> StoreError {
    StoreError::Io(format!("{}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record::Event;

    fn record(seq: u64) -> Record {
        Record {
            v: 1,
            seq,
            ts: "2026-11-21T10:00:00.000Z".into(),
            actor: "test".into(),
            inbox: None,
            signed: None,
            prev: None,
            event: Event::Note {
                text: format!("n{seq}"),
            },
        }
    }

    /// The group commit: what `append_lazy` wrote is fsynced by the next
    /// `sync` (the scheduler's "before a side effect, before a wait"), once.
    /// `sync` used to be a no-op, so lazy records waited for the next
    /// synced append.
    #[test]
    fn sync_makes_lazy_records_durable_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalRunStore::create(dir.path(), "r1").unwrap();
        store.append(&[record(1)]).unwrap();
        assert_eq!(store.fsync_count(), 1);
        store.sync().unwrap();
        assert_eq!(store.fsync_count(), 1, "nothing pending: no fsync");
        store.append_lazy(&[record(2)]).unwrap();
        store.append_lazy(&[record(3)]).unwrap();
        assert_eq!(store.fsync_count(), 1, "lazy appends do not fsync");
        store.sync().unwrap();
        assert_eq!(store.fsync_count(), 2, "one fsync covers both");
        store.sync().unwrap();
        assert_eq!(store.fsync_count(), 2);
        store.append_lazy(&[record(4)]).unwrap();
        store.append(&[record(5)]).unwrap();
        store.sync().unwrap();
        assert_eq!(
            store.fsync_count(),
            3,
            "a synced append covers what came before"
        );
    }

    #[test]
    fn round_trips_and_drops_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalRunStore::create(dir.path(), "r1").unwrap();
        store.append(&[record(1), record(2)]).unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(store.dir().join(JOURNAL_FILE))
            .unwrap();
        f.write_all(b"{\"crc\":\"0000").unwrap();
        let read = store.read().unwrap();
        assert_eq!(read.records.len(), 2);
        assert_eq!(read.warnings.len(), 1);
        assert!(
            read.warnings[0].contains("torn final line 3"),
            "{:?}",
            read.warnings
        );
    }

    #[test]
    fn appending_after_a_torn_tail_keeps_the_journal_readable() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalRunStore::create(dir.path(), "r1").unwrap();
        store.append(&[record(1), record(2)]).unwrap();
        drop(store);
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("r1").join(JOURNAL_FILE))
            .unwrap();
        f.write_all(b"{\"crc\":\"0000").unwrap();
        let store = LocalRunStore::open(dir.path(), "r1").unwrap();
        store.append(&[record(3)]).unwrap();
        let read = store.read().unwrap();
        assert_eq!(read.records.len(), 3, "{:?}", read.warnings);
        assert!(read.warnings.is_empty());
        let torn = fs::read_to_string(dir.path().join("r1").join("journal.torn")).unwrap();
        assert_eq!(torn, "{\"crc\":\"0000\n");
    }

    #[test]
    fn a_complete_final_record_without_newline_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalRunStore::create(dir.path(), "r1").unwrap();
        store.append(&[record(1), record(2)]).unwrap();
        drop(store);
        let path = dir.path().join("r1").join(JOURNAL_FILE);
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.trim_end()).unwrap();
        let store = LocalRunStore::open(dir.path(), "r1").unwrap();
        store.append(&[record(3)]).unwrap();
        assert_eq!(store.read().unwrap().records.len(), 3);
    }

    #[test]
    fn damage_in_the_middle_is_an_error_with_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalRunStore::create(dir.path(), "r1").unwrap();
        store.append(&[record(1), record(2), record(3)]).unwrap();
        let path = store.dir().join(JOURNAL_FILE);
        let text = fs::read_to_string(&path).unwrap().replacen("n2", "n9", 1);
        fs::write(&path, text).unwrap();
        let err = store.read().unwrap_err().to_string();
        assert!(
            err.contains("damaged at line 2: checksum mismatch"),
            "{err}"
        );
    }

    #[test]
    fn a_second_lock_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalRunStore::create(dir.path(), "r1").unwrap();
        let _held = store.lock().unwrap();
        let other = LocalRunStore::open(dir.path(), "r1");
        assert!(other.is_err(), "no journal yet, so the run is not found");
        store.append(&[record(1)]).unwrap();
        let other = LocalRunStore::open(dir.path(), "r1").unwrap();
        assert!(matches!(other.lock(), Err(StoreError::Locked { .. })));
    }

    #[test]
    fn directories_and_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = LocalRunStore::create(dir.path(), "r1").unwrap();
        store.append(&[record(1)]).unwrap();
        store.put_file("inputs.json", b"{}").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(store.dir()), 0o700);
        assert_eq!(mode(&store.dir().join(JOURNAL_FILE)), 0o600);
        assert_eq!(mode(&store.dir().join("inputs.json")), 0o600);
    }

    /// A reader asking whether an engine drives the run never takes the
    /// lock: an engine taking it at the same moment always gets it. The
    /// probe used to take the lock for an instant (flock), so an engine
    /// starting while `status` ran was refused as "in use".
    #[test]
    fn asking_whether_the_run_is_locked_never_takes_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            std::sync::Arc::new(LocalRunStore::create(&dir.path().join("runs"), "r1").unwrap());
        store.append(&[record(1)]).unwrap();
        assert!(!store.is_locked());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let state = dir.path().to_path_buf();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let stores = crate::journal::run_stores::RunStores::resolve(
                        Some(state.to_str().unwrap()),
                        None,
                    )
                    .unwrap();
                    let mut looks = 0u32;
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        stores.driver("r1").unwrap();
                        looks += 1;
                    }
                    looks
                })
            })
            .collect();
        let mut refused = 0;
        for _ in 0..2000 {
            match store.lock() {
                Ok(guard) => {
                    assert!(store.is_locked());
                    drop(guard);
                }
                Err(StoreError::Locked { .. }) => refused += 1,
                Err(e) => panic!("{e}"),
            }
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let looks: u32 = readers.into_iter().map(|r| r.join().unwrap()).sum();
        assert!(looks > 0);
        assert_eq!(
            refused, 0,
            "readers took the lock from the engine {refused} times"
        );
        // A second holder is still refused.
        let _held = store.lock().unwrap();
        assert!(matches!(store.lock(), Err(StoreError::Locked { .. })));
    }

    #[test]
    fn read_after_reads_only_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalRunStore::create(dir.path(), "r1").unwrap();
        store.append(&[record(1), record(2)]).unwrap();
        assert_eq!(store.read().unwrap().records.len(), 2);
        store.append(&[record(3)]).unwrap();
        // Damage before the tail is not read again.
        let path = store.dir().join(JOURNAL_FILE);
        let mut bytes = fs::read(&path).unwrap();
        bytes[10] = b'#';
        fs::write(&path, &bytes).unwrap();
        let tail = store.read_after(2).unwrap();
        assert_eq!(tail.iter().map(|r| r.seq).collect::<Vec<_>>(), [3]);
        // Half a line being written is read next time.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        let line = encode_line(&record(4)).unwrap();
        f.write_all(&line.as_bytes()[..10]).unwrap();
        assert!(store.read_after(3).unwrap().is_empty());
        f.write_all(&line.as_bytes()[10..]).unwrap();
        assert_eq!(store.read_after(3).unwrap()[0].seq, 4);
        // From another seq than the last read ended at: the whole journal.
        assert!(store.read_after(1).is_err(), "the damage is seen");
    }

    /// Two writers of one file at once (two shells' `timeline`) each write
    /// their own temporary file: the result is one of them, whole.
    #[test]
    fn files_written_at_once_are_each_whole() {
        let dir = tempfile::tempdir().unwrap();
        let writers: Vec<_> = (0..8u8)
            .map(|i| {
                let dir = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    let text = vec![b'a' + i; 64 * 1024];
                    for _ in 0..20 {
                        write_file(&dir, "timeline.html", &text).unwrap();
                        let got = fs::read(dir.join("timeline.html")).unwrap();
                        assert_eq!(got.len(), text.len());
                        assert!(got.iter().all(|b| *b == got[0]), "a mixed file");
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, ["timeline.html"], "temporary files left behind");
    }
}
