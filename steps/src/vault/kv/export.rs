//! `vault.kv.export`: a manifest of every secret under a KV v2 mount:
//! path, version and the SHA-256 of the data, never the values.
//!
//! After a restore, `vault.kv.verify` re-walks the mount and compares,
//! which proves the secrets came back without anyone reading them.
//!
//! The secrets are read `concurrency` at a time as the walk lists them
//! (`bulk.rs`) and each entry is written to the manifest as its turn
//! comes, so memory does not grow with the mount. The manifest is the
//! same, byte for byte, at every `concurrency`, and the same as the one
//! read a secret at a time wrote: `[]`, or the entries in path order as
//! `serde_json`'s pretty printer lays out a list.

use std::path::Path;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::super::connection;
use super::super::secret_file::AtomicFile;
use super::bulk::{self, BulkReads};
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
    /// How many requests are in flight at once, 1 to 256; default 16.
    #[serde(default = "bulk::default_concurrency")]
    #[schemars(range(min = 1, max = 256))]
    concurrency: u32,
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
        let mut problems = connection::check::<ExportParams>(with);
        problems.extend(bulk::check_concurrency(with));
        problems
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
        let concurrency = bulk::concurrency(p.concurrency)?;
        client.require_token(self.name())?;
        let target = ctx.path(&p.output);
        let mut manifest = Manifest::create(&target)?;
        let mut count = 0usize;
        let mut skipped = Vec::new();
        let reads = BulkReads::new(ctx, &client, &p.mount, concurrency);
        reads
            .read_each(reads.walk(&p.prefix), None, "read", |path, got| {
                match got {
                    Ok(secret) => {
                        count += 1;
                        manifest.push(&entry(
                            &path,
                            secret.version,
                            &super::data_digest(&secret.data),
                        ))?;
                    }
                    // The latest version is deleted or destroyed: nothing to
                    // digest; reported so the operator knows.
                    Err(_) => skipped.push(path),
                }
                Ok(())
            })
            .await?;
        let digest = manifest.commit()?;
        Ok(StepOutput::new()
            .with("path", target.display().to_string())
            .with("count", count)
            .with("digest", digest)
            .with("skipped", skipped))
    }
}

/// The manifest as it is written: entries one by one into an
/// [`AtomicFile`], hashed on the way.
struct Manifest {
    file: AtomicFile,
    hash: Sha256,
    entries: usize,
}

impl Manifest {
    fn create(path: &Path) -> Result<Self, StepError> {
        Ok(Self {
            file: AtomicFile::create(path)?,
            hash: Sha256::new(),
            entries: 0,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), StepError> {
        self.hash.update(bytes);
        self.file.write(bytes)
    }

    /// One entry, laid out as `serde_json::to_vec_pretty` lays out an
    /// element of a list: indented by two spaces, after `[` or `,`.
    fn push(&mut self, entry: &Value) -> Result<(), StepError> {
        let text = serde_json::to_string_pretty(entry).expect("a JSON value serialises");
        let mut piece = String::with_capacity(text.len() + 16);
        piece.push_str(if self.entries == 0 { "[\n" } else { ",\n" });
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                piece.push('\n');
            }
            piece.push_str("  ");
            piece.push_str(line);
        }
        self.entries += 1;
        self.write(piece.as_bytes())
    }

    /// Closes the list, moves the file into place and returns the SHA-256
    /// of what was written.
    fn commit(mut self) -> Result<String, StepError> {
        let end: &[u8] = if self.entries == 0 { b"[]\n" } else { b"\n]\n" };
        self.write(end)?;
        self.file.commit()?;
        Ok(hex::encode(self.hash.finalize()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streamed manifest is byte for byte what `to_vec_pretty` of the
    /// whole list wrote when secrets were read one at a time.
    #[test]
    fn a_streamed_manifest_is_the_pretty_printed_list() {
        let dir = tempfile::tempdir().unwrap();
        for n in [0usize, 1, 3] {
            let entries: Vec<Value> = (0..n)
                .map(|i| entry(&format!("app/\"quoted\" \\ ü\n{i}"), i as u64 + 1, "ab"))
                .collect();
            let path = dir.path().join(format!("m{n}.json"));
            let mut manifest = Manifest::create(&path).unwrap();
            for e in &entries {
                manifest.push(e).unwrap();
            }
            let digest = manifest.commit().unwrap();
            let mut expected = serde_json::to_vec_pretty(&Value::Array(entries)).unwrap();
            expected.push(b'\n');
            let written = std::fs::read(&path).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&written),
                String::from_utf8_lossy(&expected)
            );
            assert_eq!(digest, crate::checksum::sha256_hex(&expected));
        }
    }
}
