//! `kind: runbook`: a call's start and end. The called runbook's steps are
//! ordinary steps of the run (`runbook/call_tree.rs` spliced them in as
//! `<call>/<step>`, each needing its call); what this file adds is their
//! scope and the call step's own life:
//!
//! - The call starts when its `needs` are met: its `with.inputs` are
//!   rendered in the caller's scope and checked against the called
//!   runbook's declarations, `step_started` is journalled, and the call is
//!   `running`, which is what its steps wait for.
//! - Its steps render in its scope: `inputs` are the call's rendered
//!   inputs, `steps.<id>` reads `<call>/<id>`, `run` is the run's.
//! - When every one of its steps is done, the call ends: succeeded, with
//!   the called runbook's `outputs:` rendered in its scope, if none failed
//!   (a step with `continue_on_failure` may); else failed, naming the step.
//! - A call skipped (`when`) or failed skips the steps not started.

use std::time::Instant;

use lifeboat_steps::{StepOutput, MIN_SECRET_CHARS, REDACTED};
use minijinja::Value;
use serde_json::Map;

use super::for_each::{loop_error, loop_outputs, ItemResult};
use super::{DryRun, Scheduler, Status};
use crate::journal::record::Event;
use crate::journal::run_state::NOT_STARTED;
use crate::run::input_values::anchor_input;
use crate::runbook::call_tree::{CallSite, SCOPE_SEPARATOR};

impl Scheduler {
    /// Starts the call `i`: renders and checks its inputs, journals its
    /// start and sets it running, so that its steps may start.
    pub(super) fn start_call(&mut self, i: usize, ctx: &Value) {
        let runbook = self.env.runbook.clone();
        let step = &runbook.steps[i];
        let Some(site) = runbook.tree().call(i).cloned() else {
            self.fail_now(i, "internal error: a `runbook` step without its call site; this is a bug in lifeboat, please report it".into());
            return;
        };
        let inputs = match self.call_inputs(i, &site, ctx) {
            Ok(inputs) => inputs,
            Err(error) => {
                self.fail_now(i, error);
                return;
            }
        };
        // A secret input is hidden by its declaration, not only by the
        // redactor, which cannot find a value of a few characters.
        let mut shown = inputs.clone();
        for decl in site.inputs.iter().filter(|d| d.is_secret()) {
            if let Some(v) = shown.get_mut(&decl.name).filter(|v| !v.is_null()) {
                *v = serde_json::Value::String(REDACTED.into());
            }
        }
        let shown = self
            .env
            .redactor
            .redact_value(&serde_json::Value::Object(shown));
        let description = format!("runbook `{}` with inputs {shown}", site.file);
        if !self.step_through_allows(i, &description) {
            return;
        }
        self.journal_lazy(Event::StepStarted {
            step: step.id.clone(),
            attempt: 1,
            description,
        });
        self.scope_inputs.insert(i, Value::from_serialize(&inputs));
        self.call_started.insert(i, Instant::now());
        self.set_status(i, Status::Running);
        // A call whose steps are all done already (a resume) ends now.
        self.calls_to_settle.insert(i);
    }

