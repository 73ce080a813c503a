//! Turning aws-sdk-s3 errors into messages an operator can act on.
//!
//! The SDK's `Display` says little more than "service error"; the cause
//! (no such key, access denied, connection refused) sits in the error
//! metadata, the HTTP status or the source chain. [`Failure::classify`]
//! digs it out once; [`Failure::into_step_error`] words it.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;

use super::connection::Connection;
use crate::{StepContext, StepError};

/// What went wrong with one S3 request.
#[derive(Debug)]
pub enum Failure {
    /// 404 on an object (`NoSuchKey`, or a bare 404 on HEAD).
    NotFound,
    NoSuchBucket,
    /// 403 and its relatives: bad key id, bad signature, policy.
    AccessDenied(String),
    /// 412: a conditional request (`If-None-Match: *`, `If-Match`) failed.
    PreconditionFailed,
    /// 416: a range request past the end of the object.
    RangeNotSatisfiable,
    /// No HTTP response: refused, unreachable, TLS.
    Connect(String),
    Timeout(String),
    /// Anything else, with the code, message and status the server gave.
    Other(String),
    /// The credential chain found nothing usable.
    NoCredentials(String),
    /// The step was cancelled while waiting for S3.
    Cancelled,
}

impl Failure {
    pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match err {
            SdkError::TimeoutError(_) => Failure::Timeout(chain(err)),
            SdkError::DispatchFailure(d) if d.is_timeout() => Failure::Timeout(chain(err)),
            SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) => {
                let detail = chain(err);
                // Credential resolution happens while dispatching; the SDK
                // reports a failure there like a network error.
                if detail.contains("credentials") {
                    Failure::NoCredentials(detail)
                } else if matches!(err, SdkError::DispatchFailure(_)) {
                    Failure::Connect(detail)
                } else {
                    Failure::Other(detail)
                }
            }
            _ => {
                let status = err.raw_response().map(|r| r.status().as_u16());
                let code = err.code().unwrap_or("");
                let message = err.message().unwrap_or("");
                match (code, status) {
                    ("NoSuchBucket", _) => Failure::NoSuchBucket,
                    ("NoSuchKey" | "NotFound", _) | ("", Some(404)) => Failure::NotFound,
                    ("PreconditionFailed", _) | (_, Some(412)) => Failure::PreconditionFailed,
                    ("InvalidRange", _) | (_, Some(416)) => Failure::RangeNotSatisfiable,
                    (
                        "AccessDenied"
                        | "InvalidAccessKeyId"
                        | "SignatureDoesNotMatch"
                        | "ExpiredToken"
                        | "InvalidToken"
                        | "AllAccessDisabled",
                        _,
                    )
                    | (_, Some(401 | 403)) => {
                        let what = [code, message]
                            .iter()
                            .filter(|s| !s.is_empty())
                            .copied()
                            .collect::<Vec<_>>()
                            .join(": ");
                        Failure::AccessDenied(if what.is_empty() {
                            format!("HTTP {}", status.unwrap_or(403))
                        } else {
                            what
                        })
                    }
                    _ => {
                        let mut text = match (code.is_empty(), message.is_empty()) {
                            (false, false) => format!("{code}: {message}"),
                            (false, true) => code.to_string(),
                            (true, false) => message.to_string(),
                            (true, true) => chain(err),
                        };
                        if let Some(s) = status {
                            text.push_str(&format!(" (HTTP {s})"));
                        }
                        Failure::Other(text)
                    }
                }
            }
        }
    }

    /// Words the failure to `action` (a verb: "download", "list") the
    /// object `key`, or the bucket when `None`.
    pub fn into_step_error(
        self,
        action: &str,
        key: Option<&str>,
        conn: &Connection,
        ctx: &StepContext,
    ) -> StepError {
        let target = match key {
            Some(k) => format!("`{}`", conn.url(k)),
            None => format!("bucket `{}`", conn.bucket),
        };
        let at = conn.endpoint_name();
        let problem = match self {
            Failure::NotFound => match key {
                Some(k) => format!(
                    "object `{k}` not found in bucket `{}` at {at}; check the key (an `s3.list` step shows what is there)",
                    conn.bucket
                ),
                None => format!("not found at {at}"),
            },
            Failure::NoSuchBucket => format!(
                "bucket `{}` does not exist at {at}; check `bucket`{}",
                conn.bucket,
                if conn.endpoint.is_some() { " and `endpoint`" } else { " and `region`" }
            ),
            Failure::AccessDenied(detail) => format!(
                "access denied at {at} ({detail}) using {}; check the credentials and the bucket's policy",
                conn.credentials_source(ctx)
            ),
            Failure::NoCredentials(detail) => format!(
                "no usable AWS credentials ({detail}); give `access_key_id` and `secret_access_key` (from secret inputs), or set up the standard chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role)"
            ),
            Failure::PreconditionFailed => {
                "a condition of the request did not hold (HTTP 412)".to_string()
            }
            Failure::RangeNotSatisfiable => {
                "the requested byte range is past the end of the object (HTTP 416)".to_string()
            }
            Failure::Connect(detail) => format!(
                "could not reach {at} ({detail}); is the server running and the endpoint right?"
            ),
            Failure::Timeout(detail) => format!("timed out talking to {at} ({detail})"),
            Failure::Other(detail) => format!("{detail} (at {at})"),
            Failure::Cancelled => {
                return StepError::cancelled(format!("cancelled while trying to {action} {target}"))
            }
        };
        StepError::new(
            ctx.redactor
                .redact(&format!("cannot {action} {target}: {problem}")),
        )
    }
}

/// Maps an SDK error straight to a step error.
pub fn step_error<E>(
    err: SdkError<E, HttpResponse>,
    action: &str,
    key: Option<&str>,
    conn: &Connection,
    ctx: &StepContext,
) -> StepError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    Failure::classify(&err).into_step_error(action, key, conn, ctx)
}

/// The error's whole source chain on one line, innermost cause last, with
/// the SDK's repeated wrappers ("dispatch failure", "io error") dropped
/// when a more precise cause follows.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p == &text) {
            parts.push(text);
        }
        cur = e.source();
    }
    if parts.len() > 1 {
        parts.retain(|p| {
            !matches!(
                p.as_str(),
                "dispatch failure" | "io error" | "other" | "timeout" | "client error (Connect)"
            )
        });
    }
    if parts.is_empty() {
        DisplayErrorContext(err).to_string()
    } else {
        parts.join(": ")
    }
}
