//! `vault.kv.delete`: soft-delete (or, with `destroy: true`, destroy)
//! versions of a secret.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::super::connection;
use crate::{
    Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput,
};

pub struct KvDelete;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct DeleteParams {
    #[serde(default = "super::default_mount")]
    mount: String,
    path: String,
    /// Which versions; default the latest.
    #[serde(default)]
    versions: Option<Vec<u64>>,
    /// Erase the versions permanently. Needs an explicit `versions` list.
    #[serde(default)]
    destroy: bool,
}

#[async_trait]
impl StepKind for KvDelete {
    fn name(&self) -> &'static str {
        "vault.kv.delete"
    }

    fn summary(&self) -> &'static str {
        "soft-delete versions of a KV v2 secret (destroy: true erases them)"
    }

    fn parameters(&self) -> Value {
        connection::schema::<DeleteParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = connection::check::<DeleteParams>(with);
        if with.get("destroy") == Some(&Value::Bool(true)) && with.get("versions").is_none() {
            problems.push(ParamProblem::field(
                "destroy",
                "`destroy: true` erases data for good; list the `versions` to destroy explicitly",
            ));
        }
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    /// Check: deleting the latest version twice would delete a *newer* one
    /// written in between; a probe of the metadata decides instead.
    fn default_rerun(&self) -> Rerun {
        Rerun::Check
    }

    fn describe(&self, with: &Value) -> String {
        let verb = if with.get("destroy") == Some(&Value::Bool(true)) {
            "DESTROY (permanently)"
        } else {
            "soft-delete"
        };
        let versions = with
            .get("versions")
            .map_or("the latest version".to_string(), |v| {
                format!("versions {v}")
            });
        format!("{verb} {versions} of {}", super::describe_target(with))
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::list("versions", "the versions deleted"),
            OutputDecl::bool("destroyed", "whether they were destroyed"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<DeleteParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let name = super::display(&p.mount, &p.path);
        let versions = match (&p.versions, p.destroy) {
            (Some(v), _) if v.is_empty() => {
                return Err(StepError::new(
                    "`versions` is empty; list at least one version",
                ))
            }
            (Some(v), _) => v.clone(),
            (None, true) => {
                return Err(StepError::new(
                    "`destroy: true` needs an explicit `versions` list",
                ))
            }
            (None, false) => {
                let api = super::api_path(&p.mount, "metadata", &p.path);
                let reply = client.call(ctx, Method::GET, &api, None).await?;
                match reply.status {
                    200 => vec![reply.body["data"]["current_version"].as_u64().unwrap_or(0)],
                    404 => {
                        return Err(StepError::new(format!(
                            "no secret at `{name}` on {}; nothing to delete",
                            client.addr()
                        )))
                    }
                    s => return Err(client.error(ctx, &Method::GET, &api, s, &reply.body)),
                }
            }
        };
        let area = if p.destroy { "destroy" } else { "delete" };
        let api = super::api_path(&p.mount, area, &p.path);
        client
            .json(
                ctx,
                Method::POST,
                &api,
                Some(&json!({ "versions": versions })),
            )
            .await?;
        Ok(StepOutput::new()
            .with("versions", versions)
            .with("destroyed", p.destroy))
    }
}
