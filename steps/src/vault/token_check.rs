//! `vault.token.check`: a read-only preflight that the token a runbook
//! will use is valid, lives long enough and may do what the runbook needs
//! (`sys/capabilities-self`), before anything is changed.

use std::collections::BTreeMap;

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::connection;
use crate::{Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput};

pub struct TokenCheck;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct TokenCheckParams {
    /// API paths and the capabilities the token needs on each, e.g.
    /// `{"sys/seal": [sudo, update]}`, or as a list when a path is a
    /// template (mapping keys are not rendered):
    /// `[{path: "{{ inputs.mount }}/data/*", capabilities: [read]}]`.
    #[serde(default)]
    capabilities: Option<Capabilities>,
    /// The token must stay valid at least this long (e.g. `30m`); tokens
    /// without expiry (root) always pass.
    #[serde(default)]
    min_ttl: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum Capabilities {
    Map(BTreeMap<String, Vec<String>>),
    List(Vec<PathCapabilities>),
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct PathCapabilities {
    path: String,
    capabilities: Vec<String>,
}

impl Capabilities {
    fn pairs(self) -> Vec<(String, Vec<String>)> {
        match self {
            Capabilities::Map(map) => map.into_iter().collect(),
            Capabilities::List(list) => {
                list.into_iter().map(|p| (p.path, p.capabilities)).collect()
            }
        }
    }
}

/// Capabilities Vault knows, for `validate`.
const CAPABILITIES: &[&str] = &[
    "create", "read", "update", "patch", "delete", "list", "sudo", "deny", "root",
];

#[async_trait]
impl StepKind for TokenCheck {
    fn name(&self) -> &'static str {
        "vault.token.check"
    }

    fn summary(&self) -> &'static str {
        "check that a token is valid, lives long enough and has capabilities on paths (read-only)"
    }

    fn parameters(&self) -> Value {
        connection::schema::<TokenCheckParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = connection::check::<TokenCheckParams>(with);
        use crate::params::PathSegment;
        let named: Vec<(Vec<PathSegment>, &Value)> = match with.get("capabilities") {
            Some(Value::Object(caps)) => caps
                .iter()
                .map(|(path, list)| {
                    (
                        vec![
                            PathSegment::Key("capabilities".into()),
                            PathSegment::Key(path.clone()),
                        ],
                        list,
                    )
                })
                .collect(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    Some((
                        vec![
                            PathSegment::Key("capabilities".into()),
                            PathSegment::Index(i),
                            PathSegment::Key("capabilities".into()),
                        ],
                        item.get("capabilities")?,
                    ))
                })
                .collect(),
            _ => Vec::new(),
        };
        for (at, list) in named {
            for cap in list
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !crate::params::is_template(cap) && !CAPABILITIES.contains(&cap) {
                    problems.push(ParamProblem::new(
                        at.clone(),
                        format!(
                            "`{cap}` is not a Vault capability; use {}",
                            CAPABILITIES.join(", ")
                        ),
                    ));
                }
            }
        }
        if let Some(Value::String(ttl)) = with.get("min_ttl") {
            if !crate::params::is_template(ttl) {
                if let Err(e) = crate::duration::parse(ttl) {
                    problems.push(ParamProblem::field("min_ttl", e));
                }
            }
        }
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        let addr = super::describe_addr(with);
        let mut out = format!("GET {addr}/v1/auth/token/lookup-self");
        let paths: Vec<&str> = match with.get("capabilities") {
            Some(Value::Object(caps)) => caps.keys().map(String::as_str).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|i| i.get("path").and_then(Value::as_str))
                .collect(),
            _ => Vec::new(),
        };
        if !paths.is_empty() {
            out.push_str(&format!(
                "\nPOST {addr}/v1/sys/capabilities-self ({})",
                paths.join(", ")
            ));
        }
        out
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::bool("valid", "whether the token is valid"),
            OutputDecl::integer("ttl", "seconds left (0: never expires)"),
            OutputDecl::string("expire_time", "when it expires, RFC 3339, or null"),
            OutputDecl::list("policies", "the token's policies"),
            OutputDecl::string("display_name", "the token's display name"),
            OutputDecl::bool("renewable", "whether it is renewable"),
            OutputDecl::string("type", "`service` or `batch`"),
            OutputDecl::map("capabilities", "`{api_path: [granted]}`"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<TokenCheckParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let min_ttl = p
            .min_ttl
            .as_deref()
            .map(crate::duration::parse)
            .transpose()
            .map_err(|e| StepError::new(format!("`min_ttl`: {e}")))?;
        let lookup = "auth/token/lookup-self";
        let reply = client.call(ctx, Method::GET, lookup, None).await?;
        match reply.status {
            200..=299 => {}
            403 => {
                return Err(StepError::new(format!(
                    "permission denied: the token was refused by {} for GET /v1/{lookup}: it is invalid, expired or revoked, or lacks the `default` policy (which lets a token look itself up); use a valid token with the `default` policy",
                    client.addr()
                )))
            }
            status => return Err(client.error(ctx, &Method::GET, lookup, status, &reply.body)),
        }
        let data = &reply.body["data"];
        let field = |k: &str| data.get(k).cloned().unwrap_or(Value::Null);
        let ttl = data["ttl"].as_u64().unwrap_or(0);
        let mut out = StepOutput::new()
            .with("valid", true)
            .with("ttl", ttl)
            .with("expire_time", field("expire_time"))
            .with("policies", field("policies"))
            .with("display_name", field("display_name"))
            .with("renewable", field("renewable"))
            .with("type", field("type"));
        let mut problems = Vec::new();
        if let Some(min) = min_ttl {
            if ttl > 0 && ttl < min.as_secs() {
                problems.push(format!(
                    "the token expires in {} (at {}), sooner than `min_ttl` {}; renew it or use a longer-lived token",
                    crate::duration::format(std::time::Duration::from_secs(ttl)),
                    data["expire_time"].as_str().unwrap_or("?"),
                    crate::duration::format(min)
                ));
            }
        }
        let wanted = p.capabilities.map(Capabilities::pairs).unwrap_or_default();
        if !wanted.is_empty() {
            let paths: Vec<&String> = wanted.iter().map(|(path, _)| path).collect();
            let caps = client
                .json(
                    ctx,
                    Method::POST,
                    "sys/capabilities-self",
                    Some(&json!({ "paths": paths })),
                )
                .await?;
            let mut granted = Map::new();
            for (path, wanted) in &wanted {
                let has = super::init::string_list(
                    caps.get("data")
                        .and_then(|d| d.get(path))
                        .or_else(|| caps.get(path))
                        .unwrap_or(&Value::Null),
                );
                let missing: Vec<&str> = wanted
                    .iter()
                    .map(String::as_str)
                    .filter(|c| !has.iter().any(|h| h == c || h == "root"))
                    .collect();
                if !missing.is_empty() {
                    problems.push(format!(
                        "the token lacks {} on `{path}` (it has: {}); use a token whose policies grant it",
                        missing
                            .iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        if has.is_empty() {
                            "nothing".to_string()
                        } else {
                            has.join(", ")
                        }
                    ));
                }
                granted.insert(path.clone(), has.into());
            }
            out = out.with("capabilities", granted);
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(StepError::new(format!(
                "token check against {} failed: {}",
                client.addr(),
                problems.join("; ")
            ))
            .with_outputs(out.outputs))
        }
    }
}
