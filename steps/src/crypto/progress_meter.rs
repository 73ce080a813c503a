use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::CryptoError;
use crate::{NoProgress, Progress, StepContext};

/// How often a long transfer reports: often enough for a live byte bar,
/// rarely enough to cost nothing (about a hundred reports a second at full
/// speed).
const REPORT_EVERY: u64 = 8 << 20;

/// Counts bytes through a blocking loop, reports them to the step's
/// [`Progress`], and turns cancellation into an error between chunks.
pub struct ProgressMeter {
    step_id: String,
    progress: Arc<dyn Progress>,
    cancel: CancellationToken,
    path: String,
    total: Option<u64>,
    done: u64,
    reported: u64,
}

impl ProgressMeter {
    /// A meter that reports to `ctx` and stops when `ctx.cancel` fires.
    pub fn new(ctx: &StepContext) -> Self {
        Self {
            step_id: ctx.step_id.clone(),
            progress: ctx.progress.clone(),
            cancel: ctx.cancel.clone(),
            path: String::new(),
            total: None,
            done: 0,
            reported: 0,
        }
    }

    /// A meter that reports nothing and is never cancelled, for tools.
    pub fn silent() -> Self {
        Self {
            step_id: String::new(),
            progress: Arc::new(NoProgress),
            cancel: CancellationToken::new(),
            path: String::new(),
            total: None,
            done: 0,
            reported: 0,
        }
    }

    /// Sets the file being read (for the cancellation message) and its size.
    pub(crate) fn start(&mut self, path: &std::path::Path, total: u64) {
        self.path = path.display().to_string();
        self.total = Some(total);
        self.progress.bytes(&self.step_id, 0, self.total);
    }

    /// Records `n` more bytes read. Fails once cancellation was requested.
    pub(crate) fn advance(&mut self, n: usize) -> Result<(), CryptoError> {
        if self.cancel.is_cancelled() {
            return Err(CryptoError::Cancelled {
                path: self.path.clone(),
            });
        }
        self.done += n as u64;
        if self.done - self.reported >= REPORT_EVERY {
            self.reported = self.done;
            self.progress.bytes(&self.step_id, self.done, self.total);
        }
        Ok(())
    }

    /// Reports the final count.
    pub(crate) fn finish(&self) {
        self.progress.bytes(&self.step_id, self.done, self.total);
    }
}