    /// Call `i`'s `with.inputs` rendered in `ctx` (the caller's scope) and
    /// read as the called runbook declares them; secret ones registered
    /// with the redactor. The error fails the call.
    fn call_inputs(
        &self,
        i: usize,
        site: &CallSite,
        ctx: &Value,
    ) -> Result<Map<String, serde_json::Value>, String> {
        let raw = self.env.runbook.steps[i]
            .with
            .get("inputs")
            .map(|n| n.to_json())
            .unwrap_or_else(|| serde_json::Value::Object(Map::new()));
        let (rendered, values) = match self.env.templates.render_value_and_values(&raw, ctx) {
            Ok(r) => r,
            Err(e) => {
                let hint = self.lost_secret_hint(i);
                return Err(format!("template error in `with.inputs`: {e}{hint}"));
            }
        };
        for value in &values {
            self.env.redactor.add_derived(value);
        }
        let given = rendered.as_object().cloned().unwrap_or_default();
        let mut inputs = Map::new();
        for decl in &site.inputs {
            let value = match given.get(&decl.name) {
                Some(v) if decl.accepts(v) => v.clone(),
                // An optional input passed an unset value (`null`) is unset.
                Some(serde_json::Value::Null) if decl.optional => serde_json::Value::Null,
                // A rendered template is text: read it as the declared type.
                Some(serde_json::Value::String(text)) => match decl.coerce(text) {
                    Ok(v) => v,
                    Err(e) => {
                        let e = self.env.redactor.redact(&e);
                        return Err(format!(
                            "input `{}` of `{}` is declared `{}`, but `with.inputs.{}` rendered a value it does not accept: {e}; fix the value the template reads, or the declaration",
                            decl.name, site.file, decl.ty.as_str(), decl.name
                        ));
                    }
                },
                Some(_) => {
                    return Err(format!(
                        "input `{}` of `{}` is declared `{}`, but `with.inputs.{}` rendered another type; fix the value the template reads, or the declaration",
                        decl.name, site.file, decl.ty.as_str(), decl.name
                    ));
                }
                None => decl.default.clone().unwrap_or(serde_json::Value::Null),
            };
            // A relative path means what it means for the top runbook's
            // inputs: relative to the directory the run was launched from.
            let mut value = value;
            anchor_input(decl, &mut value, &self.env.launch_dir);
            if decl.is_secret() {
                // As for the top runbook's secret inputs: a value too short
                // for the redactor to find would reach the journal in clear
                // through whatever the called steps print.
                let chars = value
                    .as_str()
                    .map_or(MIN_SECRET_CHARS, |t| t.trim().chars().count());
                if chars < MIN_SECRET_CHARS
                    && !value.is_null()
                    && self.config.dry_run == DryRun::Off
                {
                    return Err(format!(
                        "secret input `{}` of `{}` is {chars} character{} long; secrets shorter than {MIN_SECRET_CHARS} characters cannot be redacted reliably, so Lifeboat refuses them: pass a longer value in `with.inputs.{}`, or declare the input `type: string` in `{}` if it is not secret",
                        decl.name,
                        site.file,
                        if chars == 1 { "" } else { "s" },
                        decl.name,
                        site.file
                    ));
                }
                self.env.redactor.add_value(&value);
            }
            inputs.insert(decl.name.clone(), value);
        }
        Ok(inputs)
    }

    /// The `steps` prefix and `inputs` of the scope step `i` renders in:
    /// `None` for the top runbook's steps.
    pub(super) fn scope_of(&self, i: usize) -> Option<(String, Value)> {
        let tree = self.env.runbook.tree();
        let mut call = tree.scope(i)?;
        // An item call renders where its loop does.
        if tree.call(i).is_some_and(|site| site.item.is_some()) {
            call = tree.scope(call)?;
        }
        self.scope_for_children(call)
    }

    /// Starts the `for_each` call `i`: its item calls (`<id>[<key>]`,
    /// laid out when the run started) may now start, up to its
    /// `max_parallel` at once (`sections.rs`), each a call as any other.
    pub(super) fn start_call_loop(&mut self, i: usize) {
        let runbook = self.env.runbook.clone();
        let step = &runbook.steps[i];
        let (Some(site), Some(f)) = (runbook.tree().call(i), step.for_each.as_ref()) else {
            return;
        };
        let done = |k: &usize| {
            matches!(self.status[*k], Status::Succeeded | Status::Skipped)
                && !self.not_started.contains(k)
        };
        let to_run = site.items.iter().filter(|k| !done(k)).count();
        let description = format!(
            "runbook `{}` for each of {} items ({to_run} to run, {} at once)",
            site.file,
            site.items.len(),
            self.items_at_once(i)
        );
        let shown = format!("{} step `{}`: {}", step.kind, step.id, f.describe());
        if !self.step_through_allows(i, &shown) {
            return;
        }
        self.journal_lazy(Event::StepStarted {
            step: step.id.clone(),
            attempt: 1,
            description,
        });
        self.call_started.insert(i, Instant::now());
        self.set_status(i, Status::Running);
        self.calls_to_settle.insert(i);
    }

