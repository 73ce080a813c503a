//! The command line: clap definitions and help text (`args.rs`), one
//! module per subcommand (`commands/`), and the errors and exit codes the
//! binary reports (`error.rs`).
//!
//! Architecture invariant: nothing outside `cli/` imports it. Library
//! modules return their own errors; only `cli/` turns them into messages
//! and exit codes.

mod args;
pub mod commands;
pub mod error;

pub use args::*;
