//! `vault.kv.put`: write a new version of a secret.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::super::connection;
use crate::{
    Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput,
};

pub struct KvPut;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct PutParams {
    #[serde(default = "super::default_mount")]
    mount: String,
    path: String,
    /// The whole data map of the new version.
    data: Map<String, Value>,
    /// Check-and-set: write only if the current version is this (0: only if
    /// the secret does not exist).
    #[serde(default)]
    cas: Option<u64>,
}

#[async_trait]
impl StepKind for KvPut {
    fn name(&self) -> &'static str {
        "vault.kv.put"
    }

    fn summary(&self) -> &'static str {
        "write a new version of a KV v2 secret"
    }

    fn parameters(&self) -> Value {
        connection::schema::<PutParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<PutParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    /// Check: a second put writes another version with the same data, which
    /// is harmless but noisy; a probe (`vault.kv.get` and compare) decides.
    fn default_rerun(&self) -> Rerun {
        Rerun::Check
    }

    /// Shows the keys only: the values are usually secret.
    fn describe(&self, with: &Value) -> String {
        let keys: Vec<String> = with
            .get("data")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        format!(
            "write secret {} with keys [{}]",
            super::describe_target(with),
            keys.join(", ")
        )
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[OutputDecl::integer("version", "the version written")];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<PutParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let mut body = json!({ "data": p.data });
        if let Some(cas) = p.cas {
            body["options"] = json!({ "cas": cas });
        }
        let api = super::api_path(&p.mount, "data", &p.path);
        let reply = client.call(ctx, Method::POST, &api, Some(&body)).await?;
        if reply.status == 400 && p.cas.is_some() {
            let errors = super::super::client::server_errors(ctx, &reply.body);
            if errors.contains("check-and-set") {
                return Err(StepError::new(format!(
                    "`{}` was not written: its current version is not {} (check-and-set)",
                    super::display(&p.mount, &p.path),
                    p.cas.unwrap_or(0)
                )));
            }
        }
        if !(200..300).contains(&reply.status) {
            return Err(client.error(ctx, &Method::POST, &api, reply.status, &reply.body));
        }
        Ok(StepOutput::new().with("version", reply.body["data"]["version"].clone()))
    }
}
