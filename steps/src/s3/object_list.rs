//! Listing the objects under a prefix, every page of them.

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde_json::{json, Value};

use super::connection::Connection;
use super::s3_failure;
use crate::{StepContext, StepError};

/// One object as a listing reports it.
#[derive(Clone, Debug)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub modified: DateTime,
}

impl ObjectInfo {
    /// `{key, size, modified}` with `modified` in RFC 3339.
    pub fn to_json(&self) -> Value {
        json!({"key": self.key, "size": self.size, "modified": rfc3339(&self.modified)})
    }
}

/// A timestamp as RFC 3339 in UTC, e.g. `2026-11-21T03:00:00Z`.
pub fn rfc3339(t: &DateTime) -> String {
    t.fmt(Format::DateTime)
        .unwrap_or_else(|_| format!("{}s since the epoch", t.secs()))
}

/// Every object whose key starts with `prefix`, in key order. Stops
/// promptly on cancellation.
pub async fn list_all(
    conn: &Connection,
    ctx: &StepContext,
    prefix: &str,
) -> Result<Vec<ObjectInfo>, StepError> {
    let client = conn.client().await;
    let mut pages = client
        .list_objects_v2()
        .bucket(&conn.bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut objects = Vec::new();
    loop {
        let page = tokio::select! {
            p = pages.next() => p,
            _ = ctx.cancel.cancelled() => {
                return Err(StepError::cancelled(format!("listing `{}` was cancelled", conn.url(prefix))))
            }
        };
        let Some(page) = page else { break };
        let page = page.map_err(|e| s3_failure::step_error(e, "list", Some(prefix), conn, ctx))?;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            objects.push(ObjectInfo {
                key: key.to_string(),
                size: object.size().unwrap_or(0).max(0) as u64,
                modified: object
                    .last_modified()
                    .copied()
                    .unwrap_or(DateTime::from_secs(0)),
            });
        }
    }
    Ok(objects)
}

/// Parses a point in time: RFC 3339 with `Z` or an offset, or a bare date
/// (`2026-11-20`, meaning its midnight UTC).
pub fn parse_time(text: &str) -> Result<DateTime, String> {
    let text = text.trim();
    let attempt = if text.len() == 10 {
        DateTime::from_str(&format!("{text}T00:00:00Z"), Format::DateTime)
    } else {
        DateTime::from_str(text, Format::DateTimeWithOffset)
    };
    attempt.map_err(|_| {
        format!("`{text}` is not a time; use RFC 3339 like `2026-11-20T00:00:00Z` or a date like `2026-11-20`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_with_offsets_and_bare_dates() {
        let z = parse_time("2026-11-20T00:00:00Z").unwrap();
        assert_eq!(parse_time("2026-11-20").unwrap(), z);
        assert_eq!(parse_time("2026-11-20T02:00:00+02:00").unwrap(), z);
        assert_eq!(rfc3339(&z), "2026-11-20T00:00:00Z");
        assert!(parse_time("yesterday").unwrap_err().contains("RFC 3339"));
    }
}
