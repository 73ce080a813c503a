//! `vault.kv.list`: the keys under a folder of a KV v2 mount.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use super::super::connection;
use crate::{Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput};

pub struct KvList;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListParams {
    #[serde(default = "super::default_mount")]
    mount: String,
    /// The folder; default the mount's root.
    #[serde(default)]
    path: String,
}

#[async_trait]
impl StepKind for KvList {
    fn name(&self) -> &'static str {
        "vault.kv.list"
    }

    fn summary(&self) -> &'static str {
        "list the keys under a KV v2 folder (folders end in /)"
    }

    fn parameters(&self) -> Value {
        connection::schema::<ListParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<ListParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        format!("list {}/", super::describe_target(with))
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::integer("count", "how many keys"),
            OutputDecl::list("keys", "the keys under `path`"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<ListParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let keys = super::list(ctx, &client, &p.mount, &p.path).await?;
        Ok(StepOutput::new()
            .with("count", keys.len())
            .with("keys", keys))
    }
}
