//! `vault.kv.get`: read one secret, whose data is a secret output; or
//! check a list of secrets for which can be read (`paths`), their values
//! kept in Vault.

use async_trait::async_trait;
use futures_util::stream;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::super::connection;
use super::bulk::{self, BulkReads};
use crate::{Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput};

pub struct KvGet;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct GetParams {
    #[serde(default = "super::default_mount")]
    mount: String,
    /// One secret: its data is the secret output `data`.
    #[serde(default)]
    path: Option<String>,
    /// Several secrets, read 16 at a time: which have a readable latest
    /// version (`found`) and which do not (`absent`); no value is output.
    #[serde(default)]
    paths: Option<Vec<String>>,
    /// A specific version (with `path`); default the latest.
    #[serde(default)]
    version: Option<u64>,
}

#[async_trait]
impl StepKind for KvGet {
    fn name(&self) -> &'static str {
        "vault.kv.get"
    }

    fn summary(&self) -> &'static str {
        "read a KV v2 secret (its data is a secret output), or which of `paths` can be read"
    }

    fn parameters(&self) -> Value {
        connection::schema::<GetParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = connection::check::<GetParams>(with);
        if with.is_object() && (with.get("path").is_some() == with.get("paths").is_some()) {
            problems.push(ParamProblem::new(
                vec![],
                "give exactly one of `path` (read one secret) or `paths` (which of a list can be read)",
            ));
        }
        if with.get("paths").is_some() && with.get("version").is_some() {
            problems.push(ParamProblem::field(
                "version",
                "`version` reads one secret's older version: use it with `path`, not `paths` (which reads the latest versions)",
            ));
        }
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        if let Some(paths) = with.get("paths") {
            let mount = with
                .get("mount")
                .and_then(Value::as_str)
                .unwrap_or("secret");
            return format!("read which of {paths} in {mount} have a readable latest version");
        }
        let mut out = format!("read secret {}", super::describe_target(with));
        if let Some(v) = with.get("version") {
            out.push_str(&format!(" version {v}"));
        }
        out
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::map("data", "with `path`: the secret's key/value data").secret(),
            OutputDecl::integer("version", "with `path`: the version read"),
            OutputDecl::string(
                "created_time",
                "with `path`: when the version was written, RFC 3339",
            ),
            OutputDecl::list(
                "found",
                "with `paths`: those whose latest version was read, in the order given",
            ),
            OutputDecl::list(
                "absent",
                "with `paths`: those with no readable latest version (never written, deleted or destroyed)",
            ),
            OutputDecl::map(
                "versions",
                "with `paths`: `{path: version}` of each one found",
            ),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<GetParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let path = match (p.path, p.paths) {
            (Some(path), None) => path,
            (None, Some(paths)) => {
                // Any answer but "no live data" (a 404) fails the step: a
                // denied or unreachable server says nothing about a secret.
                let reads = BulkReads::new(ctx, &client, &p.mount, bulk::DEFAULT_CONCURRENCY as usize);
                let mut found = Vec::new();
                let mut absent = Vec::new();
                let mut versions = Map::new();
                let items = paths.iter().map(|p| Ok::<_, StepError>(p.trim_matches('/').to_string()));
                reads
                    .read_each(stream::iter(items), Some(paths.len()), "read", |path, got| {
                        match got {
                            Ok(secret) => {
                                versions.insert(path.clone(), Value::from(secret.version));
                                found.push(Value::String(path));
                            }
                            Err(_) => absent.push(Value::String(path)),
                        }
                        Ok(())
                    })
                    .await?;
                return Ok(StepOutput::new()
                    .with("found", found)
                    .with("absent", absent)
                    .with("versions", versions));
            }
            _ => {
                return Err(StepError::new(
                    "give exactly one of `path` (read one secret) or `paths` (which of a list can be read)",
                ))
            }
        };
        match super::read(ctx, &client, &p.mount, &path, p.version).await? {
            Ok(secret) => Ok(StepOutput::new()
                .with_secret("data", Value::Object(secret.data))
                .with("version", secret.version)
                .with("created_time", secret.created_time)),
            Err(absent) => Err(StepError::new(absent.message(
                client.addr(),
                &p.mount,
                &path,
            ))),
        }
    }
}
