//! `vault.token.revoke`: revoke a token (and its children), e.g. the root
//! token generated for a recovery once the recovery is done.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::connection;
use crate::{Effect, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput};

pub struct TokenRevoke;

/// Exactly one of the three. `token` is the connection's own token, so the
/// token to revoke is `revoke_token`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeParams {
    /// The token to revoke (from a secret input).
    #[serde(default)]
    revoke_token: Option<String>,
    /// The accessor of the token to revoke.
    #[serde(default)]
    accessor: Option<String>,
    /// Revoke the connection's own token.
    #[serde(default, rename = "self")]
    revoke_self: bool,
}

fn chosen(with: &Value) -> usize {
    ["revoke_token", "accessor"]
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

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = connection::check::<RevokeParams>(with);
        if with.is_object() && chosen(with) != 1 {
            problems.push(ParamProblem::new(
                vec![],
                "give exactly one of `revoke_token`, `accessor` or `self: true`",
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
        if with.get("accessor").is_some() {
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

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        if chosen(&with) != 1 {
            return Err(StepError::new(
                "`vault.token.revoke`: give exactly one of `revoke_token`, `accessor` or `self: true`",
            ));
        }
        let (client, p) = connection::parse::<RevokeParams>(self.name(), ctx, with)?;
        client.require_token(self.name())?;
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
