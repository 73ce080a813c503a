//! `crypto.encrypt` and `crypto.decrypt`: AES-256-GCM for backup files.
//!
//! Backups are large (a Raft snapshot can be many GiB) and restores happen
//! under pressure, so the design goals are, in order: never hand over
//! plaintext that has not been authenticated, keep memory constant whatever
//! the file size, and be as fast as the hardware allows.
//!
//! - `chunked_format.rs`: the `lifeboat-v1` layout the encryptor writes,
//!   fixed-size chunks each sealed on its own, so memory is bounded and a
//!   truncated, reordered or edited file fails (see
//!   `docs/backup-encryption-format.md`).
//! - `legacy_format.rs`: the single-shot `IV(16) | TAG(16) | ciphertext`
//!   layout existing backup services write, decrypted as a stream.
//! - `encrypt.rs`, `decrypt.rs`: the step kinds, and [`encrypt_file`] /
//!   [`decrypt_file`] for tools and benchmarks.
//! - `key.rs`: the 32-byte key from hex or base64; never printed.
//! - `pipeline.rs`: the two-thread buffer pipeline that overlaps AES with
//!   SHA-256 and I/O.
//! - `output_file.rs`: temp file + rename, so a failure leaves nothing.
//! - `progress_meter.rs`: byte progress and cancellation between chunks.
//!
//! Both kinds also hash the plaintext with SHA-256 in the same pass, so a
//! restore pipeline reads the backup once.

mod chunked_format;
mod crypto_error;
mod decrypt;
mod encrypt;
mod key;
mod legacy_format;
mod output_file;
pub(crate) mod pipeline;
mod progress_meter;
#[cfg(test)]
pub(crate) mod test_support;

use std::io::{self, Read};
use std::path::Path;

use serde_json::Value;

pub use crypto_error::CryptoError;
pub use decrypt::{decrypt_file, decrypt_file_checked, Decrypt};
pub use encrypt::{encrypt_file, Encrypt};
pub use key::{Key, KeyError};
pub use progress_meter::ProgressMeter;

use crate::{StepContext, StepError, StepOutput};

/// Which layout a file was read or written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The chunked layout in `chunked_format.rs`.
    LifeboatV1,
    /// `IV(16) | TAG(16) | ciphertext`, see `legacy_format.rs`.
    LegacyIv16,
}

impl Format {
    /// The value of the `format` output.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::LifeboatV1 => "lifeboat-v1",
            Format::LegacyIv16 => "legacy-iv16",
        }
    }
}

/// What an encryption or decryption produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transformed {
    /// Plaintext size in bytes.
    pub bytes: u64,
    /// SHA-256 of the plaintext, computed in the same pass.
    pub sha256: [u8; 32],
    pub format: Format,
}

/// Reads until `buf` is full or the input ends; returns the count read.
/// Chunk boundaries must not depend on how the OS splits reads.
pub(crate) fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Refuses to overwrite the input with its own output, which the rename
/// would do after reading it whole (and which a rerun could not undo).
pub(crate) fn check_not_same_file(input: &Path, output: &Path) -> Result<(), CryptoError> {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(a), Ok(b)) = (std::fs::metadata(input), std::fs::metadata(output)) {
        if a.dev() == b.dev() && a.ino() == b.ino() {
            return Err(CryptoError::SameFile {
                path: output.display().to_string(),
            });
        }
    }
    Ok(())
}

/// Runs a file transform on the blocking pool and turns its result into the
/// step's outputs or error. Shared by both kinds.
pub(crate) async fn run_transform(
    ctx: &StepContext,
    kind: &str,
    key_text: &str,
    input: &str,
    output: &str,
    transform: impl FnOnce(&Path, &Path, &Key, ProgressMeter) -> Result<Transformed, CryptoError>
        + Send
        + 'static,
) -> Result<StepOutput, StepError> {
    let key = Key::parse(key_text)
        .map_err(|e| StepError::new(format!("invalid `key` for `{kind}`: {e}")))?;
    let input = ctx.path(input);
    let output = ctx.path(output);
    let meter = ProgressMeter::new(ctx);
    let out_path = output.clone();
    let result = tokio::task::spawn_blocking(move || transform(&input, &output, &key, meter))
        .await
        .map_err(|e| StepError::new(format!("`{kind}` stopped unexpectedly: {e}")))?;
    match result {
        Ok(done) => Ok(StepOutput::new()
            .with("path", Value::String(out_path.display().to_string()))
            .with("bytes", done.bytes)
            .with("format", done.format.as_str())
            .with("sha256", hex::encode(done.sha256))),
        Err(err @ CryptoError::Cancelled { .. }) => Err(StepError::cancelled(err.to_string())),
        Err(err) => Err(StepError::new(ctx.redactor.redact(&err.to_string()))),
    }
}

/// The parameter checks both kinds share: paths are non-empty, and the key
/// comes from a template (a secret input or a secret output), never from
/// text written into the runbook, where it would sit in clear in a file.
pub(crate) fn check_common(with: &Value) -> Vec<crate::ParamProblem> {
    use crate::ParamProblem;
    let mut problems = Vec::new();
    for field in ["input", "output"] {
        if let Some(Value::String(s)) = with.get(field) {
            if s.trim().is_empty() {
                problems.push(ParamProblem::field(
                    field,
                    format!("`{field}` is empty; give a file path"),
                ));
            }
        }
    }
    if let Some(Value::String(key)) = with.get("key") {
        if !crate::params::is_template(key) {
            problems.push(ParamProblem::field(
                "key",
                "the key is written into the runbook in clear; pass it from a secret input instead, e.g. `key: \"{{ inputs.backup_key }}\"`",
            ));
        }
    }
    problems
}
