//! `vault.seal_status`: the seal's shape and state (read-only, no token):
//! a preflight that the unseal keys a runbook holds fit the node before
//! anything is sealed, restored or initialised.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::connection;
use crate::{Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput};

pub struct SealStatus;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SealStatusParams {
    /// What the seal must look like, e.g. `{shares: 5, threshold: 3}`.
    #[serde(default)]
    expect: Option<Expect>,
    /// Unseal keys the runbook will use (from a secret input): checked to
    /// number at least the threshold. They are never sent.
    #[serde(default)]
    keys: Option<Value>,
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    sealed: Option<bool>,
    #[serde(default)]
    initialized: Option<bool>,
    #[serde(default)]
    shares: Option<u64>,
    #[serde(default)]
    threshold: Option<u64>,
}

#[async_trait]
impl StepKind for SealStatus {
    fn name(&self) -> &'static str {
        "vault.seal_status"
    }

    fn summary(&self) -> &'static str {
        "read a node's seal: sealed, initialized, shares, threshold, progress (read-only, no token)"
    }

    fn parameters(&self) -> Value {
        connection::schema::<SealStatusParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<SealStatusParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        let mut out = format!("GET {}/v1/sys/seal-status", super::describe_addr(with));
        if let Some(expect) = with.get("expect") {
            out.push_str(&format!("\nexpect {expect}"));
        }
        if with.get("keys").is_some() {
            out.push_str("\ncheck that the given unseal keys reach the threshold (not sent)");
        }
        out
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::bool("sealed", "whether the node is sealed"),
            OutputDecl::bool("initialized", "whether the node is initialised"),
            OutputDecl::integer("shares", "unseal key shares"),
            OutputDecl::integer("threshold", "unseal keys needed"),
            OutputDecl::integer("progress", "unseal keys accepted so far"),
            OutputDecl::string("type", "the seal type"),
            OutputDecl::string("version", "the server version"),
            OutputDecl::string("cluster_id", "the cluster id"),
            OutputDecl::integer("keys_given", "how many `keys` were given (with `keys`)"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<SealStatusParams>(self.name(), ctx, with)?;
        let body = client
            .json(ctx, Method::GET, "sys/seal-status", None)
            .await?;
        if !body["sealed"].is_boolean() {
            return Err(StepError::new(format!(
                "{} answered /v1/sys/seal-status without Vault's `sealed` field; is `addr` a Vault or OpenBao API address?",
                client.addr()
            )));
        }
        let field = |k: &str| body.get(k).cloned().unwrap_or(Value::Null);
        let shares = body["n"].as_u64();
        let threshold = body["t"].as_u64();
        let mut out = StepOutput::new()
            .with("sealed", field("sealed"))
            .with("initialized", field("initialized"))
            .with("shares", field("n"))
            .with("threshold", field("t"))
            .with("progress", field("progress"))
            .with("type", field("type"))
            .with("version", field("version"))
            .with("cluster_id", field("cluster_id"));
        let expect = p.expect.unwrap_or_default();
        let mut problems = Vec::new();
        for (name, want) in [
            ("sealed", expect.sealed),
            ("initialized", expect.initialized),
        ] {
            if let Some(want) = want {
                let got = body[name].as_bool();
                if got != Some(want) {
                    let got = got.map_or("missing".to_string(), |g| g.to_string());
                    problems.push(format!("`{name}` is {got}, expected {want}"));
                }
            }
        }
        for (name, got, want) in [
            ("shares", shares, expect.shares),
            ("threshold", threshold, expect.threshold),
        ] {
            if let Some(want) = want {
                if got != Some(want) {
                    let got = got.map_or("missing".to_string(), |g| g.to_string());
                    problems.push(format!("`{name}` is {got}, expected {want}"));
                }
            }
        }
        if let Some(keys) = &p.keys {
            let keys = super::key_list::parse(keys).map_err(StepError::new)?;
            out = out.with("keys_given", keys.len());
            match threshold {
                Some(t) if (keys.len() as u64) < t => problems.push(format!(
                    "{} unseal key(s) given, but the threshold is {t}; give at least {t} keys",
                    keys.len()
                )),
                _ => {}
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            let shape = match (shares, threshold) {
                (Some(n), Some(t)) => format!("a {n}-share, threshold-{t} seal"),
                _ => "an uninitialised seal".to_string(),
            };
            Err(StepError::new(format!(
                "{} has {shape}: {}",
                client.addr(),
                problems.join(", ")
            ))
            .with_outputs(out.outputs))
        }
    }
}
