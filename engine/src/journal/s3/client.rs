//! The S3 requests of the shared store: the SDK on a thread of its own,
//! retries with backoff, and failures worded for the operator.
//!
//! [`RunStore`](crate::journal::run_store::RunStore) is synchronous and the
//! scheduler calls it from a current-thread tokio runtime, where blocking
//! on another future of the same runtime would deadlock. So the SDK runs on
//! one process-wide thread with its own current-thread runtime
//! ([`run`], [`spawn`]); a store sends it a future and waits for the answer
//! on a plain channel, as a local store waits for `fsync`. That thread lives
//! as long as the process, so no runtime is ever dropped inside another,
//! and every connection the SDK pools stays on the runtime that opened it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use lifeboat_steps::s3::connection::Connection;
use lifeboat_steps::s3::s3_failure::{chain, Failure};
use lifeboat_steps::Redactor;

use crate::journal::run_store::StoreError;
use crate::journal::store_url::S3Location;

/// The first pause before a request is tried again; it doubles up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(4);
/// How long one attempt may take before it counts as a transient failure
/// (a stopped server accepts connections but never answers).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the shared store tells its observer (the console).
#[derive(Debug, Clone, PartialEq)]
pub enum StoreEvent {
    /// A request failed for a reason that may pass (no connection, a
    /// timeout, a 5xx); it is tried again after `delay`. `attempt` counts
    /// the retries: 1 for the first.
    Retrying {
        what: String,
        attempt: u32,
        delay: Duration,
        cause: String,
    },
    /// The store answered again after `retries` failed attempts.
    Recovered { what: String, retries: u32 },
    /// The local copy of the journal could not be written. The store has
    /// the record; the copy is rewritten at the next read.
    LocalCopyFailed { path: String, error: String },
}

impl std::fmt::Display for StoreEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreEvent::Retrying {
                what,
                attempt,
                delay,
                cause,
            } => write!(
                f,
                "store unreachable ({what}: {cause}); retry {attempt} in {:.1}s",
                delay.as_secs_f64(),
            ),
            StoreEvent::Recovered { what, retries } => {
                write!(f, "store reachable again ({what}, after {retries} retries)")
            }
            StoreEvent::LocalCopyFailed { path, error } => write!(
                f,
                "cannot write the local copy of the journal `{path}` ({error}); the store has every record"
            ),
        }
    }
}

/// Called with every [`StoreEvent`], on the store's thread.
pub type StoreObserver = Arc<dyn Fn(&StoreEvent) + Send + Sync>;

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The process-wide S3 thread's queue.
fn queue() -> Result<&'static tokio::sync::mpsc::UnboundedSender<Job>, StoreError> {
    static QUEUE: OnceLock<Result<tokio::sync::mpsc::UnboundedSender<Job>, String>> =
        OnceLock::new();
    QUEUE
        .get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the S3 store's runtime: {e}"))?;
            let (jobs, mut queue) = tokio::sync::mpsc::unbounded_channel::<Job>();
            std::thread::Builder::new()
                .name("lifeboat-s3".into())
                .spawn(move || {
                    runtime.block_on(async move {
                        while let Some(job) = queue.recv().await {
                            tokio::spawn(job);
                        }
                    })
                })
                .map_err(|e| format!("cannot start the S3 store's thread: {e}"))?;
            Ok(jobs)
        })
        .as_ref()
        .map_err(|e| StoreError::Io(e.clone()))
}

/// Runs `future` on the S3 thread and waits for its result.
pub(crate) fn run<T: Send + 'static>(
    future: impl Future<Output = T> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    spawn(async move {
        let _ = tx.send(future.await);
    })?;
    rx.recv()
        .map_err(|_| StoreError::Io("the S3 store's thread stopped".to_string()))
}

/// Starts `future` on the S3 thread without waiting for it.
pub(crate) fn spawn(future: impl Future<Output = ()> + Send + 'static) -> Result<(), StoreError> {
    queue()?
        .send(Box::pin(future))
        .map_err(|_| StoreError::Io("the S3 store's thread stopped".to_string()))
}

/// The condition of a PUT.
#[derive(Debug, Clone)]
pub(crate) enum Condition {
    None,
    /// `If-None-Match: *`: create only.
    Absent,
    /// `If-Match: <etag>`: replace only this version.
    Matches(String),
}

