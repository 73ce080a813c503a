//! `checksum.sha256`: a file's SHA-256 digest, optionally checked against an
//! expected value (from a manifest, an S3 object's metadata, a previous step).

use std::fs::File;
use std::path::Path;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::crypto::{pipeline, CryptoError, ProgressMeter};
use crate::{
    params, Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput,
};

pub struct Sha256Checksum;

/// Lower-case hex SHA-256 of `bytes`: the one digest helper of the
/// workspace (runbook digests, approval digests, manifests, snapshots).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ChecksumParams {
    /// The file to hash.
    path: String,
    /// The digest it must have: 64 hex digits, optionally `sha256:`-prefixed
    /// or followed by a file name as `sha256sum` prints it.
    #[serde(default)]
    expect: Option<String>,
}

/// Read size: large reads keep syscalls rare; two threads overlap reading
/// (a copy out of the page cache) with hashing.
const BUF_LEN: usize = 1 << 20;

#[async_trait]
impl StepKind for Sha256Checksum {
    fn name(&self) -> &'static str {
        "checksum.sha256"
    }

    fn summary(&self) -> &'static str {
        "compute a file's SHA-256, or verify it against an expected digest"
    }

    fn parameters(&self) -> Value {
        params::schema::<ChecksumParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = params::check::<ChecksumParams>(with);
        if let Some(Value::String(expect)) = with.get("expect") {
            if !params::is_template(expect) {
                if let Err(e) = parse_expected(expect) {
                    problems.push(ParamProblem::field("expect", e));
                }
            }
        }
        if let Some(Value::String(path)) = with.get("path") {
            if path.trim().is_empty() {
                problems.push(ParamProblem::field(
                    "path",
                    "`path` is empty; give a file path",
                ));
            }
        }
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        let path = with.get("path").and_then(Value::as_str).unwrap_or("?");
        match with.get("expect").and_then(Value::as_str) {
            Some(expect) => format!("sha256 {path}, expect {expect}"),
            None => format!("sha256 {path}"),
        }
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::string("sha256", "SHA-256 of the content, hex"),
            OutputDecl::integer("bytes", "size in bytes"),
            OutputDecl::string("path", "the file hashed"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let p: ChecksumParams = params::parse(self.name(), with)?;
        let expected = match &p.expect {
            Some(text) => Some(parse_expected(text).map_err(|e| {
                StepError::new(format!("invalid `expect` for `checksum.sha256`: {e}"))
            })?),
            None => None,
        };
        let path = ctx.path(&p.path);
        let meter = ProgressMeter::new(ctx);
        let hashed = path.clone();
        let result = tokio::task::spawn_blocking(move || sha256_file(&hashed, meter))
            .await
            .map_err(|e| StepError::new(format!("`checksum.sha256` stopped unexpectedly: {e}")))?;
        let (digest, bytes) = match result {
            Ok(done) => done,
            Err(err @ CryptoError::Cancelled { .. }) => {
                return Err(StepError::cancelled(err.to_string()))
            }
            Err(err) => return Err(StepError::new(ctx.redactor.redact(&err.to_string()))),
        };
        let digest = hex::encode(digest);
        let shown = path.display().to_string();
        let output = StepOutput::new()
            .with("sha256", digest.clone())
            .with("bytes", bytes)
            .with("path", shown.clone());
        match expected {
            Some(expected) if expected != digest => {
                let outputs: Map<String, Value> = output.outputs;
                Err(StepError::new(format!(
                    "checksum mismatch for `{shown}` ({bytes} bytes): expected sha256 {expected}, got {digest}; the file is damaged, incomplete, or not the one the digest was made for"
                ))
                .with_outputs(outputs))
            }
            _ => Ok(output),
        }
    }
}

/// Hashes a file with constant memory, reporting progress and honouring
/// cancellation between buffers. Returns the digest and the byte count.
pub fn sha256_file(path: &Path, mut meter: ProgressMeter) -> Result<([u8; 32], u64), CryptoError> {
    let mut file = File::open(path).map_err(|e| CryptoError::read(path, e))?;
    let len = file
        .metadata()
        .map_err(|e| CryptoError::read(path, e))?
        .len();
    meter.start(path, len);
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut done = false;
    pipeline::run::<CryptoError>(
        BUF_LEN,
        |buf| {
            if done {
                return Ok(None);
            }
            let n =
                crate::crypto::read_full(&mut file, buf).map_err(|e| CryptoError::read(path, e))?;
            meter.advance(n)?;
            done = n < buf.len();
            Ok(Some(n))
        },
        |data| {
            hasher.update(&*data);
            bytes += data.len() as u64;
            Ok(())
        },
    )?;
    meter.finish();
    Ok((hasher.finalize().into(), bytes))
}

