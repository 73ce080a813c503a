//! One step's execution on its own task: attempts, `until`, retries with
//! their delays, and the `timeout` over all of them. Each failed attempt
//! that will be retried is journalled (`attempt_failed`) before the delay.
//!
//! It does not record how the step ended: it hands a [`Finished`] back to
//! the section loop, which does. A journal write that fails ends the task
//! at once, before another attempt; the scheduler then stops the run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lifeboat_steps::{StepContext, StepError, StepKind, StepOutput};
use minijinja::Value;

use crate::journal::record::Event;
use crate::journal::run_store::StoreError;
use crate::journal::Journal;
use crate::runbook::step::Step;
use crate::runbook::template_context;
use crate::runbook::templates::Templates;

/// What a step task hands back to the section loop.
pub(super) struct Finished {
    /// The step, by index in the runbook's steps.
    pub index: usize,
    /// The last attempt's outputs, or why the step failed.
    pub result: Result<StepOutput, StepError>,
    /// From the first attempt's start to the end, retry delays included.
    pub duration: Duration,
    /// A journal write of the task failed (`attempt_failed`): the task
    /// stopped there, and the scheduler stops the run.
    pub journal_error: Option<StoreError>,
}

/// One step's execution: attempts, `until`, retries and the timeout.
pub(super) struct StepTask {
    /// The step, by index in the runbook's steps.
    pub index: usize,
    /// The kind that runs each attempt.
    pub kind: Arc<dyn StepKind>,
    /// Its rendered parameters.
    pub with: serde_json::Value,
    /// What each attempt gets; its cancel token is the step's, a child of
    /// the run's, and each attempt gets a child of it.
    pub ctx: StepContext,
    /// The step's definition (`retry`, `until`, `timeout`).
    pub step: Step,
    /// To evaluate `until` and render `until.message`.
    pub templates: Arc<Templates>,
    /// The template context the step was rendered with.
    pub base_context: Value,
    /// Where failed attempts that will be retried are recorded.
    pub journal: Arc<Journal>,
}

impl StepTask {
    /// Why `until` does not hold: the author's `until.message` (a template
    /// over this attempt's `outputs`), else the expression.
    fn until_failed(&self, expr: &str, ctx: &Value) -> String {
        let Some(message) = &self.step.until_message else {
            return format!("`until: {expr}` is not yet true");
        };
        match self.templates.render_value(&message.to_json(), ctx) {
            Ok(serde_json::Value::String(text)) => text,
            Ok(other) => other.to_string(),
            Err(e) => {
                format!("`until: {expr}` is not yet true (cannot render `until.message`: {e})")
            }
        }
    }

    pub async fn run(self) -> Finished {
        let started = Instant::now();
        let deadline = self.step.timeout.map(|t| started + t);
        let attempts = self.step.retry.attempts.max(1);
        let mut last_error = StepError::new("the step did not run");
        for attempt in 1..=attempts {
            let attempt_cancel = self.ctx.cancel.child_token();
            let mut ctx = self.ctx.clone();
            ctx.cancel = attempt_cancel.clone();
            let result = {
                let fut = self.kind.run(&ctx, self.with.clone());
                tokio::pin!(fut);
                match deadline {
                    None => fut.await,
                    Some(deadline) => {
                        tokio::select! {
                            r = &mut fut => r,
                            _ = tokio::time::sleep_until(deadline.into()) => {
                                attempt_cancel.cancel();
                                // Give the kind a moment to stop its child cleanly.
                                let _ = tokio::time::timeout(Duration::from_secs(5), &mut fut).await;
                                Err(StepError::new(format!(
                                    "timed out after {} (the step's `timeout`)",
                                    lifeboat_steps::duration::format(self.step.timeout.unwrap_or_default())
                                )))
                            }
                        }
                    }
                }
            };
            let result = match result {
                Ok(out) => match &self.step.until {
                    None => Ok(out),
                    Some(until) => {
                        let ctx = template_context::with_outputs(
                            &self.base_context,
                            Value::from_serialize(&out.outputs),
                        );
                        match self.templates.eval_bool(&until.text, &ctx) {
                            Ok(true) => Ok(out),
                            Ok(false) => Err(StepError::new(self.until_failed(&until.text, &ctx))
                                .with_outputs(out.outputs)),
                            Err(e) => Err(StepError::new(format!(
                                "cannot evaluate `until: {}`: {e}",
                                until.text
                            ))),
                        }
                    }
                },
                Err(e) => Err(e),
            };
            match result {
                Ok(out) => {
                    return Finished {
                        index: self.index,
                        result: Ok(out),
                        duration: started.elapsed(),
                        journal_error: None,
                    }
                }
                Err(e) if e.cancelled && self.ctx.cancel.is_cancelled() => {
                    return Finished {
                        index: self.index,
                        result: Err(e),
                        duration: started.elapsed(),
                        journal_error: None,
                    }
                }
                Err(e) => last_error = e,
            }
            let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
            if attempt == attempts || timed_out {
                break;
            }
            let mut delay = self.step.retry.delay_after(attempt);
            if let Some(d) = deadline {
                delay = delay.min(d.saturating_duration_since(Instant::now()));
            }
            // Written before the delay and the next attempt: a journal that
            // cannot record this failure stops the run here.
            let written = self.journal.record(Event::AttemptFailed {
                step: self.step.id.clone(),
                attempt,
                error: self.ctx.redactor.redact(&last_error.message),
                retry_in_ms: delay.as_millis() as u64,
            });
            if let Err(e) = written {
                return Finished {
                    index: self.index,
                    result: Err(last_error),
                    duration: started.elapsed(),
                    journal_error: Some(e),
                };
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.ctx.cancel.cancelled() => {
                    return Finished {
                        index: self.index,
                        result: Err(StepError::cancelled("cancelled while waiting to retry")),
                        duration: started.elapsed(),
                        journal_error: None,
                    }
                }
            }
        }
        if attempts > 1 {
            last_error.message = format!("{} (after {attempts} attempts)", last_error.message);
        }
        Finished {
            index: self.index,
            result: Err(last_error),
            duration: started.elapsed(),
            journal_error: None,
        }
    }
}
