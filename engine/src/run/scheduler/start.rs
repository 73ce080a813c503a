//! Starting one step: its `when`, its rendered parameters, step-through,
//! simulation in a drill, then the write-ahead start: `step_started`, and
//! every record before it, are durable before the step's side effect
//! begins. Then the step's task is spawned.
//!
//! It does not wait for the step (`sections.rs`) nor run its attempts
//! (`step_task.rs`); the engine kinds go to `engine_steps.rs` and
//! `human_gates.rs`.

use tokio::task::JoinSet;

use super::render::RenderedParams;
use super::step_task::{Finished, StepTask};
use super::{DryRun, Scheduler, Status};
use crate::journal::record::Event;
use crate::runbook::checked_runbook::ResolvedKind;
use crate::runbook::engine_kind::EngineKind;

impl Scheduler {
    /// Starts step `i`, or settles it at once (skipped, failed, simulated,
    /// an engine kind); a step with a side effect goes to `running`.
    pub(super) fn start(&mut self, i: usize, running: &mut JoinSet<Finished>) {
        let runbook = self.env.runbook.clone();
        let step = &runbook.steps[i];
        let ctx = self.context_for(i);
        let dry = self.config.dry_run != DryRun::Off;

        // A loop's `when` that reads the item is decided per item
        // (`for_each.rs`); one that does not is decided here, for the step.
        let per_item = step.for_each.as_ref().is_some_and(|f| {
            step.when.as_ref().is_some_and(|w| {
                self.env
                    .templates
                    .expression_references(&w.text)
                    .map_or(true, |refs| {
                        refs.iter()
                            .any(|r| r.split('.').next() == Some(f.as_name.as_str()))
                    })
            })
        });
        if let Some(when) = step.when.as_ref().filter(|_| !per_item) {
            let before = self.touched_count();
            match self.env.templates.eval_bool(&when.text, &ctx) {
                Ok(true) => {}
                Ok(false)
                    if dry
                        && (self.touched_count() > before
                            || self.simulated_read_by(&when.text).is_some()) =>
                {
                    self.env.console.warn(
                        Some(&step.id),
                        &format!(
                            "`when: {}` depends on simulated outputs; assumed true for this drill",
                            when.text
                        ),
                    );
                }
                Ok(false) => {
                    self.skip(i, format!("`when: {}` is false", when.text));
                    return;
                }
                Err(e) => {
                    self.fail_now(i, format!("cannot evaluate `when: {}`: {e}", when.text));
                    return;
                }
            }
        }

        if step.for_each.is_some() && runbook.tree().call(i).is_some() {
            self.start_call_loop(i);
            return;
        }
        if step.for_each.is_some() {
            self.start_for_each(i, &ctx, running);
            return;
        }

        let kind = match runbook.kind(i) {
            ResolvedKind::Engine(engine_kind) => {
                let engine_kind = *engine_kind;
                if engine_kind != EngineKind::Runbook
                    && !self.step_through_allows(i, &format!("{} step `{}`", step.kind, step.id))
                {
                    return;
                }
                if engine_kind == EngineKind::Runbook {
                    self.start_call(i, &ctx);
                } else if engine_kind.is_human() {
                    self.run_human_gate(i, engine_kind, &ctx);
                } else {
                    self.run_engine_kind(i, engine_kind, &ctx);
                }
                return;
            }
            ResolvedKind::Step(kind) => kind.clone(),
        };

        let raw = step.with.to_json();
        let before = self.touched_count();
        let rendered = match self.render(kind.as_ref(), &raw, &ctx) {
            Ok(r) => r,
            Err(e) => {
                let hint = self.lost_secret_hint(i);
                self.fail_now(i, format!("template error in `with`: {e}{hint}"));
                return;
            }
        };
        let RenderedParams {
            with,
            script_env,
            display,
        } = rendered;
        let description = self.env.redactor.redact(&kind.describe(&display));
        if !self.step_through_allows(i, &description) {
            return;
        }
        if dry && self.touched_count() > before {
            let touched: Vec<String> = self
                .touched
                .lock()
                .map(|t| t.iter().cloned().collect())
                .unwrap_or_default();
            self.env.console.warn(Some(&step.id), &format!(
                "renders simulated values ({}); give the producing step `dry_run: {{ outputs: ... }}` to drill with realistic values",
                touched.join(", ")
            ));
        }

        let read_only = runbook.is_read_only(i);
        let simulate = match self.config.dry_run {
            DryRun::Off => false,
            DryRun::Render => true,
            DryRun::Probes if !(read_only || kind.plans_in_dry_run()) => true,
            DryRun::Probes => match self.fed_by_simulation(i) {
                // Never run a probe on something the drill did not make.
                Some(producer) => {
                    self.env.console.warn(
                        Some(&step.id),
                        &format!(
                            "read-only, but simulated: it depends on `{producer}`, which this drill simulated, so what it would read does not exist"
                        ),
                    );
                    true
                }
                None => false,
            },
        };
        if simulate {
            self.simulated[i] = true;
            self.env.console.describe(&step.id, &description);
            let outputs = step
                .dry_run_outputs
                .as_ref()
                .and_then(|o| o.as_object().cloned());
            self.journal(Event::StepSucceeded {
                step: step.id.clone(),
                outputs: outputs.clone().unwrap_or_default(),
                secret_outputs: Vec::new(),
                sealed_outputs: None,
                simulated: true,
                duration_ms: 0,
            });
            match outputs {
                Some(o) => self.set_view(&step.id, "succeeded", o),
                None => self.set_placeholder_view(step),
            }
            self.succeeded(i);
            return;
        }

        // Write-ahead: the start, and every record before it (the
        // dependencies' results), are on disk before the side effect. One
        // fsync covers them all (group commit).
        let started = Event::StepStarted {
            step: step.id.clone(),
            attempt: 1,
            description,
        };
        let written = self
            .env
            .journal
            .record_lazy(started)
            .and_then(|_| self.env.journal.flush());
        if let Err(e) = written {
            self.fail_now(i, format!("cannot write the journal: {e}"));
            return;
        }
        self.set_status(i, Status::Running);

        let plan_only = dry && kind.plans_in_dry_run() && !read_only;
        let cancel = self.env.cancel.child_token();
        let step_ctx = self.step_context(step, script_env, plan_only, cancel);
        let task = StepTask {
            index: i,
            kind,
            with,
            ctx: step_ctx,
            step: step.clone(),
            templates: self.env.templates.clone(),
            base_context: ctx,
            journal: self.env.journal.clone(),
        };
        // Held until the task ends: it counts against `--max-parallel`.
        let slot = self.take_slot();
        running.spawn(async move {
            let _slot = slot;
            task.run().await
        });
    }
}
