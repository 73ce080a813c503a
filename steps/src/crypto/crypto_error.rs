use std::io;
use std::path::Path;

use super::KeyError;

/// Why an encryption, decryption or checksum did not complete.
///
/// Each message names the file and says what to do, for an operator at
/// 3 a.m. None of them can hold key material: the variants carry paths,
/// counts and digests only.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error(transparent)]
    Key(#[from] KeyError),

    #[error("could not read `{path}`: {source}")]
    Read { path: String, source: io::Error },

    #[error("could not write `{path}`: {source}")]
    Write { path: String, source: io::Error },

    #[error("cannot write `{path}`: its directory `{dir}` does not exist; create it first or choose another `output`")]
    NoOutputDir { path: String, dir: String },

    #[error("`input` and `output` are the same file (`{path}`); write the result to another path")]
    SameFile { path: String },

    #[error("`{path}` is not a Lifeboat-encrypted file and too short for the legacy layout ({len} bytes; the legacy layout is a 16-byte IV, a 16-byte tag, then the ciphertext)")]
    NotEncrypted { path: String, len: u64 },

    #[error("`{path}` is in Lifeboat encryption format version {version}, which this build cannot read (it reads version 1); decrypt it with a newer Lifeboat")]
    UnsupportedVersion { path: String, version: u8 },

    #[error("`{path}` has a damaged Lifeboat header: {reason}")]
    BadHeader { path: String, reason: String },

    #[error("wrong key for `{path}`: the key check in its header does not match, so it was encrypted with another key (or its header is corrupted); check which key the backup was made with")]
    WrongKey { path: String },

    #[error("corrupted data: chunk {index} of `{path}` failed authentication; the key is right (the header's key check passed), so the file is damaged or was altered: fetch the backup again")]
    ChunkAuth { path: String, index: u64 },

    #[error("`{path}` is truncated or corrupted: its last chunk (chunk {index}, {len} bytes where a full chunk is {full}) failed authentication; fetch the backup again")]
    LastChunkAuth {
        path: String,
        index: u64,
        len: usize,
        full: usize,
    },

    #[error("`{path}` is truncated: the final chunk is missing (read {chunks} chunks); fetch the backup again")]
    MissingFinalChunk { path: String, chunks: u64 },

    #[error("`{path}` has unexpected data after its final chunk (chunk {index}); the file was appended to or corrupted: fetch the backup again")]
    TrailingData { path: String, index: u64 },

    #[error("wrong key or corrupted data: `{path}` failed authentication. It does not start with the Lifeboat header, so it was read as the legacy layout (16-byte IV, 16-byte tag, ciphertext), which has no key check: a wrong key, a damaged or truncated file, and a file that is not encrypted at all look the same")]
    LegacyAuth { path: String },

    #[error("`{path}` is too large for {format}: at most {max} bytes")]
    TooLarge {
        path: String,
        format: &'static str,
        max: u64,
    },

    #[error("checksum mismatch for the plaintext of `{path}` ({bytes} bytes): expected sha256 {expected}, got {actual}; it decrypted and authenticated, so it is not the backup the digest was made for. Nothing was written")]
    DigestMismatch {
        path: String,
        bytes: u64,
        expected: String,
        actual: String,
    },

    #[error("cancelled while processing `{path}`; nothing was written")]
    Cancelled { path: String },
}

impl CryptoError {
    pub(crate) fn read(path: &Path, source: io::Error) -> Self {
        CryptoError::Read {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn write(path: &Path, source: io::Error) -> Self {
        CryptoError::Write {
            path: path.display().to_string(),
            source,
        }
    }
}
