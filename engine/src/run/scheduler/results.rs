//! Recording how a step ended: succeeded (its secret outputs registered
//! with the redactor, journalled as `«redacted»`), failed (the run's first
//! failure kept), skipped, or interrupted (no terminal record, so a resume
//! applies its `rerun` policy).
//!
//! Each result is written with the next group commit (`journal_lazy`); it
//! does not decide what runs next (`sections.rs`).

use std::time::Duration;

use lifeboat_steps::{Redactor, StepOutput};
use serde_json::Map;

use super::step_task::Finished;
use super::{Failure, Scheduler, Status};
use crate::journal::record::Event;
use crate::journal::run_state::NOT_STARTED;
use crate::operator::console::Console;
use crate::run::sealed_outputs::Sealing;

impl Scheduler {
    /// Applies what a step task handed back.
    pub(super) fn finish(&mut self, f: Finished) {
        if let Some(e) = &f.journal_error {
            // The step stopped between attempts; without a terminal record
            // a resume applies its rerun policy, as for any interruption.
            self.journal_failed(e);
            self.set_status(f.index, Status::Interrupted);
            return;
        }
        match f.result {
            Ok(output) => self.succeed(f.index, output, f.duration),
            Err(e) if e.cancelled && self.env.cancel.is_cancelled() => {
                // Interrupted mid-step: no terminal record, so resume applies
                // the step's rerun policy.
                self.set_status(f.index, Status::Interrupted);
            }
            // A loop that a pause stopped between items: no terminal
            // record, so a resume runs the items not done (`for_each.rs`).
            Err(e)
                if e.cancelled
                    && self.env.pause.is_cancelled()
                    && self.env.runbook.steps[f.index].for_each.is_some() =>
            {
                self.set_status(f.index, Status::Interrupted);
            }
            Err(e) => {
                let step = &self.env.runbook.steps[f.index];
                let error = self.env.redactor.redact(&e.message);
                let outputs = redact_map(&self.env.redactor, &e.outputs);
                self.journal_lazy(Event::StepFailed {
                    step: step.id.clone(),
                    error: error.clone(),
                    outputs: outputs.clone(),
                    duration_ms: f.duration.as_millis() as u64,
                });
                self.set_view(&step.id.clone(), "failed", e.outputs);
                self.mark_failed(f.index, error);
            }
        }
    }

    /// Records a success; secret outputs are registered with the redactor
    /// and journalled as `«redacted»` (and sealed, with recipients).
    pub(super) fn succeed(&mut self, i: usize, output: StepOutput, duration: Duration) {
        let id = self.env.runbook.steps[i].id.clone();
        // Validation trusts the outputs a kind declares secret; a kind that
        // marks others secret at run time has drifted from its declarations.
        #[cfg(debug_assertions)]
        if let crate::runbook::checked_runbook::ResolvedKind::Step(kind) = self.env.runbook.kind(i)
        {
            debug_assert!(
                output.secret.iter().all(|s| kind.is_secret_output(s)),
                "step kind `{}` marks outputs {:?} secret but does not declare them secret",
                kind.name(),
                output.secret,
            );
        }
        let journaled = journaled_outputs(&self.env.redactor, &output);
        let sealed_outputs = sealed_outputs(
            &self.env.sealing,
            self.env.console.as_ref(),
            &self.env.redactor,
            &id,
            &output,
        );
        self.journal_lazy(Event::StepSucceeded {
            step: id.clone(),
            outputs: journaled,
            secret_outputs: output.secret.iter().cloned().collect(),
            sealed_outputs,
            simulated: false,
            duration_ms: duration.as_millis() as u64,
        });
        self.set_view(&id, "succeeded", output.outputs);
        self.succeeded(i);
    }

    /// Fails a step that never started (bad template, false assertion).
    pub(super) fn fail_now(&mut self, i: usize, error: String) {
        self.fail_with(i, error, Map::new(), Duration::ZERO);
    }

    /// Step `i` failed with `error` (redacted) and `outputs`, after
    /// `duration`: journalled, shown to templates, kept as the run's
    /// failure unless the step may fail.
    pub(super) fn fail_with(
        &mut self,
        i: usize,
        error: String,
        outputs: Map<String, serde_json::Value>,
        duration: Duration,
    ) {
        let id = self.env.runbook.steps[i].id.clone();
        let error = self.env.redactor.redact(&error);
        self.journal_lazy(Event::StepFailed {
            step: id.clone(),
            error: error.clone(),
            outputs: outputs.clone(),
            duration_ms: duration.as_millis() as u64,
        });
        self.set_view(&id, "failed", outputs);
        self.mark_failed(i, error);
    }

