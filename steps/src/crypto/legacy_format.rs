//! The single-shot layout existing backup services write:
//!
//! ```text
//! offset size field
//!      0   16 IV (GCM nonce of 16 bytes)
//!     16   16 GCM tag
//!     32    . ciphertext, no associated data
//! ```
//!
//! The tag covers the whole ciphertext and sits in front of it, so the
//! layout cannot be verified before it has been read to the end. The
//! `aes-gcm` crate only decrypts a message held whole in memory, which would
//! make memory grow with the backup. Instead this file runs GCM's two halves
//! (NIST SP 800-38D, section 7.2) as streams, from the same RustCrypto
//! primitives `aes-gcm` is built on: CTR with a 32-bit big-endian counter for
//! the keystream, GHASH for the tag. Plaintext is released block by block,
//! but only ever into the caller's temporary file, which is renamed into
//! place only after [`LegacyDecryptor::finish`] has verified the tag, so
//! nothing unauthenticated is ever visible at the output path. Tests check
//! the result against `aes_gcm::AesGcm<Aes256, U16>` byte for byte.

use aes::cipher::{BlockCipherEncrypt, KeyInit, KeyIvInit, StreamCipher};
use aes::Aes256;
use ghash::universal_hash::UniversalHash;
use ghash::GHash;

use super::chunked_format::{constant_time_eq, TAG_LEN};
use super::Key;

pub const IV_LEN: usize = 16;
/// Bytes before the ciphertext.
pub const PREFIX_LEN: usize = IV_LEN + TAG_LEN;
/// GCM's limit on one message: 2^32 - 2 blocks of keystream.
pub const MAX_CIPHERTEXT: u64 = (1 << 36) - 32;

/// Streaming AES-256-GCM decryption of one legacy file.
pub struct LegacyDecryptor {
    ctr: ctr::Ctr32BE<Aes256>,
    ghash: GHash,
    /// E(K, J0), XORed into GHASH's output to form the tag.
    tag_mask: [u8; 16],
    expected_tag: [u8; TAG_LEN],
    ciphertext_len: u64,
    /// A block was shorter than 16 bytes: only the last may be.
    saw_partial: bool,
}

impl LegacyDecryptor {
    /// Starts decryption from the file's first 32 bytes (IV, then tag).
    pub fn new(key: &Key, prefix: &[u8; PREFIX_LEN]) -> Self {
        let cipher = Aes256::new(key.bytes().into());
        let mut h = [0u8; 16];
        cipher.encrypt_block((&mut h).into());
        let ghash_key = ghash::Key::from(h);
        let ghash = GHash::new(&ghash_key);

        // J0 for an IV that is not 96 bits: GHASH(IV || 0^64 || [len(IV)]_64).
        // A 16-byte IV is exactly one block, so no padding is needed.
        let mut j0_hash = ghash.clone();
        j0_hash.update_padded(&prefix[..IV_LEN]);
        let mut len_block = [0u8; 16];
        len_block[8..].copy_from_slice(&((IV_LEN as u64) * 8).to_be_bytes());
        j0_hash.update(&[len_block.into()]);
        let j0: [u8; 16] = j0_hash.finalize().into();

        // The keystream starts at J0: its first block masks the tag, the
        // rest (from inc32(J0)) encrypts the data.
        let mut ctr = ctr::Ctr32BE::<Aes256>::new(key.bytes().into(), &j0.into());
        let mut tag_mask = [0u8; 16];
        ctr.apply_keystream(&mut tag_mask);

        Self {
            ctr,
            ghash,
            tag_mask,
            expected_tag: prefix[IV_LEN..].try_into().expect("16 bytes"),
            ciphertext_len: 0,
            saw_partial: false,
        }
    }

    /// Decrypts the next piece of ciphertext in place. Every piece but the
    /// last must be a multiple of 16 bytes, as GHASH pads each call.
    /// Returns `false` once the message is longer than GCM allows.
    #[must_use]
    pub fn update(&mut self, data: &mut [u8]) -> bool {
        assert!(!self.saw_partial, "only the last piece may be partial");
        self.saw_partial = !data.len().is_multiple_of(16);
        self.ciphertext_len += data.len() as u64;
        if self.ciphertext_len > MAX_CIPHERTEXT {
            return false;
        }
        self.ghash.update_padded(data);
        self.ctr.apply_keystream(data);
        true
    }

    /// Whether the tag matches all the ciphertext seen.
    #[must_use]
    pub fn finish(mut self) -> bool {
        let mut len_block = [0u8; 16];
        // No associated data: its bit length (bytes 0..8) stays zero.
        len_block[8..].copy_from_slice(&(self.ciphertext_len * 8).to_be_bytes());
        self.ghash.update(&[len_block.into()]);
        let mut tag: [u8; 16] = self.ghash.finalize().into();
        for (t, m) in tag.iter_mut().zip(self.tag_mask) {
            *t ^= m;
        }
        constant_time_eq(&tag, &self.expected_tag)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aes_gcm::aead::consts::U16;
    use aes_gcm::aead::AeadInOut;
    use aes_gcm::AesGcm;

    /// Writes `plaintext` in the legacy layout with `aes-gcm` itself, as an
    /// existing backup service would.
    pub(crate) fn legacy_encrypt(key: &[u8; 32], iv: [u8; 16], plaintext: &[u8]) -> Vec<u8> {
        let cipher = AesGcm::<Aes256, U16>::new(key.into());
        let mut data = plaintext.to_vec();
        let tag = cipher
            .encrypt_inout_detached(&iv.into(), b"", (&mut data[..]).into())
            .unwrap();
        let mut out = iv.to_vec();
        out.extend_from_slice(&tag);
        out.extend_from_slice(&data);
        out
    }

    fn stream_decrypt(key: &[u8; 32], file: &[u8], piece: usize) -> Option<Vec<u8>> {
        let mut dec = LegacyDecryptor::new(&Key::from_bytes(*key), file[..32].try_into().unwrap());
        let mut data = file[32..].to_vec();
        for chunk in data.chunks_mut(piece) {
            assert!(dec.update(chunk));
        }
        dec.finish().then_some(data)
    }

    #[test]
    fn streaming_matches_aes_gcm_for_every_length_and_piece_size() {
        let key = [0x42; 32];
        let plaintext: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 255, 256, 257, 1000] {
            let file = legacy_encrypt(&key, [len as u8; 16], &plaintext[..len]);
            for piece in [16, 32, 64, 4096] {
                let out = stream_decrypt(&key, &file, piece)
                    .unwrap_or_else(|| panic!("len {len} piece {piece} failed"));
                assert_eq!(out, &plaintext[..len], "len {len} piece {piece}");
            }
        }
    }

    #[test]
    fn any_flipped_bit_or_wrong_key_fails() {
        let key = [0x42; 32];
        let file = legacy_encrypt(&key, [9; 16], b"snapshot bytes, a few blocks long....");
        assert!(stream_decrypt(&[0x43; 32], &file, 16).is_none());
        for byte in [0, 15, 16, 31, 32, file.len() - 1] {
            let mut bad = file.clone();
            bad[byte] ^= 0x80;
            assert!(stream_decrypt(&key, &bad, 16).is_none(), "flip at {byte}");
        }
        let truncated = &file[..file.len() - 1];
        assert!(stream_decrypt(&key, truncated, 16).is_none());
    }
}
