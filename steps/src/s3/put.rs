//! `s3.put`: upload a local file, with its SHA-256 stored in the object's
//! metadata, in parts above a size threshold, optionally only if the key
//! does not exist yet.
//!
//! Rerunning is safe: without `if_none_match` a rerun overwrites the object
//! with the same bytes; with `if_none_match: "*"` a rerun that finds the
//! object already there with the same SHA-256 counts as done (`created:
//! false`), and fails only when the existing object holds other bytes.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use serde::Deserialize;
use serde_json::Value;
use tokio::task::JoinSet;

use super::byte_size::ByteSize;
use super::connection::{self, Connection};
use super::file_digest::{self, METADATA_KEY};
use super::object_head::ObjectHead;
use super::s3_failure::Failure;
use crate::{
    params, Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput,
};

pub struct S3Put;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct PutParams {
    key: String,
    /// The file to upload, relative to the run's work directory unless absolute.
    path: String,
    /// `"*"`: write only if no object has this key (atomic on the server).
    #[serde(default)]
    if_none_match: Option<String>,
    /// Files at least this large go up in parts; default 64 MiB.
    #[serde(default)]
    multipart_threshold: Option<ByteSize>,
    /// Size of each part; default 16 MiB, at least 5 MiB (S3's minimum).
    #[serde(default)]
    part_size: Option<ByteSize>,
}

const DEFAULT_THRESHOLD: u64 = 64 << 20;
const DEFAULT_PART_SIZE: u64 = 16 << 20;
/// S3 refuses parts smaller than this, except the last.
const MIN_PART_SIZE: u64 = 5 << 20;
/// S3 allows at most this many parts; larger files get larger parts.
const MAX_PARTS: u64 = 10_000;
/// Parts uploaded at the same time.
const PARALLEL_PARTS: usize = 4;

#[async_trait]
impl StepKind for S3Put {
    fn name(&self) -> &'static str {
        "s3.put"
    }

    fn summary(&self) -> &'static str {
        "upload a file with its SHA-256 in the object metadata, multipart when large"
    }

    fn parameters(&self) -> Value {
        connection::schema::<PutParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = Connection::check(with);
        problems.extend(connection::check_own::<PutParams>(with));
        if let Some(Value::String(v)) = with.get("if_none_match") {
            if !params::is_template(v) && v != "*" {
                problems.push(ParamProblem::field(
                    "if_none_match",
                    format!("`{v}` is not supported; the only value is \"*\" (write only if the key does not exist)"),
                ));
            }
        }
        for field in ["multipart_threshold", "part_size"] {
            if let Some(Value::String(v)) = with.get(field) {
                if !params::is_template(v) {
                    if let Err(e) = super::byte_size::parse(v) {
                        problems.push(ParamProblem::field(field, e));
                    }
                }
            }
        }
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    fn default_rerun(&self) -> Rerun {
        // See the module comment: both forms converge on the same object.
        Rerun::Safe
    }

    fn describe(&self, with: &Value) -> String {
        let bucket = with.get("bucket").and_then(Value::as_str).unwrap_or("?");
        let key = with.get("key").and_then(Value::as_str).unwrap_or("?");
        let path = with.get("path").and_then(Value::as_str).unwrap_or("?");
        let mut out = format!("upload {path} to s3://{bucket}/{key}");
        if with.get("if_none_match").is_some() {
            out.push_str(" only if the key does not exist");
        }
        out
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::string("key", "the object key written"),
            OutputDecl::integer("bytes", "bytes uploaded"),
            OutputDecl::string("sha256", "SHA-256 of the content, hex"),
            OutputDecl::string("etag", "the object's ETag"),
            OutputDecl::bool(
                "created",
                "false when an identical object was already there",
            ),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (conn, p): (Connection, PutParams) = connection::parse(self.name(), ctx, with)?;
        if let Some(v) = &p.if_none_match {
            if v != "*" {
                return Err(StepError::new(format!(
                    "`if_none_match` must be \"*\", not `{v}`"
                )));
            }
        }
        let threshold =
            size_param(&p.multipart_threshold, "multipart_threshold")?.unwrap_or(DEFAULT_THRESHOLD);
        let part_size = size_param(&p.part_size, "part_size")?.unwrap_or(DEFAULT_PART_SIZE);
        if part_size < MIN_PART_SIZE {
            return Err(StepError::new(format!(
                "`part_size` is {part_size} bytes; S3 needs parts of at least 5 MiB"
            )));
        }
        let path = ctx.path(&p.path);
        let (sha256, len) = file_digest::sha256_file(&path).await.map_err(|e| {
            StepError::new(format!("cannot read {} to upload it: {e}", path.display()))
        })?;
        let upload = Upload {
            conn: &conn,
            ctx,
            key: &p.key,
            path: &path,
            len,
            sha256: &sha256,
            if_none_match: p.if_none_match.is_some(),
        };
        let result = if len > 0 && len >= threshold {
            upload.multipart(part_size).await
        } else {
            upload.single().await
        };
        let (etag, created) = match result {
            Ok(etag) => (etag, true),
            Err(Failure::PreconditionFailed) if upload.if_none_match => {
                (upload.existing_same_bytes().await?, false)
            }
            Err(f) => return Err(f.into_step_error("upload to", Some(&p.key), &conn, ctx)),
        };
        Ok(StepOutput::new()
            .with("key", p.key)
            .with("bytes", len)
            .with("sha256", sha256)
            .with("etag", etag.map(Value::from).unwrap_or(Value::Null))
            .with("created", created))
    }
}

