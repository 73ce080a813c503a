//! Where an `s3.*` step connects, and the cached SDK client for it.
//!
//! Every `s3.*` kind takes the same flat connection fields next to its own
//! (`bucket`, `region`, `endpoint`, `access_key_id`, `secret_access_key`,
//! `session_token`): runbook authors write them at the top level of `with:`
//! as they would in any S3 tool. serde's `flatten` cannot be combined with
//! `deny_unknown_fields`, so [`split`] takes the connection fields out of the
//! mapping first; the connection and the kind's own fields are then each
//! checked by their own strict struct, and a misspelt field is still caught.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_smithy_http_client::tls;
use aws_smithy_types::timeout::TimeoutConfig;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{params, ParamProblem, StepContext, StepError};

/// The connection fields shared by every `s3.*` kind.
pub const FIELDS: &[&str] = &[
    "bucket",
    "region",
    "endpoint",
    "access_key_id",
    "secret_access_key",
    "session_token",
];

/// The region used when neither the step nor the environment names one.
/// S3-compatible stores generally ignore it, but SigV4 needs some value.
const FALLBACK_REGION: &str = "us-east-1";

/// Where to connect and as whom.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// The bucket the step works in.
    pub bucket: String,
    /// AWS region. Default: the standard chain (`AWS_REGION`, profile,
    /// instance metadata); with an `endpoint`, `AWS_REGION` or
    /// `AWS_DEFAULT_REGION`; else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// An S3-compatible endpoint such as `http://127.0.0.1:9000`. Requests
    /// then use path-style addressing (`<endpoint>/<bucket>/<key>`), which
    /// every S3-compatible store understands.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Static credentials, usually from secret inputs. Without them the
    /// standard AWS credential chain is used (environment, profile, SSO,
    /// web identity, container and instance roles).
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub secret_access_key: Option<String>,
    #[serde(default)]
    pub session_token: Option<String>,
}

/// What the client cache is keyed on: everything that changes the client,
/// but not the bucket.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    region: Option<String>,
    endpoint: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
}

impl Connection {
    /// Checks the connection fields of an unrendered `with:` mapping.
    pub fn check(with: &Value) -> Vec<ParamProblem> {
        let (conn, _) = split(with);
        let mut problems = params::check::<Connection>(&conn);
        let has = |k: &str| with.get(k).is_some_and(|v| !v.is_null());
        if has("access_key_id") && !has("secret_access_key") {
            problems.push(ParamProblem::field(
                "secret_access_key",
                "`access_key_id` is set but `secret_access_key` is not; give both, or neither to use the standard AWS credential chain",
            ));
        }
        if has("secret_access_key") && !has("access_key_id") {
            problems.push(ParamProblem::field(
                "access_key_id",
                "`secret_access_key` is set but `access_key_id` is not; give both, or neither to use the standard AWS credential chain",
            ));
        }
        if let Some(Value::String(endpoint)) = with.get("endpoint") {
            let is_url = endpoint.starts_with("http://") || endpoint.starts_with("https://");
            if !params::is_template(endpoint) && !is_url {
                problems.push(ParamProblem::field(
                    "endpoint",
                    format!("endpoint `{endpoint}` must start with `http://` or `https://`"),
                ));
            }
        }
        problems
    }

    /// Registers the secret fields with the redactor, so that no message
    /// can carry them even if a server echoes them back.
    pub fn register_secrets(&self, ctx: &StepContext) {
        if let Some(s) = &self.secret_access_key {
            ctx.redactor.add(s);
        }
        if let Some(s) = &self.session_token {
            ctx.redactor.add(s);
        }
    }

    /// `s3://bucket/key`, for messages.
    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// Where requests go, for messages.
    pub fn endpoint_name(&self) -> String {
        match &self.endpoint {
            Some(e) => format!("endpoint `{e}`"),
            None => match &self.region {
                Some(r) => format!("AWS S3 in `{r}`"),
                None => "AWS S3 (region from the environment)".to_string(),
            },
        }
    }

    /// Which credentials were used, for access-denied messages. Names the
    /// access key id (an identifier, not a secret) but never the secret.
    pub fn credentials_source(&self, ctx: &StepContext) -> String {
        match &self.access_key_id {
            Some(id) => format!(
                "access key `{}` from the step's `access_key_id`/`secret_access_key`",
                ctx.redactor.redact(id)
            ),
            None => "the standard AWS credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO, web identity, instance role)".to_string(),
        }
    }

