//! `crypto.decrypt`: a Lifeboat-encrypted or legacy backup back to plaintext.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::chunked_format::{ChunkedFormat, HeaderProblem, HEADER_LEN, MAGIC, TAG_LEN};
use super::legacy_format::{LegacyDecryptor, MAX_CIPHERTEXT, PREFIX_LEN};
use super::output_file::OutputFile;
use super::{pipeline, read_full, CryptoError, Format, Key, ProgressMeter, Transformed};
use crate::{
    params, Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput,
};

pub struct Decrypt;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct DecryptParams {
    /// The encrypted file.
    input: String,
    /// Where the plaintext goes; replaced atomically once authenticated.
    output: String,
    /// 32 bytes as 64 hex digits or base64, from a secret input.
    key: String,
    /// The SHA-256 the plaintext must have (same spellings as
    /// `checksum.sha256`'s `expect`). Checked in the same pass; on a
    /// mismatch the output is not written.
    #[serde(default)]
    expect_sha256: Option<String>,
}

/// How much of each plaintext buffer the decrypting thread writes; the
/// hashing thread writes the rest. Reading + AES-GCM and SHA-256 cost about
/// the same, and writing into the page cache is the next largest cost, so
/// splitting it keeps both cores equally busy. Measured on 1 GiB: 0.89 to
/// 1.01 s, against 1.10 to 1.46 s when either thread writes it all.
/// Positional writes make the order of the two writes irrelevant.
fn front_part(len: usize) -> usize {
    len / 2
}

/// How much legacy ciphertext is decrypted per buffer: a multiple of 16, as
/// streaming GHASH needs every piece but the last to be whole blocks.
const LEGACY_PIECE: usize = 1 << 20;

#[async_trait]
impl StepKind for Decrypt {
    fn name(&self) -> &'static str {
        "crypto.decrypt"
    }

    fn summary(&self) -> &'static str {
        "decrypt an AES-256-GCM backup (lifeboat-v1 or legacy IV|tag|ciphertext), output appears only once authenticated"
    }

    fn secret_params(&self) -> &'static [&'static str] {
        &["key"]
    }

    fn parameters(&self) -> Value {
        params::schema::<DecryptParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = params::check::<DecryptParams>(with);
        problems.extend(super::check_common(with));
        if let Some(Value::String(expect)) = with.get("expect_sha256") {
            if !params::is_template(expect) {
                if let Err(e) = crate::checksum::parse_expected(expect) {
                    problems.push(ParamProblem::field("expect_sha256", e));
                }
            }
        }
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    /// Writing a local file from the same input is harmless to repeat.
    fn default_rerun(&self) -> Rerun {
        Rerun::Safe
    }

    fn describe(&self, with: &Value) -> String {
        let get = |k: &str| with.get(k).and_then(Value::as_str).unwrap_or("?");
        format!(
            "decrypt {} -> {} (AES-256-GCM, key «redacted»)",
            get("input"),
            get("output")
        )
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::string("path", "the plaintext file written"),
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
        let p: DecryptParams = params::parse(self.name(), with)?;
        let expected = match &p.expect_sha256 {
            Some(text) => Some(crate::checksum::parse_expected(text).map_err(|e| {
                StepError::new(format!("invalid `expect_sha256` for `crypto.decrypt`: {e}"))
            })?),
            None => None,
        };
        let transform = move |input: &Path, output: &Path, key: &Key, meter| {
            decrypt_file_checked(input, output, key, expected.as_deref(), meter)
        };
        super::run_transform(ctx, self.name(), &p.key, &p.input, &p.output, transform).await
    }
}

/// Decrypts `input` into `output`, hashing the plaintext on the way.
///
/// The format is recognised by the magic bytes; anything else is read as
/// the legacy layout. Plaintext is written to a temporary file beside
/// `output` and renamed only after the whole file has authenticated; on
/// any error the temporary file is removed and `output` is untouched.
pub fn decrypt_file(
    input: &Path,
    output: &Path,
    key: &Key,
    meter: ProgressMeter,
) -> Result<Transformed, CryptoError> {
    decrypt_file_checked(input, output, key, None, meter)
}

