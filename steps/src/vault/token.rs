//! `vault.token.revoke`: revoke a token (and its children), e.g. the root
//! token generated for a recovery once the recovery is done, or the tokens
//! of a compromise by their accessors. `vault.token.lookup`: which accessors
//! still name a live token (read-only), to check a revocation held.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::connection;
use crate::{
    Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput,
};

pub struct TokenRevoke;
pub struct TokenLookup;

/// Exactly one of the three. `token` is the connection's own token, so the
/// token to revoke is `revoke_token`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RevokeParams {
    /// The token to revoke (from a secret input).
    #[serde(default)]
    revoke_token: Option<String>,
    /// The accessor of the token to revoke.
    #[serde(default)]
    accessor: Option<String>,
    /// Accessors of several tokens to revoke; one already gone is listed in
    /// `already_gone`, not an error.
    #[serde(default)]
    accessors: Option<Vec<String>>,
    /// Revoke the connection's own token.
    #[serde(default, rename = "self")]
    revoke_self: bool,
}

fn chosen(with: &Value) -> usize {
    ["revoke_token", "accessor", "accessors"]
        .iter()
        .filter(|k| with.get(**k).is_some())
        .count()
        + usize::from(with.get("self") == Some(&Value::Bool(true)))
}

#[async_trait]
impl StepKind for TokenRevoke {
    fn name(&self) -> &'static str {
        "vault.token.revoke"
    }

    fn summary(&self) -> &'static str {
        "revoke a token by value, by accessor, or the step's own token"
    }

    fn parameters(&self) -> Value {
        connection::schema::<RevokeParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = connection::check::<RevokeParams>(with);
        if with.is_object() && chosen(with) != 1 {
            problems.push(ParamProblem::new(
                vec![],
                "give exactly one of `revoke_token`, `accessor`, `accessors` or `self: true`",
            ));
        }
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    /// Check: a probe (`auth/token/lookup`) tells whether the token is gone;
    /// revoking twice fails with "permission denied" for `self`.
    fn default_rerun(&self) -> Rerun {
        Rerun::Check
    }

    fn describe(&self, with: &Value) -> String {
        let addr = super::describe_addr(with);
        if let Some(accessors) = with.get("accessors") {
            format!("POST {addr}/v1/auth/token/revoke-accessor (accessors {accessors})")
        } else if with.get("accessor").is_some() {
            format!(
                "POST {addr}/v1/auth/token/revoke-accessor (accessor {})",
                with["accessor"].as_str().unwrap_or("?")
            )
        } else if with.get("self") == Some(&Value::Bool(true)) {
            format!("POST {addr}/v1/auth/token/revoke-self")
        } else {
            format!("POST {addr}/v1/auth/token/revoke (token «redacted»)")
        }
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::bool("revoked", "whether a token was revoked"),
            OutputDecl::string(
                "by",
                "how the token was named: `token`, `accessor`, `accessors` or `self`",
            ),
            OutputDecl::list("revoked_accessors", "accessors revoked (with `accessors`)"),
            OutputDecl::list("already_gone", "accessors already gone (with `accessors`)"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        if chosen(&with) != 1 {
            return Err(StepError::new(
                "`vault.token.revoke`: give exactly one of `revoke_token`, `accessor`, `accessors` or `self: true`",
            ));
        }
        let (client, p) = connection::parse::<RevokeParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        if let Some(accessors) = &p.accessors {
            let mut revoked = Vec::new();
            let mut gone = Vec::new();
            for a in accessors {
                let reply = client
                    .json(
                        ctx,
                        Method::POST,
                        "auth/token/revoke-accessor",
                        Some(&json!({ "accessor": a })),
                    )
                    .await?;
                // Revoking an unknown accessor succeeds with this warning.
                let unknown = reply["warnings"].as_array().is_some_and(|w| {
                    w.iter()
                        .filter_map(Value::as_str)
                        .any(|w| w.contains("No token found"))
                });
                if unknown {
                    gone.push(a.clone());
                } else {
                    revoked.push(a.clone());
                }
            }
            return Ok(StepOutput::new()
                .with("revoked", true)
                .with("by", "accessors")
                .with("revoked_accessors", revoked)
                .with("already_gone", gone));
        }
        let (api, body, how) = if let Some(t) = &p.revoke_token {
            ctx.redactor.add(t);
            ("auth/token/revoke", Some(json!({ "token": t })), "token")
        } else if let Some(a) = &p.accessor {
            (
                "auth/token/revoke-accessor",
                Some(json!({ "accessor": a })),
                "accessor",
            )
        } else if p.revoke_self {
            ("auth/token/revoke-self", None, "self")
        } else {
            return Err(StepError::new(
                "`vault.token.revoke`: give exactly one of `revoke_token`, `accessor` or `self: true`",
            ));
        };
        client.json(ctx, Method::POST, api, body.as_ref()).await?;
        Ok(StepOutput::new().with("revoked", true).with("by", how))
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct LookupParams {
    /// The accessors to look up.
    accessors: Vec<String>,
    /// Fail if any accessor still names a live token.
    #[serde(default)]
    expect_revoked: bool,
}

#[async_trait]
impl StepKind for TokenLookup {
    fn name(&self) -> &'static str {
        "vault.token.lookup"
    }

    fn summary(&self) -> &'static str {
        "which token accessors still name a live token (read-only); `expect_revoked` fails if any does"
    }

    fn parameters(&self) -> Value {
        connection::schema::<LookupParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        connection::check::<LookupParams>(with)
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::ReadOnly
    }

    fn describe(&self, with: &Value) -> String {
        format!(
            "POST {}/v1/auth/token/lookup-accessor (accessors {})",
            super::describe_addr(with),
            with.get("accessors").cloned().unwrap_or(Value::Null)
        )
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::list("valid", "accessors still valid"),
            OutputDecl::list("revoked", "accessors revoked"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<LookupParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
        let api = "auth/token/lookup-accessor";
        let mut live = Vec::new();
        let mut revoked = Vec::new();
        for a in &p.accessors {
            let reply = client
                .call(ctx, Method::POST, api, Some(&json!({ "accessor": a })))
                .await?;
            let errors = super::client::server_errors(ctx, &reply.body);
            match reply.status {
                200 if reply.body["data"].is_object() => live.push(a.clone()),
                // An unknown accessor: its token is gone.
                400 if errors.contains("invalid accessor") => revoked.push(a.clone()),
                status => return Err(client.error(ctx, &Method::POST, api, status, &reply.body)),
            }
        }
        let out = StepOutput::new()
            .with("valid", live.clone())
            .with("revoked", revoked);
        if p.expect_revoked && !live.is_empty() {
            return Err(StepError::new(format!(
                "token accessor{} {} still valid on {}; revoke {} (vault.token.revoke with `accessors`)",
                if live.len() > 1 { "s" } else { "" },
                live.iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                client.addr(),
                if live.len() > 1 { "them" } else { "it" }
            ))
            .with_outputs(out.outputs));
        }
        Ok(out)
    }
}
