//! `s3.get`: download one object to a local file, streamed, with byte
//! progress, resumable on retry and verified against the stored SHA-256.
//!
//! The object is written to `<path>.part` and renamed to `<path>` only once
//! complete and verified, so a file at `<path>` is always whole. Next to the
//! partial file, `<path>.part.etag` records which version of the object it
//! holds: a retry that finds both, and finds the object unchanged, asks for
//! the remaining bytes only (`Range: bytes=<len>-` with `If-Match`). Both
//! files are created exclusively with mode 0600, never through a symlink,
//! and a partial file is continued only if this user created it
//! ([`crate::private_file`]); anything else at those names is removed.
//!
//! Network reads and disk writes run concurrently: the async task receives
//! chunks and hands them through a bounded channel to a blocking thread that
//! writes and hashes them, so hashing never stalls the socket.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::connection::{self, Connection};
use super::file_digest;
use super::object_head::{sha256_from, ObjectHead};
use super::s3_failure::{self, Failure};
use crate::{
    private_file, Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput,
};

pub struct S3Get;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct GetParams {
    key: String,
    /// Where to write, relative to the run's work directory unless absolute.
    path: String,
}

/// Chunks in flight between the socket and the disk writer.
const CHANNEL_DEPTH: usize = 64;

/// Progress is reported at most once per this many bytes.
const PROGRESS_STEP: u64 = 4 << 20;

#[async_trait]
impl StepKind for S3Get {
    fn name(&self) -> &'static str {
        "s3.get"
    }

    fn summary(&self) -> &'static str {
        "download an object to a file, resumable, verified against its stored SHA-256"
    }

    fn parameters(&self) -> Value {
        connection::schema::<GetParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = Connection::check(with);
        problems.extend(connection::check_own::<GetParams>(with));
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        // It writes only a local file in the run's directory.
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        let bucket = with.get("bucket").and_then(Value::as_str).unwrap_or("?");
        let key = with.get("key").and_then(Value::as_str).unwrap_or("?");
        let path = with.get("path").and_then(Value::as_str).unwrap_or("?");
        format!("download s3://{bucket}/{key} to {path}")
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::string("path", "the file downloaded"),
            OutputDecl::integer("bytes", "size in bytes"),
            OutputDecl::string("sha256", "SHA-256 of the content, hex"),
            OutputDecl::bool(
                "verified",
                "whether the content matched its recorded sha256",
            ),
            OutputDecl::integer(
                "resumed_from",
                "the byte offset an interrupted download resumed from",
            ),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (conn, p): (Connection, GetParams) = connection::parse(self.name(), ctx, with)?;
        let target = ctx.path(&p.path);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| StepError::new(format!("cannot create {}: {e}", parent.display())))?;
        }
        let files = PartFiles::new(&target);
        let download = Download {
            conn: &conn,
            ctx,
            key: &p.key,
            files: &files,
        };
        let done = download.run().await?;
        if done.stored_sha256.is_none() {
            ctx.progress.warn(
                &ctx.step_id,
                &format!(
                    "`{}` has no sha256 metadata, so the download could not be verified (objects written by `s3.put` have it)",
                    conn.url(&p.key)
                ),
            );
        }
        if let Some(stored) = &done.stored_sha256 {
            if stored != &done.sha256 {
                files.discard().await;
                return Err(StepError::new(format!(
                    "downloaded `{}` but its sha256 {} does not match the stored sha256 {stored}; the partial file was removed, so a retry downloads it again",
                    conn.url(&p.key),
                    done.sha256
                )));
            }
        }
        tokio::fs::rename(&files.part, &target).await.map_err(|e| {
            StepError::new(format!(
                "cannot move {} to {}: {e}",
                files.part.display(),
                target.display()
            ))
        })?;
        let _ = tokio::fs::remove_file(&files.etag).await;
        Ok(StepOutput::new()
            .with("path", target.display().to_string())
            .with("bytes", done.bytes)
            .with("sha256", done.sha256)
            .with("verified", done.stored_sha256.is_some())
            .with("resumed_from", done.resumed_from))
    }
}

/// The partial file and its ETag sidecar.
struct PartFiles {
    part: PathBuf,
    etag: PathBuf,
}

