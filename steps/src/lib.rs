//! The step kinds Lifeboat runs, and the contract each one implements.
//!
//! This crate knows nothing of scheduling, journals or runbooks. A step kind
//! receives its parameters with every template already rendered, does its one
//! job, and returns outputs. The engine decides when, how often and whether.
//!
//! # Layout
//! - [`StepKind`] (`step_kind.rs`): the contract: parameter check, side-effect
//!   class, default rerun policy, dry-run description and execution.
//! - [`StepContext`] (`step_context.rs`): what a running step may use: its
//!   work directory, cancellation, progress reporting and the redactor.
//! - [`StepOutput`] / [`StepError`]: what a step hands back; [`OutputDecl`]
//!   (`output_decl.rs`): what a kind declares of each output.
//! - [`Redactor`] (`redactor.rs`): replaces known secret values in any text.
//! - [`FileSealer`] (`file_sealer.rs`): how the engine seals the files a step
//!   writes with secrets in them to the run's recipients.
//! - [`Registry`] (`registry.rs`): the table of kinds by name.
//! - [`params`]: checking raw `with:` parameters against a kind's typed struct.
//! - [`private_file`]: temporary and partial files, created exclusively,
//!   0600, never through a symlink.
//! - One file (or folder) per family of kinds: `shell.rs`, `http.rs`,
//!   `sleep.rs`, `tool.rs`, `crypto/`, `checksum.rs`, `s3/`, `vault/`.

pub mod duration;
pub mod file_sealer;
mod output_decl;
pub mod params;
pub mod private_file;
pub mod process_group;
mod progress;
mod redactor;
mod registry;
mod rerun;
mod step_context;
mod step_error;
mod step_kind;
mod step_output;

pub mod checksum;
pub mod crypto;
pub mod http;
pub mod s3;
pub mod shell;
pub mod sleep;
pub mod tool;
pub mod vault;

pub use file_sealer::FileSealer;
pub use output_decl::{OutputDecl, OutputType};
pub use params::ParamProblem;
pub use progress::{NoProgress, Progress};
pub use redactor::{Redactor, MIN_SECRET_CHARS, REDACTED};
pub use registry::Registry;
pub use rerun::{Effect, Rerun};
pub use step_context::StepContext;
pub use step_error::StepError;
pub use step_kind::StepKind;
pub use step_output::StepOutput;
