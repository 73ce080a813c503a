//! `vault.seal`: seal a node, e.g. to fence it off during an incident.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::connection;
use crate::{
    Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput,
};

pub struct Seal;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SealParams {}

#[async_trait]
impl StepKind for Seal {
    fn name(&self) -> &'static str {
        "vault.seal"
    }

    fn summary(&self) -> &'static str {
        "seal a Vault node (needs a token with sudo on sys/seal)"
    }

    fn parameters(&self) -> Value {
        connection::schema::<SealParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<SealParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    /// Check: whether the node is sealed is one health read away, and
    /// sealing an already sealed node succeeds here anyway.
    fn default_rerun(&self) -> Rerun {
        Rerun::Check
    }

    fn describe(&self, with: &Value) -> String {
        format!("PUT {}/v1/sys/seal", super::describe_addr(with))
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::bool("sealed", "whether the node is sealed"),
            OutputDecl::bool("changed", "whether the step changed anything"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, _p) = connection::parse::<SealParams>(self.name(), ctx, with)?;
        let status = client
            .json(ctx, Method::GET, "sys/seal-status", None)
            .await?;
        if status["sealed"] == true {
            return Ok(StepOutput::new()
                .with("sealed", true)
                .with("changed", false));
        }
        client.require_token(self.name())?;
        client.json(ctx, Method::PUT, "sys/seal", None).await?;
        Ok(StepOutput::new().with("sealed", true).with("changed", true))
    }
}