/// Accepts `<64 hex>`, `sha256:<64 hex>` or a `sha256sum` line
/// (`<64 hex>  name`), in either case; returns lowercase hex.
pub(crate) fn parse_expected(text: &str) -> Result<String, String> {
    let first = text.split_whitespace().next().unwrap_or("");
    let hex_part = first
        .strip_prefix("sha256:")
        .or_else(|| first.strip_prefix("SHA256:"))
        .unwrap_or(first);
    if hex_part.len() == 64 && hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex_part.to_ascii_lowercase())
    } else {
        Err(format!(
            "`expect` must be a SHA-256 digest (64 hex digits, optionally `sha256:`-prefixed); got {} characters{}",
            hex_part.len(),
            if first.is_empty() { " (empty)" } else { "" }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `printf 'abc' | sha256sum`
    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    /// `sha256sum < /dev/null`
    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[tokio::test]
    async fn computes_the_digest_of_small_empty_and_multi_buffer_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("abc"), b"abc").unwrap();
        std::fs::write(dir.path().join("empty"), b"").unwrap();
        let big: Vec<u8> = (0..(3 * BUF_LEN + 5)).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("big"), &big).unwrap();
        let ctx = StepContext::standalone("c", dir.path());

        let out = Sha256Checksum
            .run(&ctx, json!({"path": "abc"}))
            .await
            .unwrap();
        assert_eq!(out.outputs["sha256"], ABC);
        assert_eq!(out.outputs["bytes"], 3);
        assert_eq!(
            out.outputs["path"],
            dir.path().join("abc").display().to_string()
        );
        let out = Sha256Checksum
            .run(&ctx, json!({"path": "empty"}))
            .await
            .unwrap();
        assert_eq!(out.outputs["sha256"], EMPTY);
        let out = Sha256Checksum
            .run(&ctx, json!({"path": "big"}))
            .await
            .unwrap();
        assert_eq!(out.outputs["sha256"], hex::encode(Sha256::digest(&big)));
        assert_eq!(out.outputs["bytes"], big.len() as u64);
    }

    #[tokio::test]
    async fn verifies_in_every_accepted_spelling() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("abc"), b"abc").unwrap();
        let ctx = StepContext::standalone("c", dir.path());
        for expect in [
            ABC.to_string(),
            ABC.to_uppercase(),
            format!("sha256:{ABC}"),
            format!("{ABC}  abc\n"),
        ] {
            let out = Sha256Checksum
                .run(&ctx, json!({"path": "abc", "expect": expect}))
                .await
                .unwrap_or_else(|e| panic!("{expect}: {}", e.message));
            assert_eq!(out.outputs["sha256"], ABC);
        }
    }

    #[tokio::test]
    async fn a_mismatch_fails_showing_both_digests_and_keeps_the_outputs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("abc"), b"abd").unwrap();
        let ctx = StepContext::standalone("c", dir.path());
        let err = Sha256Checksum
            .run(&ctx, json!({"path": "abc", "expect": ABC}))
            .await
            .unwrap_err();
        assert!(
            err.message.contains("checksum mismatch for `"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains(&format!("expected sha256 {ABC}")),
            "{}",
            err.message
        );
        let actual = hex::encode(Sha256::digest(b"abd"));
        assert!(
            err.message.contains(&format!("got {actual}")),
            "{}",
            err.message
        );
        assert_eq!(err.outputs["sha256"], actual);
        assert!(!err.cancelled);
    }

    #[tokio::test]
    async fn a_missing_file_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = StepContext::standalone("c", dir.path());
        let err = Sha256Checksum
            .run(&ctx, json!({"path": "nope.snap"}))
            .await
            .unwrap_err();
        assert!(
            err.message.starts_with("could not read `"),
            "{}",
            err.message
        );
        assert!(err.message.contains("nope.snap"), "{}", err.message);
    }

    #[test]
    fn check_rejects_a_malformed_literal_digest_but_not_a_template() {
        let bad = Sha256Checksum.check(&json!({"path": "x", "expect": "abc123"}));
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].path_string(), "expect");
        assert!(
            bad[0].message.contains("got 6 characters"),
            "{}",
            bad[0].message
        );
        assert!(Sha256Checksum
            .check(&json!({"path": "x", "expect": "{{ steps.f.outputs.sha256 }}"}))
            .is_empty());
        let unknown = Sha256Checksum.check(&json!({"path": "x", "expected": ABC}));
        assert!(unknown[0].message.contains("unknown field `expected`"));
    }
}
