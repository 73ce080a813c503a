//! `vault.kv.rotate`: replace every value of secrets with new random ones,
//! key names kept, e.g. after a compromise. The new values come from the
//! operating system's CSPRNG and exist only in memory and in Vault: never
//! on disk, in argv or in any output.

use async_trait::async_trait;
use base64::Engine as _;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::super::connection;
use crate::{
    Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput,
};

pub struct KvRotate;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RotateParams {
    #[serde(default = "super::default_mount")]
    mount: String,
    /// The secrets whose values are replaced.
    paths: Vec<String>,
    /// Random bytes per new value (base64url without padding); default 32.
    #[serde(default = "default_bytes")]
    bytes: usize,
}

fn default_bytes() -> usize {
    32
}

#[async_trait]
impl StepKind for KvRotate {
    fn name(&self) -> &'static str {
        "vault.kv.rotate"
    }

    fn summary(&self) -> &'static str {
        "replace every value of KV v2 secrets with new random values, key names kept"
    }

    fn parameters(&self) -> Value {
        connection::schema::<RotateParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = connection::check::<RotateParams>(with);
        if let Some(n) = with.get("bytes").and_then(Value::as_u64) {
            if !(16..=1024).contains(&n) {
                problems.push(ParamProblem::field(
                    "bytes",
                    format!("`bytes` is {n}; give 16 to 1024 random bytes per value"),
                ));
            }
        }
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    /// Safe: a repeat rotates again; no value is lost, since the current
    /// one is in Vault.
    fn default_rerun(&self) -> Rerun {
        Rerun::Safe
    }

    fn describe(&self, with: &Value) -> String {
        let mount = with
            .get("mount")
            .and_then(Value::as_str)
            .unwrap_or("secret");
        let paths = with.get("paths").cloned().unwrap_or(Value::Null);
        format!("write new random values for every key of {paths} in {mount}")
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::list("rotated", "paths given new values"),
            OutputDecl::map("versions", "`{path: version}` written"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<RotateParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let mut rotated = Vec::new();
        let mut versions = Map::new();
        for path in &p.paths {
            if ctx.cancel.is_cancelled() {
                return Err(StepError::cancelled("rotating secrets was cancelled"));
            }
            let path = path.trim_matches('/').to_string();
            let current = match super::read(ctx, &client, &p.mount, &path, None).await? {
                Ok(secret) => secret,
                Err(absent) => {
                    return Err(StepError::new(format!(
                        "cannot rotate: {}",
                        absent.message(client.addr(), &p.mount, &path)
                    )))
                }
            };
            if current.data.is_empty() {
                return Err(StepError::new(format!(
                    "`{}` has no keys to rotate",
                    super::display(&p.mount, &path)
                )));
            }
            let mut data = Map::new();
            for key in current.data.keys() {
                let mut raw = vec![0u8; p.bytes];
                getrandom::fill(&mut raw).map_err(|e| {
                    StepError::new(format!("the system's random generator failed: {e}"))
                })?;
                let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw);
                ctx.redactor.add(&value);
                data.insert(key.clone(), Value::String(value));
            }
            let api = super::api_path(&p.mount, "data", &path);
            let body = json!({ "data": data, "options": { "cas": current.version } });
            let reply = client.call(ctx, Method::POST, &api, Some(&body)).await?;
            if !(200..300).contains(&reply.status) {
                let errors = super::super::client::server_errors(ctx, &reply.body);
                if errors.contains("check-and-set") {
                    return Err(StepError::new(format!(
                        "`{}` changed while it was being rotated; run the step again",
                        super::display(&p.mount, &path)
                    )));
                }
                return Err(client.error(ctx, &Method::POST, &api, reply.status, &reply.body));
            }
            versions.insert(path.clone(), reply.body["data"]["version"].clone());
            rotated.push(Value::String(path));
        }
        Ok(StepOutput::new()
            .with("rotated", rotated)
            .with("versions", versions))
    }
}
