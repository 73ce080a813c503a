//! `http`: one HTTP request through reqwest.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{
    params, Effect, OutputDecl, ParamProblem, StepContext, StepError, StepKind, StepOutput,
};

pub struct Http;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct HttpParams {
    #[serde(default = "default_method")]
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// A JSON body; sets `content-type: application/json`.
    #[serde(default)]
    json: Option<Value>,
    /// A raw body.
    #[serde(default)]
    body: Option<String>,
    /// Statuses that count as success; default any 2xx.
    #[serde(default)]
    expect_status: Vec<u16>,
    /// Per-request timeout, e.g. `10s` (the step's `timeout` bounds all attempts).
    #[serde(default)]
    timeout: Option<String>,
}

fn default_method() -> String {
    "GET".into()
}

const METHODS: &[&str] = &["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"];

/// One client for the process: connection pools are reused across steps.
/// It follows up to 10 redirects anywhere, dropping `Authorization` and
/// `Cookie` when the host changes (reqwest's policy); requests that carry
/// credentials or a body use [`guarded_client`] instead.
pub fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .user_agent(concat!("lifeboat/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the default reqwest client builds")
    })
}

/// The client for requests that carry credentials (a sensitive header, a
/// password in the URL, a registered secret in any header value or the URL)
/// or a body: it follows redirects only within the
/// origin the step named (see [`same_origin_redirects`]).
pub fn guarded_client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .user_agent(concat!("lifeboat/", env!("CARGO_PKG_VERSION")))
            .redirect(same_origin_redirects())
            .build()
            .expect("the guarded reqwest client builds")
    })
}

/// The most redirects a request follows.
const MAX_REDIRECTS: usize = 10;

/// A redirect policy that follows a redirect only to the origin (scheme,
/// host and port) of the request the step made, and fails on any other
/// with [`RedirectRefused`], so headers such as `X-Vault-Token` and a 307's
/// body never reach a host the operator did not name.
pub fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().cloned();
        let same = first.as_ref().is_some_and(|f| {
            f.scheme() == attempt.url().scheme()
                && f.host_str() == attempt.url().host_str()
                && f.port_or_known_default() == attempt.url().port_or_known_default()
        });
        if !same {
            let to = attempt.url().to_string();
            attempt.error(RedirectRefused { to })
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else {
            attempt.follow()
        }
    })
}

/// A redirect to another origin that [`same_origin_redirects`] refused.
#[derive(Debug)]
pub struct RedirectRefused {
    /// Where the server pointed.
    pub to: String,
}

impl std::fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused a redirect to `{}`, another origin", self.to)
    }
}

impl std::error::Error for RedirectRefused {}

/// Where a refused redirect pointed, if `err` is one.
pub fn refused_redirect(err: &reqwest::Error) -> Option<&str> {
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<RedirectRefused>() {
            return Some(&r.to);
        }
        source = s.source();
    }
    None
}

