//! `vault.health`: is the server initialised, unsealed, active?

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::connection;
use crate::{Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput};

pub struct Health;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct HealthParams {
    /// States the server must be in, e.g. `{sealed: false, initialized: true}`.
    #[serde(default)]
    expect: Option<Expect>,
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    initialized: Option<bool>,
    #[serde(default)]
    sealed: Option<bool>,
    #[serde(default)]
    standby: Option<bool>,
}

/// Every state maps to 200 so a sealed, uninitialised or standby server
/// still answers with its JSON state instead of a bare error status.
pub(crate) const HEALTH_PATH: &str = "sys/health?standbyok=true&perfstandbyok=true&sealedcode=200&uninitcode=200&standbycode=200&drsecondarycode=200&performancestandbycode=200";

/// One word for the state: `uninitialized`, `sealed`, `standby` or `active`.
pub(crate) fn status_word(body: &Value) -> &'static str {
    if body["initialized"] == false {
        "uninitialized"
    } else if body["sealed"] == true {
        "sealed"
    } else if body["standby"] == true {
        "standby"
    } else {
        "active"
    }
}

#[async_trait]
impl StepKind for Health {
    fn name(&self) -> &'static str {
        "vault.health"
    }

    fn summary(&self) -> &'static str {
        "read a Vault server's health: initialized, sealed, standby, version"
    }

    fn parameters(&self) -> Value {
        connection::schema::<HealthParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<HealthParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        let mut out = format!("GET {}/v1/sys/health", super::describe_addr(with));
        if let Some(expect) = with.get("expect") {
            out.push_str(&format!("\nexpect {expect}"));
        }
        out
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::bool("initialized", "whether the node is initialised"),
            OutputDecl::bool("sealed", "whether the node is sealed"),
            OutputDecl::bool("standby", "whether the node is a standby"),
            OutputDecl::string("version", "the server version"),
            OutputDecl::string("cluster_id", "the cluster id"),
            OutputDecl::string("status", "`active`, `standby`, `sealed` or `uninitialized`"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<HealthParams>(self.name(), ctx, with)?;
        let body = client.json(ctx, Method::GET, HEALTH_PATH, None).await?;
        if !body["sealed"].is_boolean() || !body["initialized"].is_boolean() {
            return Err(StepError::new(format!(
                "{} answered /v1/sys/health without Vault's `sealed` and `initialized` fields; is `addr` a Vault or OpenBao API address?",
                client.addr()
            )));
        }
        let field = |k: &str| body.get(k).cloned().unwrap_or(Value::Null);
        let out = StepOutput::new()
            .with("initialized", field("initialized"))
            .with("sealed", field("sealed"))
            .with("standby", field("standby"))
            .with("version", field("version"))
            .with("cluster_id", field("cluster_id"))
            .with("status", status_word(&body));
        let expect = p.expect.unwrap_or_default();
        let mut mismatches = Vec::new();
        for (name, want) in [
            ("initialized", expect.initialized),
            ("sealed", expect.sealed),
            ("standby", expect.standby),
        ] {
            if let Some(want) = want {
                let got = body.get(name).and_then(Value::as_bool);
                if got != Some(want) {
                    let got = got.map_or("missing".to_string(), |g| g.to_string());
                    mismatches.push(format!("`{name}` is {got}, expected {want}"));
                }
            }
        }
        if mismatches.is_empty() {
            Ok(out)
        } else {
            let mut msg = format!(
                "{} is {}: {}",
                client.addr(),
                status_word(&body),
                mismatches.join(", ")
            );
            if expect.sealed == Some(false) && body["sealed"] == true {
                msg.push_str("; unseal it first (vault.unseal)");
            }
            Err(StepError::new(msg).with_outputs(out.outputs))
        }
    }
}