    /// Item calls of the loop `c` that may run at once: its `max_parallel`,
    /// within the run's `--max-parallel`.
    pub(super) fn items_at_once(&self, c: usize) -> usize {
        let f = self.env.runbook.steps[c].for_each.as_ref();
        f.map_or(1, |f| f.parallelism())
            .min(self.config.max_parallel.max(1))
    }

    /// Whether item call `k` may start now; `Err` with the reason it never
    /// will (an item failed, and its loop stops at a failure).
    pub(super) fn item_may_start(&self, k: usize) -> Result<bool, String> {
        let tree = self.env.runbook.tree();
        let Some(item) = tree.call(k).and_then(|s| s.item.as_ref()) else {
            return Ok(true);
        };
        let Some(site) = tree.call(item.of) else {
            return Ok(true);
        };
        let goes_on = self.item_may_fail(k);
        let mut running = 0;
        for &j in &site.items {
            match self.status[j] {
                Status::Failed if !goes_on => {
                    return Err(format!(
                        "item `{}` failed, and the loop stops at a failed item (set `for_each.continue_on_failure` to run every item)",
                        self.env.runbook.steps[j].id
                    ))
                }
                Status::Running | Status::Waiting => running += 1,
                _ => {}
            }
        }
        Ok(running < self.items_at_once(item.of))
    }

    /// Whether call `c` is an item call whose loop has
    /// `for_each.continue_on_failure`: its failure fails neither the loop
    /// nor the run.
    pub(super) fn item_may_fail(&self, c: usize) -> bool {
        let runbook = &self.env.runbook;
        runbook
            .tree()
            .call(c)
            .and_then(|s| s.item.as_ref())
            .and_then(|item| runbook.steps[item.of].for_each.as_ref())
            .is_some_and(|f| f.continue_on_failure)
    }

    /// Ends the `for_each` call `c`, all of whose item calls are done:
    /// its outputs `items` and `by_key` (each item's outputs its call's);
    /// failed, naming the first failed item, unless
    /// `for_each.continue_on_failure`.
    fn settle_call_loop(&mut self, c: usize, site: &CallSite, duration: std::time::Duration) {
        let runbook = self.env.runbook.clone();
        let tree = runbook.tree();
        let goes_on = runbook.steps[c]
            .for_each
            .as_ref()
            .is_some_and(|f| f.continue_on_failure);
        let mut results = Vec::with_capacity(site.items.len());
        let mut failures = Vec::new();
        let mut not_started = false;
        for &k in &site.items {
            let key = tree
                .call(k)
                .and_then(|s| s.item.as_ref())
                .map_or(String::new(), |item| item.key.clone());
            let status = match self.status[k] {
                Status::Succeeded => "succeeded",
                Status::Failed => {
                    let at = tree
                        .call(k)
                        .and_then(|s| {
                            s.children.clone().find(|&j| {
                                self.status[j] == Status::Failed && tree.call(j).is_none()
                            })
                        })
                        .map(|j| format!(" at `{}`", runbook.steps[j].id))
                        .unwrap_or_default();
                    failures.push(format!("item `{}` failed{at}", runbook.steps[k].id));
                    "failed"
                }
                Status::Skipped if !self.not_started.contains(&k) => "skipped",
                _ => {
                    not_started = true;
                    "not_started"
                }
            };
            let outputs = if status == "succeeded" {
                self.view_outputs(&runbook.steps[k].id)
            } else {
                Map::new()
            };
            results.push((key, status, outputs));
        }
        let outputs = loop_outputs(results.iter().map(|(key, status, outputs)| {
            (
                key.as_str(),
                ItemResult {
                    status,
                    outputs: outputs.clone(),
                    error: None,
                },
            )
        }));
        if !failures.is_empty() && !goes_on {
            self.fail_with(c, loop_error(&failures), outputs, duration);
            return;
        }
        if not_started {
            self.skip(c, format!("{NOT_STARTED} not all of its items ran"));
            return;
        }
        self.succeed(
            c,
            StepOutput {
                outputs,
                ..StepOutput::new()
            },
            duration,
        );
    }