/// [`decrypt_file`], and when `expected_sha256` (lowercase hex) is given,
/// the plaintext must have that digest or the output is not written.
pub fn decrypt_file_checked(
    input: &Path,
    output: &Path,
    key: &Key,
    expected_sha256: Option<&str>,
    meter: ProgressMeter,
) -> Result<Transformed, CryptoError> {
    let (out, done) = decrypt_to_temp(input, output, key, meter)?;
    if let Some(expected) = expected_sha256 {
        let actual = hex::encode(done.sha256);
        if actual != expected {
            return Err(CryptoError::DigestMismatch {
                path: input.display().to_string(),
                bytes: done.bytes,
                expected: expected.to_string(),
                actual,
            });
        }
    }
    out.commit()?;
    Ok(done)
}

/// Decrypts into an uncommitted temporary file beside `output`.
fn decrypt_to_temp(
    input: &Path,
    output: &Path,
    key: &Key,
    mut meter: ProgressMeter,
) -> Result<(OutputFile, Transformed), CryptoError> {
    let mut file = File::open(input).map_err(|e| CryptoError::read(input, e))?;
    let len = file
        .metadata()
        .map_err(|e| CryptoError::read(input, e))?
        .len();
    super::check_not_same_file(input, output)?;
    meter.start(input, len);

    let mut head = [0u8; HEADER_LEN];
    let got = read_full(&mut file, &mut head).map_err(|e| CryptoError::read(input, e))?;
    let shown = input.display().to_string();
    if got >= MAGIC.len() && head[..MAGIC.len()] == MAGIC {
        if got < HEADER_LEN {
            return Err(CryptoError::BadHeader {
                path: shown,
                reason: format!("the header is cut short ({got} of {HEADER_LEN} bytes)"),
            });
        }
        let format = match ChunkedFormat::open(&head, key) {
            Ok(Some(format)) => format,
            Ok(None) => return Err(CryptoError::WrongKey { path: shown }),
            Err(HeaderProblem::UnsupportedVersion(version)) => {
                return Err(CryptoError::UnsupportedVersion {
                    path: shown,
                    version,
                })
            }
            Err(HeaderProblem::Damaged(reason)) => {
                return Err(CryptoError::BadHeader {
                    path: shown,
                    reason,
                })
            }
        };
        meter.advance(HEADER_LEN)?;
        decrypt_chunked(input, output, file, &format, meter)
    } else {
        if len < PREFIX_LEN as u64 {
            return Err(CryptoError::NotEncrypted { path: shown, len });
        }
        if len - PREFIX_LEN as u64 > MAX_CIPHERTEXT {
            return Err(CryptoError::TooLarge {
                path: shown,
                format: "the legacy layout (a single AES-GCM message)",
                max: MAX_CIPHERTEXT,
            });
        }
        let prefix: [u8; PREFIX_LEN] = head[..PREFIX_LEN].try_into().expect("32 bytes");
        file.seek(SeekFrom::Start(PREFIX_LEN as u64))
            .map_err(|e| CryptoError::read(input, e))?;
        meter.advance(PREFIX_LEN)?;
        decrypt_legacy(input, output, file, key, &prefix, meter)
    }
}

