//! `vault.unseal`: submit unseal keys until the node unseals.
//!
//! Progress is reset before the first key and after any failure: OpenBao
//! counts a stale or wrong key as progress instead of rejecting it, so a
//! half-finished earlier attempt (or another operator's) would otherwise
//! poison this one and the error would surface only at the threshold.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{server_errors, VaultClient};
use super::{connection, key_list};
use crate::{
    Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput,
};

pub struct Unseal;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct UnsealParams {
    /// Unseal keys, rendered from a secret input: a list, or one string
    /// holding a JSON list or keys separated by newlines or commas.
    keys: Value,
}

/// How long a node that has just joined a Raft cluster may stay sealed
/// after the last key (it fetches the keyring from the leader).
const JOIN_UNSEAL_WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);

#[async_trait]
impl StepKind for Unseal {
    fn name(&self) -> &'static str {
        "vault.unseal"
    }

    fn summary(&self) -> &'static str {
        "unseal a Vault node with unseal keys from secret inputs"
    }

    fn parameters(&self) -> Value {
        connection::schema::<UnsealParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = connection::check::<UnsealParams>(with);
        match with.get("keys") {
            Some(Value::String(s)) if crate::params::is_template(s) => {}
            Some(keys) => {
                if let Err(e) = key_list::parse(keys) {
                    problems.push(ParamProblem::field("keys", e));
                }
            }
            None => {}
        }
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    /// Safe: unsealing an unsealed node is a no-op here, and progress is
    /// reset before the first key.
    fn default_rerun(&self) -> Rerun {
        Rerun::Safe
    }

    fn describe(&self, with: &Value) -> String {
        format!(
            "PUT {}/v1/sys/unseal with the given keys (progress reset first)",
            super::describe_addr(with)
        )
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::bool("sealed", "whether the node is sealed"),
            OutputDecl::integer("progress", "unseal keys accepted so far"),
            OutputDecl::integer("threshold", "unseal keys needed"),
            OutputDecl::bool("changed", "whether the step changed anything"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<UnsealParams>(self.name(), ctx, with)?;
        let keys = key_list::parse(&p.keys).map_err(StepError::new)?;
        for k in &keys {
            ctx.redactor.add(k);
        }
        let status = client
            .json(ctx, Method::GET, "sys/seal-status", None)
            .await?;
        if status["sealed"] == false && status["initialized"] == true {
            return Ok(outputs(&status, false));
        }
        reset(ctx, &client).await?;
        for (i, key) in keys.iter().enumerate() {
            let reply = client
                .call(ctx, Method::PUT, "sys/unseal", Some(&json!({ "key": key })))
                .await?;
            if reply.status != 200 {
                let _ = reset(ctx, &client).await;
                let why = server_errors(ctx, &reply.body);
                if why.contains("not initialized") {
                    return Err(StepError::new(format!(
                        "{} is not initialized, so there is nothing to unseal: run vault.init for a new cluster,                          or vault.raft.join to make it a member of an existing one, then unseal it",
                        client.addr()
                    )));
                }
                return Err(StepError::new(format!(
                    "unseal key #{} was rejected by {} (HTTP {}): {why}; progress was reset. \
                     Are these the keys of this cluster (after a force restore, the keys of the cluster the snapshot came from)?",
                    i + 1,
                    client.addr(),
                    reply.status
                )));
            }
            if reply.body["sealed"] == false {
                return Ok(outputs(&reply.body, true));
            }
            // Progress back at 0 while still sealed: the threshold was
            // reached and the node is finishing (a Raft join). More keys
            // would only start a new, pointless round.
            if reply.body["progress"].as_u64() == Some(0) {
                break;
            }
        }
        let last = client
            .json(ctx, Method::GET, "sys/seal-status", None)
            .await?;
        let progress = last["progress"].as_u64().unwrap_or(0);
        let threshold = last["t"].as_u64().unwrap_or(0);
        if progress > 0 || (keys.len() as u64) < threshold {
            let _ = reset(ctx, &client).await;
            return Err(StepError::new(format!(
                "{} is still sealed after {} key(s): the threshold is {threshold}; progress was reset. \
                 Give at least {threshold} distinct unseal keys",
                client.addr(),
                keys.len()
            )));
        }
        // Threshold reached but still sealed: a node that has just joined a
        // Raft cluster unseals once it has the keyring from the leader.
        let start = Instant::now();
        let max_polls = (JOIN_UNSEAL_WAIT.as_millis() / POLL.as_millis()) as usize;
        for _ in 0..max_polls {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = ctx.cancel.cancelled() => return Err(StepError::cancelled("vault.unseal cancelled while waiting for the node to unseal")),
            }
            let s = client
                .json(ctx, Method::GET, "sys/seal-status", None)
                .await?;
            if s["sealed"] == false {
                return Ok(outputs(&s, true));
            }
            if start.elapsed() > JOIN_UNSEAL_WAIT {
                break;
            }
        }
        Err(StepError::new(format!(
            "{} accepted {} key(s) but is still sealed after {}s; if it has just joined a Raft cluster, \
             check that the leader is reachable from it (the server log names the cause)",
            client.addr(),
            keys.len(),
            JOIN_UNSEAL_WAIT.as_secs()
        )))
    }
}

async fn reset(ctx: &StepContext, client: &VaultClient) -> Result<(), StepError> {
    client
        .json(
            ctx,
            Method::PUT,
            "sys/unseal",
            Some(&json!({"reset": true})),
        )
        .await
        .map(|_| ())
}

fn outputs(status: &Value, changed: bool) -> StepOutput {
    StepOutput::new()
        .with("sealed", status["sealed"].as_bool().unwrap_or(false))
        .with("progress", status["progress"].as_u64().unwrap_or(0))
        .with("threshold", status["t"].clone())
        .with("changed", changed)
}
