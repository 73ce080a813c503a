//! Execution: `run` and `resume`. The launcher resolves inputs and secrets
//! and prepares the run directory; the scheduler executes the step graph,
//! journalling every transition before it takes effect.
//!
//! Architecture invariant: the scheduler reaches storage only through
//! [`crate::journal::Journal`], and people only through the traits of
//! `operator/` ([`crate::operator::console::Console`],
//! [`crate::operator::question::OperatorPrompt`]).

pub mod input_values;
pub mod launcher;
pub mod notifier;
pub mod scheduler;
pub mod sealed_outputs;
