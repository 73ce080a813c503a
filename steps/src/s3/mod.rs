//! The `s3.*` kinds, on the official AWS SDK, for AWS S3 and any
//! S3-compatible store (give `endpoint`; requests are then path-style).
//!
//! Every kind takes the connection fields of [`connection::Connection`]
//! flat in `with:`, next to its own.
//!
//! # Layout
//! - `connection.rs`: the shared fields and the cached SDK client.
//! - `s3_failure.rs`: SDK errors worded for the operator.
//! - `object_list.rs`, `object_head.rs`, `object_delete.rs`: the requests
//!   several kinds share.
//! - `key_pattern.rs` (globs), `file_digest.rs` (SHA-256), `byte_size.rs`.
//! - One file per kind: `list.rs`, `latest.rs`, `get.rs`, `put.rs`,
//!   `head.rs`, `delete.rs`, `retention.rs`.

mod byte_size;
pub mod connection;
mod delete;
mod file_digest;
mod get;
mod head;
mod key_pattern;
mod latest;
mod list;
mod object_delete;
mod object_head;
mod object_list;
mod put;
mod retention;
pub mod s3_failure;

pub use delete::S3Delete;
pub use get::S3Get;
pub use head::S3Head;
pub use latest::S3Latest;
pub use list::S3List;
pub use put::S3Put;
pub use retention::S3Retention;