    /// Keeps the run's first failure (unless the step may fail).
    pub(super) fn mark_failed(&mut self, i: usize, error: String) {
        self.set_status(i, Status::Failed);
        let step = &self.env.runbook.steps[i];
        // A step inside a call that may fail fails that call, not the run.
        let tree = self.env.runbook.tree();
        let mut call = tree.scope(i);
        let mut may_fail = step.continue_on_failure || self.item_may_fail(i);
        while let Some(c) = call {
            may_fail |= self.env.runbook.steps[c].continue_on_failure || self.item_may_fail(c);
            call = tree.scope(c);
        }
        if !may_fail && self.failure.is_none() {
            self.failure = Some(Failure {
                step: step.id.clone(),
                error,
            });
        }
    }

    /// Records that step `i` did not run, and why.
    pub(super) fn skip(&mut self, i: usize, reason: String) {
        if reason.starts_with(NOT_STARTED) {
            self.not_started.insert(i);
        }
        let id = self.env.runbook.steps[i].id.clone();
        self.journal_lazy(Event::StepSkipped {
            step: id.clone(),
            reason,
        });
        self.set_view(&id, "skipped", Map::new());
        self.set_status(i, Status::Skipped);
    }
}

/// A success's outputs as journalled: its secret outputs registered with
/// the redactor first, then everything redacted and each secret output
/// written as `«redacted»`. One definition for steps and loop items.
pub(super) fn journaled_outputs(
    redactor: &Redactor,
    output: &StepOutput,
) -> Map<String, serde_json::Value> {
    for name in &output.secret {
        if let Some(v) = output.outputs.get(name) {
            redactor.add_value(v);
        }
    }
    let mut journaled = redact_map(redactor, &output.outputs);
    for name in &output.secret {
        journaled.insert(
            name.clone(),
            serde_json::Value::String(lifeboat_steps::REDACTED.into()),
        );
    }
    journaled
}

/// With recipients, a success's secret outputs sealed to them, journalled
/// in the same record (`step_succeeded.sealed_outputs`); `None` without
/// recipients or secret outputs, or when sealing failed: then they are lost
/// with this engine, as without recipients, and the console says so. One
/// definition for steps and loop items (`id` is the execution's).
pub(super) fn sealed_outputs(
    sealing: &Sealing,
    console: &dyn Console,
    redactor: &Redactor,
    id: &str,
    output: &StepOutput,
) -> Option<String> {
    if !sealing.is_on() || output.secret.is_empty() {
        return None;
    }
    let values: Map<String, serde_json::Value> = output
        .secret
        .iter()
        .filter_map(|n| Some((n.clone(), output.outputs.get(n)?.clone())))
        .collect();
    match sealing.seal(&values) {
        Ok(armored) => Some(armored),
        Err(e) => {
            console.warn(
                Some(id),
                &format!(
                    "{}; its secret outputs are kept in this engine's memory only",
                    redactor.redact(&e)
                ),
            );
            None
        }
    }
}

/// `map` with every registered secret replaced.
pub(super) fn redact_map(
    redactor: &Redactor,
    map: &Map<String, serde_json::Value>,
) -> Map<String, serde_json::Value> {
    if redactor.is_empty() {
        return map.clone();
    }
    match redactor.redact_value(&serde_json::Value::Object(map.clone())) {
        serde_json::Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl Scheduler {
    /// Step `i` succeeded (its record is written): its status, and the RTO
    /// clock's stop when it is `rto.stop_at`, for the progress display.
    pub(super) fn succeeded(&mut self, i: usize) {
        self.set_status(i, Status::Succeeded);
        if self.clock_stop.is_none() {
            let stop_at = self
                .env
                .runbook
                .rto
                .as_ref()
                .and_then(|r| r.stop_at.as_deref());
            if stop_at == Some(self.env.runbook.steps[i].id.as_str()) {
                self.clock_stop = Some(crate::journal::timestamp::now_rfc3339());
            }
        }
    }
}
