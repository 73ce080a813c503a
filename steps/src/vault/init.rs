//! `vault.init`: initialise a new cluster and receive its unseal keys and
//! root token, as secret outputs.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::connection;
use super::secret_file::SecretFile;
use crate::{Effect, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput};

pub struct Init;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InitParams {
    /// How many unseal key shares to create (`bao operator init` default: 5).
    #[serde(default = "default_shares")]
    secret_shares: u32,
    /// How many shares unseal the server (default: 3).
    #[serde(default = "default_threshold")]
    secret_threshold: u32,
    /// Where to write the keys and root token as JSON, mode 0600. The file
    /// must not exist: it is created before the server is asked.
    #[serde(default)]
    output_file: Option<String>,
}

fn default_shares() -> u32 {
    5
}

fn default_threshold() -> u32 {
    3
}

#[async_trait]
impl StepKind for Init {
    fn name(&self) -> &'static str {
        "vault.init"
    }

    fn summary(&self) -> &'static str {
        "initialise a new Vault cluster; unseal keys and root token are secret outputs"
    }

    fn secret_outputs(&self) -> &'static [&'static str] {
        &["keys", "root_token"]
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = connection::check::<InitParams>(with);
        let shares = with
            .get("secret_shares")
            .and_then(Value::as_u64)
            .unwrap_or(5);
        let threshold = with
            .get("secret_threshold")
            .and_then(Value::as_u64)
            .unwrap_or(3);
        if threshold == 0 || threshold > shares {
            problems.push(ParamProblem::field(
                "secret_threshold",
                format!("the threshold must be between 1 and `secret_shares` ({shares}), not {threshold}"),
            ));
        }
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    /// Never: if the run stopped mid-init the server may be initialised
    /// with keys nobody received. Only a human can decide to wipe and start
    /// again.
    fn default_rerun(&self) -> Rerun {
        Rerun::Never
    }

    fn describe(&self, with: &Value) -> String {
        let shares = with
            .get("secret_shares")
            .and_then(Value::as_u64)
            .unwrap_or(5);
        let threshold = with
            .get("secret_threshold")
            .and_then(Value::as_u64)
            .unwrap_or(3);
        let mut out = format!(
            "POST {}/v1/sys/init (secret_shares={shares}, secret_threshold={threshold})",
            super::describe_addr(with)
        );
        if let Some(f) = with.get("output_file").and_then(Value::as_str) {
            out.push_str(&format!("\nwrite keys and root token to {f} (mode 0600)"));
        }
        out
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<InitParams>(self.name(), ctx, with)?;
        let reserved = match &p.output_file {
            Some(f) => Some(SecretFile::reserve(&ctx.path(f))?),
            None => None,
        };
        let status = client.json(ctx, Method::GET, "sys/init", None).await?;
        if status["initialized"] == true {
            return Err(StepError::new(format!(
                "{} is already initialized; vault.init only runs against a new, empty cluster \
                 (to recover an existing one, unseal it with its keys or restore a snapshot)",
                client.addr()
            )));
        }
        let body = client
            .json(
                ctx,
                Method::POST,
                "sys/init",
                Some(&json!({
                    "secret_shares": p.secret_shares,
                    "secret_threshold": p.secret_threshold,
                })),
            )
            .await?;
        let keys_b64 = string_list(&body["keys_base64"]);
        let keys_hex = string_list(&body["keys"]);
        let root_token = body["root_token"].as_str().unwrap_or_default().to_string();
        // Register the secrets before anything else can print them.
        for k in keys_b64.iter().chain(&keys_hex) {
            ctx.redactor.add(k);
        }
        ctx.redactor.add(&root_token);
        if keys_b64.is_empty() || root_token.is_empty() {
            return Err(StepError::new(format!(
                "{} accepted sys/init but its answer holds no unseal keys or root token; \
                 check the server log: the cluster may now be initialised with keys nobody has",
                client.addr()
            )));
        }
        let mut out = StepOutput::new()
            .with_secret("keys", keys_b64.clone())
            .with_secret("root_token", root_token.clone())
            .with("key_count", keys_b64.len());
        if let Some(file) = reserved {
            if let Some(path) = file.commit_or_fallback(
                &json!({
                    "unseal_keys_b64": keys_b64,
                    "unseal_keys_hex": keys_hex,
                    "unseal_shares": p.secret_shares,
                    "unseal_threshold": p.secret_threshold,
                    "root_token": root_token,
                }),
                ctx,
            ) {
                out = out.with("path", path.display().to_string());
            }
        }
        Ok(out)
    }
}

pub(crate) fn string_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}
