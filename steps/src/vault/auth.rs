//! `vault.auth.enable` / `vault.auth.disable`: auth methods, e.g. to shut
//! logins off during an incident and bring them back after.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::client::VaultClient;
use super::connection;
use crate::{Effect, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput};

pub struct AuthEnable;
pub struct AuthDisable;

#[derive(Deserialize)]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DisableParams {
    path: String,
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

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<DisableParams>(with)
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
        format!(
            "DELETE {}/v1/sys/auth/{} (revokes its tokens)",
            super::describe_addr(with),
            clean(with.get("path").and_then(Value::as_str).unwrap_or("?"))
        )
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<DisableParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let path = clean(&p.path);
        if path == "token" {
            return Err(StepError::new(
                "the `token` auth method cannot be disabled; it is built in",
            ));
        }
        let existing = methods(ctx, &client).await?;
        if existing.get(format!("{path}/")).is_none() {
            return Ok(StepOutput::new().with("path", path).with("changed", false));
        }
        client
            .json(ctx, Method::DELETE, &format!("sys/auth/{path}"), None)
            .await?;
        Ok(StepOutput::new().with("path", path).with("changed", true))
    }
}
