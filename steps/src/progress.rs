/// Where a running step reports what it is doing. The engine's console turns
/// these calls into spinners, byte bars or plain log lines; a step never
/// prints to the terminal itself.
pub trait Progress: Send + Sync {
    /// One line of live output (a child's stdout or stderr), already redacted.
    fn line(&self, _step: &str, _line: &str) {}
    /// Bytes moved so far in a long transfer, and the total when known.
    fn bytes(&self, _step: &str, _done: u64, _total: Option<u64>) {}
    /// A warning the operator must see, e.g. TLS verification disabled.
    fn warn(&self, _step: &str, _message: &str) {}
    /// A child process group started for the step; the engine journals it
    /// so that a resume after a killed engine can stop it.
    fn process_started(&self, _step: &str, _group: crate::process_group::ProcessGroup) {}
}

/// A [`Progress`] that drops everything, for tests and benchmarks.
pub struct NoProgress;

impl Progress for NoProgress {}
