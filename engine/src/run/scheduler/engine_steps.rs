//! The kinds the engine runs itself, without a task: `checkpoint` (a
//! journal record) and `assert` (expressions over the run's state);
//! `approval` and `manual` go to `human_gates.rs`.
//!
//! They never touch anything outside the engine and never wait.

use std::time::Duration;

use lifeboat_steps::StepOutput;
use minijinja::Value;

use super::{DryRun, Scheduler};
use crate::journal::record::Event;
use crate::runbook::engine_kind::EngineKind;

impl Scheduler {
    /// Runs step `i`, of a kind the engine runs itself.
    pub(super) fn run_engine_kind(&mut self, i: usize, kind: EngineKind, ctx: &Value) {
        let id = self.env.runbook.steps[i].id.clone();
        match kind {
            EngineKind::Approval | EngineKind::Manual => self.run_human_gate(i, kind, ctx),
            EngineKind::Runbook => self.start_call(i, ctx),
            EngineKind::Checkpoint | EngineKind::Assert => {
                match self.evaluate_engine_kind(i, kind, ctx) {
                    EngineResult::Checkpoint(description) => {
                        self.journal(Event::Checkpoint {
                            step: id,
                            description,
                        });
                        self.succeed(i, StepOutput::new(), Duration::ZERO);
                    }
                    EngineResult::Done(Ok(output)) => self.succeed(i, output, Duration::ZERO),
                    EngineResult::Done(Err(error)) => self.fail_now(i, error),
                }
            }
        }
    }

    /// What a `checkpoint` or an `assert` of step `i` comes to in `ctx`
    /// (for a loop's item, the item's context): one definition for steps
    /// and items. An `assert` that reads simulated outputs in a drill is
    /// not checked.
    pub(super) fn evaluate_engine_kind(
        &self,
        i: usize,
        kind: EngineKind,
        ctx: &Value,
    ) -> EngineResult {
        let step = &self.env.runbook.steps[i];
        let with = step.with.to_json();
        if kind != EngineKind::Assert {
            return EngineResult::Checkpoint(
                with.get("description")
                    .and_then(|d| d.as_str())
                    .map(String::from),
            );
        }
        let exprs: Vec<String> = with
            .get("that")
            .and_then(|t| t.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let before = self.touched_count();
        let mut failed = Vec::new();
        for expr in &exprs {
            match self.env.templates.eval_bool(expr, ctx) {
                Ok(true) => {}
                Ok(false) => failed.push(format!("`{expr}` is false")),
                Err(e) => failed.push(format!("`{expr}`: {e}")),
            }
        }
        let simulated_input = exprs.iter().find_map(|e| self.simulated_read_by(e));
        if self.config.dry_run != DryRun::Off
            && (self.touched_count() > before || simulated_input.is_some())
        {
            self.env.console.warn(
                Some(&step.id),
                "assertions read simulated outputs; not checked in this drill",
            );
            failed.clear();
        }
        if failed.is_empty() {
            return EngineResult::Done(Ok(StepOutput::new().with("checked", exprs.len() as u64)));
        }
        // `message` is a template over the same context as `that`, so it
        // can name what was found (`{{ steps.peers.outputs.count }}`).
        let message = with
            .get("message")
            .filter(|m| m.is_string())
            .map(|m| match self.env.templates.render_value(m, ctx) {
                Ok(serde_json::Value::String(text)) => format!("{text}: "),
                Ok(other) => format!("{other}: "),
                Err(e) => format!(
                    "{} (cannot render `message`: {e}): ",
                    m.as_str().unwrap_or_default()
                ),
            })
            .unwrap_or_default();
        let hint = self.lost_secret_hint(i);
        EngineResult::Done(Err(format!("{message}{}{hint}", failed.join("; "))))
    }
}

/// How a `checkpoint` or an `assert` ended.
pub(super) enum EngineResult {
    /// A checkpoint is reached, with its description.
    Checkpoint(Option<String>),
    /// An assertion's outputs, or which expressions do not hold.
    Done(Result<StepOutput, String>),
}
