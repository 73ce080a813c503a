//! A run's inbox: decisions (approvals, confirmations, marks, notes) left
//! for the engine that drives the run, by anyone, from any machine, without
//! the run's lock.
//!
//! Each entry is its own file or object, created once under a new, unique
//! name (`<UTC time>-<16 random hex digits>.json`), so a poster never
//! contends with the driver or with another poster. The driver lists the
//! inbox, journals each entry durably, then removes it: an entry is never
//! lost, and an engine that dies in between sees it again on resume.
//!
//! The local store keeps the inbox in `<run dir>/inbox/`: an entry is
//! written to a hidden temporary file created exclusively (`O_EXCL`),
//! fsynced, then linked into place under its final name, which fails rather
//! than replace an existing entry. A listing therefore never sees half an
//! entry. The S3 store keeps it under `inbox/` with `If-None-Match: *`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::journal::local_run_store::io_error;
use crate::journal::record::{Event, Signed};
use crate::journal::run_store::StoreError;
use crate::journal::timestamp::now_rfc3339;

/// The inbox's folder in a run's directory, and its prefix in S3.
pub const INBOX_DIR: &str = "inbox";

/// The format version of an inbox entry.
pub const INBOX_VERSION: u32 = 1;

/// One decision waiting for the driver to journal it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InboxEntry {
    pub v: u32,
    /// When it was posted: UTC, RFC 3339 with milliseconds.
    pub posted_at: String,
    /// Who decided; journalled as the record's actor.
    pub actor: String,
    /// The hostname it was posted from.
    pub machine: String,
    /// The decider's signature, journalled unchanged with the decision
    /// (the engine adds only the principal it verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<Signed>,
    /// The decision, journalled as it is.
    #[serde(flatten)]
    pub event: Event,
}

impl InboxEntry {
    /// A decision by `actor`, posted now from this machine.
    pub fn new(actor: &str, event: Event) -> Self {
        Self {
            v: INBOX_VERSION,
            posted_at: now_rfc3339(),
            actor: actor.to_string(),
            machine: machine_name(),
            signed: None,
            event,
        }
    }

    /// The same entry, carrying `signed`.
    pub fn signed(mut self, signed: Option<Signed>) -> Self {
        self.signed = signed;
        self
    }
}

/// An entry as listed, with its name (to remove it once journalled).
#[derive(Debug, Clone, PartialEq)]
pub struct InboxItem {
    pub name: String,
    /// The decision, or what is wrong with an entry that is not one (said
    /// without its content, which may hold anything): it is journalled as
    /// a refusal and removed, and never stops the other entries.
    pub entry: Result<InboxEntry, String>,
}

/// A new entry name: the time first, so names sort oldest first, then 64
/// random bits, so that two posts in the same millisecond never collide.
pub fn new_entry_name() -> Result<String, StoreError> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random)
        .map_err(|e| StoreError::Io(format!("cannot draw a random inbox entry name: {e}")))?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    // Nanoseconds: posts from one process come out in the order made.
    let time = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%.9fZ");
    Ok(format!("{time}-{hex}.json"))
}

/// Whether `name` is a name [`new_entry_name`] makes (and nothing that
/// could leave the inbox folder).
pub fn is_entry_name(name: &str) -> bool {
    name.ends_with(".json")
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// An entry's bytes, as posted (and as compared when a post is retried).
pub fn entry_bytes(entry: &InboxEntry) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(entry).map_err(|e| StoreError::Io(e.to_string()))
}

/// Parses one entry's bytes. The error says what is wrong and where in the
/// entry, never what it holds (serde's own messages quote values, and an
/// entry may hold a pasted secret).
pub fn parse_entry(bytes: &[u8]) -> Result<InboxEntry, String> {
    serde_json::from_slice(bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Io | serde_json::error::Category::Eof => {
                "it ends early"
            }
            serde_json::error::Category::Syntax => "it is not valid JSON",
            serde_json::error::Category::Data => {
                "it is JSON but not a decision this version of lifeboat reads (a field is missing, unknown or of the wrong type)"
            }
        };
        format!("{what}, at line {} column {}", e.line(), e.column())
    })
}

/// This machine's hostname, for leases and inbox entries.
pub fn machine_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname(2) writes at most `buf.len()` bytes into a buffer
    // we own.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".to_string();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Posts an entry into a local inbox folder (created 0700 if needed).
pub fn post_local(dir: &Path, entry: &InboxEntry) -> Result<String, StoreError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io_error(dir, e))?;
    let bytes = entry_bytes(entry)?;
    let name = new_entry_name()?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(&name);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut file| {
            file.write_all(&bytes)?;
            file.sync_data()
        })
        // A link fails when the name exists: an entry is never replaced.
        .and_then(|()| fs::hard_link(&tmp, &path));
    let _ = fs::remove_file(&tmp);
    written.map_err(|e| io_error(&path, e))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))?;
    Ok(name)
}

/// The entries of a local inbox folder, oldest first; none when it does
/// not exist.
pub fn list_local(dir: &Path) -> Result<Vec<InboxItem>, StoreError> {
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(dir, e)),
    };
    let mut names = Vec::new();
    for item in listing {
        let item = item.map_err(|e| io_error(dir, e))?;
        if let Some(name) = item.file_name().to_str().filter(|n| is_entry_name(n)) {
            names.push(name.to_string());
        }
    }
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let path = dir.join(&name);
            let bytes = fs::read(&path).map_err(|e| io_error(&path, e))?;
            Ok(InboxItem {
                name,
                entry: parse_entry(&bytes),
            })
        })
        .collect()
}

/// Removes entries of a local inbox folder; an entry already gone is fine.
pub fn remove_local(dir: &Path, names: &[String]) -> Result<(), StoreError> {
    for name in names {
        if !is_entry_name(name) {
            return Err(StoreError::Io(format!(
                "`{name}` is not an inbox entry name; pass the names `list_inbox` returned"
            )));
        }
        let path = dir.join(name);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&path, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time_and_never_repeat() {
        let a = new_entry_name().unwrap();
        let b = new_entry_name().unwrap();
        assert_ne!(a, b);
        assert!(is_entry_name(&a), "{a}");
        assert!(!is_entry_name("../x.json"));
        assert!(!is_entry_name(".hidden.json"));
    }

    #[test]
    fn a_malformed_entry_is_described_without_its_content() {
        let secret = "tok-8d1fQz7Wv3pXk2Lm";
        for bytes in [
            format!("{{\"v\": \"{secret}\"}}"),
            format!("{{\"v\":1,\"posted_at\":\"x\",\"actor\":\"a\",\"machine\":\"m\",\"type\":\"{secret}\"}}"),
            format!("not json {secret}"),
            "{\"v\": 1,".to_string(),
        ] {
            let problem = parse_entry(bytes.as_bytes()).unwrap_err();
            assert!(!problem.contains(secret), "{problem}");
            assert!(problem.contains("at line 1 column"), "{problem}");
        }
        let entry = InboxEntry::new("bob", Event::Note { text: "hi".into() });
        assert_eq!(parse_entry(&entry_bytes(&entry).unwrap()), Ok(entry));
    }
}
