//! `vault.init`: initialise a new cluster and receive its unseal keys and
//! root token, as secret outputs.
//!
//! With `output_file` the server's answer is durable before the step
//! returns: written through a 0600 temporary file, fsynced, linked to its
//! name and the directory fsynced, as soon as the answer arrives. A step run
//! again with the same file (a resume after an interruption) finds the node
//! initialised and returns the file's keys instead of failing; a resumed run
//! whose `vault.init` had already succeeded reloads its secret outputs from
//! the file ([`crate::StepKind::reload_secret_outputs`]).
//!
//! When the run has recipients ([`StepContext::file_sealer`]) the file keeps
//! its name but holds the JSON sealed to them, an ASCII-armoured age file,
//! never the keys in clear; a rerun opens it with the operator's identity.

use std::path::Path;

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::connection;
use super::secret_file::{self, SecretFile};
use crate::{
    Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput,
};

pub struct Init;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct InitParams {
    /// How many unseal key shares to create (`bao operator init` default: 5).
    #[serde(default = "default_shares")]
    secret_shares: u32,
    /// How many shares unseal the server (default: 3).
    #[serde(default = "default_threshold")]
    secret_threshold: u32,
    /// Where to write the keys and root token as JSON, mode 0600 (sealed
    /// with age to the run's recipients when it has some). If it exists it
    /// must hold an earlier answer of this step: see the module
    /// documentation.
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

