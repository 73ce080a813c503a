//! `vault.kv.undelete`: bring back soft-deleted versions of a secret.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::super::connection;
use crate::{
    Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput,
};

pub struct KvUndelete;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct UndeleteParams {
    #[serde(default = "super::default_mount")]
    mount: String,
    path: String,
    /// Which versions; default the most recent deleted (not destroyed) one.
    #[serde(default)]
    versions: Option<Vec<u64>>,
}

#[async_trait]
impl StepKind for KvUndelete {
    fn name(&self) -> &'static str {
        "vault.kv.undelete"
    }

    fn summary(&self) -> &'static str {
        "restore soft-deleted versions of a KV v2 secret"
    }

    fn parameters(&self) -> Value {
        connection::schema::<UndeleteParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<UndeleteParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    /// Safe: undeleting a version that is not deleted changes nothing.
    fn default_rerun(&self) -> Rerun {
        Rerun::Safe
    }

    fn describe(&self, with: &Value) -> String {
        let versions = with
            .get("versions")
            .map_or("the latest deleted version".to_string(), |v| {
                format!("versions {v}")
            });
        format!("undelete {versions} of {}", super::describe_target(with))
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[OutputDecl::list("versions", "the versions undeleted")];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<UndeleteParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let name = super::display(&p.mount, &p.path);
        let versions = match p.versions {
            Some(v) if !v.is_empty() => v,
            _ => {
                let api = super::api_path(&p.mount, "metadata", &p.path);
                let reply = client.call(ctx, Method::GET, &api, None).await?;
                if reply.status == 404 {
                    return Err(StepError::new(format!(
                        "no secret at `{name}` on {}; nothing to undelete",
                        client.addr()
                    )));
                }
                if reply.status != 200 {
                    return Err(client.error(ctx, &Method::GET, &api, reply.status, &reply.body));
                }
                let latest_deleted = reply.body["data"]["versions"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(_, m)| {
                        m["destroyed"] != true
                            && m["deletion_time"].as_str().is_some_and(|t| !t.is_empty())
                    })
                    .filter_map(|(v, _)| v.parse::<u64>().ok())
                    .max();
                match latest_deleted {
                    Some(v) => vec![v],
                    None => {
                        return Err(StepError::new(format!(
                            "`{name}` has no deleted version to undelete (destroyed versions cannot come back)"
                        )))
                    }
                }
            }
        };
        let api = super::api_path(&p.mount, "undelete", &p.path);
        client
            .json(
                ctx,
                Method::POST,
                &api,
                Some(&json!({ "versions": versions })),
            )
            .await?;
        Ok(StepOutput::new().with("versions", versions))
    }
}
