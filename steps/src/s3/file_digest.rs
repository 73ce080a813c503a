//! SHA-256 of a local file, the checksum `s3.put` stores and `s3.get` and
//! `s3.head` verify.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Reads in blocks this large: big enough that syscalls do not dominate.
const BLOCK: usize = 1 << 20;

/// The object metadata key holding the hex SHA-256 (sent as
/// `x-amz-meta-sha256`).
pub const METADATA_KEY: &str = "sha256";

/// Hex SHA-256 and length of a file, computed off the async threads.
pub async fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let path: PathBuf = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        let len = hash_into(&mut file, &mut hasher)?;
        Ok((hex::encode(hasher.finalize()), len))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Feeds everything `reader` yields into `hasher`; returns the byte count.
pub fn hash_into(reader: &mut impl Read, hasher: &mut Sha256) -> std::io::Result<u64> {
    let mut buf = vec![0u8; BLOCK];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
}

/// Whether a metadata value looks like a hex SHA-256.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
