//! Sealing files a step writes that hold secrets (`vault.init`'s
//! `output_file`) to the run's recipients.
//!
//! This crate knows nothing of runs or of who their recipients are: the
//! engine gives a step a [`FileSealer`] in [`crate::StepContext::file_sealer`]
//! when the run has recipients, and nothing when it has none (the file is
//! then written in clear, mode 0600, as before).

/// Encrypts a file's content to the run's recipients, and opens it again with
/// the operator's identity. The engine implements it with the `age` crate; a
/// sealed file is an ASCII-armoured age file, which `age -d` opens.
pub trait FileSealer: Send + Sync {
    /// `plain` sealed to every recipient of the run. `Err` says why, never
    /// with any of `plain` in it.
    fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, String>;

    /// The plaintext of a sealed file. `Err` is a whole sentence for the
    /// operator: to whom the file is sealed (fingerprints), why this
    /// identity cannot open it and what to do.
    fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, String>;
}

/// The first line of an ASCII-armoured age file.
pub const ARMORED_AGE_HEADER: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";

/// The first line of a binary age file.
pub const BINARY_AGE_HEADER: &[u8] = b"age-encryption.org/";

/// Whether `bytes` is an age file (armoured or binary), by its header; a key
/// file in clear is JSON and starts with `{`.
pub fn is_sealed(bytes: &[u8]) -> bool {
    let start = bytes.trim_ascii_start();
    start.starts_with(ARMORED_AGE_HEADER) || start.starts_with(BINARY_AGE_HEADER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_age_file_is_told_from_a_key_file_in_clear_by_its_header() {
        assert!(is_sealed(
            b"-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n"
        ));
        assert!(is_sealed(b"age-encryption.org/v1\n-> X25519 abc\n"));
        assert!(!is_sealed(b"{\n  \"root_token\": \"s.x\"\n}\n"));
        assert!(!is_sealed(b""));
    }
}
