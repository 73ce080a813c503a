//! `vault.raft.*`: the integrated-storage cluster's membership.
//!
//! - `vault.raft.peers`: the Raft configuration (needs a token).
//! - `vault.raft.join`: ask an uninitialised node to join a leader; it then
//!   needs `vault.unseal` with the cluster's keys.
//! - `vault.raft.remove_peer`: drop a dead node from the configuration.
//! - `vault.raft.autopilot`: health and failure tolerance, with expectations;
//!   with `server`, one server's state, and with `wait_unhealthy`, a watch
//!   of that server until autopilot marks it unhealthy or it shows itself
//!   alive.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::client::VaultClient;
use super::connection;
use crate::{
    Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput,
};

pub struct RaftPeers;
pub struct RaftJoin;
pub struct RaftRemovePeer;
pub struct RaftAutopilot;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct PeersParams {}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct JoinParams {
    /// API address of a node already in the cluster, e.g. `https://vault-1:8200`.
    leader_api_addr: String,
    /// PEM of the leader's CA, when it is not in the joining node's trust store.
    #[serde(default)]
    leader_ca_cert: Option<String>,
    /// Keep retrying in the background until the join succeeds.
    #[serde(default)]
    retry: bool,
    /// Join as a non-voter.
    #[serde(default)]
    non_voter: bool,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RemovePeerParams {
    /// The `node_id` of the peer to remove (see `vault.raft.peers`).
    server_id: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct AutopilotParams {
    /// Fail unless the failure tolerance is at least this.
    #[serde(default)]
    expect_failure_tolerance: Option<u64>,
    /// Fail unless autopilot's `healthy` equals this.
    #[serde(default)]
    expect_healthy: Option<bool>,
    /// A server's node id: its state is the `server` output.
    #[serde(default)]
    server: Option<String>,
    /// With `server`: watch it for up to this long (e.g. `30s`) until
    /// autopilot marks it unhealthy, it leaves the configuration, or its
    /// last contact goes back down, which proves it alive.
    #[serde(default)]
    wait_unhealthy: Option<String>,
}

/// How often `wait_unhealthy` reads autopilot's state again.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// The peers as `[{node_id, address, leader, voter}]`.
async fn read_peers(ctx: &StepContext, client: &VaultClient) -> Result<Vec<Value>, StepError> {
    let body = client
        .json(ctx, Method::GET, "sys/storage/raft/configuration", None)
        .await?;
    let servers = body["data"]["config"]["servers"]
        .as_array()
        .cloned()
        .ok_or_else(|| {
            StepError::new(format!(
                "{} answered sys/storage/raft/configuration without a server list; is its storage Raft?",
                client.addr()
            ))
        })?;
    Ok(servers
        .iter()
        .map(|s| {
            json!({
                "node_id": s["node_id"].as_str().unwrap_or_default(),
                "address": s["address"].as_str().unwrap_or_default(),
                "leader": s["leader"].as_bool().unwrap_or(false),
                "voter": s["voter"].as_bool().unwrap_or(false),
            })
        })
        .collect())
}

#[async_trait]
impl StepKind for RaftPeers {
    fn name(&self) -> &'static str {
        "vault.raft.peers"
    }

    fn summary(&self) -> &'static str {
        "list the Raft peers: node id, address, leader, voter"
    }

    fn parameters(&self) -> Value {
        connection::schema::<PeersParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<PeersParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        format!(
            "GET {}/v1/sys/storage/raft/configuration",
            super::describe_addr(with)
        )
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::integer("count", "how many peers"),
            OutputDecl::integer("voters", "how many voters"),
            OutputDecl::list("peers", "`{node_id, address, leader, voter}` per peer"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, _p) = connection::parse::<PeersParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let peers = read_peers(ctx, &client).await?;
        let voters = peers.iter().filter(|p| p["voter"] == true).count();
        Ok(StepOutput::new()
            .with("count", peers.len())
            .with("voters", voters)
            .with("peers", peers))
    }
}