fn decrypt_chunked(
    input: &Path,
    output: &Path,
    mut file: File,
    format: &ChunkedFormat,
    mut meter: ProgressMeter,
) -> Result<(OutputFile, Transformed), CryptoError> {
    let shown = input.display().to_string();
    let chunk_size = format.chunk_size();
    let record_len = chunk_size + TAG_LEN;
    let out = OutputFile::create(output)?;
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut index = 0u64;
    let mut done = false;
    let mut written = 0u64;
    {
        let out = &out;
        pipeline::run::<CryptoError>(
            record_len,
            |buf| {
                if done {
                    return Ok(None);
                }
                let n = read_full(&mut file, buf).map_err(|e| CryptoError::read(input, e))?;
                meter.advance(n)?;
                // Only the last chunk is shorter than a full record: the
                // encryptor ends every file with one, empty if need be.
                let last = n < record_len;
                if last && n == 0 {
                    return Err(CryptoError::MissingFinalChunk {
                        path: shown.clone(),
                        chunks: index,
                    });
                }
                if last && n < TAG_LEN {
                    return Err(CryptoError::LastChunkAuth {
                        path: shown.clone(),
                        index,
                        len: n,
                        full: record_len,
                    });
                }
                let (data, tag) = buf[..n].split_at_mut(n - TAG_LEN);
                let tag: &[u8; TAG_LEN] = (&*tag).try_into().expect("16 bytes");
                if !format.open_chunk(index, last, data, tag) {
                    return Err(if last {
                        CryptoError::LastChunkAuth {
                            path: shown.clone(),
                            index,
                            len: n,
                            full: record_len,
                        }
                    } else {
                        CryptoError::ChunkAuth {
                            path: shown.clone(),
                            index,
                        }
                    });
                }
                if last {
                    let mut probe = [0u8; 1];
                    if read_full(&mut file, &mut probe).map_err(|e| CryptoError::read(input, e))?
                        > 0
                    {
                        return Err(CryptoError::TrailingData {
                            path: shown.clone(),
                            index,
                        });
                    }
                    done = true;
                }
                index += 1;
                let len = n - TAG_LEN;
                out.write_at(&buf[..front_part(len)], written)?;
                written += len as u64;
                Ok(Some(len))
            },
            |plain| {
                hasher.update(&*plain);
                let front = front_part(plain.len());
                out.write_at(&plain[front..], bytes + front as u64)?;
                bytes += plain.len() as u64;
                Ok(())
            },
        )?;
    }
    meter.finish();
    let done = Transformed {
        bytes,
        sha256: hasher.finalize().into(),
        format: Format::LifeboatV1,
    };
    Ok((out, done))
}

