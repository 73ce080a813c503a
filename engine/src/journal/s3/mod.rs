//! The shared run store: a run's journal, files, lease and inbox in S3 or
//! any S3-compatible server whose conditional writes are atomic (moto is;
//! see `docs/shared-runs.md`), so that any operator's machine can drive the
//! run or decide in it.
//!
//! # Layout
//! - `store.rs`: [`S3RunStore`], the [`RunStore`](crate::journal::run_store::RunStore)
//!   on S3: positions, group commit, the local copy, the inbox.
//! - `lease.rs`: the lease (`lease.json`), taken and renewed by
//!   compare-and-swap, and its guard.
//! - `client.rs`: the SDK on a thread of its own, retries with backoff up
//!   to the store timeout, failures worded for the operator.

mod client;
mod lease;
mod store;

pub use client::{StoreEvent, StoreObserver};
pub use lease::{Lease, LeaseGuard};
pub use store::{S3RunStore, S3StoreOptions, DEFAULT_LEASE_TTL, DEFAULT_STORE_TIMEOUT};
