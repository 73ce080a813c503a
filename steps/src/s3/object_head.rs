//! What a HEAD request says about one object.

use aws_smithy_types::DateTime;
use serde_json::{Map, Value};

use super::connection::Connection;
use super::file_digest::{self, METADATA_KEY};
use super::object_list::rfc3339;
use super::s3_failure::Failure;
use crate::{StepContext, StepError};

/// Size, time, ETag and the stored SHA-256 of one object.
#[derive(Clone, Debug)]
pub struct ObjectHead {
    pub key: String,
    pub size: u64,
    pub modified: Option<DateTime>,
    pub etag: Option<String>,
    /// The hex SHA-256 from the object's `sha256` metadata, when present
    /// and well formed.
    pub sha256: Option<String>,
}

impl ObjectHead {
    /// HEADs `key`. A missing object is `Ok(None)`, so callers can word
    /// it for their own purpose; every other failure is an error.
    pub async fn fetch(
        conn: &Connection,
        ctx: &StepContext,
        key: &str,
        action: &str,
    ) -> Result<Option<Self>, StepError> {
        let client = conn.client().await;
        let request = client.head_object().bucket(&conn.bucket).key(key).send();
        let result = tokio::select! {
            r = request => r,
            _ = ctx.cancel.cancelled() => {
                return Err(StepError::cancelled(format!("cancelled while trying to {action} `{}`", conn.url(key))))
            }
        };
        match result {
            Ok(out) => Ok(Some(Self {
                key: key.to_string(),
                size: out.content_length().unwrap_or(0).max(0) as u64,
                modified: out.last_modified().copied(),
                etag: out.e_tag().map(str::to_string),
                sha256: sha256_from(out.metadata()),
            })),
            Err(e) => match Failure::classify(&e) {
                Failure::NotFound => Ok(None),
                other => Err(other.into_step_error(action, Some(key), conn, ctx)),
            },
        }
    }

    /// Like [`ObjectHead::fetch`], but a missing object is an error.
    pub async fn require(
        conn: &Connection,
        ctx: &StepContext,
        key: &str,
        action: &str,
    ) -> Result<Self, StepError> {
        Self::fetch(conn, ctx, key, action)
            .await?
            .ok_or_else(|| Failure::NotFound.into_step_error(action, Some(key), conn, ctx))
    }

    /// `key, size, modified, etag, sha256` as outputs.
    pub fn outputs(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("key".into(), Value::from(self.key.clone()));
        out.insert("size".into(), Value::from(self.size));
        out.insert(
            "modified".into(),
            self.modified
                .as_ref()
                .map(rfc3339)
                .map(Value::from)
                .unwrap_or(Value::Null),
        );
        out.insert(
            "etag".into(),
            self.etag.clone().map(Value::from).unwrap_or(Value::Null),
        );
        out.insert(
            "sha256".into(),
            self.sha256.clone().map(Value::from).unwrap_or(Value::Null),
        );
        out
    }
}

/// The `sha256` metadata value, lowercased, if it is a SHA-256 at all.
pub fn sha256_from(metadata: Option<&std::collections::HashMap<String, String>>) -> Option<String> {
    metadata?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(METADATA_KEY))
        .map(|(_, v)| v.trim().to_ascii_lowercase())
        .filter(|v| file_digest::is_sha256_hex(v))
}
