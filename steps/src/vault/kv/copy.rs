//! `vault.kv.copy`: copy secrets from one server to another (e.g. from a
//! transient server holding a restored backup back to production), values
//! in memory only: never on disk, in argv or in any output.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::super::connection::{self, Connection};
use crate::{
    Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput,
};

pub struct KvCopy;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CopyParams {
    /// The mount written to (on `addr`).
    #[serde(default = "super::default_mount")]
    mount: String,
    /// Where to read from: `addr` (required), `token`, `namespace`,
    /// `ca_file`, `tls_skip_verify`, and `mount` (default: `mount`).
    source: Source,
    /// The secrets to copy; each source's latest version is written as a
    /// new version unless the destination already holds the same data.
    paths: Vec<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Source {
    addr: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    ca_file: Option<String>,
    #[serde(default)]
    tls_skip_verify: bool,
    #[serde(default)]
    mount: Option<String>,
}

#[async_trait]
impl StepKind for KvCopy {
    fn name(&self) -> &'static str {
        "vault.kv.copy"
    }

    fn summary(&self) -> &'static str {
        "copy KV v2 secrets from a source server to this one, values in memory only"
    }

    fn parameters(&self) -> Value {
        connection::schema::<CopyParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<CopyParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    /// Safe: a secret whose data already matches is not written again.
    fn default_rerun(&self) -> Rerun {
        Rerun::Safe
    }

    fn describe(&self, with: &Value) -> String {
        let source = with
            .pointer("/source/addr")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let mount = with
            .get("mount")
            .and_then(Value::as_str)
            .unwrap_or("secret");
        let paths = with.get("paths").cloned().unwrap_or(Value::Null);
        format!(
            "copy {paths} from {source} to {}/{mount} (values in memory only)",
            super::super::describe_addr(with)
        )
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::list("written", "paths written to the target"),
            OutputDecl::list("unchanged", "paths already equal"),
            OutputDecl::map("versions", "`{path: version}` written"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<CopyParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let source = Connection {
            addr: Some(p.source.addr.clone()),
            token: p.source.token.clone(),
            namespace: p.source.namespace.clone(),
            ca_file: p.source.ca_file.clone(),
            tls_skip_verify: p.source.tls_skip_verify,
        }
        .client(ctx)?;
        let source_mount = p.source.mount.clone().unwrap_or_else(|| p.mount.clone());
        let mut written = Vec::new();
        let mut unchanged = Vec::new();
        let mut versions = Map::new();
        for path in &p.paths {
            if ctx.cancel.is_cancelled() {
                return Err(StepError::cancelled("copying secrets was cancelled"));
            }
            let path = path.trim_matches('/').to_string();
            let secret = match super::read(ctx, &source, &source_mount, &path, None).await? {
                Ok(secret) => secret,
                Err(absent) => {
                    return Err(StepError::new(format!(
                        "cannot copy: {}",
                        absent.message(source.addr(), &source_mount, &path)
                    )))
                }
            };
            for v in secret.data.values() {
                ctx.redactor.add_value(v);
            }
            if let Ok(current) = super::read(ctx, &client, &p.mount, &path, None).await? {
                if current.data == secret.data {
                    versions.insert(path.clone(), current.version.into());
                    unchanged.push(Value::String(path));
                    continue;
                }
            }
            let api = super::api_path(&p.mount, "data", &path);
            let body = client
                .json(
                    ctx,
                    Method::POST,
                    &api,
                    Some(&json!({ "data": secret.data })),
                )
                .await?;
            versions.insert(path.clone(), body["data"]["version"].clone());
            written.push(Value::String(path));
        }
        Ok(StepOutput::new()
            .with("written", written)
            .with("unchanged", unchanged)
            .with("versions", versions))
    }
}
