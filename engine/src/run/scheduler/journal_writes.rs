//! How the scheduler writes the journal, and what happens when it cannot:
//! a write that fails stops the run (the run is cancelled, the operator is
//! told why), since going on would break the write-ahead promise. The
//! store refuses further appends after a failed write.
//!
//! Every record the scheduler and its step tasks write goes through here or
//! reports its failure here; none is dropped. A store that learns between
//! writes that another engine drives the run (its lease was taken) stops
//! the run the same way, at once ([`stop_when_lease_lost`]).

use tokio_util::sync::CancellationToken;

use super::Scheduler;
use crate::journal::record::Event;
use crate::journal::run_store::{LostLease, StoreError};
use crate::operator::console::Console;

/// A journal that cannot be written stops the run: the operator is told
/// why and the run is cancelled, so every running step stops and nothing
/// new starts. The one definition, for the scheduler and for what its
/// steps journal as they run (`step_processes.rs`).
pub(super) fn stop_on_journal_error(
    console: &dyn Console,
    cancel: &CancellationToken,
    e: &StoreError,
) {
    // A store that refuses because it already stopped the run (a failed
    // write, a lost lease) has said why once.
    if cancel.is_cancelled() && matches!(e, StoreError::Fenced { .. }) {
        return;
    }
    console.warn(None, &format!("cannot write the journal: {e}; stopping"));
    cancel.cancel();
}

/// Waits for the store's [`LostLease`] signal and then stops the run as a
/// failed write would: the console names the new driver, the run is
/// cancelled (running steps are stopped, nothing new starts) and the store
/// refuses every later write. Spawned for the whole execution; a run that
/// stopped already is left alone.
pub(super) async fn stop_when_lease_lost(
    lost: LostLease,
    console: std::sync::Arc<dyn Console>,
    cancel: CancellationToken,
) {
    let message = tokio::select! {
        message = lost.wait() => message,
        () = cancel.cancelled() => return,
    };
    if !cancel.is_cancelled() {
        console.warn(None, &format!("{message}; stopping"));
        cancel.cancel();
    }
}

impl Scheduler {
    /// Stops the run after a failed journal write
    /// ([`stop_on_journal_error`]).
    pub(super) fn journal_failed(&self, e: &StoreError) {
        stop_on_journal_error(self.env.console.as_ref(), &self.env.cancel, e);
    }

    /// Writes a result record that the next fsync makes durable: before any
    /// step's side effect begins and before the scheduler waits, so a
    /// dependent never starts on a result that is not on disk.
    pub(super) fn journal_lazy(&self, event: Event) {
        if let Err(e) = self.env.journal.record_lazy(event) {
            self.journal_failed(&e);
        }
    }

    /// A recovery never dies because a pipe closed: when stdout's reader
    /// went away, the run carries on and the journal says so, once.
    pub(super) fn note_closed_output(&mut self) {
        if self.output_closed_noted || !self.env.console.output_closed() {
            return;
        }
        self.output_closed_noted = true;
        self.journal_lazy(Event::Note {
            text: "stdout was closed by its reader; the run carries on without printing, and the journal and the timeline keep the full record".into(),
        });
    }

    /// Writes a record and waits until it is durable; a journal that
    /// cannot be written stops the run, since continuing would break the
    /// write-ahead promise.
    pub(super) fn journal(&self, event: Event) {
        if let Err(e) = self.env.journal.record(event) {
            self.journal_failed(&e);
        }
    }
}
