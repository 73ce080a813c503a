//! The section loop: `main`, then `on_failure` if the run failed, then
//! `finally`. Within a section, every ready step starts (up to
//! `max_parallel`, counted in permits that loop items hold too), the journal is made durable before waiting, and each
//! finished step's result is applied; at the end, what could not start is
//! skipped with the reason.
//!
//! It does not start a step itself (`start.rs`) nor decide how a step ended
//! (`results.rs`); it decides when and in which order.

use tokio::task::JoinSet;

use super::step_task::Finished;
use super::{Failure, RunOutcome, Scheduler, Status};
use crate::journal::record::{Event, RunStatus};
use crate::journal::run_state::NOT_STARTED;
use crate::runbook::step::Section;
use crate::runbook::Runbook;

impl Scheduler {
    /// Applies interrupted steps' `rerun` policies, then runs `main`,
    /// `on_failure` (if the run failed) and `finally`, and journals how the
    /// run ended.
    pub(super) async fn run_sections(&mut self) -> RunOutcome {
        if let Err(outcome) = self.resolve_interrupted().await {
            return outcome;
        }
        self.run_section(Section::Main).await;
        if self.env.cancel.is_cancelled() {
            return self.interrupted();
        }
        if let Some(outcome) = self.held() {
            return outcome;
        }
        self.main_done = true;
        if self.failure.is_some() {
            self.run_section(Section::OnFailure).await;
        }
        if !self.env.cancel.is_cancelled() && !self.holding() {
            self.run_section(Section::Finally).await;
        }
        if self.env.cancel.is_cancelled() {
            return self.interrupted();
        }
        if let Some(outcome) = self.held() {
            return outcome;
        }
        let status = if self.failure.is_some() {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
        self.journal(Event::RunFinished { status });
        match status {
            RunStatus::Succeeded => RunOutcome::Succeeded,
            RunStatus::Failed => RunOutcome::Failed,
        }
    }

    /// Journals an interruption by the operator.
    pub(super) fn interrupted(&self) -> RunOutcome {
        self.journal(Event::Interrupted {
            reason: "stopped by the operator (Ctrl-C or signal)".into(),
        });
        RunOutcome::Interrupted
    }

    /// Runs one section until nothing more can start, then skips, with the
    /// reason, what could not.
    pub(super) async fn run_section(&mut self, section: Section) {
        let indices: Vec<usize> = (0..self.env.runbook.steps.len())
            .filter(|&i| self.env.runbook.steps[i].section == section)
            .collect();
        // Statuses set before the section (a resume's takeover) did not go
        // through `set_status`: look at every step of the section once.
        self.candidates.extend(indices.iter().copied());
        self.waiting = (0..self.status.len())
            .filter(|&i| self.status[i] == Status::Waiting)
            .collect();
        let mut running: JoinSet<Finished> = JoinSet::new();
        loop {
            if self.settle_calls() {
                continue;
            }
            let changed = if self.stopping(section) {
                // Nothing more starts: a permit kept for a start would
                // leave a loop's next item waiting for it forever.
                self.spare_slot = None;
                self.slot_wanted = false;
                false
            } else {
                self.launch_ready(section, &mut running)
            };
            if changed {
                continue;
            }
            self.note_closed_output();
            // Nothing may wait in memory while the engine sleeps: make the
            // results written so far durable before waiting.
            if let Err(e) = self.env.journal.flush() {
                self.journal_failed(&e);
            }
            // Decisions from other shells and machines: looked at between
            // steps (at most every 500 ms), every 500 ms while a gate waits
            // and steps run, and, with `--wait`, while nothing else can run.
            if self.poll_inbox_if_due() {
                continue;
            }
            let next = if running.is_empty() {
                if self.waits_for_decision(section, &indices) {
                    self.wait_for_decision().await;
                    continue;
                }
                None
            } else {
                let due = self.any_gate_waits().then(|| self.until_inbox_due());
                // A ready step waits for a permit that a loop's item may
                // free before any step ends.
                let slots = self.slot_wanted.then(|| self.slots.clone());
                tokio::select! {
                    // A step's result first: the permit its end freed then
                    // goes to the next start after the result is journalled.
                    biased;
                    next = running.join_next() => next,
                    () = tokio::time::sleep(due.unwrap_or_default()), if due.is_some() => continue,
                    Some(Ok(permit)) = async move { Some(slots?.acquire_owned().await) }, if self.slot_wanted => {
                        self.spare_slot = Some(permit);
                        continue;
                    }
                }
            };
            match next {
                Some(Ok(finished)) => self.finish(finished),
                Some(Err(join_error)) => {
                    // A step task panicked: a bug in a step kind. Fail the run
                    // loudly rather than hang.
                    self.env.console.warn(None, &format!("internal error: a step task failed: {join_error}; this is a bug in Lifeboat"));
                    self.failure.get_or_insert(Failure {
                        step: "<internal>".into(),
                        error: join_error.to_string(),
                    });
                }
                None => break,
            }
        }
        if self.env.cancel.is_cancelled() || self.holding_section(section, &indices) {
            return;
        }
        if section == Section::Main && self.failure.is_some() {
            self.settle_decided_gates(&indices);
        }
        // Whatever could not start: say why.
        for &i in &indices {
            if matches!(self.status[i], Status::Pending | Status::Waiting) {
                let failed_need = self.env.runbook.steps[i].needs_ids().find(|n| {
                    self.env.runbook.step_index(n).is_some_and(|j| {
                        self.status[j] == Status::Failed && !self.may_fail_for(j, i)
                    })
                });
                if let Some(need) = failed_need {
                    let reason = format!("needs `{need}`, which failed");
                    self.skip(i, reason);
                    continue;
                }
                let reason = match &self.failure {
                    Some(Failure { step: id, .. }) if section == Section::Main => {
                        format!("{NOT_STARTED} the run failed at `{id}`")
                    }
                    _ => format!("{NOT_STARTED} a dependency did not run"),
                };
                self.skip(i, reason);
            }
        }
        // Calls whose steps could not all run end, failed, after them.
        self.settle_calls();
    }

    /// True when no new step of `section` may start.
    pub(super) fn stopping(&self, section: Section) -> bool {
        self.env.cancel.is_cancelled()
            || self.quit
            || self.env.pause.is_cancelled()
            || (section == Section::Main && self.failure.is_some())
    }

    /// Starts every ready step of `section`, in runbook order; returns true
    /// if any status changed. It looks only at `candidates` (steps whose
    /// status, or a need's, changed since they were last looked at): one
    /// not ready yet is dropped from them until one of its needs changes.
    pub(super) fn launch_ready(
        &mut self,
        section: Section,
        running: &mut JoinSet<Finished>,
    ) -> bool {
        let mut changed = false;
        let mut from = 0;
        self.slot_wanted = false;
        loop {
            if self.spare_slot.is_none() && self.slots.available_permits() == 0 {
                self.slot_wanted = true;
                break;
            }
            // The next candidate after the last one looked at: steps that
            // a start or skip made ready further on are looked at in this
            // pass, those before it in the next, as a scan would.
            let Some(&i) = self.candidates.range(from..).next() else {
                break;
            };
            from = i + 1;
            self.candidates.remove(&i);
            if self.env.runbook.steps[i].section != section || self.status[i] != Status::Pending {
                continue;
            }
            let step = &self.env.runbook.steps[i];
            let mut ready = true;
            let mut blocked_by = None;
            // A called runbook's step waits for its call to start, and is
            // skipped when the call is (`calls.rs`).
            let call = self.env.runbook.tree().scope(i);
            if let Some(c) = call {
                match self.status[c] {
                    Status::Running => {}
                    Status::Skipped | Status::Failed => {
                        let call_id = &self.env.runbook.steps[c].id;
                        // A failed call's steps run when a resume reopens
                        // it; a call skipped by `when` stays skipped.
                        let reason = if self.status[c] == Status::Failed {
                            format!("needs `{call_id}`, which failed")
                        } else {
                            format!("its call `{call_id}` did not run")
                        };
                        self.skip(i, reason);
                        changed = true;
                        continue;
                    }
                    _ => continue,
                }
            }
            // An item call of a `for_each` call waits for a place among
            // the items running at once, and never starts after an item
            // failed unless the loop goes on.
            match self.item_may_start(i) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(reason) => {
                    self.skip(i, reason);
                    changed = true;
                    continue;
                }
            }
            for need in step.needs_ids() {
                let Some(j) = self.env.runbook.step_index(need) else {
                    continue;
                };
                if Some(j) == call {
                    continue;
                }
                match self.status[j] {
                    Status::Succeeded | Status::Skipped => {}
                    Status::Failed if self.may_fail_for(j, i) => {}
                    Status::Failed => blocked_by = Some(format!("needs `{need}`, which failed")),
                    _ => ready = false,
                }
            }
            for &j in self.rerun_ancestors.get(&i).into_iter().flatten() {
                match self.status[j] {
                    Status::Succeeded | Status::Skipped => {}
                    Status::Failed if self.may_fail_for(j, i) => {}
                    Status::Failed => {
                        blocked_by = blocked_by.or_else(|| {
                            Some(format!(
                                "waits for `{}` (run again above it on resume), which failed",
                                self.env.runbook.steps[j].id
                            ))
                        })
                    }
                    _ => ready = false,
                }
            }
            if let Some(reason) = blocked_by {
                self.skip(i, reason);
                changed = true;
                continue;
            }
            if ready {
                self.start(i, running);
                changed = true;
                if self.stopping(step_section(&self.env.runbook, i)) {
                    break;
                }
            }
        }
        // A permit waited for but not used goes back to the run.
        self.spare_slot = None;
        changed
    }

