use serde::{Deserialize, Serialize};

/// What resume may do with a step that was in flight when the run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rerun {
    /// Running it again is harmless (a read, an idempotent write).
    Safe,
    /// Run the step's read-only `check` probe; count the step done if it passes.
    Check,
    /// Never repeat it without a human saying whether it completed.
    Never,
}

impl Rerun {
    pub fn as_str(self) -> &'static str {
        match self {
            Rerun::Safe => "safe",
            Rerun::Check => "check",
            Rerun::Never => "never",
        }
    }
}

/// Whether a step can change anything outside its run directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    ReadOnly,
    Mutating,
}
