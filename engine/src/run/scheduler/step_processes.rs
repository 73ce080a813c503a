//! Step children that may outlive the engine.
//!
//! A `shell` step's child runs in its own process group (so Ctrl-C at the
//! terminal reaches only the engine). A SIGKILLed engine cannot stop it, so
//! each group is journalled (`process_started`) as soon as it exists, and a
//! resume stops any group of an unfinished step that still runs before the
//! step's `rerun` policy applies: a `rerun: safe` step never runs twice at
//! once, and a `check` probe never races the step it checks.

use std::sync::Arc;
use std::time::Duration;

use lifeboat_steps::process_group::ProcessGroup;
use lifeboat_steps::Progress;

use tokio_util::sync::CancellationToken;

use super::journal_writes::stop_on_journal_error;
use super::Scheduler;
use crate::journal::record::Event;
use crate::journal::Journal;
use crate::operator::console::ConsoleProgress;

/// How long a leftover group gets between SIGTERM and SIGKILL.
const LEFTOVER_GRACE: Duration = Duration::from_secs(3);

/// A process group that a step of an earlier engine started and that may
/// still run (from `process_started` records of unfinished steps).
#[derive(Debug, Clone)]
pub(super) struct LeftoverProcess {
    /// The step that started it.
    pub step: String,
    /// The group, with its leader's start time so a recycled id is not
    /// mistaken for it.
    pub group: ProcessGroup,
}

/// The progress a step reports, with its child process groups journalled.
pub(super) struct JournalledProgress {
    pub console: ConsoleProgress,
    pub journal: Arc<Journal>,
    /// The run's token: cancelled when a process group cannot be
    /// journalled, which stops the step's child with the run.
    pub cancel: CancellationToken,
}

impl Progress for JournalledProgress {
    fn line(&self, step: &str, line: &str) {
        self.console.line(step, line);
    }
    fn bytes(&self, step: &str, done: u64, total: Option<u64>) {
        self.console.bytes(step, done, total);
    }
    fn warn(&self, step: &str, message: &str) {
        self.console.warn(step, message);
    }
    fn process_started(&self, step: &str, group: ProcessGroup) {
        // Written to the journal file at once (a killed engine loses
        // nothing it wrote); made durable with the next group commit. A
        // store that buffers lazy records in memory (S3) gets it as a
        // commit of its own, so a resume can stop the group after a kill.
        let event = Event::ProcessStarted {
            step: step.to_string(),
            pgid: group.pgid,
            start_ticks: group.start_ticks,
        };
        let written = if self.journal.lazy_survives_a_kill() {
            self.journal.record_lazy(event)
        } else {
            self.journal.record(event)
        };
        // A group the journal does not know could outlive the engine and
        // run alongside a resumed copy of its step.
        if let Err(e) = written {
            stop_on_journal_error(self.console.0.as_ref(), &self.cancel, &e);
        }
    }
}

impl Scheduler {
    /// Stops the process groups an earlier engine's steps left running.
    pub(super) async fn stop_leftover_processes(&mut self) {
        for LeftoverProcess { step, group } in std::mem::take(&mut self.leftover_processes) {
            if !group.stop(LEFTOVER_GRACE).await {
                continue;
            }
            let text = format!(
                "step `{step}`: process group {} of an engine that stopped without ending it was still running; stopped it (SIGTERM, then SIGKILL after {}) before resuming",
                group.pgid,
                lifeboat_steps::duration::format(LEFTOVER_GRACE)
            );
            self.env.console.info(&text);
            self.journal(Event::Note { text });
        }
    }
}
