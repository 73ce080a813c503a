/// An error the CLI reports and exits with. The message says what went
/// wrong, where, and how to fix it; it never holds a secret value.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub exit_code: i32,
}

/// Exit codes, documented in the README and `lifeboat --help`.
pub mod exit {
    pub const SUCCESS: i32 = 0;
    /// A step failed.
    pub const STEP_FAILED: i32 = 1;
    /// Invalid runbook, bad input or bad usage.
    pub const INVALID: i32 = 2;
    /// Paused, waiting for a human.
    pub const PAUSED: i32 = 3;
    /// Interrupted (Ctrl-C); resumable.
    pub const INTERRUPTED: i32 = 130;
}

impl CliError {
    /// Bad input or usage: exit 2.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            exit_code: exit::INVALID,
        }
    }

    /// A failure at run time (storage, environment): exit 1.
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            exit_code: exit::STEP_FAILED,
        }
    }
}

impl From<crate::journal::run_store::StoreError> for CliError {
    fn from(e: crate::journal::run_store::StoreError) -> Self {
        use crate::journal::run_store::StoreError;
        match e {
            StoreError::NotFound(_) | StoreError::Corrupt { .. } | StoreError::Locked { .. } => {
                CliError::invalid(e.to_string())
            }
            StoreError::Io(_) => CliError::failed(e.to_string()),
            // The shared store's failures (journal/s3); their exit codes
            // (130, resumable, for `Unreachable`) are wired with `--store`.
            StoreError::LostRace { .. }
            | StoreError::Fenced { .. }
            | StoreError::Unreachable { .. }
            | StoreError::Misconfigured(_) => CliError::failed(e.to_string()),
        }
    }
}
