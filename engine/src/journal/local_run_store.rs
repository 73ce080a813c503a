//! The embedded run store: one directory per run under the state directory.
//!
//! ```text
//! <state dir>/runs/<run id>/      mode 0700
//!   runbook.yaml                  the runbook as it was started (0600)
//!   runbook.sha256                its digest
//!   inputs.json                   the non-secret inputs
//!   journal.jsonl                 the append-only journal
//!   lock                          flock(2) target while an engine drives the run
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
        }
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
        parse_journal(&bytes, &path.display().to_string())
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
        // SAFETY: flock(2) on a file descriptor we own; no memory is shared.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(StoreError::Locked {
                run: self.run_id.clone(),
                driver: None,
            });
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

/// One journal line, newline included: `{"crc":"<crc32 of rec>","rec":{...}}`.
/// Writes `dir/name` whole (0600, synced, renamed into place): a run's
/// files, and the timeline files of any run's local directory.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io_error(&tmp, e))?;
    file.write_all(bytes).map_err(|e| io_error(&tmp, e))?;
    file.sync_data().map_err(|e| io_error(&tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| io_error(&path, e))
}

pub fn encode_line(record: &Record) -> Result<String, StoreError> {
    let rec = crate::journal::chain::record_bytes(record)?;
    let crc = crc32fast::hash(rec.as_bytes());
    Ok(format!("{{\"crc\":\"{crc:08x}\",\"rec\":{rec}}}\n"))
}

/// Parses journal bytes: every complete line must be intact; a final line
/// without its newline is a torn write and is dropped with a warning.
pub fn parse_journal(bytes: &[u8], path: &str) -> Result<JournalRead, StoreError> {
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
        let expected = out.records.len() as u64 + 1;
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
            Ok((record, rec)) if record.seq == out.records.len() as u64 + 1 => {
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
}
