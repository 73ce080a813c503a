//! What the operator sees while a run executes.
//!
//! The scheduler reports through [`Console`]: every journal record as it
//! becomes durable, plus transient things that are not journalled (live
//! output lines, byte progress, dry-run renderings, warnings). The console
//! is chosen once per run: plain timestamped lines without a TTY, one JSON
//! object per line with `--output json`.

use std::sync::Arc;

use crate::journal::record::Record;
use crate::report::projection::ProjectedFinish;

pub trait Console: Send + Sync {
    /// A journal record was written.
    fn record(&self, record: &Record);
    /// A line of a running step's output (already redacted).
    fn output_line(&self, step: &str, line: &str);
    /// Bytes moved by a long transfer.
    fn bytes(&self, _step: &str, _done: u64, _total: Option<u64>) {}
    /// Something the operator must notice.
    fn warn(&self, step: Option<&str>, message: &str);
    /// What a step would do, shown by dry runs and step-through mode.
    fn describe(&self, step: &str, text: &str);
    /// Free text for the operator (summaries, hints).
    fn info(&self, message: &str);
    /// True once stdout's reader went away (`lifeboat run F | head -1`):
    /// the console stops writing and the run carries on.
    fn output_closed(&self) -> bool {
        false
    }

    /// The projected finish, when an execution starts and when it stops
    /// before the end (the same projection `lifeboat status` shows).
    fn projection(&self, _projected: &ProjectedFinish) {}
    /// Runs `f` (a question at the terminal) with live displays hidden.
    fn suspend(&self, f: &mut dyn FnMut()) {
        f()
    }
}

/// Adapts a console to the step crate's progress interface.
pub struct ConsoleProgress(pub Arc<dyn Console>);

impl lifeboat_steps::Progress for ConsoleProgress {
    fn line(&self, step: &str, line: &str) {
        self.0.output_line(step, line);
    }
    fn bytes(&self, step: &str, done: u64, total: Option<u64>) {
        self.0.bytes(step, done, total);
    }
    fn warn(&self, step: &str, message: &str) {
        self.0.warn(Some(step), message);
    }
}