fn size_param(size: &Option<ByteSize>, name: &str) -> Result<Option<u64>, StepError> {
    size.as_ref()
        .map(|s| {
            s.bytes()
                .map_err(|e| StepError::new(format!("invalid `{name}`: {e}")))
        })
        .transpose()
}

/// One upload of one file.
struct Upload<'a> {
    conn: &'a Connection,
    ctx: &'a StepContext,
    key: &'a str,
    path: &'a Path,
    len: u64,
    sha256: &'a str,
    if_none_match: bool,
}

impl Upload<'_> {
    async fn single(&self) -> Result<Option<String>, Failure> {
        let body = file_stream(self.path, 0, self.len).await?;
        let client = self.conn.client().await;
        let mut request = client
            .put_object()
            .bucket(&self.conn.bucket)
            .key(self.key)
            .content_length(self.len as i64)
            .metadata(METADATA_KEY, self.sha256)
            .body(body);
        if self.if_none_match {
            request = request.if_none_match("*");
        }
        self.ctx
            .progress
            .bytes(&self.ctx.step_id, 0, Some(self.len));
        let out = tokio::select! {
            r = request.send() => r.map_err(|e| Failure::classify(&e))?,
            _ = self.ctx.cancel.cancelled() => return Err(Failure::Cancelled),
        };
        self.ctx
            .progress
            .bytes(&self.ctx.step_id, self.len, Some(self.len));
        Ok(out.e_tag().map(str::to_string))
    }

    /// Creates a multipart upload, sends the parts and completes it; any
    /// failure (or cancellation) aborts the upload so no invisible parts
    /// keep costing storage.
    async fn multipart(&self, part_size: u64) -> Result<Option<String>, Failure> {
        let client = self.conn.client().await;
        let created = client
            .create_multipart_upload()
            .bucket(&self.conn.bucket)
            .key(self.key)
            .metadata(METADATA_KEY, self.sha256)
            .send()
            .await
            .map_err(|e| Failure::classify(&e))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| Failure::Other("the server returned no upload id".into()))?
            .to_string();
        let result = tokio::select! {
            r = self.send_parts_and_complete(&client, &upload_id, part_size) => r,
            _ = self.ctx.cancel.cancelled() => Err(Failure::Cancelled),
        };
        if result.is_err() {
            let _ = client
                .abort_multipart_upload()
                .bucket(&self.conn.bucket)
                .key(self.key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    async fn send_parts_and_complete(
        &self,
        client: &aws_sdk_s3::Client,
        upload_id: &str,
        part_size: u64,
    ) -> Result<Option<String>, Failure> {
        let part_size = part_size.max(self.len.div_ceil(MAX_PARTS));
        let count = self.len.div_ceil(part_size).max(1);
        let mut parts: Vec<CompletedPart> = Vec::with_capacity(count as usize);
        let mut tasks: JoinSet<Result<(CompletedPart, u64), Failure>> = JoinSet::new();
        let mut next = 0u64;
        let mut sent = 0u64;
        self.ctx
            .progress
            .bytes(&self.ctx.step_id, 0, Some(self.len));
        while next < count || !tasks.is_empty() {
            while next < count && tasks.len() < PARALLEL_PARTS {
                let offset = next * part_size;
                let len = part_size.min(self.len - offset);
                tasks.spawn(upload_part(
                    client.clone(),
                    self.conn.bucket.clone(),
                    self.key.to_string(),
                    upload_id.to_string(),
                    (next + 1) as i32,
                    self.path.to_path_buf(),
                    offset,
                    len,
                ));
                next += 1;
            }
            let Some(joined) = tasks.join_next().await else {
                break;
            };
            let (part, len) =
                joined.map_err(|e| Failure::Other(format!("a part upload task failed: {e}")))??;
            sent += len;
            self.ctx
                .progress
                .bytes(&self.ctx.step_id, sent, Some(self.len));
            parts.push(part);
        }
        parts.sort_by_key(|p| p.part_number());
        let mut request = client
            .complete_multipart_upload()
            .bucket(&self.conn.bucket)
            .key(self.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            );
        if self.if_none_match {
            request = request.if_none_match("*");
        }
        let out = request.send().await.map_err(|e| Failure::classify(&e))?;
        Ok(out.e_tag().map(str::to_string))
    }

    /// After a 412: the key exists. Done if it holds our bytes, else a
    /// clear refusal.
    async fn existing_same_bytes(&self) -> Result<Option<String>, StepError> {
        let head = ObjectHead::fetch(self.conn, self.ctx, self.key, "check").await?;
        let existing = match &head {
            Some(h) if h.sha256.as_deref() == Some(self.sha256) => return Ok(h.etag.clone()),
            Some(h) => match &h.sha256 {
                Some(s) => format!("its sha256 is {s}"),
                None => "it has no sha256 metadata".to_string(),
            },
            None => "it was deleted since".to_string(),
        };
        Err(StepError::new(format!(
            "`{}` already exists in bucket `{}` and `if_none_match: \"*\"` refuses to overwrite it ({existing}; {} has sha256 {}); delete the object first or write to another key",
            self.key,
            self.conn.bucket,
            self.path.display(),
            self.sha256
        )))
    }
}

#[allow(clippy::too_many_arguments)]
async fn upload_part(
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    upload_id: String,
    number: i32,
    path: PathBuf,
    offset: u64,
    len: u64,
) -> Result<(CompletedPart, u64), Failure> {
    let body = file_stream(&path, offset, len).await?;
    let out = client
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(number)
        .content_length(len as i64)
        .body(body)
        .send()
        .await
        .map_err(|e| Failure::classify(&e))?;
    let part = CompletedPart::builder()
        .part_number(number)
        .set_e_tag(out.e_tag().map(str::to_string))
        .build();
    Ok((part, len))
}

/// `len` bytes of a file from `offset`, read as the request is sent (and
/// re-read if the SDK retries it).
async fn file_stream(path: &Path, offset: u64, len: u64) -> Result<ByteStream, Failure> {
    ByteStream::read_from()
        .path(path)
        .offset(offset)
        .length(Length::Exact(len))
        .buffer_size(256 * 1024)
        .build()
        .await
        .map_err(|e| Failure::Other(format!("cannot read {}: {e}", path.display())))
}
