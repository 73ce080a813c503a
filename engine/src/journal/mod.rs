//! The hub every flow shares: a run's journal. Its versioned records, the
//! writer that numbers, timestamps and redacts them, the store they are
//! kept in, and their replay into a run's state and its gates' decisions.
//!
//! Architecture invariant: this module knows nothing of runbooks'
//! semantics, scheduling or reports; it stores and replays records.

pub mod allowed_signers;
pub mod chain;
pub mod decision;
pub mod gate_record;
pub mod inbox;
pub mod local_run_store;
pub mod record;
pub mod run_state;
pub mod run_store;
pub mod run_stores;
pub mod s3;
pub mod signature;
pub mod signer;
pub mod state_dir;
pub mod store_url;
#[cfg(test)]
pub mod test_records;
pub mod timestamp;
pub mod verify;
mod writer;

pub use writer::Journal;
