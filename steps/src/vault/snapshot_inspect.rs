//! `vault.snapshot.inspect`: verify a Raft snapshot file offline.
//!
//! OpenBao has no `snapshot inspect` command (Vault's `vault operator raft
//! snapshot inspect` exists but needs the binary); this kind needs neither
//! a server nor a binary. See [`super::snapshot_archive`].

use std::path::PathBuf;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use super::snapshot_archive::SnapshotArchive;
use crate::{
    params, Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput,
};

pub struct SnapshotInspect;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct InspectParams {
    /// The snapshot file; relative paths are against the run's work directory.
    path: String,
}

/// Reads and verifies a snapshot off the async runtime (it hashes the whole
/// file), naming it in messages as the runbook wrote it.
pub(crate) async fn verify(
    ctx: &StepContext,
    path: &str,
) -> Result<(PathBuf, SnapshotArchive), StepError> {
    let full = ctx.path(path);
    let name = path.to_string();
    let file = full.clone();
    let task = tokio::task::spawn_blocking(move || SnapshotArchive::read_named(&file, &name));
    let result = tokio::select! {
        r = task => r.map_err(|e| StepError::new(format!("verifying `{path}` stopped: {e}")))?,
        _ = ctx.cancel.cancelled() => return Err(StepError::cancelled(format!("verifying `{path}` was cancelled"))),
    };
    let archive = result.map_err(|e| StepError::new(e.to_string()))?;
    Ok((full, archive))
}

/// The archive's facts as step outputs.
pub(crate) fn archive_outputs(archive: &SnapshotArchive) -> StepOutput {
    let peers: Vec<Value> = archive
        .peers
        .iter()
        .map(|p| json!({"node_id": p.node_id, "address": p.address, "voter": p.voter}))
        .collect();
    StepOutput::new()
        .with("index", archive.index)
        .with("term", archive.term)
        .with("size", archive.size)
        .with("peers", peers)
        .with("sha256", archive.sha256.clone())
        .with("bytes", archive.file_bytes)
        .with("verified", true)
}

#[async_trait]
impl StepKind for SnapshotInspect {
    fn name(&self) -> &'static str {
        "vault.snapshot.inspect"
    }

    fn summary(&self) -> &'static str {
        "verify a Raft snapshot file offline: sums, index, term, size, peers"
    }

    fn parameters(&self) -> Value {
        params::schema::<InspectParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        params::check::<InspectParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        format!(
            "verify snapshot {} (gzip tar: meta.json, state.bin, SHA256SUMS)",
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
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let p: InspectParams = params::parse(self.name(), with)?;
        let (_, archive) = verify(ctx, &p.path).await?;
        Ok(archive_outputs(&archive))
    }
}
