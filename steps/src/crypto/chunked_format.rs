//! The `lifeboat-v1` encrypted file layout: a header, then AES-256-GCM
//! chunks. `docs/backup-encryption-format.md` is the reference; this file
//! is its implementation and the two must agree byte for byte.
//!
//! ```text
//! offset size field
//!      0    8 magic "LIFEBOAT"
//!      8    1 version = 1
//!      9    1 algorithm = 1 (AES-256-GCM)
//!     10    2 reserved, zero
//!     12    4 chunk size in plaintext bytes, u32 big-endian
//!     16    8 nonce prefix, random per file
//!     24   16 key check: GCM tag of the empty message, nonce = prefix || FFFFFFFF,
//!             associated data = bytes 0..24
//!     40    . chunks: ciphertext || 16-byte tag; every chunk but the last holds
//!             exactly `chunk size` plaintext bytes, the last holds fewer
//!             (possibly none)
//! ```
//!
//! Chunk `i` (from 0) is sealed with nonce `prefix || i` (u32 big-endian) and
//! associated data `bytes 0..24 || final`, where `final` is 1 for the last
//! chunk and 0 otherwise. The counter in the nonce makes a moved chunk fail;
//! the final flag makes a file cut at a chunk boundary fail; the header
//! bytes in the associated data make an edited header fail.

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};

use super::Key;

pub const MAGIC: [u8; 8] = *b"LIFEBOAT";
pub const VERSION: u8 = 1;
pub const ALGORITHM_AES_256_GCM: u8 = 1;
pub const HEADER_LEN: usize = 40;
/// The part of the header that is authenticated with every chunk.
pub const HEADER_AAD_LEN: usize = 24;
pub const TAG_LEN: usize = 16;
/// What the encryptor writes: large enough that the 16-byte tag is noise
/// (0.0015%) and per-chunk setup is amortised, small enough that a few
/// buffers in flight stay far below the memory budget.
pub const DEFAULT_CHUNK_SIZE: u32 = 1 << 20;
/// Bounds a reader accepts, so a damaged or hostile header cannot make it
/// allocate more than a few MiB per buffer.
pub const MIN_CHUNK_SIZE: u32 = 1 << 12;
pub const MAX_CHUNK_SIZE: u32 = 1 << 22;
/// The nonce counter value reserved for the key check; chunks use 0..it.
const KEY_CHECK_COUNTER: u32 = u32::MAX;
/// Chunk indices run from 0 to `MAX_CHUNKS - 1`.
pub const MAX_CHUNKS: u64 = KEY_CHECK_COUNTER as u64;

/// What can be wrong with a header, before the key is tried.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderProblem {
    UnsupportedVersion(u8),
    Damaged(String),
}

/// A parsed or freshly made header, with the cipher for its chunks.
pub struct ChunkedFormat {
    chunk_size: u32,
    nonce_prefix: [u8; 8],
    cipher: Aes256Gcm,
}

impl ChunkedFormat {
    /// A header for a new file: a random nonce prefix and the given chunk
    /// size (the encryptor uses [`DEFAULT_CHUNK_SIZE`], tests small ones).
    pub fn with_chunk_size(key: &Key, chunk_size: u32) -> std::io::Result<Self> {
        let mut nonce_prefix = [0u8; 8];
        getrandom::fill(&mut nonce_prefix).map_err(std::io::Error::other)?;
        Ok(Self {
            chunk_size,
            nonce_prefix,
            cipher: Aes256Gcm::new(key.bytes().into()),
        })
    }

