//! `vault.snapshot.restore`: load a Raft snapshot into a cluster.
//!
//! The file is verified offline first, so a damaged backup is refused before
//! the cluster is touched. Same cluster: `sys/storage/raft/snapshot`. A new
//! cluster after total loss: `force: true`, `sys/storage/raft/snapshot-force`;
//! the node then seals itself and unseals only with the keys of the cluster
//! the snapshot came from, and the old root token is the one that works.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use tokio_util::io::{InspectReader, ReaderStream};

use super::connection;
use crate::{
    Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput,
};

pub struct SnapshotRestore;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RestoreParams {
    /// The snapshot file.
    path: String,
    /// Restore a snapshot taken by a different cluster (its keys differ).
    #[serde(default)]
    force: bool,
}

#[async_trait]
impl StepKind for SnapshotRestore {
    fn name(&self) -> &'static str {
        "vault.snapshot.restore"
    }

    fn summary(&self) -> &'static str {
        "restore a Raft snapshot (force: true for a new cluster after total loss)"
    }

    fn parameters(&self) -> Value {
        connection::schema::<RestoreParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<RestoreParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    /// Never: a restore replaces every write made since the snapshot; doing
    /// it twice could drop writes made in between. A human decides.
    fn default_rerun(&self) -> Rerun {
        Rerun::Never
    }

    fn describe(&self, with: &Value) -> String {
        let force = with.get("force").and_then(Value::as_bool).unwrap_or(false);
        format!(
            "POST {}/v1/sys/storage/raft/{} < {}",
            super::describe_addr(with),
            if force { "snapshot-force" } else { "snapshot" },
            with.get("path").and_then(Value::as_str).unwrap_or("?")
        )
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::integer("index", "the snapshot's Raft index"),
            OutputDecl::integer("term", "the snapshot's Raft term"),
            OutputDecl::integer("size", "the state size in bytes"),
            OutputDecl::list("peers", "Raft peers: `{node_id, address, voter}`"),
            OutputDecl::string("sha256", "SHA-256 of the archive"),
            OutputDecl::integer("bytes", "the archive size in bytes"),
            OutputDecl::bool("verified", "whether its internal checksums matched"),
            OutputDecl::bool("restored", "whether the snapshot was restored"),
            OutputDecl::bool("forced", "whether `force` was used"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<RestoreParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let (full, archive) = super::snapshot_inspect::verify(ctx, &p.path).await?;
        let api = if p.force {
            "sys/storage/raft/snapshot-force"
        } else {
            "sys/storage/raft/snapshot"
        };
        let file = tokio::fs::File::open(&full)
            .await
            .map_err(|e| StepError::new(format!("cannot open `{}`: {e}", p.path)))?;
        let total = archive.file_bytes;
        let progress = ctx.progress.clone();
        let step = ctx.step_id.clone();
        let mut sent = 0u64;
        let counted = InspectReader::new(file, move |chunk: &[u8]| {
            sent += chunk.len() as u64;
            progress.bytes(&step, sent, Some(total));
        });
        let stream = ReaderStream::new(counted);
        let req = client
            .builder(Method::POST, api)
            .header("content-length", total)
            .body(reqwest::Body::wrap_stream(stream));
        let resp = client.send(ctx, &Method::POST, api, req).await?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let body = resp.json::<Value>().await.unwrap_or(Value::Null);
            let errors = super::client::server_errors(ctx, &body);
            if !p.force && errors.contains("could not verify hash file") {
                return Err(StepError::new(format!(
                    "{} refused `{}`: the snapshot was taken by a different cluster; use force: true for a restore into a new cluster (full cluster loss)",
                    client.addr(),
                    p.path
                )));
            }
            return Err(client.error(ctx, &Method::POST, api, status, &body));
        }
        if p.force {
            ctx.progress.warn(
                &ctx.step_id,
                &format!(
                    "{} now holds the snapshot and seals itself: unseal it with the unseal keys of the cluster the snapshot came from; \
                     only that cluster's tokens work, and other nodes must join again",
                    client.addr()
                ),
            );
        }
        Ok(super::snapshot_inspect::archive_outputs(&archive)
            .with("restored", true)
            .with("forced", p.force))
    }
}
