//! Reading a Raft snapshot archive offline, without a server.
//!
//! `GET /v1/sys/storage/raft/snapshot` produces a gzip tar holding
//! `meta.json` (index, term, size, peers), `state.bin` (the encrypted
//! data), `SHA256SUMS` (sums of the two) and `SHA256SUMS.sealed` (the same
//! sums sealed with the cluster's keys, which only a server can check).
//! OpenBao has no `snapshot inspect` command, so this reader is how
//! Lifeboat proves a backup is whole before trusting it: it streams the
//! archive once, hashing each member, and checks the sums and the size
//! recorded in `meta.json`. Memory use is constant in the snapshot's size.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// What a verified snapshot says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotArchive {
    /// The Raft index the snapshot was taken at.
    pub index: u64,
    /// The Raft term.
    pub term: u64,
    /// Bytes of `state.bin`, as recorded in `meta.json` and checked.
    pub size: u64,
    /// The cluster members at the time.
    pub peers: Vec<SnapshotPeer>,
    /// SHA-256 of the archive file itself, for manifests and comparisons.
    pub sha256: String,
    /// Bytes of the archive file.
    pub file_bytes: u64,
}

/// One member of the cluster recorded in `meta.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotPeer {
    pub node_id: String,
    /// The cluster (not API) address, `host:port`.
    pub address: String,
    pub voter: bool,
}

/// Why a snapshot cannot be trusted. `name` is the file as the runbook wrote it.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot open `{name}`: {source}")]
    Open { name: String, source: io::Error },
    #[error("`{name}` is truncated: {detail}")]
    Truncated { name: String, detail: String },
    #[error("`{name}` is corrupt: {detail}")]
    Corrupt { name: String, detail: String },
    #[error("`{name}` is not a Raft snapshot: it has no `{member}`")]
    Missing { name: String, member: &'static str },
    #[error("SHA256SUMS mismatch for `{member}` in `{name}`: the archive lists {listed} but the content hashes to {actual}; the snapshot was altered or damaged")]
    SumMismatch {
        name: String,
        member: String,
        listed: String,
        actual: String,
    },
    #[error("`{name}`: `SHA256SUMS` has no entry for `{member}`")]
    NotListed { name: String, member: &'static str },
    #[error("`{name}`: `meta.json` is not valid snapshot metadata: {detail}")]
    BadMeta { name: String, detail: String },
    #[error(
        "`{name}`: `meta.json` records a state of {recorded} bytes but `state.bin` holds {actual}"
    )]
    SizeMismatch {
        name: String,
        recorded: u64,
        actual: u64,
    },
}

#[derive(Deserialize)]
struct Meta {
    #[serde(rename = "Index")]
    index: u64,
    #[serde(rename = "Term")]
    term: u64,
    #[serde(rename = "Size", default)]
    size: Option<u64>,
    #[serde(rename = "Configuration", default)]
    configuration: Option<MetaConfiguration>,
}

#[derive(Deserialize)]
struct MetaConfiguration {
    #[serde(rename = "Servers", default)]
    servers: Option<Vec<MetaServer>>,
}

#[derive(Deserialize)]
struct MetaServer {
    #[serde(rename = "Suffrage", default)]
    suffrage: u8,
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Address")]
    address: String,
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The largest `meta.json` or `SHA256SUMS` accepted; real ones are < 1 KiB
/// per peer. Guards memory against a hostile archive.
const SMALL_MEMBER_LIMIT: u64 = 1 << 20;

impl SnapshotArchive {
    /// Reads and verifies the snapshot at `path`; messages name it as
    /// `path` is displayed.
    pub fn read(path: &Path) -> Result<Self, SnapshotError> {
        Self::read_named(path, &path.display().to_string())
    }