    /// Parses the 40 header bytes and checks the key against the key check.
    /// Returns `Ok(None)` when the key check fails: the key is wrong, or the
    /// header was altered.
    pub fn open(header: &[u8; HEADER_LEN], key: &Key) -> Result<Option<Self>, HeaderProblem> {
        debug_assert_eq!(header[..8], MAGIC, "callers detect the format by magic");
        if header[8] != VERSION {
            return Err(HeaderProblem::UnsupportedVersion(header[8]));
        }
        if header[9] != ALGORITHM_AES_256_GCM {
            return Err(HeaderProblem::Damaged(format!(
                "unknown algorithm {} (1 is AES-256-GCM)",
                header[9]
            )));
        }
        if header[10..12] != [0, 0] {
            return Err(HeaderProblem::Damaged(
                "the reserved bytes 10..12 are not zero".into(),
            ));
        }
        let chunk_size = u32::from_be_bytes(header[12..16].try_into().expect("4 bytes"));
        if !chunk_size.is_power_of_two() || !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size)
        {
            return Err(HeaderProblem::Damaged(format!(
                "chunk size {chunk_size} is not a power of two from {MIN_CHUNK_SIZE} to {MAX_CHUNK_SIZE}"
            )));
        }
        let format = Self {
            chunk_size,
            nonce_prefix: header[16..24].try_into().expect("8 bytes"),
            cipher: Aes256Gcm::new(key.bytes().into()),
        };
        let stored: [u8; TAG_LEN] = header[24..40].try_into().expect("16 bytes");
        Ok(constant_time_eq(&format.key_check(), &stored).then_some(format))
    }

    /// The 40 header bytes to write at the start of a new file.
    pub fn header(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..HEADER_AAD_LEN].copy_from_slice(&self.header_aad());
        out[24..40].copy_from_slice(&self.key_check());
        out
    }

    pub fn chunk_size(&self) -> usize {
        self.chunk_size as usize
    }

    /// Encrypts one chunk in place and returns its tag.
    pub fn seal(&self, index: u64, last: bool, data: &mut [u8]) -> [u8; TAG_LEN] {
        debug_assert!(index < MAX_CHUNKS);
        let tag = self
            .cipher
            .encrypt_inout_detached(
                &self.nonce(index as u32),
                &self.chunk_aad(last),
                data.into(),
            )
            .expect("a chunk of at most 4 MiB is within GCM's limits");
        tag.into()
    }

    /// Authenticates and decrypts one chunk in place. On failure `data` is
    /// left as it was (ciphertext) and `false` is returned.
    #[must_use]
    pub fn open_chunk(&self, index: u64, last: bool, data: &mut [u8], tag: &[u8; TAG_LEN]) -> bool {
        if index >= MAX_CHUNKS {
            return false;
        }
        self.cipher
            .decrypt_inout_detached(
                &self.nonce(index as u32),
                &self.chunk_aad(last),
                data.into(),
                &Tag::from(*tag),
            )
            .is_ok()
    }

    fn header_aad(&self) -> [u8; HEADER_AAD_LEN] {
        let mut out = [0u8; HEADER_AAD_LEN];
        out[..8].copy_from_slice(&MAGIC);
        out[8] = VERSION;
        out[9] = ALGORITHM_AES_256_GCM;
        out[12..16].copy_from_slice(&self.chunk_size.to_be_bytes());
        out[16..24].copy_from_slice(&self.nonce_prefix);
        out
    }

    fn chunk_aad(&self, last: bool) -> [u8; HEADER_AAD_LEN + 1] {
        let mut out = [0u8; HEADER_AAD_LEN + 1];
        out[..HEADER_AAD_LEN].copy_from_slice(&self.header_aad());
        out[HEADER_AAD_LEN] = u8::from(last);
        out
    }

    fn nonce(&self, counter: u32) -> Nonce<aes_gcm::aead::consts::U12> {
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&self.nonce_prefix);
        nonce[8..].copy_from_slice(&counter.to_be_bytes());
        nonce.into()
    }

    /// The GCM tag of the empty message under the reserved counter, with the
    /// header as associated data: proves the key (and the header) before any
    /// chunk is read, so a wrong key gets its own message.
    fn key_check(&self) -> [u8; TAG_LEN] {
        let tag = self
            .cipher
            .encrypt_inout_detached(
                &self.nonce(KEY_CHECK_COUNTER),
                &self.header_aad(),
                (&mut [][..]).into(),
            )
            .expect("an empty message is within GCM's limits");
        tag.into()
    }
}

/// Compares two tags without an early exit.
pub fn constant_time_eq(a: &[u8; TAG_LEN], b: &[u8; TAG_LEN]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Key {
        Key::from_bytes([b; 32])
    }

    #[test]
    fn header_round_trips_and_rejects_another_key() {
        let format = ChunkedFormat::with_chunk_size(&key(1), DEFAULT_CHUNK_SIZE).unwrap();
        let header = format.header();
        assert_eq!(&header[..8], b"LIFEBOAT");
        assert_eq!(header[8], 1);
        assert_eq!(&header[12..16], &(1u32 << 20).to_be_bytes());
        let reopened = ChunkedFormat::open(&header, &key(1)).unwrap().unwrap();
        assert_eq!(reopened.chunk_size(), 1 << 20);
        assert!(ChunkedFormat::open(&header, &key(2)).unwrap().is_none());
    }

    #[test]
    fn an_edited_header_fails_the_key_check_or_is_rejected() {
        let header = ChunkedFormat::with_chunk_size(&key(1), DEFAULT_CHUNK_SIZE)
            .unwrap()
            .header();
        let mut prefix_edit = header;
        prefix_edit[20] ^= 1;
        assert!(ChunkedFormat::open(&prefix_edit, &key(1))
            .unwrap()
            .is_none());
        let mut size_edit = header;
        size_edit[12..16].copy_from_slice(&(1u32 << 21).to_be_bytes());
        assert!(ChunkedFormat::open(&size_edit, &key(1)).unwrap().is_none());
        let mut bad_size = header;
        bad_size[12..16].copy_from_slice(&1000u32.to_be_bytes());
        assert!(matches!(
            ChunkedFormat::open(&bad_size, &key(1)),
            Err(HeaderProblem::Damaged(_))
        ));
        let mut v2 = header;
        v2[8] = 2;
        assert!(matches!(
            ChunkedFormat::open(&v2, &key(1)),
            Err(HeaderProblem::UnsupportedVersion(2))
        ));
    }

    #[test]
    fn a_chunk_opens_only_at_its_index_with_its_final_flag() {
        let format = ChunkedFormat::with_chunk_size(&key(1), DEFAULT_CHUNK_SIZE).unwrap();
        let mut data = b"hello chunk".to_vec();
        let tag = format.seal(3, false, &mut data);
        assert_ne!(&data, b"hello chunk");
        assert!(!format.open_chunk(4, false, &mut data.clone(), &tag));
        assert!(!format.open_chunk(3, true, &mut data.clone(), &tag));
        assert!(format.open_chunk(3, false, &mut data, &tag));
        assert_eq!(&data, b"hello chunk");
    }
}
