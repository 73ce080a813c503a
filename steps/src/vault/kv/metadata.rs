//! `vault.kv.metadata`: what KV v2 knows of a secret's versions, read as
//! facts from the API: whether it exists, its current version and each
//! version's deletion time and destroyed flag. A 404 is `exists: false`;
//! any other error fails the step, so a denied or unreachable server is
//! never mistaken for a deleted secret.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::super::client::VaultClient;
use super::super::connection;
use crate::{Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput};

pub struct KvMetadata;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct MetadataParams {
    #[serde(default = "super::default_mount")]
    mount: String,
    /// One secret: its facts are the outputs.
    #[serde(default)]
    path: Option<String>,
    /// Several secrets: `secrets` maps each to its facts, and the paths are
    /// grouped by state.
    #[serde(default)]
    paths: Option<Vec<String>>,
}

/// The states a secret's current version can be in.
const STATES: &[&str] = &["live", "deleted", "destroyed", "missing"];

#[async_trait]
impl StepKind for KvMetadata {
    fn name(&self) -> &'static str {
        "vault.kv.metadata"
    }

    fn summary(&self) -> &'static str {
        "read KV v2 metadata: exists, current version, each version's deletion time and destroyed flag"
    }

    fn parameters(&self) -> Value {
        connection::schema::<MetadataParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = connection::check::<MetadataParams>(with);
        if with.is_object() && (with.get("path").is_some() == with.get("paths").is_some()) {
            problems.push(ParamProblem::new(
                vec![],
                "give exactly one of `path` (one secret) or `paths` (a list)",
            ));
        }
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        let mount = with
            .get("mount")
            .and_then(Value::as_str)
            .unwrap_or("secret");
        match with.get("paths") {
            Some(paths) => format!("read the metadata of {paths} in {mount}"),
            None => format!("read the metadata of {}", super::describe_target(with)),
        }
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::string("path", "the secret path (with `path`)"),
            OutputDecl::bool("exists", "whether it exists (with `path`)"),
            OutputDecl::string(
                "state",
                "`live`, `deleted`, `destroyed` or `missing` (with `path`)",
            ),
            OutputDecl::integer("current_version", "the current version (with `path`)"),
            OutputDecl::integer("oldest_version", "the oldest version kept (with `path`)"),
            OutputDecl::integer(
                "latest_live_version",
                "the newest version neither deleted nor destroyed, or null",
            ),
            OutputDecl::string("created_time", "when the secret was created"),
            OutputDecl::string("updated_time", "when it was last written"),
            OutputDecl::map(
                "versions",
                "`{\"N\": {created_time, deletion_time, destroyed}}`",
            ),
            OutputDecl::map("secrets", "`{path: metadata}` (with `paths`)"),
            OutputDecl::list("live", "live paths (with `paths`)"),
            OutputDecl::list("deleted", "deleted paths (with `paths`)"),
            OutputDecl::list("destroyed", "destroyed paths (with `paths`)"),
            OutputDecl::list("missing", "missing paths (with `paths`)"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<MetadataParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        match (&p.path, &p.paths) {
            (Some(path), None) => {
                let facts = read(ctx, &client, &p.mount, path).await?;
                Ok(StepOutput {
                    outputs: facts,
                    secret: Default::default(),
                })
            }
            (None, Some(paths)) => {
                let mut secrets = Map::new();
                let mut groups: Map<String, Value> = STATES
                    .iter()
                    .map(|s| (s.to_string(), Value::Array(Vec::new())))
                    .collect();
                for path in paths {
                    if ctx.cancel.is_cancelled() {
                        return Err(StepError::cancelled("reading KV metadata was cancelled"));
                    }
                    let facts = read(ctx, &client, &p.mount, path).await?;
                    let state = facts["state"].as_str().unwrap_or("missing").to_string();
                    if let Some(Value::Array(list)) = groups.get_mut(&state) {
                        list.push(Value::String(path.clone()));
                    }
                    secrets.insert(path.clone(), Value::Object(facts));
                }
                let mut out = StepOutput::new().with("secrets", secrets);
                for (state, list) in groups {
                    out = out.with(&state, list);
                }
                Ok(out)
            }
            _ => Err(StepError::new(
                "give exactly one of `path` (one secret) or `paths` (a list)",
            )),
        }
    }
}

/// The facts about one secret.
pub(super) async fn read(
    ctx: &StepContext,
    client: &VaultClient,
    mount: &str,
    path: &str,
) -> Result<Map<String, Value>, StepError> {
    let api = super::api_path(mount, "metadata", path);
    let reply = client.call(ctx, Method::GET, &api, None).await?;
    let mut facts = Map::new();
    facts.insert(
        "path".into(),
        Value::String(path.trim_matches('/').to_string()),
    );
    match reply.status {
        200 => {}
        404 if !super::no_mount(&reply.body) => {
            facts.insert("exists".into(), false.into());
            facts.insert("state".into(), "missing".into());
            facts.insert("current_version".into(), 0.into());
            facts.insert("oldest_version".into(), 0.into());
            facts.insert("latest_live_version".into(), Value::Null);
            facts.insert("versions".into(), Value::Object(Map::new()));
            return Ok(facts);
        }
        status => return Err(client.error(ctx, &Method::GET, &api, status, &reply.body)),
    }
    let data = &reply.body["data"];
    let current = data["current_version"].as_u64().unwrap_or(0);
    let mut versions = Map::new();
    let mut live = Vec::new();
    if let Some(map) = data["versions"].as_object() {
        for (v, m) in map {
            let deletion_time = m["deletion_time"].as_str().unwrap_or_default().to_string();
            let destroyed = m["destroyed"] == true;
            if deletion_time.is_empty() && !destroyed {
                if let Ok(n) = v.parse::<u64>() {
                    live.push(n);
                }
            }
            let mut one = Map::new();
            one.insert("created_time".into(), m["created_time"].clone());
            one.insert("deletion_time".into(), Value::String(deletion_time));
            one.insert("destroyed".into(), destroyed.into());
            versions.insert(v.clone(), Value::Object(one));
        }
    }
    let state = match versions.get(&current.to_string()) {
        Some(m) if m["destroyed"] == true => "destroyed",
        Some(m) if m["deletion_time"] != "" => "deleted",
        Some(_) => "live",
        // Metadata without its current version: nothing readable is left.
        None => "missing",
    };
    facts.insert("exists".into(), true.into());
    facts.insert("state".into(), state.into());
    facts.insert("current_version".into(), current.into());
    facts.insert("oldest_version".into(), data["oldest_version"].clone());
    facts.insert(
        "latest_live_version".into(),
        live.into_iter().max().map_or(Value::Null, Value::from),
    );
    facts.insert("created_time".into(), data["created_time"].clone());
    facts.insert("updated_time".into(), data["updated_time"].clone());
    facts.insert("versions".into(), Value::Object(versions));
    Ok(facts)
}