impl PartFiles {
    fn new(target: &Path) -> Self {
        let mut part = target.as_os_str().to_owned();
        part.push(".part");
        let mut etag = part.clone();
        etag.push(".etag");
        Self {
            part: part.into(),
            etag: etag.into(),
        }
    }

    async fn discard(&self) {
        let _ = tokio::fs::remove_file(&self.part).await;
        let _ = tokio::fs::remove_file(&self.etag).await;
    }

    /// The ETag and length of a partial file left by an earlier attempt,
    /// if both files are ours ([`private_file::is_own`]): a symlink or a
    /// file planted beside the target is never continued.
    async fn existing(&self) -> Option<(String, u64)> {
        let part = tokio::fs::symlink_metadata(&self.part).await.ok()?;
        let etag = tokio::fs::symlink_metadata(&self.etag).await.ok()?;
        if !private_file::is_own(&part) || !private_file::is_own(&etag) {
            return None;
        }
        let text = tokio::fs::read_to_string(&self.etag).await.ok()?;
        Some((text.trim().to_string(), part.len()))
    }

    /// Whether something that is not ours sits at the partial file's name.
    async fn foreign(&self) -> bool {
        tokio::fs::symlink_metadata(&self.part)
            .await
            .is_ok_and(|m| !private_file::is_own(&m))
    }
}

/// One attempt at fetching an object into its `.part` file.
struct Download<'a> {
    conn: &'a Connection,
    ctx: &'a StepContext,
    key: &'a str,
    files: &'a PartFiles,
}

/// What a finished transfer wrote.
struct Downloaded {
    bytes: u64,
    sha256: String,
    stored_sha256: Option<String>,
    resumed_from: u64,
}

