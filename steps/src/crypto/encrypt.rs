//! `crypto.encrypt`: a file to the `lifeboat-v1` encrypted layout.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::chunked_format::{ChunkedFormat, DEFAULT_CHUNK_SIZE, MAX_CHUNKS, TAG_LEN};
use super::output_file::OutputFile;
use super::{pipeline, read_full, CryptoError, Format, Key, ProgressMeter, Transformed};
use crate::{
    params, Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput,
};

pub struct Encrypt;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct EncryptParams {
    /// The plaintext file.
    input: String,
    /// Where the encrypted file goes; replaced atomically when complete.
    output: String,
    /// 32 bytes as 64 hex digits or base64, from a secret input.
    key: String,
}

#[async_trait]
impl StepKind for Encrypt {
    fn name(&self) -> &'static str {
        "crypto.encrypt"
    }

    fn summary(&self) -> &'static str {
        "encrypt a file with AES-256-GCM in the chunked lifeboat-v1 format (constant memory)"
    }

    fn secret_params(&self) -> &'static [&'static str] {
        &["key"]
    }

    fn parameters(&self) -> Value {
        params::schema::<EncryptParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = params::check::<EncryptParams>(with);
        problems.extend(super::check_common(with));
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    /// Writing a local file from the same input is harmless to repeat (the
    /// nonce prefix is fresh each time, so the bytes differ, not the content).
    fn default_rerun(&self) -> Rerun {
        Rerun::Safe
    }

    fn describe(&self, with: &Value) -> String {
        let get = |k: &str| with.get(k).and_then(Value::as_str).unwrap_or("?");
        format!(
            "encrypt {} -> {} (AES-256-GCM, lifeboat-v1, key «redacted»)",
            get("input"),
            get("output")
        )
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::string("path", "the encrypted file written"),
            OutputDecl::integer("bytes", "plaintext size in bytes"),
            OutputDecl::string(
                "format",
                "the encrypted file layout, `lifeboat-v1` or `legacy`",
            ),
            OutputDecl::string("sha256", "SHA-256 of the plaintext, hex"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let p: EncryptParams = params::parse(self.name(), with)?;
        super::run_transform(ctx, self.name(), &p.key, &p.input, &p.output, encrypt_file).await
    }
}

/// Encrypts `input` into `output` in the `lifeboat-v1` layout with the
/// default chunk size, hashing the plaintext on the way.
pub fn encrypt_file(
    input: &Path,
    output: &Path,
    key: &Key,
    meter: ProgressMeter,
) -> Result<Transformed, CryptoError> {
    encrypt_with_chunk_size(input, output, key, meter, DEFAULT_CHUNK_SIZE)
}

pub(crate) fn encrypt_with_chunk_size(
    input: &Path,
    output: &Path,
    key: &Key,
    mut meter: ProgressMeter,
    chunk_size: u32,
) -> Result<Transformed, CryptoError> {
    let mut file = File::open(input).map_err(|e| CryptoError::read(input, e))?;
    let len = file
        .metadata()
        .map_err(|e| CryptoError::read(input, e))?
        .len();
    super::check_not_same_file(input, output)?;
    let chunk_size_usize = chunk_size as usize;
    if len / chunk_size as u64 >= MAX_CHUNKS {
        return Err(CryptoError::TooLarge {
            path: input.display().to_string(),
            format: "lifeboat-v1",
            max: (MAX_CHUNKS - 1) * chunk_size as u64,
        });
    }
    meter.start(input, len);
    let format = ChunkedFormat::with_chunk_size(key, chunk_size)
        .map_err(|e| CryptoError::read(Path::new("the system random source"), e))?;
    let mut out = OutputFile::create(output)?;
    out.file()
        .write_all(&format.header())
        .map_err(|e| CryptoError::write(output, e))?;

    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut done = false;
    let mut index = 0u64;
    {
        let out_file = out.file();
        let format = &format;
        pipeline::run::<CryptoError>(
            chunk_size_usize + TAG_LEN,
            |buf| {
                if done {
                    return Ok(None);
                }
                let n = read_full(&mut file, &mut buf[..chunk_size_usize])
                    .map_err(|e| CryptoError::read(input, e))?;
                meter.advance(n)?;
                hasher.update(&buf[..n]);
                bytes += n as u64;
                // A short chunk is the last one; a file that is a multiple
                // of the chunk size ends with an empty one, so the reader
                // never needs to look ahead to find the end.
                done = n < chunk_size_usize;
                Ok(Some(n))
            },
            |plain| {
                if index >= MAX_CHUNKS {
                    return Err(CryptoError::TooLarge {
                        path: input.display().to_string(),
                        format: "lifeboat-v1 (the file grew while it was read)",
                        max: (MAX_CHUNKS - 1) * chunk_size as u64,
                    });
                }
                let n = plain.len();
                let last = n < chunk_size_usize;
                let tag = format.seal(index, last, plain);
                index += 1;
                out_file
                    .write_all(plain)
                    .and_then(|()| out_file.write_all(&tag))
                    .map_err(|e| CryptoError::write(output, e))
            },
        )?;
    }
    meter.finish();
    out.commit()?;
    Ok(Transformed {
        bytes,
        sha256: hasher.finalize().into(),
        format: Format::LifeboatV1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::chunked_format::HEADER_LEN;
    use crate::crypto::test_support::*;
    use crate::crypto::Decrypt;
    use serde_json::json;

    /// Encrypts with the step, decrypts with the step, compares.
    async fn round_trip(len: usize) {
        let dir = tempfile::tempdir().unwrap();
        let plain = data(len);
        std::fs::write(dir.path().join("snap"), &plain).unwrap();
        let (ctx, progress) = ctx_with_progress(dir.path());
        let enc = Encrypt
            .run(
                &ctx,
                json!({"input": "snap", "output": "snap.enc", "key": KEY_HEX}),
            )
            .await
            .unwrap();
        let digest = hex::encode(Sha256::digest(&plain));
        assert_eq!(enc.outputs["sha256"], digest);
        assert_eq!(enc.outputs["bytes"], len as u64);
        assert_eq!(enc.outputs["format"], "lifeboat-v1");
        assert_eq!(
            enc.outputs["path"],
            dir.path().join("snap.enc").display().to_string()
        );
        let chunks = len / DEFAULT_CHUNK_SIZE as usize + 1;
        let enc_len = std::fs::metadata(dir.path().join("snap.enc"))
            .unwrap()
            .len();
        assert_eq!(enc_len as usize, HEADER_LEN + len + chunks * TAG_LEN);
        assert_eq!(
            progress.0.lock().unwrap().last(),
            Some(&(len as u64, Some(len as u64))),
            "the final progress report covers the whole file"
        );

        let dec = Decrypt
            .run(
                &ctx,
                json!({"input": "snap.enc", "output": "restored", "key": KEY_HEX}),
            )
            .await
            .unwrap();
        assert_eq!(dec.outputs["sha256"], digest);
        assert_eq!(dec.outputs["bytes"], len as u64);
        assert_eq!(dec.outputs["format"], "lifeboat-v1");
        assert_eq!(std::fs::read(dir.path().join("restored")).unwrap(), plain);
        assert_eq!(entries(dir.path()), ["restored", "snap", "snap.enc"]);
    }

    #[tokio::test]
    async fn round_trips_empty_small_exact_and_multi_chunk_files() {
        round_trip(0).await;
        round_trip(1).await;
        round_trip(100_000).await;
        round_trip(DEFAULT_CHUNK_SIZE as usize).await;
        round_trip(2 * DEFAULT_CHUNK_SIZE as usize + 12_345).await;
    }

    #[test]
    fn small_chunks_round_trip_through_decrypt_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::parse(KEY_HEX).unwrap();
        for len in [0, 4095, 4096, 4097, 5 * 4096, 5 * 4096 + 1] {
            let plain = data(len);
            let (src, enc, dec) = (
                dir.path().join("p"),
                dir.path().join("e"),
                dir.path().join("d"),
            );
            std::fs::write(&src, &plain).unwrap();
            encrypt_with_chunk_size(&src, &enc, &key, ProgressMeter::silent(), 4096).unwrap();
            let out =
                super::super::decrypt_file(&enc, &dec, &key, ProgressMeter::silent()).unwrap();
            assert_eq!(out.bytes, len as u64);
            assert_eq!(std::fs::read(&dec).unwrap(), plain, "len {len}");
        }
    }

    #[tokio::test]
    async fn output_is_private_and_fresh_each_time() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("snap"), b"same plaintext").unwrap();
        let ctx = crate::StepContext::standalone("e", dir.path());
        for out in ["a.enc", "b.enc"] {
            Encrypt
                .run(
                    &ctx,
                    json!({"input": "snap", "output": out, "key": KEY_HEX}),
                )
                .await
                .unwrap();
        }
        let a = std::fs::read(dir.path().join("a.enc")).unwrap();
        let b = std::fs::read(dir.path().join("b.enc")).unwrap();
        assert_ne!(a, b, "each file gets a fresh random nonce prefix");
        assert_ne!(a[16..24], b[16..24]);
        let mode = std::fs::metadata(dir.path().join("a.enc"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[tokio::test]
    async fn a_missing_input_or_output_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("snap"), b"x").unwrap();
        let ctx = crate::StepContext::standalone("e", dir.path());
        let err = Encrypt
            .run(
                &ctx,
                json!({"input": "nope", "output": "x.enc", "key": KEY_HEX}),
            )
            .await
            .unwrap_err();
        assert!(
            err.message.starts_with("could not read `"),
            "{}",
            err.message
        );
        let err = Encrypt
            .run(
                &ctx,
                json!({"input": "snap", "output": "no/such/dir/x.enc", "key": KEY_HEX}),
            )
            .await
            .unwrap_err();
        assert!(
            err.message.contains("does not exist; create it first"),
            "{}",
            err.message
        );
        let err = Encrypt
            .run(
                &ctx,
                json!({"input": "snap", "output": "snap", "key": KEY_HEX}),
            )
            .await
            .unwrap_err();
        assert!(err.message.contains("are the same file"), "{}", err.message);
        std::fs::create_dir(dir.path().join("d")).unwrap();
        let err = Encrypt
            .run(
                &ctx,
                json!({"input": "snap", "output": "d", "key": KEY_HEX}),
            )
            .await
            .unwrap_err();
        assert!(err.message.contains("it is a directory"), "{}", err.message);
        std::fs::remove_dir(dir.path().join("d")).unwrap();
        assert_eq!(entries(dir.path()), ["snap"]);
    }

    /// Cancels the step the first time it reports progress, i.e. after the
    /// temporary output exists and the first chunk is under way.
    struct CancelOnFirstReport(tokio_util::sync::CancellationToken);

    impl crate::Progress for CancelOnFirstReport {
        fn bytes(&self, _step: &str, _done: u64, _total: Option<u64>) {
            self.0.cancel();
        }
    }

    #[tokio::test]
    async fn cancellation_mid_file_removes_the_temporary_output() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("snap"),
            data(3 * DEFAULT_CHUNK_SIZE as usize),
        )
        .unwrap();
        let mut ctx = crate::StepContext::standalone("e", dir.path());
        ctx.progress = std::sync::Arc::new(CancelOnFirstReport(ctx.cancel.clone()));
        let err = Encrypt
            .run(
                &ctx,
                json!({"input": "snap", "output": "snap.enc", "key": KEY_HEX}),
            )
            .await
            .unwrap_err();
        assert!(err.cancelled, "{}", err.message);
        assert!(
            err.message.starts_with("cancelled while processing `"),
            "{}",
            err.message
        );
        assert_eq!(entries(dir.path()), ["snap"]);
    }

    #[test]
    fn check_wants_the_key_from_a_template_and_knows_its_fields() {
        let ok =
            Encrypt.check(&json!({"input": "a", "output": "b", "key": "{{ inputs.backup_key }}"}));
        assert!(ok.is_empty(), "{ok:?}");
        let literal = Encrypt.check(&json!({"input": "a", "output": "b", "key": KEY_HEX}));
        assert_eq!(literal.len(), 1);
        assert_eq!(literal[0].path_string(), "key");
        assert!(!literal[0].message.contains(KEY_HEX));
        let unknown =
            Encrypt.check(&json!({"input": "a", "output": "b", "key": "{{ k }}", "chunk": 1}));
        assert!(
            unknown[0].message.contains("unknown field `chunk`"),
            "{unknown:?}"
        );
        let missing = Encrypt.check(&json!({"input": "a", "key": "{{ k }}"}));
        assert!(
            missing[0].message.contains("missing field `output`"),
            "{missing:?}"
        );
    }

    #[test]
    fn describe_and_rerun_policy() {
        let text = Encrypt.describe(&json!({"input": "a", "output": "b", "key": KEY_HEX}));
        assert!(
            !text.contains(KEY_HEX) && text.contains("«redacted»"),
            "{text}"
        );
        assert_eq!(Encrypt.effect(&Value::Null), Effect::Mutating);
        assert_eq!(Encrypt.default_rerun(), Rerun::Safe);
    }
}