#[async_trait]
impl StepKind for RaftJoin {
    fn name(&self) -> &'static str {
        "vault.raft.join"
    }

    fn summary(&self) -> &'static str {
        "join this node to a Raft cluster (unseal it afterwards)"
    }

    fn parameters(&self) -> Value {
        connection::schema::<JoinParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<JoinParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    /// Check: membership is readable (`vault.raft.peers`), and a second
    /// join of a node that already joined fails rather than harms.
    fn default_rerun(&self) -> Rerun {
        Rerun::Check
    }

    fn describe(&self, with: &Value) -> String {
        format!(
            "POST {}/v1/sys/storage/raft/join (leader_api_addr={})",
            super::describe_addr(with),
            with.get("leader_api_addr")
                .and_then(Value::as_str)
                .unwrap_or("?")
        )
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[OutputDecl::bool("joined", "whether the node joined")];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<JoinParams>(self.name(), ctx, with)?;
        let mut body = json!({
            "leader_api_addr": p.leader_api_addr.trim_end_matches('/'),
            "retry": p.retry,
            "non_voter": p.non_voter,
        });
        if let Some(ca) = &p.leader_ca_cert {
            body["leader_ca_cert"] = Value::String(ca.clone());
        }
        let reply = client
            .call(ctx, Method::POST, "sys/storage/raft/join", Some(&body))
            .await?;
        if reply.status == 200 && reply.body["joined"] == true {
            return Ok(StepOutput::new().with("joined", true));
        }
        let errors = super::client::server_errors(ctx, &reply.body);
        if errors.contains("already") && errors.contains("initialized") {
            return Err(StepError::new(format!(
                "{} is already initialized, so it cannot join {}: only a new or wiped node can join. \
                 If it belongs to another cluster, wipe its data directory first",
                client.addr(),
                p.leader_api_addr
            )));
        }
        if reply.status == 200 {
            return Err(StepError::new(format!(
                "{} did not join {}: the leader did not answer the join (is `leader_api_addr` reachable from the node, and the leader unsealed?)",
                client.addr(),
                p.leader_api_addr
            )));
        }
        Err(client.error(
            ctx,
            &Method::POST,
            "sys/storage/raft/join",
            reply.status,
            &reply.body,
        ))
    }
}