impl Download<'_> {
    async fn run(&self) -> Result<Downloaded, StepError> {
        let offset = self.resume_offset().await?;
        let resuming = offset.is_some();
        match self.fetch(offset).await {
            // The object changed between the HEAD and the ranged GET: the
            // partial bytes belong to another version, start over.
            Err(Retry::FromScratch) if resuming => {
                self.files.discard().await;
                self.fetch(None).await.map_err(Retry::into_error)
            }
            other => other.map_err(Retry::into_error),
        }
    }

    /// Whether a partial file from an earlier attempt can be continued, and
    /// from which byte with which ETag.
    async fn resume_offset(&self) -> Result<Option<(u64, String)>, StepError> {
        let Some((etag, len)) = self.files.existing().await else {
            if self.files.foreign().await {
                self.ctx.progress.warn(
                    &self.ctx.step_id,
                    &format!(
                        "`{}` was not created by this user for the download (a symlink, another owner, other links, or open to group or others); it was removed and the download starts over",
                        self.files.part.display()
                    ),
                );
            }
            self.files.discard().await;
            return Ok(None);
        };
        let head = ObjectHead::require(self.conn, self.ctx, self.key, "download").await?;
        if head.etag.as_deref() == Some(etag.as_str()) && len <= head.size && len > 0 {
            Ok(Some((len, etag)))
        } else {
            self.files.discard().await;
            Ok(None)
        }
    }

    async fn fetch(&self, resume: Option<(u64, String)>) -> Result<Downloaded, Retry> {
        let client = self.conn.client().await;
        let offset = resume.as_ref().map_or(0, |(o, _)| *o);
        let mut request = client.get_object().bucket(&self.conn.bucket).key(self.key);
        if let Some((offset, etag)) = &resume {
            request = request.range(format!("bytes={offset}-")).if_match(etag);
        }
        let response = tokio::select! {
            r = request.send() => r,
            _ = self.ctx.cancel.cancelled() => return Err(Retry::Fail(self.cancelled())),
        };
        let (mut body, remaining, stored_sha256) = match response {
            Ok(out) => {
                if resume.is_none() {
                    let etag = out.e_tag().unwrap_or_default().to_string();
                    self.write_etag(&etag).await.map_err(|e| {
                        Retry::Fail(StepError::new(format!(
                            "cannot write {}: {e}",
                            self.files.etag.display()
                        )))
                    })?;
                }
                let remaining = out.content_length().unwrap_or(0).max(0) as u64;
                let sha = sha256_from(out.metadata());
                (out.body, remaining, sha)
            }
            Err(e) => {
                return Err(match Failure::classify(&e) {
                    Failure::PreconditionFailed | Failure::RangeNotSatisfiable
                        if resume.is_some() =>
                    {
                        Retry::FromScratch
                    }
                    f => Retry::Fail(f.into_step_error(
                        "download",
                        Some(self.key),
                        self.conn,
                        self.ctx,
                    )),
                })
            }
        };
        let total = offset + remaining;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(CHANNEL_DEPTH);
        let part = self.files.part.clone();
        let writer = tokio::task::spawn_blocking(move || -> std::io::Result<(u64, Sha256)> {
            let mut hasher = Sha256::new();
            let mut file = if offset > 0 {
                // The same descriptor is hashed and appended to, and it was
                // checked to be ours after opening (no symlink followed).
                let mut existing = private_file::open_own(&part)?;
                let mut limited = std::io::Read::take(&mut existing, offset);
                file_digest::hash_into(&mut limited, &mut hasher)?;
                existing
            } else {
                // Exclusive, never through a symlink, 0600: backups are
                // secrets even when `path` is outside the run's private
                // work directory.
                private_file::create_new(&part)?
            };
            let mut written = 0u64;
            while let Some(chunk) = rx.blocking_recv() {
                file.write_all(&chunk)?;
                hasher.update(&chunk);
                written += chunk.len() as u64;
            }
            file.sync_all()?;
            Ok((written, hasher))
        });
        let mut received = offset;
        let mut reported = 0u64;
        self.ctx
            .progress
            .bytes(&self.ctx.step_id, received, Some(total));
        let stream_result: Result<(), StepError> = loop {
            let next = tokio::select! {
                n = body.try_next() => n,
                _ = self.ctx.cancel.cancelled() => break Err(self.cancelled()),
            };
            match next {
                Ok(Some(chunk)) => {
                    received += chunk.len() as u64;
                    if received - reported >= PROGRESS_STEP {
                        reported = received;
                        self.ctx.progress.bytes(&self.ctx.step_id, received, Some(total));
                    }
                    if tx.send(chunk).await.is_err() {
                        // The writer stopped; its error is reported below.
                        break Ok(());
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => {
                    break Err(StepError::new(self.ctx.redactor.redact(&format!(
                        "downloading `{}` was interrupted after {received} of {total} bytes ({}); the partial file {} is kept and a retry resumes from it",
                        self.conn.url(self.key),
                        s3_failure::chain(&e),
                        self.files.part.display()
                    ))))
                }
            }
        };
        drop(tx);
        let written = writer
            .await
            .map_err(|e| Retry::Fail(StepError::new(format!("the download writer failed: {e}"))))?
            .map_err(|e| {
                Retry::Fail(StepError::new(format!(
                    "cannot write {}: {e}",
                    self.files.part.display()
                )))
            });
        stream_result.map_err(Retry::Fail)?;
        let (written, hasher) = written?;
        self.ctx
            .progress
            .bytes(&self.ctx.step_id, received, Some(total));
        if offset + written != total {
            return Err(Retry::Fail(StepError::new(format!(
                "downloading `{}` ended after {} of {total} bytes; a retry resumes from the partial file",
                self.conn.url(self.key),
                offset + written
            ))));
        }
        Ok(Downloaded {
            bytes: total,
            sha256: hex::encode(hasher.finalize()),
            stored_sha256,
            resumed_from: offset,
        })
    }

    /// Records which version of the object the partial file holds, in a
    /// file created afresh (exclusive, no symlink followed, 0600).
    async fn write_etag(&self, etag: &str) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        match tokio::fs::remove_file(&self.files.etag).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&self.files.etag)
            .await?;
        file.write_all(etag.as_bytes()).await?;
        file.flush().await
    }

    fn cancelled(&self) -> StepError {
        StepError::cancelled(format!(
            "downloading `{}` was cancelled; the partial file {} is kept for a retry",
            self.conn.url(self.key),
            self.files.part.display()
        ))
    }
}

/// Why an attempt did not finish.
enum Retry {
    /// The partial file is stale; download the whole object again.
    FromScratch,
    Fail(StepError),
}

impl Retry {
    fn into_error(self) -> StepError {
        match self {
            Retry::FromScratch => StepError::new("the object kept changing while downloading it"),
            Retry::Fail(e) => e,
        }
    }
}
