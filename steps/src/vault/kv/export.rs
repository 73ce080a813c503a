//! `vault.kv.export`: a manifest of every secret under a KV v2 mount:
//! path, version and the SHA-256 of the data, never the values.
//!
//! After a restore, `vault.kv.verify` re-walks the mount and compares,
//! which proves the secrets came back without anyone reading them.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use super::super::connection;
use super::super::secret_file::write_atomic;
use crate::checksum::sha256_hex;
use crate::{Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput};

pub struct KvExport;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    #[serde(default = "super::default_mount")]
    mount: String,
    /// Only secrets under this folder; default the whole mount.
    #[serde(default)]
    prefix: String,
    /// The manifest file to write (mode 0600, replaced atomically).
    output: String,
}

/// One manifest entry.
pub(crate) fn entry(path: &str, version: u64, sha256: &str) -> Value {
    json!({"path": path, "version": version, "sha256": sha256})
}

#[async_trait]
impl StepKind for KvExport {
    fn name(&self) -> &'static str {
        "vault.kv.export"
    }

    fn summary(&self) -> &'static str {
        "write a manifest (path, version, SHA-256 of the data) of every secret in a KV v2 mount"
    }

    fn parameters(&self) -> Value {
        connection::schema::<ExportParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<ExportParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        let mount = with
            .get("mount")
            .and_then(Value::as_str)
            .unwrap_or("secret");
        let prefix = with.get("prefix").and_then(Value::as_str).unwrap_or("");
        format!(
            "walk {} and write a digest manifest to {}",
            super::display(mount, prefix),
            with.get("output").and_then(Value::as_str).unwrap_or("?")
        )
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::string("path", "the export file written"),
            OutputDecl::integer("count", "how many secrets"),
            OutputDecl::string("digest", "SHA-256 of the export"),
            OutputDecl::list("skipped", "paths not exported"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<ExportParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let paths = super::walk(ctx, &client, &p.mount, &p.prefix).await?;
        let mut entries = Vec::with_capacity(paths.len());
        let mut skipped = Vec::new();
        for path in &paths {
            match super::read(ctx, &client, &p.mount, path, None).await? {
                Ok(secret) => entries.push(entry(
                    path,
                    secret.version,
                    &super::data_digest(&secret.data),
                )),
                // The latest version is deleted or destroyed: nothing to
                // digest; reported so the operator knows.
                Err(_) => skipped.push(path.clone()),
            }
        }
        let mut text =
            serde_json::to_vec_pretty(&Value::Array(entries)).expect("a JSON value serialises");
        text.push(b'\n');
        let target = ctx.path(&p.output);
        write_atomic(&target, &text)?;
        Ok(StepOutput::new()
            .with("path", target.display().to_string())
            .with("count", paths.len() - skipped.len())
            .with("digest", sha256_hex(&text))
            .with("skipped", skipped))
    }
}
