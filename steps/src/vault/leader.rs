//! `vault.leader`: which node is active.
//!
//! With `addr`, the node asked names the leader (`sys/leader`). With
//! `nodes`, every node is asked for its own health at once, and the active
//! one is the node that says it is unsealed and not a standby: right after
//! an unseal a node may still name the leader from before the seal, so
//! only the nodes' own word counts. An unreachable, sealed or standby node
//! is simply not the active one; none active is `leader_address: ""`
//! (retry with `until`).

use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::join_all;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::connection::{self, Connection};
use super::health::{status_word, HEALTH_PATH};
use crate::{
    params, Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput,
};

pub struct Leader;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct LeaderParams {
    /// API addresses of every node (instead of `addr`): each is asked for
    /// its health, and the active one is the node that says so itself.
    #[serde(default)]
    nodes: Option<Vec<String>>,
}

/// How long one node of `nodes` may take to answer before it counts as
/// unreachable: a dead node must not hold up finding the live leader.
const NODE_TIMEOUT: Duration = Duration::from_secs(2);

#[async_trait]
impl StepKind for Leader {
    fn name(&self) -> &'static str {
        "vault.leader"
    }

    fn summary(&self) -> &'static str {
        "find the active node: as one node names it, or among `nodes` by their own health"
    }

    fn parameters(&self) -> Value {
        connection::schema::<LeaderParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = connection::check::<LeaderParams>(with);
        if with.get("nodes").is_some() && with.get("addr").is_some() {
            problems.push(ParamProblem::field(
                "nodes",
                "give `addr` (ask one node which is the leader) or `nodes` (find the active one among them by their health), not both",
            ));
        }
        if let Some(Value::Array(nodes)) = with.get("nodes") {
            if nodes.is_empty() {
                problems.push(ParamProblem::field(
                    "nodes",
                    "`nodes` is empty; list the API address of every node, e.g. [\"https://vault-1:8200\"]",
                ));
            }
            for (i, node) in nodes.iter().enumerate() {
                if let Value::String(a) = node {
                    let http = a.starts_with("http://") || a.starts_with("https://");
                    if !params::is_template(a) && !http {
                        problems.push(ParamProblem::new(
                            vec![
                                params::PathSegment::Key("nodes".into()),
                                params::PathSegment::Index(i),
                            ],
                            format!("`{a}` is not an http:// or https:// address"),
                        ));
                    }
                }
            }
        }
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        match with.get("nodes") {
            Some(nodes) => format!("GET /v1/sys/health of each of {nodes}: the active one"),
            None => format!("GET {}/v1/sys/leader", super::describe_addr(with)),
        }
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::string(
                "leader_address",
                "the active node's API address (`\"\"` when none is active yet)",
            ),
            OutputDecl::bool(
                "is_self",
                "with `addr`: whether the node asked is the leader; with `nodes`: whether one of them is active",
            ),
            OutputDecl::bool("ha_enabled", "whether HA is enabled"),
            OutputDecl::map(
                "states",
                "with `nodes`: `{address: active|standby|sealed|uninitialized|unreachable}`",
            ),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (conn, rest) = connection::split(&with);
        let conn: Connection = params::parse(self.name(), conn)?;
        let p: LeaderParams = params::parse(self.name(), rest)?;
        match p.nodes {
            Some(nodes) => active_among(ctx, &conn, &nodes).await,
            None => {
                let client = conn.client(ctx)?;
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
    }
}

/// Asks every node for its health at once; the first in `nodes` that says
/// it is active is the leader.
async fn active_among(
    ctx: &StepContext,
    conn: &Connection,
    nodes: &[String],
) -> Result<StepOutput, StepError> {
    if nodes.is_empty() {
        return Err(StepError::new(
            "`nodes` is empty; list the API address of every node",
        ));
    }
    let mut clients = Vec::with_capacity(nodes.len());
    for node in nodes {
        let mut one = conn.clone();
        one.addr = Some(node.clone());
        clients.push(one.client(ctx)?);
    }
    let answers = join_all(clients.iter().map(|client| async move {
        match tokio::time::timeout(
            NODE_TIMEOUT,
            client.call(ctx, Method::GET, HEALTH_PATH, None),
        )
        .await
        {
            Ok(Ok(reply)) if reply.status == 200 && reply.body["sealed"].is_boolean() => {
                Some(reply.body)
            }
            _ => None,
        }
    }))
    .await;
    if ctx.cancel.is_cancelled() {
        return Err(StepError::cancelled(
            "finding the active node was cancelled",
        ));
    }
    let mut states = Map::new();
    let mut leader = String::new();
    let mut ha_enabled = false;
    for (client, answer) in clients.iter().zip(&answers) {
        let state = answer.as_ref().map_or("unreachable", status_word);
        if state == "active" && leader.is_empty() {
            leader = client.addr().to_string();
        }
        ha_enabled |= answer.as_ref().is_some_and(|b| b["standby"].is_boolean());
        states.insert(client.addr().to_string(), Value::String(state.into()));
    }
    Ok(StepOutput::new()
        .with("is_self", !leader.is_empty())
        .with("leader_address", leader)
        .with("ha_enabled", ha_enabled)
        .with("states", states))
}
