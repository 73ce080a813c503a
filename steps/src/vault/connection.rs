//! The connection parameters every `vault.*` kind accepts, flat in `with:`.
//!
//! `#[serde(flatten)]` does not combine with `deny_unknown_fields`, and
//! unknown fields must be reported (a typo like `tokn:` would otherwise fall
//! back to `VAULT_TOKEN` silently). So the `with:` mapping is split in two by
//! key name: the connection fields are checked against [`Connection`], the
//! rest against the kind's own struct, both strictly.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::client::VaultClient;
use crate::{params, ParamProblem, StepContext, StepError};

/// Where and how to reach Vault or OpenBao.
#[derive(Clone, Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// API address, e.g. `https://vault-1:8200`; default `VAULT_ADDR`, then `BAO_ADDR`.
    #[serde(default)]
    pub addr: Option<String>,
    /// Token, normally rendered from a secret input; default `VAULT_TOKEN`,
    /// then `BAO_TOKEN`.
    #[serde(default)]
    pub token: Option<String>,
    /// Enterprise/OpenBao namespace, sent as `X-Vault-Namespace`; default
    /// `VAULT_NAMESPACE`, then `BAO_NAMESPACE`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// A PEM file of CA certificates to trust in addition to the system's.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Skips TLS certificate verification. Prints a warning every time.
    #[serde(default)]
    pub tls_skip_verify: bool,
}

/// The keys of `with:` that belong to [`Connection`].
pub const CONNECTION_FIELDS: &[&str] =
    &["addr", "token", "namespace", "ca_file", "tls_skip_verify"];

/// Splits `with` into (connection fields, the kind's own fields).
pub fn split(with: &Value) -> (Value, Value) {
    let mut conn = Map::new();
    let mut rest = Map::new();
    if let Value::Object(map) = with {
        for (k, v) in map {
            if CONNECTION_FIELDS.contains(&k.as_str()) {
                conn.insert(k.clone(), v.clone());
            } else {
                rest.insert(k.clone(), v.clone());
            }
        }
        (Value::Object(conn), Value::Object(rest))
    } else {
        // Let the kind's struct report "expected a map".
        (Value::Object(conn), with.clone())
    }
}

/// Checks the connection fields and the kind's fields `T`.
/// The JSON Schema of a `vault.*` kind's `with:`: its own fields `T` and
/// the connection fields, flat beside them.
pub fn schema<T: schemars::JsonSchema>() -> Value {
    params::merged_schema(params::schema::<Connection>(), params::schema::<T>())
}

pub fn check<T: DeserializeOwned>(with: &Value) -> Vec<ParamProblem> {
    let (conn, rest) = split(with);
    let mut problems = params::check::<Connection>(&conn);
    for mut p in params::check::<T>(&rest) {
        // serde lists the expected fields of `T` only; name the others too.
        if p.message.starts_with("unknown field") {
            p.message.push_str(&format!(
                ", or a connection field: `{}`",
                CONNECTION_FIELDS.join("`, `")
            ));
        }
        problems.push(p);
    }
    if let Some(Value::String(addr)) = with.get("addr") {
        let http = addr.starts_with("http://") || addr.starts_with("https://");
        if !params::is_template(addr) && !http {
            problems.push(ParamProblem::field(
                "addr",
                format!("`{addr}` is not an http:// or https:// address"),
            ));
        }
    }
    problems
}

/// Parses rendered parameters into a ready client and the kind's fields.
pub fn parse<T: DeserializeOwned>(
    kind: &str,
    ctx: &StepContext,
    with: Value,
) -> Result<(VaultClient, T), StepError> {
    let (conn, rest) = split(&with);
    let conn: Connection = params::parse(kind, conn)?;
    let p: T = params::parse(kind, rest)?;
    Ok((conn.client(ctx)?, p))
}

pub(super) fn env_first(names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| std::env::var(n).ok())
        .find(|v| !v.trim().is_empty())
}

