//! `vault.snapshot.save`: stream a Raft snapshot to a file.
//!
//! The body goes to a temporary file next to the target (a random name,
//! created exclusively, mode 0600: see [`crate::private_file`]) and is
//! renamed into place only after it was fsynced and verified offline, so a
//! file at `path` is always a whole, checked snapshot.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::connection;
use crate::{Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput};

pub struct SnapshotSave;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SaveParams {
    /// Where to write the snapshot; an existing file is replaced atomically.
    path: String,
}

const SNAPSHOT_PATH: &str = "sys/storage/raft/snapshot";

#[async_trait]
impl StepKind for SnapshotSave {
    fn name(&self) -> &'static str {
        "vault.snapshot.save"
    }

    fn summary(&self) -> &'static str {
        "save a Raft snapshot to a file (streamed, verified, then renamed into place)"
    }

    fn parameters(&self) -> Value {
        connection::schema::<SaveParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<SaveParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        format!(
            "GET {}/v1/{SNAPSHOT_PATH} > {}",
            super::describe_addr(with),
            with.get("path").and_then(Value::as_str).unwrap_or("?")
        )
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::string("path", "the snapshot file written"),
            OutputDecl::integer("bytes", "its size in bytes"),
            OutputDecl::string("sha256", "its SHA-256"),
            OutputDecl::integer("index", "the snapshot's Raft index"),
            OutputDecl::integer("term", "the snapshot's Raft term"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<SaveParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let target = ctx.path(&p.path);
        let dir = target.parent().map(|d| d.to_path_buf()).unwrap_or_default();
        if target.file_name().is_none() {
            return Err(StepError::new(format!("`{}` is not a file path", p.path)));
        }
        let req = client.builder(Method::GET, SNAPSHOT_PATH);
        let mut resp = client.send(ctx, &Method::GET, SNAPSHOT_PATH, req).await?;
        let status = resp.status().as_u16();
        if status != 200 {
            let body = resp.json::<Value>().await.unwrap_or(Value::Null);
            return Err(client.error(ctx, &Method::GET, SNAPSHOT_PATH, status, &body));
        }
        let total = resp.content_length();
        // A random name, created exclusively with mode 0600: nothing planted
        // beside the target can redirect the snapshot. Dropped (any error,
        // cancellation) it is removed.
        let temp = crate::private_file::temp_beside(&target).map_err(|e| {
            StepError::new(format!(
                "cannot create a temporary file in `{}`: {e}",
                dir.display()
            ))
        })?;
        let (file, tmp) = temp.into_parts();
        let mut file = tokio::fs::File::from_std(file);
        let result: Result<(u64, String), StepError> = async {
            let mut hasher = Sha256::new();
            let mut done = 0u64;
            loop {
                let chunk = tokio::select! {
                    c = resp.chunk() => c.map_err(|e| StepError::new(format!(
                        "the snapshot stream from {} broke after {done} bytes: {}",
                        client.addr(), crate::http::describe_reqwest_error(&e)
                    )))?,
                    _ = ctx.cancel.cancelled() => return Err(StepError::cancelled("vault.snapshot.save cancelled")),
                };
                let Some(chunk) = chunk else { break };
                hasher.update(&chunk);
                file.write_all(&chunk).await.map_err(|e| {
                    StepError::new(format!("writing `{}` failed: {e}", tmp.display()))
                })?;
                done += chunk.len() as u64;
                ctx.progress.bytes(&ctx.step_id, done, total);
            }
            file.sync_all()
                .await
                .map_err(|e| StepError::new(format!("fsync of `{}` failed: {e}", tmp.display())))?;
            Ok((done, hex::encode(hasher.finalize())))
        }
        .await;
        drop(file);
        let (bytes, sha256) = result?;
        let tmp_name = tmp.display().to_string();
        let archive = match super::snapshot_inspect::verify(ctx, &tmp_name).await {
            Ok((_, a)) => a,
            Err(e) => {
                return Err(StepError::new(format!(
                    "the snapshot {} sent does not verify: {}",
                    client.addr(),
                    e.message
                )));
            }
        };
        tmp.persist(&target).map_err(|e| {
            StepError::new(format!(
                "moving the snapshot into `{}` failed: {}",
                target.display(),
                e.error
            ))
        })?;
        if let Ok(d) = tokio::fs::File::open(&dir).await {
            let _ = d.sync_all().await;
        }
        Ok(StepOutput::new()
            .with("path", target.display().to_string())
            .with("bytes", bytes)
            .with("sha256", sha256)
            .with("index", archive.index)
            .with("term", archive.term))
    }
}
