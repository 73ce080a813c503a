//! Lifeboat: a declarative runbook execution engine.
//!
//! # Layout
//!
//! Four flows around one hub, the journal:
//!
//! - [`runbook`] (authoring): YAML reader, loader, validator, templates,
//!   the step graph. `validate`, `plan`, `graph`.
//! - [`run`] (execution): the launcher and the scheduler. `run`, `resume`.
//! - [`journal`] (the hub): records, the store, replay, gate decisions.
//!   Decisions from other processes (`approve`, `confirm`, `mark`, `note`)
//!   are journal records, appended under the run's lock or, while an
//!   engine drives the run, left in its inbox for that engine.
//! - [`report`] (reporting): spans, RTO, history, the projection, the
//!   timeline, honest drills, the scorecard, metrics. `status`, `runs`,
//!   `timeline`, `scorecard`, `metrics`.
//! - [`operator`]: the consoles and prompts a run talks to a person through.
//! - [`serve`]: the read-only live status page over the store. `serve`.
//! - [`cli`]: clap, one module per command, errors and exit codes.
//!
//! Every module is private; this file re-exports the small surface the
//! binary, the tests and the benches use. `docs/ARCHITECTURE.md` has the
//! code map and the dependency rule between these modules.

mod cli;
mod journal;
mod operator;
mod report;
mod run;
mod runbook;
mod serve;
mod terminal_text;

// The binary.
pub use cli::commands::dispatch;
pub use cli::error::exit;
pub use cli::{Cli, Command};

// Reading a run directory (tests, benches, tools).
pub use journal::local_run_store::{parse_journal, LocalRunStore, JOURNAL_FILE};
pub use journal::record::{Event, MarkOutcome, Record, RunStatus, JOURNAL_VERSION};
pub use journal::run_store::RunStore;
pub use report::timeline_writer::write as write_timeline;

// Where runs live, and the shared store in S3 (the `s3_store` test and bench).
pub use journal::inbox::{InboxEntry, InboxItem};
pub use journal::run_store::{Driver, JournalRead, StoreError, TakeOver};
pub use journal::s3::{
    Lease, LeaseGuard, S3RunStore, S3StoreOptions, StoreEvent, StoreObserver, DEFAULT_LEASE_TTL,
    DEFAULT_STORE_TIMEOUT,
};
pub use journal::store_url::{S3Location, StoreUrl, STORE_ENV};

// Signed decisions: the canonical message, and one record's signature
// verified against an allowed signers file (`lifeboat verify`, the tests).
pub use journal::allowed_signers::{AllowedSigner, AllowedSigners};
pub use journal::record::Signed;
pub use journal::signature::{verify as verify_signature, Message, Verdict, NAMESPACE};

// Checking a runbook without the binary (the fuzz test, the validate bench).
pub use runbook::checked_runbook::{check_text, load_checked, registry};
pub use runbook::engine_kind::EngineKind;
pub use runbook::kind_catalog::outputs_markdown;
pub use runbook::source_file::SourceFile;
pub use runbook::step::Section;
pub use runbook::step_graph::StepGraph;
pub use runbook::templates::Templates;
