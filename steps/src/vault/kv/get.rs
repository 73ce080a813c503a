//! `vault.kv.get`: read one secret; its data is a secret output.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use super::super::connection;
use crate::{Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput};

pub struct KvGet;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct GetParams {
    #[serde(default = "super::default_mount")]
    mount: String,
    path: String,
    /// A specific version; default the latest.
    #[serde(default)]
    version: Option<u64>,
}

#[async_trait]
impl StepKind for KvGet {
    fn name(&self) -> &'static str {
        "vault.kv.get"
    }

    fn summary(&self) -> &'static str {
        "read a KV v2 secret (its data is a secret output)"
    }

    fn parameters(&self) -> Value {
        connection::schema::<GetParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<GetParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        let mut out = format!("read secret {}", super::describe_target(with));
        if let Some(v) = with.get("version") {
            out.push_str(&format!(" version {v}"));
        }
        out
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::map("data", "the secret's key/value data").secret(),
            OutputDecl::integer("version", "the version read"),
            OutputDecl::string("created_time", "when the version was written, RFC 3339"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<GetParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        match super::read(ctx, &client, &p.mount, &p.path, p.version).await? {
            Ok(secret) => Ok(StepOutput::new()
                .with_secret("data", Value::Object(secret.data))
                .with("version", secret.version)
                .with("created_time", secret.created_time)),
            Err(absent) => Err(StepError::new(absent.message(
                client.addr(),
                &p.mount,
                &p.path,
            ))),
        }
    }
}
