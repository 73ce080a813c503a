use serde_json::{Map, Value};

/// A step that did not succeed.
///
/// The message is written for the operator: what failed and, where known, how
/// to fix it. It must not contain secret values; steps pass any text that may
/// hold one (a server's response, a child's stderr) through
/// [`crate::Redactor::redact`] first, and the engine redacts again.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    pub message: String,
    /// Outputs gathered before the failure (a shell step's stdout, stderr
    /// and exit code), so `on_failure` steps and the timeline can use them.
    pub outputs: Map<String, Value>,
    /// True when the step was stopped by cancellation or its timeout rather
    /// than failing on its own.
    pub cancelled: bool,
}

impl StepError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            outputs: Map::new(),
            cancelled: false,
        }
    }

    pub fn with_outputs(mut self, outputs: Map<String, Value>) -> Self {
        self.outputs = outputs;
        self
    }

    pub fn cancelled(message: impl Into<String>) -> Self {
        Self {
            cancelled: true,
            ..Self::new(message)
        }
    }
}

impl From<std::io::Error> for StepError {
    fn from(err: std::io::Error) -> Self {
        StepError::new(err.to_string())
    }
}