    /// The region to use without asking the default chain. With an
    /// `endpoint`, the chain's last resort (asking EC2's instance metadata
    /// service) would only stall off EC2, so the environment or the fallback
    /// decide.
    fn explicit_region(&self) -> Option<String> {
        if let Some(r) = &self.region {
            return Some(r.clone());
        }
        self.endpoint.as_ref()?;
        ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|r| !r.is_empty()))
            .or_else(|| Some(FALLBACK_REGION.to_string()))
    }

    fn key(&self) -> ClientKey {
        ClientKey {
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: self.session_token.clone(),
        }
    }

    /// The SDK client for this connection. Clients are cached per
    /// connection for the life of the process: building one loads the
    /// credential chain and a connection pool, which a runbook with many
    /// S3 steps should pay once.
    pub async fn client(&self) -> aws_sdk_s3::Client {
        static CLIENTS: OnceLock<Mutex<HashMap<ClientKey, aws_sdk_s3::Client>>> = OnceLock::new();
        let cache = CLIENTS.get_or_init(Default::default);
        let key = self.key();
        if let Some(client) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return client.clone();
        }
        let client = self.build_client().await;
        cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_insert(client)
            .clone()
    }

    /// A new, uncached client for this connection: for a caller that runs
    /// it on a runtime of its own (the shared run store).
    pub async fn build_client(&self) -> aws_sdk_s3::Client {
        // rustls with ring: the SDK's default TLS stack builds aws-lc from C,
        // which costs minutes on a small build machine for no gain here.
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .build(),
            );
        if let Some(region) = self.explicit_region() {
            loader = loader.region(Region::new(region));
        }
        if let (Some(id), Some(secret)) = (&self.access_key_id, &self.secret_access_key) {
            loader = loader.credentials_provider(Credentials::new(
                id,
                secret,
                self.session_token.clone(),
                None,
                "lifeboat-step-params",
            ));
        }
        let sdk_config = loader.load().await;
        let mut builder = aws_sdk_s3::config::Builder::from(&sdk_config);
        if sdk_config.region().is_none() {
            builder = builder.region(Region::from_static(FALLBACK_REGION));
        }
        builder = builder
            // Integrity is end to end through the SHA-256 kept in object
            // metadata; the SDK's extra CRC trailers are not understood by
            // every S3-compatible store, so they are sent only when an
            // operation requires them.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &self.endpoint {
            builder = builder.endpoint_url(endpoint).force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(builder.build())
    }
}

/// Splits a `with:` mapping into the connection fields and the rest.
pub fn split(with: &Value) -> (Value, Value) {
    let mut conn = Map::new();
    let mut rest = Map::new();
    if let Value::Object(map) = with {
        for (k, v) in map {
            if FIELDS.contains(&k.as_str()) {
                conn.insert(k.clone(), v.clone());
            } else {
                rest.insert(k.clone(), v.clone());
            }
        }
    }
    (Value::Object(conn), Value::Object(rest))
}

/// The JSON Schema of an `s3.*` kind's `with:`: its own fields `T` and the
/// connection fields, flat beside them.
pub fn schema<T: schemars::JsonSchema>() -> Value {
    params::merged_schema(params::schema::<Connection>(), params::schema::<T>())
}

/// Checks a kind's own fields (everything but the connection), naming the
/// connection fields too when a field is unknown.
pub fn check_own<T: DeserializeOwned>(with: &Value) -> Vec<ParamProblem> {
    let (_, rest) = split(with);
    params::check::<T>(&rest)
        .into_iter()
        .map(|mut p| {
            if p.message.starts_with("unknown field") {
                p.message.push_str(&format!(
                    ", or a connection field: `{}`",
                    FIELDS.join("`, `")
                ));
            }
            p
        })
        .collect()
}

/// Parses rendered parameters into the connection and the kind's own `T`.
pub fn parse<T: DeserializeOwned>(
    kind: &str,
    ctx: &StepContext,
    with: Value,
) -> Result<(Connection, T), StepError> {
    let (conn, rest) = split(&with);
    let conn: Connection = params::parse(kind, conn)?;
    if conn.access_key_id.is_some() != conn.secret_access_key.is_some() {
        return Err(StepError::new(format!(
            "`{kind}` needs both `access_key_id` and `secret_access_key`, or neither to use the standard AWS credential chain"
        )));
    }
    conn.register_secrets(ctx);
    let own: T = params::parse(kind, rest)?;
    Ok((conn, own))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Own {
        key: String,
    }

    #[test]
    fn connection_and_own_fields_are_checked_separately() {
        let ok = json!({"bucket": "b", "endpoint": "http://x", "key": "k"});
        assert!(Connection::check(&ok).is_empty());
        assert!(check_own::<Own>(&ok).is_empty());

        let typo = json!({"bucket": "b", "kye": "k"});
        let problems = check_own::<Own>(&typo);
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].message.contains("unknown field `kye`"),
            "{}",
            problems[0].message
        );
        assert!(
            problems[0].message.contains("`endpoint`"),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn half_given_static_credentials_are_a_problem() {
        let problems = Connection::check(&json!({"bucket": "b", "access_key_id": "AKIA"}));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path_string(), "secret_access_key");
    }

    #[test]
    fn missing_bucket_is_reported() {
        let problems = Connection::check(&json!({"key": "k"}));
        assert!(
            problems[0].message.contains("missing field `bucket`"),
            "{}",
            problems[0].message
        );
    }
}