    /// Like [`SnapshotArchive::read`], naming the file `name` in messages
    /// (the path as the runbook wrote it).
    pub fn read_named(path: &Path, name: &str) -> Result<Self, SnapshotError> {
        let name = name.to_string();
        let file = File::open(path).map_err(|source| SnapshotError::Open {
            name: name.clone(),
            source,
        })?;
        let mut raw = Hashing {
            inner: BufReader::new(file),
            hasher: Sha256::new(),
            bytes: 0,
        };
        let io_err = |e: io::Error| classify(&name, e);

        let mut meta_bytes: Option<Vec<u8>> = None;
        let mut sums_text: Option<Vec<u8>> = None;
        let mut actual: BTreeMap<String, String> = BTreeMap::new();
        let mut state_len: Option<u64> = None;
        {
            let gz = flate2::read::GzDecoder::new(&mut raw);
            let mut archive = tar::Archive::new(gz);
            for entry in archive.entries().map_err(io_err)? {
                let mut entry = entry.map_err(io_err)?;
                let member = entry
                    .path()
                    .map_err(io_err)?
                    .to_string_lossy()
                    .trim_start_matches("./")
                    .to_string();
                let mut hasher = Sha256::new();
                let mut keep = Vec::new();
                let small = member == "meta.json" || member == "SHA256SUMS";
                let mut buf = vec![0u8; 64 * 1024];
                let mut len = 0u64;
                loop {
                    let n = entry.read(&mut buf).map_err(io_err)?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    len += n as u64;
                    if small {
                        if len > SMALL_MEMBER_LIMIT {
                            return Err(SnapshotError::Corrupt {
                                name,
                                detail: format!("`{member}` is larger than 1 MiB"),
                            });
                        }
                        keep.extend_from_slice(&buf[..n]);
                    }
                }
                actual.insert(member.clone(), hex::encode(hasher.finalize()));
                match member.as_str() {
                    "meta.json" => meta_bytes = Some(keep),
                    "SHA256SUMS" => sums_text = Some(keep),
                    "state.bin" => state_len = Some(len),
                    _ => {}
                }
            }
            // The tar reader stops at the end-of-archive blocks; read the
            // gzip stream to its end so its length and CRC are checked too.
            let mut gz = archive.into_inner();
            io::copy(&mut gz, &mut io::sink()).map_err(io_err)?;
        }
        // Whatever follows the gzip member still counts toward the file's hash.
        io::copy(&mut raw, &mut io::sink()).map_err(io_err)?;

        let meta_bytes = meta_bytes.ok_or(SnapshotError::Missing {
            name: name.clone(),
            member: "meta.json",
        })?;
        let state_len = state_len.ok_or(SnapshotError::Missing {
            name: name.clone(),
            member: "state.bin",
        })?;
        let sums_text = sums_text.ok_or(SnapshotError::Missing {
            name: name.clone(),
            member: "SHA256SUMS",
        })?;

        let listed = parse_sums(&sums_text);
        for member in ["meta.json", "state.bin"] {
            let want = listed.get(member).ok_or(SnapshotError::NotListed {
                name: name.clone(),
                member,
            })?;
            let got = &actual[member];
            if !want.eq_ignore_ascii_case(got) {
                return Err(SnapshotError::SumMismatch {
                    name,
                    member: member.to_string(),
                    listed: want.clone(),
                    actual: got.clone(),
                });
            }
        }

        let meta: Meta =
            serde_json::from_slice(&meta_bytes).map_err(|e| SnapshotError::BadMeta {
                name: name.clone(),
                detail: e.to_string(),
            })?;
        if let Some(recorded) = meta.size {
            if recorded != state_len {
                return Err(SnapshotError::SizeMismatch {
                    name,
                    recorded,
                    actual: state_len,
                });
            }
        }
        let peers = meta
            .configuration
            .and_then(|c| c.servers)
            .unwrap_or_default()
            .into_iter()
            .map(|s| SnapshotPeer {
                node_id: s.id,
                address: s.address,
                // Raft suffrage: 0 voter, 1 non-voter, 2 staging.
                voter: s.suffrage == 0,
            })
            .collect();
        Ok(SnapshotArchive {
            index: meta.index,
            term: meta.term,
            size: state_len,
            peers,
            sha256: hex::encode(raw.hasher.finalize()),
            file_bytes: raw.bytes,
        })
    }
}

/// `SHA256SUMS` lines are `<hex>  <name>` (sha256sum's format; a `*` marks
/// binary mode).
fn parse_sums(text: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|line| {
            let (sum, member) = line.trim().split_once(char::is_whitespace)?;
            let member = member
                .trim()
                .trim_start_matches('*')
                .trim_start_matches("./");
            Some((member.to_string(), sum.to_string()))
        })
        .collect()
}

