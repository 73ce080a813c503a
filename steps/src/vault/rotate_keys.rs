//! `vault.rotate_keys`: replace the unseal keys (and root key), e.g. after
//! key holders changed or a key was exposed during an incident.
//!
//! OpenBao: `sys/rotate/root/init` then `sys/rotate/root/update` with the
//! current keys (`bao operator rotate-keys`); its `sys/rekey/*` answers 405.
//! Vault calls this "rekey" (`sys/rekey/init`, `sys/rekey/update`,
//! `vault operator rekey`) with the same request and response fields. This
//! kind drives OpenBao's endpoints and falls back to Vault's on a 404/405.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{server_errors, VaultClient};
use super::secret_file::SecretFile;
use super::{connection, key_list};
use crate::{
    Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput,
};

pub struct RotateKeys;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RotateParams {
    /// The current unseal keys (at least the threshold), from a secret input.
    keys: Value,
    /// Shares of the new key; default the current number.
    #[serde(default)]
    secret_shares: Option<u32>,
    /// Threshold of the new key; default the current one.
    #[serde(default)]
    secret_threshold: Option<u32>,
    /// Where to write the new keys as JSON (mode 0600, must not exist).
    #[serde(default)]
    output_file: Option<String>,
}

/// OpenBao wraps answers in `data`; Vault's rekey answers are bare.
fn unwrap(body: &Value) -> &Value {
    if body["data"].is_object() {
        &body["data"]
    } else {
        body
    }
}

async fn cancel(ctx: &StepContext, client: &VaultClient, base: &str) {
    let _ = client
        .call(ctx, Method::DELETE, &format!("{base}/init"), None)
        .await;
}

#[async_trait]
impl StepKind for RotateKeys {
    fn name(&self) -> &'static str {
        "vault.rotate_keys"
    }

    fn summary(&self) -> &'static str {
        "replace the unseal keys (OpenBao sys/rotate/root; Vault's rekey); new keys are secret outputs"
    }

    fn parameters(&self) -> Value {
        connection::schema::<RotateParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = connection::check::<RotateParams>(with);
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

    /// Never: once the rotation completed the old keys are dead; running it
    /// again with them fails, and if the new keys were not saved only a
    /// human can tell.
    fn default_rerun(&self) -> Rerun {
        Rerun::Never
    }

    fn describe(&self, with: &Value) -> String {
        let mut out = format!(
            "POST {}/v1/sys/rotate/root/init, then /update with the current unseal keys",
            super::describe_addr(with)
        );
        if let Some(f) = with.get("output_file").and_then(Value::as_str) {
            out.push_str(&format!("\nwrite the new keys to {f} (mode 0600)"));
        }
        out
    }

    /// A resumed run gets the new keys back from `output_file`.
    fn reload_secret_outputs(
        &self,
        ctx: &StepContext,
        with: &Value,
    ) -> Option<Result<StepOutput, StepError>> {
        let path = ctx.path(with.get("output_file")?.as_str()?);
        Some(
            super::init::read_init_file(&path, ctx, false)
                .map(|saved| StepOutput::new().with_secret("keys", saved.keys_b64)),
        )
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::list("keys", "the new unseal keys, base64").secret(),
            OutputDecl::integer("key_count", "how many new keys"),
            OutputDecl::integer("secret_threshold", "keys needed to unseal"),
            OutputDecl::string("path", "the key file (with `output_file`)"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<RotateParams>(self.name(), ctx, with)?;
        let keys = key_list::parse(&p.keys).map_err(StepError::new)?;
        for k in &keys {
            ctx.redactor.add(k);
        }
        let reserved = match &p.output_file {
            Some(f) => Some(SecretFile::reserve(&ctx.path(f))?),
            None => None,
        };
        let seal = client
            .json(ctx, Method::GET, "sys/seal-status", None)
            .await?;
        if seal["sealed"] == true {
            return Err(StepError::new(format!(
                "{} is sealed; unseal it first (vault.unseal), then rotate the keys",
                client.addr()
            )));
        }
        let shares = p
            .secret_shares
            .or_else(|| seal["n"].as_u64().map(|n| n as u32))
            .unwrap_or(5);
        let threshold = p
            .secret_threshold
            .or_else(|| seal["t"].as_u64().map(|t| t as u32))
            .unwrap_or(3);

        // OpenBao's endpoint first; Vault's if OpenBao's does not exist.
        let mut base = "sys/rotate/root";
        let mut status = client
            .call(ctx, Method::GET, &format!("{base}/init"), None)
            .await?;
        if matches!(status.status, 404 | 405) {
            base = "sys/rekey";
            status = client
                .call(ctx, Method::GET, &format!("{base}/init"), None)
                .await?;
        }
        if status.status != 200 {
            return Err(client.error(
                ctx,
                &Method::GET,
                &format!("{base}/init"),
                status.status,
                &status.body,
            ));
        }
        if unwrap(&status.body)["started"] == true {
            ctx.progress.warn(
                &ctx.step_id,
                &format!("a key rotation was already in progress on {}; cancelling it and starting afresh", client.addr()),
            );
            cancel(ctx, &client, base).await;
        }
        let started = client
            .json(
                ctx,
                Method::POST,
                &format!("{base}/init"),
                Some(&json!({"secret_shares": shares, "secret_threshold": threshold})),
            )
            .await?;
        let nonce = unwrap(&started)["nonce"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        for (i, key) in keys.iter().enumerate() {
            let reply = client
                .call(
                    ctx,
                    Method::POST,
                    &format!("{base}/update"),
                    Some(&json!({"key": key, "nonce": nonce})),
                )
                .await?;
            if reply.status != 200 {
                cancel(ctx, &client, base).await;
                return Err(StepError::new(format!(
                    "unseal key #{} was rejected by {} during key rotation (HTTP {}): {}; the rotation was cancelled and the old keys stay valid",
                    i + 1,
                    client.addr(),
                    reply.status,
                    server_errors(ctx, &reply.body)
                )));
            }
            let body = unwrap(&reply.body);
            if body["complete"] == true {
                let new_b64 = super::init::string_list(&body["keys_base64"]);
                let new_hex = super::init::string_list(&body["keys"]);
                for k in new_b64.iter().chain(&new_hex) {
                    ctx.redactor.add(k);
                }
                let mut out = StepOutput::new()
                    .with_secret("keys", new_b64.clone())
                    .with("key_count", new_b64.len())
                    .with("secret_threshold", threshold);
                if let Some(file) = reserved {
                    if let Some(path) = file.commit_or_fallback(
                        &super::secret_file::json_bytes(&json!({
                            "unseal_keys_b64": new_b64,
                            "unseal_keys_hex": new_hex,
                            "unseal_shares": shares,
                            "unseal_threshold": threshold,
                        })),
                        ctx,
                    ) {
                        out = out.with("path", path.display().to_string());
                    }
                }
                return Ok(out);
            }
        }
        cancel(ctx, &client, base).await;
        Err(StepError::new(format!(
            "{} key(s) were not enough to rotate the keys on {} (the current threshold is {}); the rotation was cancelled and the old keys stay valid",
            keys.len(),
            client.addr(),
            seal["t"]
        )))
    }
}