    /// A permit for a step task (or a loop's first item) about to be
    /// spawned: the one waited for, else a free one. `None` only when none
    /// is free, which `launch_ready` checked before the start.
    pub(super) fn take_slot(&mut self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.spare_slot
            .take()
            .or_else(|| self.slots.clone().try_acquire_owned().ok())
    }
}

impl Scheduler {
    /// Whether step `i` may run although step `j`, which it waits for,
    /// failed: `j` has `continue_on_failure`, or a call around `j` that is
    /// not around `i` (nor `i`) has it (the call failed, and its caller
    /// goes on).
    pub(super) fn may_fail_for(&self, j: usize, i: usize) -> bool {
        let runbook = &self.env.runbook;
        if runbook.steps[j].continue_on_failure {
            return true;
        }
        let tree = runbook.tree();
        // `i` itself counts: a call's own step inside it fails the call.
        let around_i = |c: usize| {
            let mut call = Some(i);
            while let Some(k) = call {
                if k == c {
                    return true;
                }
                call = tree.scope(k);
            }
            false
        };
        let mut call = tree.scope(j);
        while let Some(c) = call {
            if around_i(c) {
                return false;
            }
            if runbook.steps[c].continue_on_failure || self.item_may_fail(c) {
                return true;
            }
            call = tree.scope(c);
        }
        false
    }
}

fn step_section(runbook: &Runbook, i: usize) -> Section {
    runbook.steps[i].section
}