fn decrypt_legacy(
    input: &Path,
    output: &Path,
    mut file: File,
    key: &Key,
    prefix: &[u8; PREFIX_LEN],
    mut meter: ProgressMeter,
) -> Result<(OutputFile, Transformed), CryptoError> {
    let mut decryptor = LegacyDecryptor::new(key, prefix);
    let out = OutputFile::create(output)?;
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut done = false;
    let mut written = 0u64;
    {
        let out = &out;
        pipeline::run::<CryptoError>(
            LEGACY_PIECE,
            |buf| {
                if done {
                    return Ok(None);
                }
                let n = read_full(&mut file, buf).map_err(|e| CryptoError::read(input, e))?;
                meter.advance(n)?;
                done = n < buf.len();
                if !decryptor.update(&mut buf[..n]) {
                    return Err(CryptoError::TooLarge {
                        path: input.display().to_string(),
                        format: "the legacy layout (a single AES-GCM message)",
                        max: MAX_CIPHERTEXT,
                    });
                }
                out.write_at(&buf[..front_part(n)], written)?;
                written += n as u64;
                Ok(Some(n))
            },
            |plain| {
                hasher.update(&*plain);
                let front = front_part(plain.len());
                out.write_at(&plain[front..], bytes + front as u64)?;
                bytes += plain.len() as u64;
                Ok(())
            },
        )?;
    }
    // The loop ended on a short read, i.e. at the end of the file: the tag
    // now covers every byte.
    if !decryptor.finish() {
        return Err(CryptoError::LegacyAuth {
            path: input.display().to_string(),
        });
    }
    meter.finish();
    let done = Transformed {
        bytes,
        sha256: hasher.finalize().into(),
        format: Format::LegacyIv16,
    };
    Ok((out, done))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::encrypt::encrypt_with_chunk_size;
    use crate::crypto::legacy_format::tests::legacy_encrypt;
    use crate::crypto::test_support::*;
    use serde_json::json;

    const CHUNK: usize = 4096;
    const RECORD: usize = CHUNK + TAG_LEN;

    /// A 5-chunk file (4 full chunks and a short final one) in `dir/b.enc`.
    fn encrypted(dir: &Path) -> (Vec<u8>, Vec<u8>) {
        let plain = data(4 * CHUNK + 100);
        std::fs::write(dir.join("plain"), &plain).unwrap();
        let key = Key::parse(KEY_HEX).unwrap();
        encrypt_with_chunk_size(
            &dir.join("plain"),
            &dir.join("b.enc"),
            &key,
            ProgressMeter::silent(),
            CHUNK as u32,
        )
        .unwrap();
        std::fs::remove_file(dir.join("plain")).unwrap();
        (plain, std::fs::read(dir.join("b.enc")).unwrap())
    }

    /// Decrypts `bytes` with the step; asserts it fails, that the existing
    /// output is untouched and that no temporary file is left; returns the
    /// message.
    async fn fails(dir: &Path, bytes: &[u8], key: &str) -> String {
        std::fs::write(dir.join("bad.enc"), bytes).unwrap();
        std::fs::write(dir.join("out"), b"previous restore").unwrap();
        let before = entries(dir);
        let ctx = StepContext::standalone("d", dir);
        let err = Decrypt
            .run(
                &ctx,
                json!({"input": "bad.enc", "output": "out", "key": key}),
            )
            .await
            .unwrap_err();
        assert!(!err.cancelled);
        assert_eq!(entries(dir), before, "a temporary file was left behind");
        assert_eq!(std::fs::read(dir.join("out")).unwrap(), b"previous restore");
        assert!(
            !err.message.contains(key),
            "the key leaked: {}",
            err.message
        );
        err.message
    }

    #[tokio::test]
    async fn a_wrong_key_is_reported_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let (_, file) = encrypted(dir.path());
        let msg = fails(dir.path(), &file, OTHER_KEY_HEX).await;
        assert!(msg.starts_with("wrong key for `"), "{msg}");
        assert!(msg.contains("bad.enc"), "{msg}");
    }

    #[tokio::test]
    async fn a_flipped_bit_in_a_middle_chunk_names_the_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut file) = encrypted(dir.path());
        file[HEADER_LEN + 2 * RECORD + 1000] ^= 0x04;
        let msg = fails(dir.path(), &file, KEY_HEX).await;
        assert!(msg.contains("chunk 2 of `"), "{msg}");
        assert!(msg.contains("failed authentication"), "{msg}");
    }

    #[tokio::test]
    async fn a_flipped_bit_in_a_tag_or_the_header_fails() {
        let dir = tempfile::tempdir().unwrap();
        let (_, file) = encrypted(dir.path());
        let mut tag_flip = file.clone();
        tag_flip[HEADER_LEN + RECORD - 1] ^= 1;
        assert!(fails(dir.path(), &tag_flip, KEY_HEX)
            .await
            .contains("chunk 0 of `"));
        let mut prefix_flip = file.clone();
        prefix_flip[17] ^= 1;
        assert!(fails(dir.path(), &prefix_flip, KEY_HEX)
            .await
            .starts_with("wrong key for"));
        let mut version = file;
        version[8] = 7;
        let msg = fails(dir.path(), &version, KEY_HEX).await;
        assert!(msg.contains("format version 7"), "{msg}");
    }

    #[tokio::test]
    async fn dropping_the_final_chunk_is_detected_as_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let (_, file) = encrypted(dir.path());
        let cut = &file[..HEADER_LEN + 4 * RECORD];
        let msg = fails(dir.path(), cut, KEY_HEX).await;
        assert!(
            msg.ends_with(
                "is truncated: the final chunk is missing (read 4 chunks); fetch the backup again"
            ),
            "{msg}"
        );
        // Cut right after the header: no chunk at all.
        let msg = fails(dir.path(), &file[..HEADER_LEN], KEY_HEX).await;
        assert!(
            msg.contains("the final chunk is missing (read 0 chunks)"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn a_cut_inside_a_chunk_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let (_, file) = encrypted(dir.path());
        let msg = fails(dir.path(), &file[..HEADER_LEN + RECORD + 700], KEY_HEX).await;
        assert!(
            msg.contains("is truncated or corrupted: its last chunk (chunk 1, 700 bytes"),
            "{msg}"
        );
        let msg = fails(dir.path(), &file[..file.len() - 1], KEY_HEX).await;
        assert!(msg.contains("its last chunk (chunk 4,"), "{msg}");
        let msg = fails(dir.path(), &file[..HEADER_LEN + 5], KEY_HEX).await;
        assert!(msg.contains("chunk 0, 5 bytes"), "{msg}");
        let msg = fails(dir.path(), &file[..20], KEY_HEX).await;
        assert!(
            msg.contains("header is cut short (20 of 40 bytes)"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn swapped_chunks_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let (_, file) = encrypted(dir.path());
        let mut swapped = file.clone();
        let (one, two) = (HEADER_LEN + RECORD, HEADER_LEN + 2 * RECORD);
        swapped[one..two].copy_from_slice(&file[two..two + RECORD]);
        swapped[two..two + RECORD].copy_from_slice(&file[one..two]);
        let msg = fails(dir.path(), &swapped, KEY_HEX).await;
        assert!(msg.contains("chunk 1 of `"), "{msg}");
    }

    #[tokio::test]
    async fn data_after_the_final_chunk_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut file) = encrypted(dir.path());
        // Appended data makes the final chunk's record read as a full one,
        // which then fails as a non-final chunk.
        let (_, other) = {
            let sub = tempfile::tempdir().unwrap();
            encrypted(sub.path())
        };
        file.extend_from_slice(&other[HEADER_LEN..HEADER_LEN + RECORD]);
        let msg = fails(dir.path(), &file, KEY_HEX).await;
        assert!(msg.contains("chunk 4 of `"), "{msg}");
        // One stray byte makes the last record one byte too long.
        let (_, file) = encrypted(dir.path());
        let mut trailing = file.clone();
        trailing.push(0);
        let msg = fails(dir.path(), &trailing, KEY_HEX).await;
        assert!(msg.contains("its last chunk (chunk 4,"), "{msg}");
    }

    #[tokio::test]
    async fn legacy_files_decrypt_as_a_stream() {
        let dir = tempfile::tempdir().unwrap();
        // More than one pipeline buffer, and not a multiple of 16.
        let plain = data(2 * LEGACY_PIECE + 1001);
        let file = legacy_encrypt(&key_bytes(), [7; 16], &plain);
        std::fs::write(dir.path().join("old.bin"), &file).unwrap();
        let (ctx, progress) = ctx_with_progress(dir.path());
        let out = Decrypt
            .run(
                &ctx,
                json!({"input": "old.bin", "output": "snap", "key": KEY_HEX}),
            )
            .await
            .unwrap();
        assert_eq!(out.outputs["format"], "legacy-iv16");
        assert_eq!(out.outputs["bytes"], plain.len() as u64);
        assert_eq!(out.outputs["sha256"], hex::encode(Sha256::digest(&plain)));
        assert_eq!(std::fs::read(dir.path().join("snap")).unwrap(), plain);
        assert!(progress.0.lock().unwrap().len() >= 2);

        let empty = legacy_encrypt(&key_bytes(), [8; 16], b"");
        std::fs::write(dir.path().join("empty.bin"), &empty).unwrap();
        let out = Decrypt
            .run(
                &ctx,
                json!({"input": "empty.bin", "output": "e", "key": KEY_HEX}),
            )
            .await
            .unwrap();
        assert_eq!(out.outputs["bytes"], 0);
    }

    #[tokio::test]
    async fn legacy_failures_leave_nothing_and_say_what_was_tried() {
        let dir = tempfile::tempdir().unwrap();
        let plain = data(LEGACY_PIECE + 5);
        let file = legacy_encrypt(&key_bytes(), [7; 16], &plain);
        let msg = fails(dir.path(), &file, OTHER_KEY_HEX).await;
        assert!(msg.starts_with("wrong key or corrupted data: `"), "{msg}");
        assert!(msg.contains("legacy layout"), "{msg}");
        let mut flipped = file.clone();
        flipped[LEGACY_PIECE / 2] ^= 1;
        assert!(fails(dir.path(), &flipped, KEY_HEX)
            .await
            .contains("failed authentication"));
        let msg = fails(dir.path(), &file[..file.len() - 3], KEY_HEX).await;
        assert!(msg.contains("failed authentication"), "{msg}");
        let msg = fails(dir.path(), b"just a short text file\n", KEY_HEX).await;
        assert!(
            msg.contains(
                "is not a Lifeboat-encrypted file and too short for the legacy layout (23 bytes"
            ),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn expect_sha256_is_checked_in_the_same_pass() {
        let dir = tempfile::tempdir().unwrap();
        let (plain, file) = encrypted(dir.path());
        let good = hex::encode(Sha256::digest(&plain));
        let ctx = StepContext::standalone("d", dir.path());
        let out = Decrypt
            .run(
                &ctx,
                json!({"input": "b.enc", "output": "ok", "key": KEY_HEX, "expect_sha256": format!("sha256:{good}")}),
            )
            .await
            .unwrap();
        assert_eq!(out.outputs["sha256"], good);
        assert_eq!(std::fs::read(dir.path().join("ok")).unwrap(), plain);

        let wrong = hex::encode(Sha256::digest(b"another backup"));
        std::fs::write(dir.path().join("bad.enc"), &file).unwrap();
        let err = Decrypt
            .run(
                &ctx,
                json!({"input": "bad.enc", "output": "out", "key": KEY_HEX, "expect_sha256": wrong}),
            )
            .await
            .unwrap_err();
        assert!(
            err.message
                .starts_with("checksum mismatch for the plaintext of `"),
            "{}",
            err.message
        );
        assert!(
            err.message
                .contains(&format!("expected sha256 {wrong}, got {good}")),
            "{}",
            err.message
        );
        assert_eq!(
            entries(dir.path()),
            ["b.enc", "bad.enc", "ok"],
            "nothing was written"
        );
        let bad = Decrypt
            .check(&json!({"input": "a", "output": "b", "key": "{{ k }}", "expect_sha256": "xyz"}));
        assert_eq!(bad[0].path_string(), "expect_sha256");
    }

    #[tokio::test]
    async fn cancellation_stops_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let _ = encrypted(dir.path());
        let ctx = StepContext::standalone("d", dir.path());
        ctx.cancel.cancel();
        let err = Decrypt
            .run(
                &ctx,
                json!({"input": "b.enc", "output": "out", "key": KEY_HEX}),
            )
            .await
            .unwrap_err();
        assert!(err.cancelled, "{}", err.message);
        assert_eq!(entries(dir.path()), ["b.enc"]);
    }

    #[tokio::test]
    async fn a_bad_key_parameter_fails_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        let (_, _) = encrypted(dir.path());
        let ctx = StepContext::standalone("d", dir.path());
        let short = &KEY_HEX[..62];
        let err = Decrypt
            .run(
                &ctx,
                json!({"input": "b.enc", "output": "out", "key": short}),
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.message,
            "invalid `key` for `crypto.decrypt`: key must be 32 bytes as 64 hex digits or base64; got 31 bytes"
        );
        assert_eq!(entries(dir.path()), ["b.enc"]);
    }

    #[test]
    fn check_and_describe_keep_the_key_out() {
        let literal = Decrypt.check(&json!({"input": "a", "output": "b", "key": KEY_HEX}));
        assert_eq!(literal.len(), 1);
        assert!(!literal[0].message.contains(KEY_HEX));
        assert!(Decrypt
            .check(&json!({"input": "a", "output": "b", "key": "{{ inputs.backup_key }}"}))
            .is_empty());
        let text = Decrypt.describe(&json!({"input": "a", "output": "b", "key": KEY_HEX}));
        assert_eq!(text, "decrypt a -> b (AES-256-GCM, key «redacted»)");
        assert_eq!(Decrypt.default_rerun(), Rerun::Safe);
        assert_eq!(Decrypt.effect(&Value::Null), Effect::Mutating);
    }
}
