//! `vault.auth.enable` / `vault.auth.disable` / `vault.auth.list`: auth
//! methods, e.g. to shut logins off during an incident, check they are
//! gone, and bring them back after.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::client::VaultClient;
use super::connection;
use crate::{
    Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput,
};

pub struct AuthEnable;
pub struct AuthDisable;
pub struct AuthList;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct EnableParams {
    /// Where to mount it, e.g. `userpass` or `ldap-corp`.
    path: String,
    /// The method type; default the same as `path`.
    #[serde(default, rename = "type")]
    method_type: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// Exactly one of `path` and `paths`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct DisableParams {
    #[serde(default)]
    path: Option<String>,
    /// Several methods; outputs `disabled` and `absent` lists.
    #[serde(default)]
    paths: Option<Vec<String>>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListParams {
    /// Mount paths that must not be enabled (e.g. after disabling them).
    #[serde(default)]
    expect_absent: Vec<String>,
}

fn one_of_path_or_paths(with: &Value) -> Option<ParamProblem> {
    (with.is_object() && with.get("path").is_some() == with.get("paths").is_some()).then(|| {
        ParamProblem::new(
            vec![],
            "give exactly one of `path` (one auth method) or `paths` (a list)",
        )
    })
}

fn clean(path: &str) -> String {
    path.trim_matches('/').to_string()
}

/// The enabled methods: `{"userpass/": {"type": "userpass", ...}}`.
async fn methods(ctx: &StepContext, client: &VaultClient) -> Result<Value, StepError> {
    let body = client.json(ctx, Method::GET, "sys/auth", None).await?;
    Ok(if body["data"].is_object() {
        body["data"].clone()
    } else {
        body
    })
}

#[async_trait]
impl StepKind for AuthEnable {
    fn name(&self) -> &'static str {
        "vault.auth.enable"
    }

