//! `vault.kv.verify`: compare a KV v2 mount against a manifest written by
//! `vault.kv.export`, by digest, without revealing any value.
//!
//! The manifest's secrets are read `concurrency` at a time (`bulk.rs`) and
//! compared as each answer's turn comes, while the mount is walked for
//! secrets the manifest does not list. With `paths`, only those entries of
//! the manifest are compared (the secrets written back from it), and the
//! mount is not walked.

use std::collections::HashSet;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use futures_util::{stream, TryStreamExt};

use super::super::connection;
use super::bulk::{self, BulkReads};
use crate::{Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput};

pub struct KvVerify;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct VerifyParams {
    #[serde(default = "super::default_mount")]
    mount: String,
    /// The manifest file written by `vault.kv.export`.
    manifest: String,
    /// The folder the manifest covers, for finding secrets it does not
    /// list (`extra`); default the whole mount.
    #[serde(default)]
    prefix: String,
    /// Compare only the manifest's entries for these secrets (each must be
    /// listed in it); the mount is not walked for unlisted ones.
    #[serde(default)]
    paths: Option<Vec<String>>,
    /// How many requests are in flight at once, 1 to 256; default 16.
    #[serde(default = "bulk::default_concurrency")]
    #[schemars(range(min = 1, max = 256))]
    concurrency: u32,
}

#[derive(Deserialize)]
struct Entry {
    path: String,
    version: u64,
    sha256: String,
}

impl AsRef<str> for Entry {
    fn as_ref(&self) -> &str {
        &self.path
    }
}

/// How many differing paths a failure message lists before summarising.
const SHOWN: usize = 20;

fn shown(paths: &[String]) -> String {
    let mut out: Vec<String> = paths.iter().take(SHOWN).map(|p| format!("`{p}`")).collect();
    if paths.len() > SHOWN {
        out.push(format!("and {} more", paths.len() - SHOWN));
    }
    out.join(", ")
}

#[async_trait]
impl StepKind for KvVerify {
    fn name(&self) -> &'static str {
        "vault.kv.verify"
    }

    fn summary(&self) -> &'static str {
        "check a KV v2 mount against a vault.kv.export manifest (by SHA-256)"
    }

    fn parameters(&self) -> Value {
        connection::schema::<VerifyParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = connection::check::<VerifyParams>(with);
        problems.extend(bulk::check_concurrency(with));
        if with.get("paths").is_some() && with.get("prefix").is_some() {
            problems.push(ParamProblem::field(
                "paths",
                "give `prefix` (the folder the manifest covers, walked for unlisted secrets) or `paths` (the manifest's entries to compare), not both",
            ));
        }
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        format!(
            "compare {} against manifest {}",
            super::display(
                with.get("mount")
                    .and_then(Value::as_str)
                    .unwrap_or("secret"),
                with.get("prefix").and_then(Value::as_str).unwrap_or("")
            ),
            with.get("manifest").and_then(Value::as_str).unwrap_or("?")
        )
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::integer("checked", "how many secrets were compared"),
            OutputDecl::list("missing", "paths in the manifest but not in Vault"),
            OutputDecl::list("mismatched", "paths whose data differs"),
            OutputDecl::list("version_changed", "paths written since the manifest"),
            OutputDecl::list("extra", "paths in Vault but not in the manifest"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<VerifyParams>(self.name(), ctx, with)?;
        let concurrency = bulk::concurrency(p.concurrency)?;
        client.require_token(self.name())?;
        let file = ctx.path(&p.manifest);
        let text = tokio::fs::read(&file)
            .await
            .map_err(|e| StepError::new(format!("cannot read manifest `{}`: {e}", p.manifest)))?;
        let entries: Vec<Entry> = serde_json::from_slice(&text).map_err(|e| {
            StepError::new(format!(
                "`{}` is not a vault.kv.export manifest (a JSON list of {{path, version, sha256}}): {e}",
                p.manifest
            ))
        })?;
        drop(text);
        let entries = match &p.paths {
            None => entries,
            Some(paths) => only(entries, paths, &p.manifest)?,
        };
        let mut missing = Vec::new();
        let mut mismatched = Vec::new();
        let mut version_changed = Vec::new();
        let listed: HashSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        let reads = BulkReads::new(ctx, &client, &p.mount, concurrency);
        let compared = reads.read_each(
            stream::iter(entries.iter().map(Ok::<_, StepError>)),
            Some(entries.len()),
            "compared",
            |e: &Entry, got| {
                match got {
                    Ok(secret) => {
                        if super::data_digest(&secret.data) != e.sha256 {
                            mismatched.push(e.path.clone());
                        } else if secret.version != e.version {
                            version_changed.push(e.path.clone());
                        }
                    }
                    Err(_) => missing.push(e.path.clone()),
                }
                Ok(())
            },
        );
        // The walk for unlisted secrets runs beside the reads, on the same
        // permits.
        let walk = p.paths.is_none();
        let extra = async {
            if !walk {
                return Ok(Vec::new());
            }
            reads
                .walk(&p.prefix)
                .try_filter(|path| std::future::ready(!listed.contains(path.as_str())))
                .try_collect::<Vec<String>>()
                .await
        };
        let ((), extra) = tokio::try_join!(compared, extra)?;
        let out = StepOutput::new()
            .with("checked", entries.len())
            .with("missing", missing.clone())
            .with("mismatched", mismatched.clone())
            .with("version_changed", version_changed)
            .with("extra", extra);
        if missing.is_empty() && mismatched.is_empty() {
            return Ok(out);
        }
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("{} missing: {}", missing.len(), shown(&missing)));
        }
        if !mismatched.is_empty() {
            parts.push(format!(
                "{} with different data: {}",
                mismatched.len(),
                shown(&mismatched)
            ));
        }
        Err(StepError::new(format!(
            "{} of {} secrets in `{}` do not match manifest `{}`: {}",
            missing.len() + mismatched.len(),
            entries.len(),
            p.mount,
            p.manifest,
            parts.join("; ")
        ))
        .with_outputs(out.outputs))
    }
}

/// The manifest's entries for `paths`, in the manifest's order; a path it
/// does not list fails, since nothing could be compared for it.
fn only(entries: Vec<Entry>, paths: &[String], manifest: &str) -> Result<Vec<Entry>, StepError> {
    let wanted: HashSet<&str> = paths.iter().map(|p| p.trim_matches('/')).collect();
    let listed: HashSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    let unlisted: Vec<String> = paths
        .iter()
        .map(|p| p.trim_matches('/'))
        .filter(|p| !listed.contains(p))
        .map(String::from)
        .collect();
    if !unlisted.is_empty() {
        return Err(StepError::new(format!(
            "{} of the {} `paths` are not in manifest `{manifest}`, so they cannot be checked against it: {}; \
             is it the manifest of the backup they came from?",
            unlisted.len(),
            paths.len(),
            shown(&unlisted)
        )));
    }
    Ok(entries
        .into_iter()
        .filter(|e| wanted.contains(e.path.as_str()))
        .collect())
}