impl Connection {
    /// The address, from the parameter or the environment.
    pub fn resolved_addr(&self) -> Result<String, StepError> {
        let addr = self
            .addr
            .clone()
            .or_else(|| env_first(&["VAULT_ADDR", "BAO_ADDR"]))
            .ok_or_else(|| {
                StepError::new(
                    "no Vault address: set `addr` in the step's `with:` or export VAULT_ADDR",
                )
            })?;
        let addr = addr.trim().trim_end_matches('/').to_string();
        if !(addr.starts_with("http://") || addr.starts_with("https://")) {
            return Err(StepError::new(format!(
                "`{addr}` is not an http:// or https:// address; set `addr` like `https://vault-1:8200`"
            )));
        }
        Ok(addr)
    }

    /// Builds the client: resolves defaults, registers the token with the
    /// redactor, and warns when TLS verification is off.
    pub fn client(&self, ctx: &StepContext) -> Result<VaultClient, StepError> {
        let addr = self.resolved_addr()?;
        let token = self
            .token
            .clone()
            .or_else(|| env_first(&["VAULT_TOKEN", "BAO_TOKEN"]))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        if let Some(t) = &token {
            ctx.redactor.add(t);
        }
        let namespace = self
            .namespace
            .clone()
            .or_else(|| env_first(&["VAULT_NAMESPACE", "BAO_NAMESPACE"]))
            .filter(|n| !n.trim().is_empty());
        if self.tls_skip_verify {
            ctx.progress.warn(
                &ctx.step_id,
                &format!(
                    "TLS certificate verification is disabled for {addr} (`tls_skip_verify: true`): \
                     anyone on the network path can read the token and secrets"
                ),
            );
        }
        let ca_file = self
            .ca_file
            .as_ref()
            .map(|f| ctx.path(f).display().to_string());
        let http = http_client(ca_file.as_deref(), self.tls_skip_verify)?;
        Ok(VaultClient::new(http, addr, token, namespace))
    }
}

/// A TLS configuration: the CA file and whether verification is skipped.
type TlsKey = (Option<String>, bool);

/// One reqwest client per TLS configuration, so connection pools are reused
/// across steps that talk to the same cluster.
fn http_client(ca_file: Option<&str>, skip_verify: bool) -> Result<reqwest::Client, StepError> {
    static CLIENTS: OnceLock<Mutex<HashMap<TlsKey, reqwest::Client>>> = OnceLock::new();
    let key = (ca_file.map(String::from), skip_verify);
    let cache = CLIENTS.get_or_init(Default::default);
    if let Some(c) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(c.clone());
    }
    // The token, unseal keys and request bodies go to the address the step
    // was given and nowhere else: a redirect to another origin fails.
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("lifeboat/", env!("CARGO_PKG_VERSION")))
        .redirect(crate::http::same_origin_redirects())
        .connect_timeout(Duration::from_secs(10));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| StepError::new(format!("cannot read `ca_file` {path}: {e}")))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            StepError::new(format!(
                "`ca_file` {path} holds no usable PEM certificate: {e}"
            ))
        })?;
        if certs.is_empty() {
            return Err(StepError::new(format!(
                "`ca_file` {path} holds no PEM certificate (expected `-----BEGIN CERTIFICATE-----`)"
            )));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if skip_verify {
        builder = builder.danger_accept_invalid_certs(true);
    }
    let client = builder
        .build()
        .map_err(|e| StepError::new(format!("cannot set up the HTTP client: {e}")))?;
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, client.clone());
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct P {
        path: String,
    }

    #[test]
    fn connection_and_kind_fields_are_both_checked_strictly() {
        assert!(check::<P>(
            &json!({"addr": "http://x:8200", "token": "{{ secrets.t }}", "path": "a"})
        )
        .is_empty());
        let problems = check::<P>(&json!({"tokn": "x", "path": "a"}));
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].message.contains("unknown field `tokn`"),
            "{}",
            problems[0].message
        );
        assert!(
            problems[0].message.contains("connection field"),
            "{}",
            problems[0].message
        );
        let problems = check::<P>(&json!({"tls_skip_verify": "yes", "path": "a"}));
        assert_eq!(problems[0].path_string(), "tls_skip_verify");
        let problems = check::<P>(&json!({"addr": "vault:8200", "path": "a"}));
        assert!(
            problems[0].message.contains("not an http"),
            "{}",
            problems[0].message
        );
    }
}
