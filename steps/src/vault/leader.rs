//! `vault.leader`: which node is active.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::connection;
use crate::{Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput};

pub struct Leader;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct LeaderParams {}

#[async_trait]
impl StepKind for Leader {
    fn name(&self) -> &'static str {
        "vault.leader"
    }

    fn summary(&self) -> &'static str {
        "find the active node: its address and whether it is the one asked"
    }

    fn parameters(&self) -> Value {
        connection::schema::<LeaderParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<LeaderParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        format!("GET {}/v1/sys/leader", super::describe_addr(with))
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::string("leader_address", "the active node's API address"),
            OutputDecl::bool("is_self", "whether the node asked is the leader"),
            OutputDecl::bool("ha_enabled", "whether HA is enabled"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, _p) = connection::parse::<LeaderParams>(self.name(), ctx, with)?;
        let body = client.json(ctx, Method::GET, "sys/leader", None).await?;
        let leader = body["leader_address"]
            .as_str()
            .unwrap_or("")
            .trim_end_matches('/');
        Ok(StepOutput::new()
            .with("leader_address", leader)
            .with("is_self", body["is_self"].as_bool().unwrap_or(false))
            .with("ha_enabled", body["ha_enabled"].as_bool().unwrap_or(false)))
    }
}