    fn summary(&self) -> &'static str {
        "enable an auth method at a path (no-op if the same type is already there)"
    }

    fn parameters(&self) -> Value {
        connection::schema::<EnableParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<EnableParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    /// Check: enabled methods are one read away; enabling again is a no-op.
    fn default_rerun(&self) -> Rerun {
        Rerun::Check
    }

    fn describe(&self, with: &Value) -> String {
        let path = with.get("path").and_then(Value::as_str).unwrap_or("?");
        let ty = with.get("type").and_then(Value::as_str).unwrap_or(path);
        format!(
            "POST {}/v1/sys/auth/{} (type {ty})",
            super::describe_addr(with),
            clean(path)
        )
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::string("path", "the auth mount path"),
            OutputDecl::bool("changed", "whether the step changed anything"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<EnableParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let path = clean(&p.path);
        let ty = p.method_type.clone().unwrap_or_else(|| path.clone());
        let existing = methods(ctx, &client).await?;
        if let Some(m) = existing.get(format!("{path}/")) {
            let have = m["type"].as_str().unwrap_or("?");
            if have == ty {
                return Ok(StepOutput::new().with("path", path).with("changed", false));
            }
            return Err(StepError::new(format!(
                "`{path}/` on {} already holds an auth method of type `{have}`, not `{ty}`; disable it first or choose another `path`",
                client.addr()
            )));
        }
        let mut body = json!({ "type": ty });
        if let Some(d) = &p.description {
            body["description"] = Value::String(d.clone());
        }
        client
            .json(ctx, Method::POST, &format!("sys/auth/{path}"), Some(&body))
            .await?;
        Ok(StepOutput::new().with("path", path).with("changed", true))
    }
}

#[async_trait]
impl StepKind for AuthDisable {
    fn name(&self) -> &'static str {
        "vault.auth.disable"
    }

    fn summary(&self) -> &'static str {
        "disable an auth method (revokes every token it issued)"
    }

    fn parameters(&self) -> Value {
        connection::schema::<DisableParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = connection::check::<DisableParams>(with);
        problems.extend(one_of_path_or_paths(with));
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    /// Check: a disabled method is absent from `sys/auth`; disabling again
    /// is a no-op here.
    fn default_rerun(&self) -> Rerun {
        Rerun::Check
    }

    fn describe(&self, with: &Value) -> String {
        let addr = super::describe_addr(with);
        if let Some(paths) = with.get("paths").and_then(Value::as_array) {
            let paths: Vec<String> = paths
                .iter()
                .map(|p| clean(p.as_str().unwrap_or("?")))
                .collect();
            return format!(
                "DELETE {addr}/v1/sys/auth/{{{}}} (revokes their tokens)",
                paths.join(",")
            );
        }
        format!(
            "DELETE {addr}/v1/sys/auth/{} (revokes its tokens)",
            clean(with.get("path").and_then(Value::as_str).unwrap_or("?"))
        )
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::string("path", "the auth mount path (with `path`)"),
            OutputDecl::bool("changed", "whether the step changed anything"),
            OutputDecl::list("disabled", "paths disabled (with `paths`)"),
            OutputDecl::list("absent", "paths already absent (with `paths`)"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<DisableParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let (paths, single) = match (&p.path, &p.paths) {
            (Some(path), None) => (vec![clean(path)], true),
            (None, Some(paths)) => (paths.iter().map(|p| clean(p)).collect(), false),
            _ => {
                return Err(StepError::new(
                    "give exactly one of `path` (one auth method) or `paths` (a list)",
                ))
            }
        };
        if paths.iter().any(|p| p == "token") {
            return Err(StepError::new(
                "the `token` auth method cannot be disabled; it is built in",
            ));
        }
        let existing = methods(ctx, &client).await?;
        let mut disabled = Vec::new();
        let mut absent = Vec::new();
        for path in paths {
            if existing.get(format!("{path}/")).is_none() {
                absent.push(path);
                continue;
            }
            client
                .json(ctx, Method::DELETE, &format!("sys/auth/{path}"), None)
                .await?;
            disabled.push(path);
        }
        let changed = !disabled.is_empty();
        if single {
            let path = disabled.pop().or_else(|| absent.pop()).unwrap_or_default();
            return Ok(StepOutput::new()
                .with("path", path)
                .with("changed", changed));
        }
        Ok(StepOutput::new()
            .with("disabled", disabled)
            .with("absent", absent)
            .with("changed", changed))
    }
}

#[async_trait]
impl StepKind for AuthList {
    fn name(&self) -> &'static str {
        "vault.auth.list"
    }

    fn summary(&self) -> &'static str {
        "list the enabled auth methods; `expect_absent` fails if any listed one is enabled"
    }

    fn parameters(&self) -> Value {
        connection::schema::<ListParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<ListParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        format!("GET {}/v1/sys/auth", super::describe_addr(with))
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::map("methods", "`{path: type}` of every auth method"),
            OutputDecl::list("paths", "the auth mount paths"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<ListParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let existing = methods(ctx, &client).await?;
        let mut types = serde_json::Map::new();
        for (path, m) in existing.as_object().into_iter().flatten() {
            if m.is_object() {
                types.insert(clean(path), m["type"].clone());
            }
        }
        let still: Vec<String> = p
            .expect_absent
            .iter()
            .map(|p| clean(p))
            .filter(|p| types.contains_key(p))
            .collect();
        let paths: Vec<String> = types.keys().cloned().collect();
        let out = StepOutput::new()
            .with("methods", types)
            .with("paths", paths);
        if still.is_empty() {
            Ok(out)
        } else {
            Err(StepError::new(format!(
                "auth method{} {} still enabled on {}; disable {} (vault.auth.disable)",
                if still.len() > 1 { "s" } else { "" },
                still
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                client.addr(),
                if still.len() > 1 { "them" } else { "it" }
            ))
            .with_outputs(out.outputs))
        }
    }
}