    /// Ends every running call whose steps are all done; true if any did.
    /// Inner calls (later in the runbook) end before the calls around them.
    pub(super) fn settle_calls(&mut self) -> bool {
        let mut changed = false;
        while let Some(c) = self.calls_to_settle.pop_last() {
            if self.status[c] != Status::Running {
                continue;
            }
            let runbook = self.env.runbook.clone();
            let Some(site) = runbook.tree().call(c).cloned() else {
                continue;
            };
            let done =
                |s: Status| matches!(s, Status::Succeeded | Status::Failed | Status::Skipped);
            if site.children.clone().any(|j| !done(self.status[j])) {
                continue;
            }
            changed = true;
            let duration = self
                .call_started
                .remove(&c)
                .map(|t| t.elapsed())
                .unwrap_or_default();
            if runbook.steps[c].for_each.is_some() {
                self.settle_call_loop(c, &site, duration);
                continue;
            }
            // An item call's end may let the next item of its loop start.
            if let Some(item) = &site.item {
                if let Some(loop_site) = runbook.tree().call(item.of) {
                    let pending = loop_site
                        .items
                        .iter()
                        .filter(|&&k| self.status[k] == Status::Pending);
                    self.candidates.extend(pending);
                }
            }
            let failed: Vec<usize> = site
                .children
                .clone()
                .filter(|&j| self.status[j] == Status::Failed && !self.may_fail_for(j, c))
                .collect();
            // The step that failed, rather than the call around it.
            let culprit = failed
                .iter()
                .find(|&&j| runbook.tree().call(j).is_none())
                .or(failed.first());
            if let Some(&j) = culprit {
                let error = format!("step `{}` of `{}` failed", runbook.steps[j].id, site.file);
                self.fail_with(c, error, Map::new(), duration);
                continue;
            }
            // Some of its steps could not start (the run failed elsewhere):
            // the call did not complete, and a resume reopens it with them.
            if site.children.clone().any(|j| self.not_started.contains(&j)) {
                self.skip(c, format!("{NOT_STARTED} not all of its steps ran"));
                continue;
            }
            let ctx = self.template_context_in(self.scope_for_children(c));
            let mut output = StepOutput::new();
            for decl in &site.outputs {
                match self
                    .env
                    .templates
                    .render_value_and_values(&decl.value.to_json(), &ctx)
                {
                    Ok((value, values)) => {
                        for v in &values {
                            self.env.redactor.add_derived(v);
                        }
                        if decl.secret {
                            output.secret.insert(decl.name.clone());
                        }
                        output.outputs.insert(decl.name.clone(), value);
                    }
                    Err(e) => {
                        let hint = self.lost_secret_hint(c);
                        self.fail_now(
                            c,
                            format!(
                                "cannot render output `{}` of `{}`: {e}{hint}",
                                decl.name, site.file
                            ),
                        );
                        output.outputs.clear();
                        break;
                    }
                }
            }
            if self.status[c] == Status::Running {
                self.succeed(c, output, duration);
            }
        }
        changed
    }

    /// The scope the steps of call `c` render in.
    /// Before the call has started in this execution (a resume reading
    /// a completed step's secrets again, its `check` probe), its inputs are
    /// rendered from what the caller's steps produced.
    fn scope_for_children(&self, c: usize) -> Option<(String, Value)> {
        let prefix = format!("{}{SCOPE_SEPARATOR}", self.env.runbook.steps[c].id);
        let inputs = match self.scope_inputs.get(&c) {
            Some(inputs) => inputs.clone(),
            None => {
                let rendered = self
                    .env
                    .runbook
                    .tree()
                    .call(c)
                    .and_then(|site| self.call_inputs(c, site, &self.context_for(c)).ok());
                Value::from_serialize(rendered.unwrap_or_default())
            }
        };
        Some((prefix, inputs))
    }
}