/// What a conditional PUT did.
#[derive(Debug)]
pub(crate) enum Put {
    /// Written; the new ETag.
    Done(String),
    /// 412: the condition did not hold.
    ConditionFailed,
}

/// An object as read.
pub(crate) struct Object {
    pub bytes: Vec<u8>,
    pub etag: String,
    /// The `x-amz-meta-writer` of the object, if any.
    pub writer: Option<String>,
}

/// How one failed attempt is handled.
enum Fault {
    ConditionFailed,
    NotFound,
    /// Worth trying again: no connection, a timeout, a 5xx, a 409 conflict.
    Transient(String),
    /// Retrying would not help.
    Fatal(StoreError),
}

/// One bucket and prefix, with the retry policy and the observer.
#[derive(Clone)]
pub(crate) struct S3Client {
    client: aws_sdk_s3::Client,
    pub location: S3Location,
    endpoint: Option<String>,
    store_timeout: Duration,
    observer: Option<StoreObserver>,
    /// The AWS secrets of the environment, so no message can carry them.
    redactor: Redactor,
}

impl S3Client {
    /// Builds the client on the S3 thread and checks that the bucket
    /// answers. A connection refused here is a wrong endpoint (or a server
    /// that is down): it is reported at once rather than retried.
    pub async fn connect(
        location: S3Location,
        endpoint: Option<String>,
        store_timeout: Duration,
        observer: Option<StoreObserver>,
    ) -> Result<Self, StoreError> {
        let connection = Connection {
            bucket: location.bucket.clone(),
            region: None,
            endpoint: endpoint.clone(),
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
        };
        let sdk = connection.build_client().await;
        // Retries are ours (with the observer and the store timeout).
        let config = sdk
            .config()
            .to_builder()
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .build();
        let redactor = Redactor::new();
        for var in ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] {
            if let Ok(secret) = std::env::var(var) {
                redactor.add(&secret);
            }
        }
        let client = Self {
            client: aws_sdk_s3::Client::from_conf(config),
            location,
            endpoint,
            store_timeout,
            observer,
            redactor,
        };
        let probe = client
            .client
            .head_bucket()
            .bucket(&client.location.bucket)
            .send()
            .await;
        if let Err(err) = &probe {
            if let Failure::Connect(cause) = Failure::classify(err) {
                return Err(StoreError::Misconfigured(client.redact(format!(
                    "cannot reach the store `{}` at {} ({cause}); check `AWS_ENDPOINT_URL` and that the server is running, then run the command again",
                    client.location,
                    client.endpoint_name()
                ))));
            }
            match client.fault(err, "check the bucket") {
                Fault::NotFound => return Err(client.no_such_bucket()),
                Fault::Fatal(e) => return Err(e),
                // A timeout or a 5xx may pass: try again within the timeout.
                _ => client.check_bucket().await?,
            }
        }
        Ok(client)
    }

    async fn check_bucket(&self) -> Result<(), StoreError> {
        self.retrying("check the bucket", || async {
            match self
                .client
                .head_bucket()
                .bucket(&self.location.bucket)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(err) => match self.fault(&err, "check the bucket") {
                    Fault::NotFound => Err(Fault::Fatal(self.no_such_bucket())),
                    other => Err(other),
                },
            }
        })
        .await
    }

    /// Where requests go, for messages.
    pub fn endpoint_name(&self) -> String {
        match &self.endpoint {
            Some(e) => format!("endpoint `{e}`"),
            None => "AWS S3 (region from the AWS configuration)".to_string(),
        }
    }

    /// The store, for messages: `` `s3://b/p` at endpoint `…` ``.
    pub fn store_name(&self) -> String {
        format!("`{}` at {}", self.location, self.endpoint_name())
    }

    /// PUTs `bytes` at `key` under `condition`.
    pub async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        condition: Condition,
        writer: Option<&str>,
    ) -> Result<Put, StoreError> {
        let full = self.location.key(key);
        let what = format!("write `{key}`");
        self.retrying(&what, || async {
            let mut request = self
                .client
                .put_object()
                .bucket(&self.location.bucket)
                .key(&full)
                .body(ByteStream::from(bytes.clone()));
            request = match &condition {
                Condition::None => request,
                Condition::Absent => request.if_none_match("*"),
                Condition::Matches(etag) => request.if_match(etag),
            };
            if let Some(writer) = writer {
                request = request.metadata("writer", writer);
            }
            match request.send().await {
                Ok(out) => Ok(Put::Done(out.e_tag().unwrap_or_default().to_string())),
                Err(err) => match self.fault(&err, &what) {
                    Fault::ConditionFailed => Ok(Put::ConditionFailed),
                    other => Err(other),
                },
            }
        })
        .await
    }

    /// GETs `key`; `None` when it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        let full = self.location.key(key);
        let what = format!("read `{key}`");
        self.retrying(&what, || async {
            let out = match self
                .client
                .get_object()
                .bucket(&self.location.bucket)
                .key(&full)
                .send()
                .await
            {
                Ok(out) => out,
                Err(err) => {
                    return match self.fault(&err, &what) {
                        Fault::NotFound => Ok(None),
                        other => Err(other),
                    }
                }
            };
            let etag = out.e_tag().unwrap_or_default().to_string();
            let writer = out.metadata().and_then(|m| m.get("writer")).cloned();
            let bytes = out
                .body
                .collect()
                .await
                .map_err(|e| Fault::Transient(chain(&e)))?
                .into_bytes()
                .to_vec();
            Ok(Some(Object {
                bytes,
                etag,
                writer,
            }))
        })
        .await
    }

    /// The keys under `prefix` (relative to the store's prefix), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let full = self.location.key(prefix);
        let what = format!("list `{prefix}`");
        let strip = self.location.key("");
        self.retrying(&what, || async {
            let mut keys = Vec::new();
            let mut token = None;
            loop {
                let out = self
                    .client
                    .list_objects_v2()
                    .bucket(&self.location.bucket)
                    .prefix(&full)
                    .set_continuation_token(token.take())
                    .send()
                    .await
                    .map_err(|err| self.fault(&err, &what))?;
                for object in out.contents() {
                    if let Some(key) = object.key() {
                        keys.push(key.strip_prefix(&strip).unwrap_or(key).to_string());
                    }
                }
                match out.next_continuation_token() {
                    Some(next) if out.is_truncated() == Some(true) => {
                        token = Some(next.to_string())
                    }
                    _ => break,
                }
            }
            keys.sort();
            Ok(keys)
        })
        .await
    }

    /// DELETEs `key`; deleting a missing key is fine.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let full = self.location.key(key);
        let what = format!("delete `{key}`");
        self.retrying(&what, || async {
            match self
                .client
                .delete_object()
                .bucket(&self.location.bucket)
                .key(&full)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(err) => match self.fault(&err, &what) {
                    Fault::NotFound => Ok(()),
                    other => Err(other),
                },
            }
        })
        .await
    }

    /// Tries `attempt` until it succeeds or fails for good, pausing with
    /// backoff after each transient failure and telling the observer, up to
    /// the store timeout; then [`StoreError::Unreachable`].
    async fn retrying<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Fault>>,
    {
        let started = Instant::now();
        let mut delay = FIRST_BACKOFF;
        let mut retries = 0u32;
        loop {
            let left = self.store_timeout.saturating_sub(started.elapsed());
            let budget = left.clamp(Duration::from_millis(200), ATTEMPT_TIMEOUT);
            let result = match tokio::time::timeout(budget, attempt()).await {
                Ok(result) => result,
                Err(_) => Err(Fault::Transient(format!(
                    "no answer within {:.1}s",
                    budget.as_secs_f64()
                ))),
            };
            let cause = match result {
                Ok(value) => {
                    if retries > 0 {
                        self.observe(StoreEvent::Recovered {
                            what: what.to_string(),
                            retries,
                        });
                    }
                    return Ok(value);
                }
                Err(Fault::Transient(cause)) => self.redact(cause),
                Err(Fault::Fatal(e)) => return Err(e),
                Err(Fault::NotFound) => {
                    return Err(StoreError::Io(format!(
                        "cannot {what} in the store {}: not found",
                        self.store_name()
                    )))
                }
                Err(Fault::ConditionFailed) => {
                    return Err(StoreError::Io(format!(
                        "cannot {what} in the store {}: a condition did not hold (HTTP 412)",
                        self.store_name()
                    )))
                }
            };
            let elapsed = started.elapsed();
            if elapsed >= self.store_timeout {
                return Err(StoreError::Unreachable {
                    store: self.store_name(),
                    waited: elapsed,
                    cause: format!("{what}: {cause}"),
                });
            }
            let pause = delay.min(self.store_timeout - elapsed);
            self.observe(StoreEvent::Retrying {
                what: what.to_string(),
                attempt: retries + 1,
                delay: pause,
                cause,
            });
            tokio::time::sleep(pause).await;
            retries += 1;
            delay = (delay * 2).min(MAX_BACKOFF);
        }
    }

    fn observe(&self, event: StoreEvent) {
        if let Some(observer) = &self.observer {
            observer(&event);
        }
    }

    fn redact(&self, text: String) -> String {
        if self.redactor.is_empty() {
            text
        } else {
            self.redactor.redact(&text)
        }
    }

    fn no_such_bucket(&self) -> StoreError {
        StoreError::Misconfigured(format!(
            "bucket `{}` does not exist at {}; create it, or fix the bucket in `--store s3://BUCKET/PREFIX` (or `LIFEBOAT_STORE`){}",
            self.location.bucket,
            self.endpoint_name(),
            if self.endpoint.is_some() {
                " and the endpoint in `AWS_ENDPOINT_URL`"
            } else {
                ""
            }
        ))
    }

    /// Which credentials signed the request, for access-denied messages:
    /// the access key id (an identifier, not a secret), never the secret.
    fn credentials_source(&self) -> String {
        match std::env::var("AWS_ACCESS_KEY_ID") {
            Ok(id) if !id.is_empty() => format!("access key `{id}` from `AWS_ACCESS_KEY_ID`"),
            _ => match std::env::var("AWS_PROFILE") {
                Ok(profile) if !profile.is_empty() => {
                    format!("the credentials of AWS profile `{profile}`")
                }
                _ => "the standard AWS credential chain".to_string(),
            },
        }
    }

    /// Sorts a failed attempt into what to do about it.
    fn fault<E>(&self, err: &SdkError<E, HttpResponse>, what: &str) -> Fault
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().unwrap_or("");
        let transient_code = matches!(
            code,
            "SlowDown"
                | "RequestTimeout"
                | "InternalError"
                | "ServiceUnavailable"
                | "ConditionalRequestConflict"
        );
        let at = self.endpoint_name();
        let bucket = &self.location.bucket;
        match Failure::classify(err) {
            Failure::PreconditionFailed => Fault::ConditionFailed,
            Failure::NotFound => Fault::NotFound,
            Failure::NoSuchBucket => Fault::Fatal(self.no_such_bucket()),
            Failure::Connect(cause) | Failure::Timeout(cause) => Fault::Transient(cause),
            Failure::Other(cause)
                if transient_code || matches!(status, Some(409 | 500..=599)) =>
            {
                Fault::Transient(cause)
            }
            Failure::AccessDenied(detail) => Fault::Fatal(StoreError::Misconfigured(self.redact(format!(
                "access to bucket `{bucket}` at {at} was denied ({detail}) using {}; check `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (or `AWS_PROFILE`, the instance role) and the bucket's policy",
                self.credentials_source()
            )))),
            Failure::NoCredentials(detail) => Fault::Fatal(StoreError::Misconfigured(self.redact(format!(
                "no usable AWS credentials for the store `{}` ({detail}); set `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, or `AWS_PROFILE`, or run where an instance role is available",
                self.location
            )))),
            Failure::Other(detail)
                if matches!(code, "PermanentRedirect" | "AuthorizationHeaderMalformed")
                    || status == Some(301) =>
            {
                Fault::Fatal(StoreError::Misconfigured(self.redact(format!(
                    "bucket `{bucket}` is in another region than the one requests were signed for ({detail}); set `AWS_REGION` to the bucket's region"
                ))))
            }
            Failure::Other(detail) => Fault::Fatal(StoreError::Misconfigured(self.redact(format!(
                "cannot {what} in the store {}: {detail}; check that `AWS_ENDPOINT_URL` points at an S3-compatible server",
                self.store_name()
            )))),
            Failure::RangeNotSatisfiable | Failure::Cancelled => Fault::Fatal(StoreError::Io(
                format!("cannot {what} in the store {}", self.store_name()),
            )),
        }
    }
}
