//! Where runs live: `--store URL` or `LIFEBOAT_STORE`.
//!
//! - `s3://BUCKET/PREFIX` (the prefix may be empty): a shared store in S3
//!   or any S3-compatible server, reached through the standard AWS
//!   configuration chain (`AWS_ENDPOINT_URL` for a compatible server).
//! - Anything else is a path: today's local state directory.

use std::path::PathBuf;

use crate::journal::run_store::StoreError;

/// The environment variable that names the store when `--store` is absent.
pub const STORE_ENV: &str = "LIFEBOAT_STORE";

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// A local state directory.
    Local(PathBuf),
    /// A bucket and a key prefix in S3.
    S3(S3Location),
}

/// A bucket and the key prefix every run's objects live under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Without leading or trailing `/`; empty for the bucket's root.
    pub prefix: String,
}

impl S3Location {
    /// The key of `rel` under the prefix.
    pub fn key(&self, rel: &str) -> String {
        if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }

    /// `s3://BUCKET/PREFIX/rel`, for messages.
    pub fn url(&self, rel: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(rel))
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

impl StoreUrl {
    /// Parses `--store`: `s3://BUCKET/PREFIX`, or a path.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let bad = |why: String| {
            StoreError::Misconfigured(format!(
                "store `{text}` {why}; give `s3://BUCKET/PREFIX` for a shared store, or a directory path for a local one"
            ))
        };
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("names no bucket".to_string()));
            }
            let bucket_ok = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.')
                })
                && !bucket.starts_with(['-', '.'])
                && !bucket.ends_with(['-', '.']);
            if !bucket_ok {
                return Err(bad(format!(
                    "has an invalid bucket name `{bucket}` (3 to 63 lowercase letters, digits, `-` and `.`)"
                )));
            }
            let prefix = prefix.trim_matches('/');
            if prefix.split('/').any(|part| part == "." || part == "..") || prefix.contains("//") {
                return Err(bad(format!(
                    "has a prefix `{prefix}` with an empty, `.` or `..` part"
                )));
            }
            return Ok(StoreUrl::S3(S3Location {
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            }));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(bad(format!("has the unsupported scheme `{scheme}://`")));
        }
        if text.is_empty() {
            return Err(bad("is empty".to_string()));
        }
        Ok(StoreUrl::Local(PathBuf::from(text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_and_paths() {
        assert_eq!(
            StoreUrl::parse("s3://runs-bucket/team/dr/").unwrap(),
            StoreUrl::S3(S3Location {
                bucket: "runs-bucket".into(),
                prefix: "team/dr".into()
            })
        );
        let root = StoreUrl::parse("s3://runs-bucket").unwrap();
        match root {
            StoreUrl::S3(loc) => {
                assert_eq!(loc.prefix, "");
                assert_eq!(loc.key("runs/r1/lease.json"), "runs/r1/lease.json");
                assert_eq!(loc.url("runs"), "s3://runs-bucket/runs");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            StoreUrl::parse("/var/lib/lifeboat").unwrap(),
            StoreUrl::Local("/var/lib/lifeboat".into())
        );
    }

    #[test]
    fn bad_urls_say_what_to_write() {
        for (text, why) in [
            ("s3://", "names no bucket"),
            ("s3:///p", "names no bucket"),
            ("s3://Bad_Bucket/p", "invalid bucket name `Bad_Bucket`"),
            ("s3://bucket/a/../b", "`..`"),
            ("gs://bucket/p", "unsupported scheme `gs://`"),
        ] {
            let err = StoreUrl::parse(text).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
            assert!(err.contains("`s3://BUCKET/PREFIX`"), "{err}");
        }
    }
}
