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
        let runbook = self.env.runbook.clone();
        let step = &runbook.steps[i];
        let with = step.with.to_json();
        match kind {
            EngineKind::Checkpoint => {
                let description = with
                    .get("description")
                    .and_then(|d| d.as_str())
                    .map(String::from);
                self.journal(Event::Checkpoint {
                    step: step.id.clone(),
                    description,
                });
                self.succeed(i, StepOutput::new(), Duration::ZERO);
            }
            EngineKind::Approval | EngineKind::Manual => self.run_human_gate(i, kind, ctx),
            EngineKind::Runbook => self.start_call(i, ctx),
            EngineKind::Assert => {
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
                    self.succeed(
                        i,
                        StepOutput::new().with("checked", exprs.len() as u64),
                        Duration::ZERO,
                    );
                } else {
                    let message = with
                        .get("message")
                        .and_then(|m| m.as_str())
                        .map(|m| format!("{m}: "))
                        .unwrap_or_default();
                    let hint = self.lost_secret_hint(i);
                    self.fail_now(i, format!("{message}{}{hint}", failed.join("; ")));
                }
            }
        }
    }
}
