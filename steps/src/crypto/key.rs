//! The 32-byte AES-256 key, parsed from the text a runbook hands over.
//!
//! Keys arrive through a secret input rendered into the step's `key`
//! parameter, so the text is the secret itself. Nothing here ever puts the
//! text, or any part of it, into an error message: errors say what shape was
//! expected and how many bytes were found, nothing more.

use base64::Engine as _;
use zeroize::Zeroizing;

/// The key length AES-256 needs.
pub const KEY_LEN: usize = 32;

/// A parsed AES-256 key. The bytes are wiped from memory when it is dropped,
/// and `Debug` prints no part of them.
#[derive(Clone)]
pub struct Key(Zeroizing<[u8; KEY_LEN]>);

/// Why a key could not be parsed. Never holds the key text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key is empty; pass a 32-byte key as 64 hex digits or base64 (e.g. from `openssl rand -hex 32`)")]
    Empty,
    #[error("key must be 32 bytes as 64 hex digits or base64; got {0} bytes")]
    WrongLength(usize),
    #[error("key must be 32 bytes as 64 hex digits or base64; the text ({0} characters) is neither valid hex nor valid base64")]
    NotHexOrBase64(usize),
}

impl Key {
    /// Parses a key from 64 hex digits or from base64 (standard or URL-safe
    /// alphabet, padded or not). Surrounding whitespace is ignored, since
    /// secrets read from files usually end with a newline.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(KeyError::Empty);
        }
        // Hex first: 64 hex digits are also valid base64 (48 bytes), and a
        // hex key is by far the more common form (`openssl rand -hex 32`).
        let is_hex = text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit());
        let bytes = if is_hex {
            Zeroizing::new(hex::decode(text).map_err(|_| KeyError::NotHexOrBase64(text.len()))?)
        } else {
            Zeroizing::new(decode_base64(text).ok_or(KeyError::NotHexOrBase64(text.len()))?)
        };
        let array: [u8; KEY_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::WrongLength(bytes.len()))?;
        Ok(Key(Zeroizing::new(array)))
    }

    /// Wraps raw key bytes (for tools and tests that hold the bytes already).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Key(Zeroizing::new(bytes))
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(«redacted»)")
    }
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    const BYTES: [u8; 32] = [
        0xfb, 0x01, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
        24, 25, 26, 27, 28, 29, 30, 0xff,
    ];

    #[test]
    fn parses_hex_in_either_case_with_surrounding_whitespace() {
        let lower = hex::encode(BYTES);
        assert_eq!(Key::parse(&lower).unwrap().bytes(), &BYTES);
        let upper = format!("  {}\n", lower.to_uppercase());
        assert_eq!(Key::parse(&upper).unwrap().bytes(), &BYTES);
    }

    #[test]
    fn parses_standard_and_url_safe_base64() {
        assert_eq!(Key::parse(&STANDARD.encode(BYTES)).unwrap().bytes(), &BYTES);
        assert_eq!(
            Key::parse(&URL_SAFE_NO_PAD.encode(BYTES)).unwrap().bytes(),
            &BYTES
        );
    }

    #[test]
    fn wrong_length_says_how_many_bytes_without_the_key() {
        let short = hex::encode(&BYTES[..31]);
        let err = Key::parse(&short).unwrap_err();
        assert_eq!(err, KeyError::WrongLength(31));
        let msg = err.to_string();
        assert_eq!(
            msg,
            "key must be 32 bytes as 64 hex digits or base64; got 31 bytes"
        );
        assert!(!msg.contains(&short[..8]), "the key text leaked: {msg}");
        let long = STANDARD.encode([7u8; 33]);
        assert_eq!(Key::parse(&long).unwrap_err(), KeyError::WrongLength(33));
    }

    #[test]
    fn garbage_and_empty_are_rejected_without_echoing_them() {
        let garbage = "correct horse battery staple!!";
        let msg = Key::parse(garbage).unwrap_err().to_string();
        assert!(msg.contains("neither valid hex nor valid base64"), "{msg}");
        assert!(!msg.contains("horse"), "the key text leaked: {msg}");
        assert_eq!(Key::parse(" \n").unwrap_err(), KeyError::Empty);
    }

    #[test]
    fn debug_never_shows_the_bytes() {
        let key = Key::from_bytes(BYTES);
        assert_eq!(format!("{key:?}"), "Key(«redacted»)");
    }
}
