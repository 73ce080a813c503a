//! Authoring: a runbook from YAML text to a validated model and its step
//! graph (`validate`, `plan`, `graph`, and the first stage of `run`).
//!
//! Architecture invariant: nothing here runs a step, reads a journal or
//! touches the clock; a runbook is data until `run/` executes it.

pub mod call_tree;
pub mod checked_runbook;
pub mod diagnostic;
pub mod engine_kind;
pub mod input_decl;
pub mod kind_catalog;
pub mod loader;
mod model;
pub mod node;
pub mod notify_target;
pub mod recipients;
pub mod runbook_schema;
pub mod source_file;
pub mod step;
pub mod step_graph;
pub mod template_context;
pub mod templates;
#[cfg(test)]
mod test_text;
pub mod validator;
pub mod yaml_reader;

pub use model::{Approvers, Defaults, Retry, RtoSpec, Runbook, RunbookOutput};