#[async_trait]
impl StepKind for RaftRemovePeer {
    fn name(&self) -> &'static str {
        "vault.raft.remove_peer"
    }

    fn summary(&self) -> &'static str {
        "remove a (dead) node from the Raft configuration"
    }

    fn parameters(&self) -> Value {
        connection::schema::<RemovePeerParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<RemovePeerParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    /// Check: whether the peer is gone is one `vault.raft.peers` away, and
    /// removing an absent peer succeeds here with `removed: false`.
    fn default_rerun(&self) -> Rerun {
        Rerun::Check
    }

    fn describe(&self, with: &Value) -> String {
        format!(
            "POST {}/v1/sys/storage/raft/remove-peer (server_id={})",
            super::describe_addr(with),
            with.get("server_id").and_then(Value::as_str).unwrap_or("?")
        )
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::bool("removed", "whether the peer was removed"),
            OutputDecl::string("server_id", "the peer's node id"),
            OutputDecl::integer("count", "peers left"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<RemovePeerParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let peers = read_peers(ctx, &client).await?;
        let Some(peer) = peers
            .iter()
            .find(|peer| peer["node_id"] == p.server_id.as_str())
        else {
            return Ok(StepOutput::new()
                .with("removed", false)
                .with("server_id", p.server_id)
                .with("count", peers.len()));
        };
        if peer["leader"] == true {
            return Err(StepError::new(format!(
                "`{}` is the current leader; removing it would cut the cluster's head off. \
                 Step it down or kill it first, then remove it from the new leader",
                p.server_id
            )));
        }
        client
            .json(
                ctx,
                Method::POST,
                "sys/storage/raft/remove-peer",
                Some(&json!({"server_id": p.server_id})),
            )
            .await?;
        Ok(StepOutput::new()
            .with("removed", true)
            .with("server_id", p.server_id)
            .with("count", peers.len() - 1))
    }
}

#[async_trait]
impl StepKind for RaftAutopilot {
    fn name(&self) -> &'static str {
        "vault.raft.autopilot"
    }

    fn summary(&self) -> &'static str {
        "read autopilot state: healthy, failure tolerance, leader, voters"
    }

    fn parameters(&self) -> Value {
        connection::schema::<AutopilotParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = connection::check::<AutopilotParams>(with);
        if let Some(wait) = with.get("wait_unhealthy") {
            if with.get("server").is_none() {
                problems.push(ParamProblem::field(
                    "wait_unhealthy",
                    "`wait_unhealthy` watches one server: name it with `server` (its Raft node id)",
                ));
            }
            if let Value::String(d) = wait {
                if !crate::params::is_template(d) {
                    if let Err(e) = crate::duration::parse(d) {
                        problems.push(ParamProblem::field("wait_unhealthy", e));
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
        let mut out = format!(
            "GET {}/v1/sys/storage/raft/autopilot/state",
            super::describe_addr(with)
        );
        for k in [
            "expect_failure_tolerance",
            "expect_healthy",
            "server",
            "wait_unhealthy",
        ] {
            if let Some(v) = with.get(k) {
                out.push_str(&format!("\n{k}: {v}"));
            }
        }
        out
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::bool("healthy", "whether autopilot reports the cluster healthy"),
            OutputDecl::integer("failure_tolerance", "how many voters can fail"),
            OutputDecl::string("leader", "the leader's node id"),
            OutputDecl::list("voters", "the voters' node ids"),
            OutputDecl::map(
                "server",
                "with `server`: `{node_id, present, healthy, alive, last_contact, status}`; `alive` is true only when its last contact went back down while watched",
            ),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<AutopilotParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let wait = p
            .wait_unhealthy
            .as_deref()
            .map(crate::duration::parse)
            .transpose()
            .map_err(StepError::new)?;
        let mut body = read_autopilot(ctx, &client).await?;
        let mut server = p.server.as_deref().map(|id| ServerSeen::of(&body, id));
        if let (Some(wait), Some(id)) = (wait, p.server.as_deref()) {
            let deadline = tokio::time::Instant::now() + wait;
            while server.as_ref().is_some_and(ServerSeen::undecided)
                && tokio::time::Instant::now() + WATCH_EVERY <= deadline
            {
                tokio::select! {
                    _ = tokio::time::sleep(WATCH_EVERY) => {}
                    _ = ctx.cancel.cancelled() => {
                        return Err(StepError::cancelled(format!("watching `{id}` in autopilot was cancelled")));
                    }
                }
                body = read_autopilot(ctx, &client).await?;
                let before = server.take().expect("watched");
                server = Some(ServerSeen::of(&body, id).after(&before));
            }
        }
        let state = &body["data"];
        let healthy = state["healthy"].as_bool().unwrap_or(false);
        let tolerance = state["failure_tolerance"].as_u64().unwrap_or(0);
        let mut out = StepOutput::new()
            .with("healthy", healthy)
            .with("failure_tolerance", tolerance)
            .with("leader", state["leader"].clone())
            .with("voters", state["voters"].clone());
        if let Some(server) = server {
            out = out.with("server", server.to_json());
        }
        let mut problems = Vec::new();
        if let Some(want) = p.expect_healthy {
            if healthy != want {
                let unhealthy: Vec<String> = state["servers"]
                    .as_object()
                    .map(|servers| {
                        servers
                            .iter()
                            .filter(|(_, s)| s["healthy"] == false)
                            .map(|(id, s)| {
                                format!("{id} ({})", s["node_status"].as_str().unwrap_or("?"))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                problems.push(format!(
                    "`healthy` is {healthy}, expected {want}{}",
                    if unhealthy.is_empty() {
                        String::new()
                    } else {
                        format!(" (unhealthy: {})", unhealthy.join(", "))
                    }
                ));
            }
        }
        if let Some(want) = p.expect_failure_tolerance {
            if tolerance < want {
                problems.push(format!(
                    "`failure_tolerance` is {tolerance}, expected at least {want}"
                ));
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(StepError::new(format!(
                "autopilot on {}: {}",
                client.addr(),
                problems.join("; ")
            ))
            .with_outputs(out.outputs))
        }
    }
}

async fn read_autopilot(ctx: &StepContext, client: &VaultClient) -> Result<Value, StepError> {
    client
        .json(ctx, Method::GET, "sys/storage/raft/autopilot/state", None)
        .await
}

/// One server as autopilot reported it, and what watching it has shown.
struct ServerSeen {
    node_id: String,
    present: bool,
    healthy: bool,
    /// Its last contact went back down between two reads: it is alive.
    alive: bool,
    last_contact: String,
    /// `last_contact` read as a duration, when autopilot gave one.
    contact: Option<std::time::Duration>,
    status: String,
}

impl ServerSeen {
    fn of(body: &Value, id: &str) -> Self {
        let s = &body["data"]["servers"][id];
        let last_contact = s["last_contact"].as_str().unwrap_or_default().to_string();
        Self {
            node_id: id.to_string(),
            present: s.is_object(),
            healthy: s["healthy"] == true,
            alive: false,
            contact: crate::duration::parse_go(&last_contact).ok(),
            last_contact,
            status: s["node_status"].as_str().unwrap_or_default().to_string(),
        }
    }

    /// This read after `before`: a dead server's last contact only grows,
    /// a live one is heard from every few hundred milliseconds.
    fn after(mut self, before: &ServerSeen) -> Self {
        self.alive =
            matches!((self.contact, before.contact), (Some(now), Some(then)) if now < then);
        self
    }

    /// Still worth watching: present, healthy, and not shown alive.
    fn undecided(&self) -> bool {
        self.present && self.healthy && !self.alive
    }

    fn to_json(&self) -> Value {
        json!({
            "node_id": self.node_id,
            "present": self.present,
            "healthy": self.healthy,
            "alive": self.alive,
            "last_contact": self.last_contact,
            "status": self.status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(id: &str, healthy: bool, last_contact: &str) -> Value {
        json!({"data": {"servers": {id: {"healthy": healthy, "last_contact": last_contact, "node_status": "alive"}}}})
    }

    #[test]
    fn a_server_is_alive_only_when_its_last_contact_goes_back_down() {
        let first = ServerSeen::of(&state("node2", true, "1.5s"), "node2");
        assert!(first.undecided());
        let grew = ServerSeen::of(&state("node2", true, "2m1.5s"), "node2").after(&first);
        assert!(
            !grew.alive && grew.undecided(),
            "a dead server's contact only grows"
        );
        let fell = ServerSeen::of(&state("node2", true, "350ms"), "node2").after(&grew);
        assert!(fell.alive && !fell.undecided());
        let unhealthy = ServerSeen::of(&state("node2", false, "12s"), "node2");
        assert!(!unhealthy.undecided());
        let gone = ServerSeen::of(&state("node2", true, "1s"), "node9");
        assert!(!gone.present && !gone.undecided());
        assert_eq!(gone.to_json()["present"], false);
    }
}