/// Turns an I/O error from the gzip or tar layer into "truncated" or
/// "corrupt", the two things an operator can act on differently (a copy
/// that stopped early versus a damaged medium or wrong file).
fn classify(name: &str, err: io::Error) -> SnapshotError {
    let text = err.to_string();
    let lower = text.to_lowercase();
    if err.kind() == io::ErrorKind::UnexpectedEof
        || lower.contains("unexpected eof")
        || lower.contains("failed to read entire block")
        || lower.contains("unexpected end")
    {
        SnapshotError::Truncated {
            name: name.to_string(),
            detail: "gzip stream ended early".to_string(),
        }
    } else if lower.contains("gzip header") {
        SnapshotError::Corrupt {
            name: name.to_string(),
            detail: "it is not a gzip file (a Raft snapshot is a gzip tar)".to_string(),
        }
    } else {
        SnapshotError::Corrupt {
            name: name.to_string(),
            detail: text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Builds a snapshot-shaped archive; `tamper` edits `state.bin` after
    /// the sums were computed.
    pub(crate) fn build(path: &Path, state: &[u8], tamper: bool) {
        let meta = format!(
            r#"{{"Version":1,"ID":"bolt-snapshot","Index":42,"Term":3,"Peers":null,"Configuration":{{"Servers":[{{"Suffrage":0,"ID":"node0","Address":"127.0.0.1:8201"}},{{"Suffrage":1,"ID":"node1","Address":"127.0.0.1:8211"}}]}},"ConfigurationIndex":1,"Size":{}}}"#,
            state.len()
        );
        let sums = format!(
            "{}  meta.json\n{}  state.bin\n",
            crate::checksum::sha256_hex(meta.as_bytes()),
            crate::checksum::sha256_hex(state)
        );
        let mut state = state.to_vec();
        if tamper {
            state[0] ^= 1;
        }
        let gz = flate2::write::GzEncoder::new(File::create(path).unwrap(), Default::default());
        let mut tar = tar::Builder::new(gz);
        for (member, data) in [
            ("meta.json", meta.as_bytes()),
            ("state.bin", &state[..]),
            ("SHA256SUMS", sums.as_bytes()),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o600);
            header.set_cksum();
            tar.append_data(&mut header, member, data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap().flush().unwrap();
    }

    #[test]
    fn reads_index_term_size_and_peers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.bin");
        build(&path, &vec![7u8; 200_000], false);
        let snap = SnapshotArchive::read_named(&path, "snap.bin").unwrap();
        assert_eq!((snap.index, snap.term, snap.size), (42, 3, 200_000));
        assert_eq!(snap.peers.len(), 2);
        assert!(snap.peers[0].voter && !snap.peers[1].voter);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(snap.sha256, crate::checksum::sha256_hex(&bytes));
        assert_eq!(snap.file_bytes, bytes.len() as u64);
    }

    #[test]
    fn altered_state_fails_the_sum_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.bin");
        build(&path, b"the state", true);
        let err = SnapshotArchive::read_named(&path, "snap.bin").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("SHA256SUMS mismatch for `state.bin`"),
            "{err}"
        );
    }

    #[test]
    fn every_truncation_point_is_reported_as_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.bin");
        // Incompressible state, so cuts land inside deflate data, tar
        // headers and the gzip trailer alike.
        let state: Vec<u8> = (0..50_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        build(&path, &state, false);
        let full = std::fs::read(&path).unwrap();
        let cut_path = dir.path().join("cut.bin");
        for cut in [
            1,
            10,
            100,
            1000,
            full.len() / 2,
            full.len() - 9,
            full.len() - 1,
        ] {
            std::fs::write(&cut_path, &full[..cut]).unwrap();
            let err = SnapshotArchive::read_named(&cut_path, "snap.bin").unwrap_err();
            assert_eq!(
                err.to_string(),
                "`snap.bin` is truncated: gzip stream ended early",
                "cut at {cut} of {}",
                full.len()
            );
        }
    }

    #[test]
    fn a_file_that_is_not_gzip_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.bin");
        std::fs::write(&path, b"{\"not\": \"a snapshot\"}").unwrap();
        let err = SnapshotArchive::read_named(&path, "snap.bin").unwrap_err();
        assert!(err.to_string().contains("not a gzip file"), "{err}");
    }
}
