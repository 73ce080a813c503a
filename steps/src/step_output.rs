use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// What a step hands back on success.
#[derive(Debug, Default, Clone)]
pub struct StepOutput {
    /// Output values, readable by later steps as `steps.<id>.outputs.<name>`.
    pub outputs: Map<String, Value>,
    /// Names of outputs whose values are secret (unseal keys, tokens). The
    /// engine keeps them in memory only, adds their values to the redactor,
    /// and journals a placeholder instead.
    pub secret: BTreeSet<String>,
}

impl StepOutput {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a plain output.
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.outputs.insert(name.to_string(), value.into());
        self
    }

    /// Adds a secret output.
    pub fn with_secret(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.outputs.insert(name.to_string(), value.into());
        self.secret.insert(name.to_string());
        self
    }
}