#[async_trait]
impl StepKind for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn summary(&self) -> &'static str {
        "send one HTTP request and check its status"
    }

    fn parameters(&self) -> Value {
        params::schema::<HttpParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = params::check::<HttpParams>(with);
        if let Some(Value::String(m)) = with.get("method") {
            if !params::is_template(m) && !METHODS.contains(&m.to_uppercase().as_str()) {
                problems.push(ParamProblem::field(
                    "method",
                    format!("unknown method `{m}`; use one of {}", METHODS.join(", ")),
                ));
            }
        }
        if with.get("json").is_some() && with.get("body").is_some() {
            problems.push(ParamProblem::field(
                "body",
                "give either `json` or `body`, not both",
            ));
        }
        if let Some(Value::String(t)) = with.get("timeout") {
            if !params::is_template(t) {
                if let Err(e) = crate::duration::parse(t) {
                    problems.push(ParamProblem::field("timeout", e));
                }
            }
        }
        problems
    }

    fn effect(&self, with: &Value) -> Effect {
        let method = with
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("GET")
            .to_uppercase();
        if matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS") {
            Effect::ReadOnly
        } else {
            Effect::Mutating
        }
    }

    fn describe(&self, with: &Value) -> String {
        let method = with.get("method").and_then(Value::as_str).unwrap_or("GET");
        let url = with.get("url").and_then(Value::as_str).unwrap_or("?");
        let mut out = format!("{} {url}", method.to_uppercase());
        if let Some(Value::Object(headers)) = with.get("headers") {
            for (k, v) in headers {
                let shown = if is_sensitive_header(k) {
                    crate::REDACTED
                } else {
                    v.as_str().unwrap_or("")
                };
                out.push_str(&format!("\n{k}: {shown}"));
            }
        }
        if let Some(json) = with.get("json") {
            out.push_str(&format!("\n\n{json}"));
        } else if let Some(Value::String(body)) = with.get("body") {
            out.push_str(&format!("\n\n{body}"));
        }
        out
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::integer("status", "the HTTP status code"),
            OutputDecl::map("headers", "response headers, lowercase names"),
            OutputDecl::json(
                "json",
                "the body parsed as JSON, when it is JSON; keys below it are free",
            ),
            OutputDecl::string("body", "the response body as text"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let p: HttpParams = params::parse(self.name(), with)?;
        let method = reqwest::Method::from_bytes(p.method.to_uppercase().as_bytes())
            .map_err(|_| StepError::new(format!("unknown HTTP method `{}`", p.method)))?;
        // Credentials and bodies never follow a redirect to another origin.
        // A request carries credentials by a header's name, a password in
        // the URL, or by content: a registered secret anywhere in a header
        // value or the URL (`X-Auth: {{ inputs.pw }}`).
        let holds_secret = |text: &str| ctx.redactor.redact(text) != text;
        let guarded = p.headers.keys().any(|k| is_sensitive_header(k))
            || p.headers.values().any(|v| holds_secret(v))
            || holds_secret(&p.url)
            || p.json.is_some()
            || p.body.is_some()
            || reqwest::Url::parse(&p.url).is_ok_and(|u| u.password().is_some());
        let http = if guarded { guarded_client() } else { client() };
        let mut req = http.request(method.clone(), &p.url);
        for (k, v) in &p.headers {
            req = req.header(k, v);
        }
        if let Some(json) = &p.json {
            req = req.json(json);
        } else if let Some(body) = p.body {
            req = req.body(body);
        }
        if let Some(t) = &p.timeout {
            req = req.timeout(crate::duration::parse(t).map_err(StepError::new)?);
        }
        let url = ctx.redactor.redact(&p.url);
        let response = tokio::select! {
            r = req.send() => r.map_err(|e| match refused_redirect(&e) {
                Some(to) => StepError::new(format!(
                    "{method} {url} was redirected to `{}`, another origin; not followed, because the request carries credentials or a body that must reach only the address the step names. Set `url` to that address if it is the one meant",
                    ctx.redactor.redact(to)
                )),
                None => StepError::new(format!("{method} {url} failed: {}", describe_reqwest_error(&e))),
            })?,
            _ = ctx.cancel.cancelled() => return Err(StepError::cancelled(format!("{method} {url} was cancelled"))),
        };
        let status = response.status().as_u16();
        let mut headers = Map::new();
        for (k, v) in response.headers() {
            if let Ok(v) = v.to_str() {
                headers.insert(k.to_string(), Value::String(v.to_string()));
            }
        }
        let body = tokio::select! {
            b = response.text() => b.map_err(|e| StepError::new(format!("{method} {url}: reading the body failed: {e}")))?,
            _ = ctx.cancel.cancelled() => return Err(StepError::cancelled(format!("{method} {url} was cancelled"))),
        };
        let body = ctx.redactor.redact(&body);
        let mut outputs = Map::new();
        outputs.insert("status".into(), Value::from(status));
        outputs.insert("headers".into(), Value::Object(headers));
        if let Ok(json) = serde_json::from_str::<Value>(&body) {
            outputs.insert("json".into(), json);
        }
        outputs.insert("body".into(), Value::String(body.clone()));
        let ok = if p.expect_status.is_empty() {
            (200..300).contains(&status)
        } else {
            p.expect_status.contains(&status)
        };
        if ok {
            Ok(StepOutput {
                outputs,
                secret: Default::default(),
            })
        } else {
            let expected = if p.expect_status.is_empty() {
                "2xx".to_string()
            } else {
                format!("{:?}", p.expect_status)
            };
            let snippet: String = body.chars().take(200).collect();
            Err(StepError::new(format!(
                "{method} {url} returned {status}, expected {expected}: {}",
                snippet.trim()
            ))
            .with_outputs(outputs))
        }
    }
}

fn is_sensitive_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.contains("token")
        || n.contains("authorization")
        || n.contains("secret")
        || n.contains("key")
        || n.contains("cookie")
}

/// reqwest's Display hides the cause ("error sending request"); the cause
/// ("connection refused") is what the operator needs.
pub fn describe_reqwest_error(err: &reqwest::Error) -> String {
    let mut msg = if err.is_timeout() {
        "timed out".to_string()
    } else if err.is_connect() {
        "could not connect".to_string()
    } else {
        err.to_string()
    };
    let mut source = std::error::Error::source(err);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    if let Some(last) = last {
        msg.push_str(&format!(" ({last})"));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP server on 127.0.0.1 that answers with `status` and a JSON body.
    async fn serve_once(status: u16) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let body = r#"{"sealed":false}"#;
            let resp = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            sock.write_all(resp.as_bytes()).await.unwrap();
        });
        format!("http://{addr}/v1/sys/health")
    }

    #[tokio::test]
    async fn get_parses_json_and_status() {
        let url = serve_once(200).await;
        let dir = tempfile::tempdir().unwrap();
        let ctx = StepContext::standalone("h", dir.path());
        let out = Http.run(&ctx, json!({"url": url})).await;
        let names = crate::registry::tests::produced(&out);
        assert_eq!(names, Http.outputs().iter().map(|o| o.name).collect());
        let out = out.unwrap();
        assert_eq!(out.outputs["status"], 200);
        assert_eq!(out.outputs["json"]["sealed"], false);
    }

    #[tokio::test]
    async fn unexpected_status_fails_with_outputs() {
        let url = serve_once(503).await;
        let dir = tempfile::tempdir().unwrap();
        let ctx = StepContext::standalone("h", dir.path());
        let err = Http.run(&ctx, json!({"url": url})).await.unwrap_err();
        assert!(
            err.message.contains("returned 503, expected 2xx"),
            "{}",
            err.message
        );
        assert_eq!(err.outputs["status"], 503);
    }

    #[tokio::test]
    async fn connection_refused_names_the_cause() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let dir = tempfile::tempdir().unwrap();
        let ctx = StepContext::standalone("h", dir.path());
        let err = Http.run(&ctx, json!({"url": url})).await.unwrap_err();
        assert!(err.message.contains("could not connect"), "{}", err.message);
    }

    #[test]
    fn effect_follows_the_method() {
        assert_eq!(Http.effect(&json!({"url": "x"})), Effect::ReadOnly);
        assert_eq!(
            Http.effect(&json!({"url": "x", "method": "post"})),
            Effect::Mutating
        );
    }
}
