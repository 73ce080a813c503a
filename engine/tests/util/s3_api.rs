//! The S3 run store driven through its API in tests: the AWS environment
//! moto accepts, a moto per test, where the store puts a run, and journal
//! records to append.

use std::path::Path;
use std::sync::Once;

use lifeboat::{Event, Record, S3Location, S3StoreOptions, JOURNAL_VERSION};
use lifeboat_harness::s3_server::S3Server;

/// The standard AWS chain finds these; moto accepts any credentials, and
/// the refusing server refuses them. Set once, before any store reads the
/// environment.
pub fn aws_env() {
    static ENV: Once = Once::new();
    ENV.call_once(|| {
        std::env::set_var("AWS_ACCESS_KEY_ID", S3Server::ACCESS_KEY_ID);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", S3Server::SECRET_ACCESS_KEY);
        std::env::set_var("AWS_REGION", S3Server::REGION);
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::remove_var("AWS_PROFILE");
        std::env::remove_var("AWS_SESSION_TOKEN");
    });
}

/// A moto of the test's own (it fails, never skips, when moto is missing).
pub async fn moto() -> S3Server {
    aws_env();
    S3Server::start().await.unwrap_or_else(|e| panic!("{e}"))
}

/// The runs' place in the server's bucket.
pub fn location(s3: &S3Server) -> S3Location {
    S3Location {
        bucket: s3.bucket().to_string(),
        prefix: "team/dr".to_string(),
    }
}

/// A store's options as `holder`, with its local copy under `local`,
/// talking to `endpoint` (moto, or a proxy in front of it).
pub fn options(endpoint: &str, holder: &str, local: &Path) -> S3StoreOptions {
    let mut options = S3StoreOptions::new(holder, local);
    options.endpoint = Some(endpoint.to_string());
    options
}

/// A `note` record at `seq`.
pub fn note(seq: u64, text: &str) -> Record {
    Record {
        v: JOURNAL_VERSION,
        seq,
        ts: "2026-12-01T10:00:00.000Z".into(),
        actor: "test".into(),
        inbox: None,
        signed: None,
        prev: None,
        event: Event::Note { text: text.into() },
    }
}

/// Each record's note text (or the event, for another kind).
pub fn texts(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| match &r.event {
            Event::Note { text } => text.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}
