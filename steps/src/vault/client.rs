//! A thin client for the Vault/OpenBao HTTP API that turns every failure
//! into a message an operator can act on.
//!
//! The token is sent in `X-Vault-Token` and never appears in a message:
//! server text is passed through the step's redactor, which knows the token
//! (see [`super::connection::Connection::client`]). Redirects are followed
//! only within the origin of `addr` ([`crate::http::same_origin_redirects`]):
//! the token, unseal keys and bodies never reach a host the step was not
//! given.

use reqwest::Method;
use serde_json::Value;

use crate::{StepContext, StepError};

/// A resolved connection: address, token, namespace and an HTTP client.
#[derive(Clone)]
pub struct VaultClient {
    http: reqwest::Client,
    addr: String,
    token: Option<String>,
    namespace: Option<String>,
}

/// A response whose status the caller wants to look at itself.
pub struct Reply {
    pub status: u16,
    /// The JSON body, or `Null` when it is empty or not JSON.
    pub body: Value,
}

impl VaultClient {
    pub fn new(
        http: reqwest::Client,
        addr: String,
        token: Option<String>,
        namespace: Option<String>,
    ) -> Self {
        Self {
            http,
            addr,
            token,
            namespace,
        }
    }

    /// The server's address without a trailing slash.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Fails early, before any request, when a kind needs a token.
    pub fn require_token(&self, kind: &str) -> Result<(), StepError> {
        if self.token.is_none() {
            return Err(StepError::new(format!(
                "`{kind}` needs a token: set `token` (from a secret input) or export VAULT_TOKEN"
            )));
        }
        Ok(())
    }

    /// A request builder for `/v1/<path>` with the token and namespace set.
    pub fn builder(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}/v1/{}", self.addr, path.trim_start_matches('/'));
        let mut req = self.http.request(method, url);
        if let Some(t) = &self.token {
            req = req.header("X-Vault-Token", t);
        }
        if let Some(ns) = &self.namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        req
    }

    /// Sends a request, honouring cancellation; transport failures become
    /// messages that name the address.
    pub async fn send(
        &self,
        ctx: &StepContext,
        method: &Method,
        path: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, StepError> {
        tokio::select! {
            r = req.send() => r.map_err(|e| self.transport_error(ctx, method, path, &e)),
            _ = ctx.cancel.cancelled() => Err(StepError::cancelled(format!(
                "{method} {}/v1/{path} was cancelled", self.addr
            ))),
        }
    }

    /// Sends a request and returns its status and JSON body, whatever the status.
    pub async fn call(
        &self,
        ctx: &StepContext,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, StepError> {
        let mut req = self.builder(method.clone(), path);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = self.send(ctx, &method, path, req).await?;
        let status = resp.status().as_u16();
        let text = tokio::select! {
            t = resp.text() => t.map_err(|e| StepError::new(format!(
                "{method} {}/v1/{path}: reading the response failed: {}",
                self.addr, crate::http::describe_reqwest_error(&e)
            )))?,
            _ = ctx.cancel.cancelled() => return Err(StepError::cancelled(format!(
                "{method} {}/v1/{path} was cancelled", self.addr
            ))),
        };
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply { status, body })
    }

    /// Sends a request and returns the JSON body of a 2xx answer; any other
    /// status becomes a precise error (see [`VaultClient::error`]).
    pub async fn json(
        &self,
        ctx: &StepContext,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, StepError> {
        let reply = self.call(ctx, method.clone(), path, body).await?;
        if (200..300).contains(&reply.status) {
            Ok(reply.body)
        } else {
            Err(self.error(ctx, &method, path, reply.status, &reply.body))
        }
    }

    /// The message for a non-2xx answer. Known cases get a cause and a fix;
    /// the rest quote the server's `errors`, redacted.
    pub fn error(
        &self,
        ctx: &StepContext,
        method: &Method,
        path: &str,
        status: u16,
        body: &Value,
    ) -> StepError {
        let errors = server_errors(ctx, body);
        let addr = &self.addr;
        let message = match status {
            403 if self.token.is_none() => format!(
                "permission denied: {addr} needs a token for {method} /v1/{path}; set `token` or export VAULT_TOKEN"
            ),
            403 => format!(
                "permission denied: the token was refused by {addr} (is it expired or revoked?) for {method} /v1/{path}"
            ),
            503 if errors.to_lowercase().contains("sealed") => {
                format!("{addr} is sealed; unseal it first (vault.unseal)")
            }
            404 if errors.contains("no handler for route") => format!(
                "{addr} has nothing mounted at /v1/{path} (is `mount` right, and is the secrets engine enabled?)"
            ),
            429 | 472 | 473 => format!(
                "{addr} is a standby node and cannot answer {method} /v1/{path} ({status}); \
                 send it to the active node (vault.leader names it)"
            ),
            _ if errors.is_empty() => {
                format!("{method} {addr}/v1/{path} failed with HTTP {status}")
            }
            _ => format!("{method} {addr}/v1/{path} failed with HTTP {status}: {errors}"),
        };
        StepError::new(message)
    }

    fn transport_error(
        &self,
        ctx: &StepContext,
        method: &Method,
        path: &str,
        err: &reqwest::Error,
    ) -> StepError {
        let cause = ctx
            .redactor
            .redact(&crate::http::describe_reqwest_error(err));
        let addr = &self.addr;
        let lower = cause.to_lowercase();
        let message = if let Some(to) = crate::http::refused_redirect(err) {
            format!(
                "{addr} redirected {method} /v1/{path} to `{}`, which is not the address the step was given; not followed, so neither the token nor the request body was sent there. If that node is meant, set `addr` to it (vault.leader names the active node)",
                ctx.redactor.redact(to)
            )
        } else if lower.contains("connection refused") {
            format!(
                "cannot reach {addr}: connection refused (is the server running, and is `addr` right?)"
            )
        } else if lower.contains("certificate")
            || lower.contains("tls")
            || lower.contains("handshake")
        {
            format!(
                "TLS with {addr} failed: {cause}; set `ca_file` to the CA that signed the server's certificate"
            )
        } else if err.is_timeout() {
            format!("{method} {addr}/v1/{path} timed out: {cause}")
        } else if err.is_connect() {
            format!("cannot reach {addr}: {cause}")
        } else {
            format!("{method} {addr}/v1/{path} failed: {cause}")
        };
        StepError::new(message)
    }
}

/// The server's `errors` array joined into one line, redacted.
pub fn server_errors(ctx: &StepContext, body: &Value) -> String {
    let joined = body["errors"]
        .as_array()
        .map(|errs| {
            errs.iter()
                .filter_map(Value::as_str)
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    ctx.redactor.redact(&joined)
}
