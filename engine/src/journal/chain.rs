//! The journal's hash chain: every record carries, in `prev`, the SHA-256 of
//! the stored bytes of the record before it; the first record carries
//! [`GENESIS`], which marks the journal as chained.
//!
//! "A record's stored bytes" has one definition, [`record_bytes`]: the `rec`
//! of its line (`{"crc":…,"rec":…}`), exactly as both stores keep it (the
//! local `journal.jsonl`, and the S3 store's group-commit objects, which hold
//! the same lines). The writer hashes what it hands the store, after
//! redaction; a reader hashes the bytes it read, never a re-serialisation.
//!
//! A chain shows that a record was changed, removed, inserted or reordered
//! (`journal/verify.rs`). It cannot show that the newest records were cut
//! off, nor that everything from some record on was rewritten with a
//! recomputed chain: quoting the chain head and the record count (the
//! timeline shows both) is what protects those.

use crate::journal::record::Record;
use crate::journal::run_store::StoreError;

/// `prev` of the first record: the journal is chained from its start.
pub const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// The bytes a store keeps for a record (the `rec` of its line).
pub fn record_bytes(record: &Record) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::Io(e.to_string()))
}

/// The link to a record: `sha256:<hex>` of its stored bytes.
pub fn link(rec: &[u8]) -> String {
    format!("sha256:{}", lifeboat_steps::checksum::sha256_hex(rec))
}

/// Where a journal ends, for the writer that continues it: the last
/// sequence number, and the `prev` the next record gets (`None` for a
/// journal written before the chain existed, which stays unchained).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail {
    pub seq: u64,
    pub link: Option<String>,
}

impl Tail {
    /// An empty journal: the next record is the first of a chain.
    pub fn empty() -> Self {
        Self {
            seq: 0,
            link: Some(GENESIS.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record::Event;

    fn note(seq: u64, prev: Option<&str>) -> Record {
        Record {
            v: 1,
            seq,
            ts: "2026-11-21T10:00:00.000Z".into(),
            actor: "t".into(),
            inbox: None,
            signed: None,
            prev: prev.map(String::from),
            event: Event::Note { text: "n".into() },
        }
    }

    #[test]
    fn a_link_is_the_sha256_of_the_bytes() {
        assert_eq!(
            link(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn prev_is_written_after_the_header_and_omitted_when_absent() {
        let text = record_bytes(&note(2, Some("sha256:ab"))).unwrap();
        assert!(
            text.starts_with(
                r#"{"v":1,"seq":2,"ts":"2026-11-21T10:00:00.000Z","actor":"t","prev":"sha256:ab","#
            ),
            "{text}"
        );
        assert!(!record_bytes(&note(2, None)).unwrap().contains("prev"));
    }
}
