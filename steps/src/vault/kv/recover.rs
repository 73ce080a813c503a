//! `vault.kv.recover`: bring deleted secrets back from their KV v2
//! versions, reading the metadata as facts (never CLI text): a soft-deleted
//! current version is undeleted; a destroyed one is rolled back to the
//! newest intact version (written as a new version, check-and-set on the
//! current one); a secret with neither is reported `unrecoverable`, for a
//! restore from backup. Secret values stay in memory.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::super::client::VaultClient;
use super::super::connection;
use crate::{
    Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput,
};

pub struct KvRecover;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RecoverParams {
    #[serde(default = "super::default_mount")]
    mount: String,
    /// The secrets to bring back.
    paths: Vec<String>,
}

#[async_trait]
impl StepKind for KvRecover {
    fn name(&self) -> &'static str {
        "vault.kv.recover"
    }

    fn summary(&self) -> &'static str {
        "bring deleted KV v2 secrets back: undelete, or roll back to the newest intact version"
    }

    fn parameters(&self) -> Value {
        connection::schema::<RecoverParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<RecoverParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    /// Safe: a secret already brought back is `intact` the second time.
    fn default_rerun(&self) -> Rerun {
        Rerun::Safe
    }

    fn describe(&self, with: &Value) -> String {
        let mount = with
            .get("mount")
            .and_then(Value::as_str)
            .unwrap_or("secret");
        let paths = with.get("paths").cloned().unwrap_or(Value::Null);
        format!("undelete or roll back {paths} in {mount} from their KV v2 versions")
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::list("recovered", "paths brought back or intact"),
            OutputDecl::list("unrecoverable", "paths to restore from a backup"),
            OutputDecl::list("intact", "paths that needed nothing"),
            OutputDecl::map("undeleted", "`{path: version}` undeleted"),
            OutputDecl::map("rolled_back", "`{path: {from, version}}` rolled back"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<RecoverParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let mut intact = Vec::new();
        let mut undeleted = Map::new();
        let mut rolled_back = Map::new();
        let mut unrecoverable = Vec::new();
        let mut recovered = Vec::new();
        for path in &p.paths {
            if ctx.cancel.is_cancelled() {
                return Err(StepError::cancelled("recovering secrets was cancelled"));
            }
            let path = path.trim_matches('/').to_string();
            let facts = super::metadata::read(ctx, &client, &p.mount, &path).await?;
            let current = facts["current_version"].as_u64().unwrap_or(0);
            match facts["state"].as_str().unwrap_or("missing") {
                "live" => intact.push(Value::String(path.clone())),
                "deleted" => {
                    let api = super::api_path(&p.mount, "undelete", &path);
                    client
                        .json(
                            ctx,
                            Method::POST,
                            &api,
                            Some(&json!({ "versions": [current] })),
                        )
                        .await?;
                    undeleted.insert(path.clone(), current.into());
                }
                "destroyed" => match facts["latest_live_version"].as_u64() {
                    Some(from) => {
                        let version =
                            rollback(ctx, &client, &p.mount, &path, from, current).await?;
                        rolled_back
                            .insert(path.clone(), json!({ "from": from, "version": version }));
                    }
                    None => {
                        unrecoverable.push(Value::String(path.clone()));
                        continue;
                    }
                },
                _ => {
                    unrecoverable.push(Value::String(path.clone()));
                    continue;
                }
            }
            recovered.push(Value::String(path));
        }
        Ok(StepOutput::new()
            .with("recovered", recovered)
            .with("unrecoverable", unrecoverable)
            .with("intact", intact)
            .with("undeleted", undeleted)
            .with("rolled_back", rolled_back))
    }
}

/// Writes version `from`'s data as a new version, only if `current` is
/// still the current one; returns the new version.
async fn rollback(
    ctx: &StepContext,
    client: &VaultClient,
    mount: &str,
    path: &str,
    from: u64,
    current: u64,
) -> Result<u64, StepError> {
    let secret = match super::read(ctx, client, mount, path, Some(from)).await? {
        Ok(secret) => secret,
        Err(absent) => return Err(StepError::new(absent.message(client.addr(), mount, path))),
    };
    for v in secret.data.values() {
        ctx.redactor.add_value(v);
    }
    let api = super::api_path(mount, "data", path);
    let body = json!({ "data": secret.data, "options": { "cas": current } });
    let reply = client.call(ctx, Method::POST, &api, Some(&body)).await?;
    if !(200..300).contains(&reply.status) {
        let errors = super::super::client::server_errors(ctx, &reply.body);
        if errors.contains("check-and-set") {
            return Err(StepError::new(format!(
                "`{}` changed while it was being rolled back (its current version is no longer {current}); run the step again",
                super::display(mount, path)
            )));
        }
        return Err(client.error(ctx, &Method::POST, &api, reply.status, &reply.body));
    }
    Ok(reply.body["data"]["version"].as_u64().unwrap_or(0))
}