    fn parameters(&self) -> Value {
        connection::schema::<InitParams>()
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

    fn reload_secret_outputs(
        &self,
        ctx: &StepContext,
        with: &Value,
    ) -> Option<Result<StepOutput, StepError>> {
        let file = with.get("output_file")?.as_str()?;
        let path = ctx.path(file);
        Some(read_init_file(&path, ctx, true).map(|saved| saved.outputs(&path, true)))
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::list("keys", "the unseal keys, base64").secret(),
            OutputDecl::string("root_token", "the initial root token").secret(),
            OutputDecl::integer("key_count", "how many unseal keys"),
            OutputDecl::bool(
                "recovered",
                "whether the keys were read back from `output_file`",
            ),
            OutputDecl::string("path", "the key file (with `output_file`)"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (client, p) = connection::parse::<InitParams>(self.name(), ctx, with)?;
        let path = p.output_file.as_ref().map(|f| ctx.path(f));
        if let Some(path) = path
            .as_ref()
            .filter(|p| std::fs::symlink_metadata(p).is_ok())
        {
            return self.reuse(ctx, &client, &p, path).await;
        }
        let reserved = match &path {
            Some(path) => Some(SecretFile::reserve(path)?),
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
        let saved = InitFile {
            keys_b64,
            keys_hex,
            shares: p.secret_shares as u64,
            threshold: p.secret_threshold as u64,
            root_token,
        };
        // The answer reaches the disk before anything else happens: sealed
        // to the run's recipients when it has some, never in clear then.
        let written = reserved.and_then(|file| {
            match secret_file::sealed_if_asked(secret_file::json_bytes(&saved.to_json()), ctx) {
                Ok(contents) => file.commit_or_fallback(&contents, ctx),
                Err(e) => {
                    ctx.progress.warn(
                        &ctx.step_id,
                        &format!(
                            "could not seal `{}` to the run's recipients ({e}), so it was not written (never in clear when the run has recipients); the keys exist only in this run's memory as the step's secret outputs — save them before this run ends",
                            file.path().display()
                        ),
                    );
                    None
                }
            }
        });
        let mut out = StepOutput::new()
            .with_secret("keys", saved.keys_b64.clone())
            .with_secret("root_token", saved.root_token.clone())
            .with("key_count", saved.keys_b64.len())
            .with("recovered", false);
        if let Some(path) = written {
            out = out.with("path", path.display().to_string());
        }
        Ok(out)
    }
}

impl Init {
    /// `output_file` exists: an earlier attempt of this step saved the
    /// server's answer there. If the node is initialised, that answer is
    /// this step's result; anything else is refused, since initialising
    /// again would lose the file's keys or the node's.
    async fn reuse(
        &self,
        ctx: &StepContext,
        client: &super::client::VaultClient,
        p: &InitParams,
        path: &Path,
    ) -> Result<StepOutput, StepError> {
        let saved = read_init_file(path, ctx, true)?;
        if (saved.shares, saved.threshold) != (p.secret_shares as u64, p.secret_threshold as u64) {
            return Err(StepError::new(format!(
                "`{}` already exists and holds keys of a {}-share, threshold-{} seal, not the {}-share, threshold-{} seal this step asks for; move it away or choose another `output_file`",
                path.display(),
                saved.shares,
                saved.threshold,
                p.secret_shares,
                p.secret_threshold
            )));
        }
        let status = client.json(ctx, Method::GET, "sys/init", None).await?;
        if status["initialized"] != true {
            return Err(StepError::new(format!(
                "`{}` holds the keys of an earlier initialisation, but {} is not initialized (was it wiped?); move the file away, then run the step again",
                path.display(),
                client.addr()
            )));
        }
        ctx.progress.warn(
            &ctx.step_id,
            &format!(
                "{} is already initialized; using the keys an earlier attempt saved in `{}`",
                client.addr(),
                path.display()
            ),
        );
        Ok(saved.outputs(path, true))
    }
}

/// The `output_file` of `vault.init` (and, without `root_token`, of
/// `vault.rotate_keys`): the JSON of `bao operator init -format=json`.
pub(crate) struct InitFile {
    pub keys_b64: Vec<String>,
    keys_hex: Vec<String>,
    shares: u64,
    pub threshold: u64,
    root_token: String,
}

impl InitFile {
    fn to_json(&self) -> Value {
        json!({
            "unseal_keys_b64": self.keys_b64,
            "unseal_keys_hex": self.keys_hex,
            "unseal_shares": self.shares,
            "unseal_threshold": self.threshold,
            "root_token": self.root_token,
        })
    }

    fn outputs(self, path: &Path, recovered: bool) -> StepOutput {
        StepOutput::new()
            .with("key_count", self.keys_b64.len())
            .with_secret("keys", self.keys_b64)
            .with_secret("root_token", self.root_token)
            .with("path", path.display().to_string())
            .with("recovered", recovered)
    }
}

/// Reads and checks a key file; its secrets are registered with the
/// redactor before anything can print them. `with_root_token`: the file
/// must hold a root token too (`vault.init`'s does).
pub(crate) fn read_init_file(
    path: &Path,
    ctx: &StepContext,
    with_root_token: bool,
) -> Result<InitFile, StepError> {
    let incomplete = |why: String| {
        let advice = if with_root_token {
            "if the node was initialised, its keys were not saved: wipe the node's data and initialise it again, after moving the file away"
        } else {
            "the rotated keys were not saved in it; if the rotation completed, rotate again with the keys that unseal the cluster now"
        };
        StepError::new(format!(
            "`{}` exists but is not a complete key file ({why}); {advice}",
            path.display()
        ))
    };
    let bytes = std::fs::read(path)
        .map_err(|e| StepError::new(format!("cannot read `{}`: {e}", path.display())))?;
    let bytes = if crate::file_sealer::is_sealed(&bytes) {
        open_sealed(path, ctx, &bytes)?
    } else {
        bytes
    };
    let text = String::from_utf8_lossy(&bytes);
    let value: Value = serde_json::from_str(&text).map_err(|_| {
        incomplete(if text.is_empty() {
            "it is empty".to_string()
        } else {
            format!("{} bytes of invalid JSON", text.len())
        })
    })?;
    let saved = InitFile {
        keys_b64: string_list(&value["unseal_keys_b64"]),
        keys_hex: string_list(&value["unseal_keys_hex"]),
        shares: value["unseal_shares"].as_u64().unwrap_or(0),
        threshold: value["unseal_threshold"].as_u64().unwrap_or(0),
        root_token: value["root_token"].as_str().unwrap_or_default().to_string(),
    };
    for k in saved.keys_b64.iter().chain(&saved.keys_hex) {
        ctx.redactor.add(k);
    }
    ctx.redactor.add(&saved.root_token);
    if saved.keys_b64.is_empty() || (with_root_token && saved.root_token.is_empty()) {
        return Err(incomplete(if with_root_token {
            "no `unseal_keys_b64` or `root_token`".to_string()
        } else {
            "no `unseal_keys_b64`".to_string()
        }));
    }
    Ok(saved)
}

/// The plaintext of a key file sealed to the run's recipients, opened with
/// the operator's identity ([`StepContext::file_sealer`]).
fn open_sealed(path: &Path, ctx: &StepContext, sealed: &[u8]) -> Result<Vec<u8>, StepError> {
    let shown = path.display();
    match &ctx.file_sealer {
        Some(sealer) => sealer
            .open(sealed)
            .map_err(|e| StepError::new(format!("cannot open `{shown}`: {e}"))),
        None => Err(StepError::new(format!(
            "`{shown}` is sealed with age, and this run has no recipients to open it for; open it with a recipient's key (`age -d -i ~/.ssh/id_ed25519 -o keys.json {shown}`) and put the JSON in its place (mode 0600), or move it away"
        ))),
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
