//! A step with `for_each`: one execution per item, journalled as
//! `<id>[<key>]` with the records of any step (`step_started`,
//! `attempt_failed`, `step_succeeded`, `step_failed`, `step_skipped`), then
//! the step's own result, whose outputs are `items` (in item order, each
//! `{key, status, outputs}`) and `by_key`.
//!
//! The scheduler renders every item (its `when`, `key` and `with`) on its
//! own task when the step starts; one task then runs the items, up to
//! `for_each.max_parallel` at once, each with its own attempts, `until`
//! and `timeout` ([`StepTask`]). Each running item holds one of the run's
//! `--max-parallel` permits, as a step does, so items and other steps
//! together never pass the bound. A pause starts no new item: the running
//! ones finish and the loop ends without a result, for a resume to go on.
//! An `assert` or a `checkpoint` item is evaluated when the loop starts
//! (it reads nothing an item makes) and journalled in item order.
//!
//! On resume an item already done is taken over, never run again, with
//! its secret outputs opened from their sealed copy (`takeover.rs`); an
//! interrupted one applies the step's `rerun` policy, as a step.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use lifeboat_steps::{Redactor, Rerun, StepContext, StepError, StepKind, StepOutput};
use minijinja::Value;
use serde_json::{json, Map};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::engine_steps::EngineResult;
use super::render::{view, RenderedParams};
use super::results::{journaled_outputs, redact_map, sealed_outputs};
use super::secret_reread::LostSecretOutputs;
use super::step_task::{Finished, StepTask};
use super::{DryRun, Scheduler, Status};
use crate::journal::record::{Event, MarkOutcome};
use crate::journal::run_state::{RunState, StepRecordState};
use crate::journal::Journal;
use crate::operator::console::Console;
use crate::run::sealed_outputs::Sealing;
use crate::runbook::checked_runbook::{CheckedRunbook, ResolvedKind};
use crate::runbook::step::{item_id, split_item_id, ForEach, Step};
use crate::runbook::template_context;
use crate::runbook::templates::Templates;

/// What an earlier execution of the run journalled of `for_each` items.
#[derive(Debug, Default)]
pub(super) struct PriorItems {
    /// By execution id, `<id>[<key>]`.
    states: HashMap<String, StepRecordState>,
    /// Items interrupted mid-step, and the latest `mark` of each.
    unconfirmed: BTreeMap<String, Option<MarkOutcome>>,
    /// Done items' secret outputs, opened from their sealed copy.
    opened: HashMap<String, Map<String, serde_json::Value>>,
}

impl PriorItems {
    /// Each done item with secret outputs, for `takeover.rs` to open from
    /// its sealed copy or to report lost, as a step's: the loop's index,
    /// the item, the names.
    pub(super) fn with_secrets(&self, runbook: &CheckedRunbook) -> Vec<LostSecretOutputs> {
        let mut out: Vec<LostSecretOutputs> = self
            .states
            .iter()
            .filter_map(|(execution, state)| {
                let StepRecordState::Succeeded { secret_outputs, .. } = state else {
                    return None;
                };
                let index = runbook.step_index(split_item_id(execution)?.0)?;
                (!secret_outputs.is_empty()).then(|| LostSecretOutputs {
                    index,
                    item: Some(execution.clone()),
                    names: secret_outputs.clone(),
                    why: None,
                })
            })
            .collect();
        out.sort_by(|a, b| a.item.cmp(&b.item));
        out
    }

    /// Removes from a loop's journalled outputs (`items`, `by_key`) each
    /// item's secret outputs, which were journalled as «redacted» and lived
    /// in memory only: a template that reads one then fails and says why.
    pub(super) fn forget_secrets(&self, id: &str, outputs: &mut Map<String, serde_json::Value>) {
        let secret = |key: &str| -> &[String] {
            match self.states.get(&item_id(id, key)) {
                Some(StepRecordState::Succeeded { secret_outputs, .. }) => secret_outputs,
                _ => &[],
            }
        };
        let strip = |entry: &mut serde_json::Value| {
            let key = entry["key"].as_str().unwrap_or_default().to_string();
            if let Some(o) = entry.get_mut("outputs").and_then(|o| o.as_object_mut()) {
                for name in secret(&key) {
                    o.remove(name);
                }
            }
        };
        if let Some(items) = outputs.get_mut("items").and_then(|v| v.as_array_mut()) {
            items.iter_mut().for_each(strip);
        }
        if let Some(by_key) = outputs.get_mut("by_key").and_then(|v| v.as_object_mut()) {
            by_key.values_mut().for_each(strip);
        }
    }

    /// The items of the runbook's `for_each` steps in `state`.
    pub(super) fn from_state(runbook: &CheckedRunbook, state: &RunState) -> Self {
        let is_item = |execution: &str| {
            split_item_id(execution)
                .and_then(|(id, _)| runbook.step(id))
                .is_some_and(|s| s.for_each.is_some())
        };
        Self {
            states: state
                .steps
                .iter()
                .filter(|(id, _)| is_item(id))
                .map(|(id, s)| (id.clone(), s.clone()))
                .collect(),
            unconfirmed: state
                .unconfirmed
                .iter()
                .filter(|(id, _)| is_item(id))
                .map(|(id, m)| (id.clone(), *m))
                .collect(),
            opened: HashMap::new(),
        }
    }
}

impl Scheduler {
    /// Gives item `execution` of loop `i` back the secret outputs opened
    /// from its sealed copy: for the loop to take over with the item, and,
    /// when the loop is done, in its view's `items` and `by_key`.
    pub(super) fn give_item_secrets(
        &mut self,
        i: usize,
        execution: &str,
        values: Map<String, serde_json::Value>,
    ) {
        let id = self.env.runbook.steps[i].id.clone();
        let key = split_item_id(execution).map_or("", |(_, k)| k).to_string();
        let mut views = self.views.write().unwrap_or_else(|e| e.into_inner());
        let outputs = views
            .get(&id)
            .filter(|v| {
                v.get_attr("status")
                    .ok()
                    .and_then(|s| s.as_str().map(String::from))
                    == Some("succeeded".into())
            })
            .and_then(|v| v.get_attr("outputs").ok())
            .and_then(|o| serde_json::to_value(&o).ok())
            .and_then(|o| o.as_object().cloned());
        if let Some(mut outputs) = outputs {
            let fill = |entry: &mut serde_json::Value| {
                if entry["key"].as_str() != Some(key.as_str()) {
                    return;
                }
                if let Some(o) = entry.get_mut("outputs").and_then(|o| o.as_object_mut()) {
                    o.extend(values.clone());
                }
            };
            if let Some(items) = outputs.get_mut("items").and_then(|v| v.as_array_mut()) {
                items.iter_mut().for_each(fill);
            }
            if let Some(entry) = outputs.get_mut("by_key").and_then(|v| v.get_mut(&key)) {
                fill(entry);
            }
            views.insert(id, view("succeeded", outputs));
        }
        drop(views);
        self.prior_items
            .opened
            .insert(execution.to_string(), values);
    }
}

impl Scheduler {
    /// For a loop interrupted mid-run whose `rerun` is not `safe`: journals
    /// a `waiting` record for each item interrupted mid-step that no human
    /// has marked yet; true when there is one (the run then pauses).
    /// (`rerun: check` is not applied per item: such an item waits too.)
    pub(super) fn items_waiting_for_mark(&mut self, i: usize) -> bool {
        if self.env.runbook.rerun_policy(i) == Rerun::Safe {
            return false;
        }
        let id = self.env.runbook.steps[i].id.clone();
        let stuck: Vec<String> = self
            .prior_items
            .unconfirmed
            .iter()
            .filter(|(execution, mark)| {
                mark.is_none() && split_item_id(execution).is_some_and(|(s, _)| s == id)
            })
            .map(|(execution, _)| execution.clone())
            .collect();
        let run = self.env.run_id.clone();
        for execution in &stuck {
            self.journal(Event::Waiting {
                step: execution.clone(),
                reason: format!(
                    "`{execution}` was interrupted mid-step and is unsafe to repeat (rerun: {}); a human must say whether it completed",
                    rerun_name(self.env.runbook.rerun_policy(i))
                ),
                commands: vec![
                    format!("lifeboat mark {run} {execution} done --as NAME"),
                    format!("lifeboat mark {run} {execution} failed --as NAME"),
                    format!("lifeboat resume {run}"),
                ],
            });
        }
        !stuck.is_empty()
    }
}

fn rerun_name(policy: Rerun) -> &'static str {
    match policy {
        Rerun::Safe => "safe",
        Rerun::Check => "check",
        Rerun::Never => "never",
    }
}

/// One item, ready to run or already settled.
struct Item {
    key: String,
    /// `<id>[<key>]`.
    execution: String,
    plan: ItemPlan,
}

enum ItemPlan {
    /// Done by an earlier execution of the run: taken over as it was.
    Done {
        status: &'static str,
        outputs: Map<String, serde_json::Value>,
    },
    /// Its `when` is false.
    Skip(String),
    /// It cannot start (a template error).
    Fail(String),
    /// An `assert` or a `checkpoint`: evaluated, to be journalled.
    Settled(EngineResult),
    Run(Box<ItemRun>),
}

/// What an item runs with.
struct ItemRun {
    kind: Arc<dyn StepKind>,
    step: Step,
    with: serde_json::Value,
    ctx: StepContext,
    base_context: Value,
    description: String,
}

/// How an item ended, for the step's outputs.
pub(super) struct ItemResult {
    pub(super) status: &'static str,
    pub(super) outputs: Map<String, serde_json::Value>,
    pub(super) error: Option<String>,
}

impl Scheduler {
    /// Starts step `i`, which has `for_each`: renders its items, then
    /// spawns the task that runs them (or, in a dry run, shows them).
    pub(super) fn start_for_each(
        &mut self,
        i: usize,
        ctx: &Value,
        running: &mut JoinSet<Finished>,
    ) {
        let runbook = self.env.runbook.clone();
        let step = &runbook.steps[i];
        let Some(f) = step.for_each.as_ref() else {
            return;
        };
        if runbook.kind(i).is_human() {
            // `validate` refuses it (`validator.rs`); a gate per item would
            // need an address of its own in every command.
            self.fail_now(i, format!("`for_each` is not supported on `{}` steps; put one gate before the loop and make the loop need it", step.kind));
            return;
        }
        let dry = self.config.dry_run != DryRun::Off;
        if dry {
            if let Some(outputs) = step.dry_run_outputs.as_ref().and_then(|o| o.as_object()) {
                self.env.console.describe(
                    &step.id,
                    "for_each: items not expanded in a dry run; later steps read `dry_run.outputs`",
                );
                self.simulate_loop(i, outputs.clone(), true);
                return;
            }
        }
        let before = self.touched_count();
        let values = match self.env.templates.render_value(&f.items.to_json(), ctx) {
            Ok(serde_json::Value::Array(items)) => items,
            Ok(_) if dry && self.touched_count() > before => {
                self.env.console.warn(
                    Some(&step.id),
                    "`for_each.items` is unknown until run time; this drill uses one placeholder item (give the step `dry_run: { outputs: ... }` to set what later steps read)",
                );
                vec![serde_json::Value::String(format!("«item of {}»", step.id))]
            }
            Ok(other) => {
                self.fail_now(
                    i,
                    format!(
                        "`for_each.items` must render a list, but it rendered {}",
                        json_type(&other)
                    ),
                );
                return;
            }
            Err(e) => {
                self.fail_now(i, format!("template error in `for_each.items`: {e}"));
                return;
            }
        };
        let items = match self.prepare_items(i, &values, ctx) {
            Ok(items) => items,
            Err(e) => {
                self.fail_now(i, e);
                return;
            }
        };
        if dry {
            for item in &items {
                let description = match &item.plan {
                    ItemPlan::Run(run) => run.description.clone(),
                    ItemPlan::Settled(_) => step.kind.clone(),
                    _ => continue,
                };
                self.env.console.describe(&item.execution, &description);
                self.journal(Event::StepSucceeded {
                    step: item.execution.clone(),
                    outputs: Map::new(),
                    secret_outputs: Vec::new(),
                    sealed_outputs: None,
                    simulated: true,
                    duration_ms: 0,
                });
            }
            let results = items
                .iter()
                .map(|item| match &item.plan {
                    ItemPlan::Skip(_) => ("skipped", Map::new()),
                    _ => ("succeeded", Map::new()),
                })
                .collect::<Vec<_>>();
            let outputs =
                loop_outputs(items.iter().zip(results).map(|(item, (status, outputs))| {
                    (
                        item.key.as_str(),
                        ItemResult {
                            status,
                            outputs,
                            error: None,
                        },
                    )
                }));
            self.simulate_loop(i, outputs, false);
            return;
        }
        let to_run = items
            .iter()
            .filter(|item| matches!(item.plan, ItemPlan::Run(_) | ItemPlan::Settled(_)))
            .count();
        // Step-through asks once for the whole loop.
        let shown = format!("{} step `{}`: {}", step.kind, step.id, f.describe());
        if !self.step_through_allows(i, &shown) {
            return;
        }
        let started = Event::StepStarted {
            step: step.id.clone(),
            attempt: 1,
            description: format!(
                "for each of {} items ({to_run} to run, {} at once)",
                items.len(),
                f.parallelism().min(self.config.max_parallel.max(1))
            ),
        };
        if let Err(e) = self.env.journal.record_lazy(started) {
            self.fail_now(i, format!("cannot write the journal: {e}"));
            return;
        }
        self.set_status(i, Status::Running);
        let task = LoopTask {
            index: i,
            items,
            parallel: f.parallelism().min(self.config.max_parallel.max(1)),
            continue_on_failure: f.continue_on_failure,
            templates: self.env.templates.clone(),
            journal: self.env.journal.clone(),
            redactor: self.env.redactor.clone(),
            sealing: self.env.sealing.clone(),
            console: self.env.console.clone(),
            cancel: self.env.cancel.clone(),
            pause: self.env.pause.clone(),
            slots: self.slots.clone(),
            first_slot: self.take_slot(),
        };
        running.spawn(task.run());
    }

    /// A dry run's result of the loop: simulated, with `outputs`.
    fn simulate_loop(&mut self, i: usize, outputs: Map<String, serde_json::Value>, given: bool) {
        let id = self.env.runbook.steps[i].id.clone();
        self.simulated[i] = true;
        self.journal(Event::StepSucceeded {
            step: id.clone(),
            outputs: outputs.clone(),
            secret_outputs: Vec::new(),
            sealed_outputs: None,
            simulated: true,
            duration_ms: 0,
        });
        if given {
            self.set_view(&id, "succeeded", outputs);
        } else {
            let step = self.env.runbook.steps[i].clone();
            self.set_placeholder_view(&step);
        }
        self.succeeded(i);
    }

    /// Each item's key, `when` and rendered parameters, in item order;
    /// an error (a key that does not render, two items with one key, an
    /// interrupted item that only a human can settle) fails the step.
    fn prepare_items(
        &self,
        i: usize,
        values: &[serde_json::Value],
        ctx: &Value,
    ) -> Result<Vec<Item>, String> {
        let step = &self.env.runbook.steps[i];
        let Some(f) = step.for_each.as_ref() else {
            return Ok(Vec::new());
        };
        // What each item runs as: the step without its list of items,
        // copied once; a copy of the list per item made an item's cost
        // O(items) (10,000 items took 7 GB).
        let template = Step {
            for_each: None,
            ..step.clone()
        };
        let mut items = Vec::with_capacity(values.len());
        let keyed = keyed_items(&self.env.templates, f, ctx, values, &self.env.redactor)?;
        for (key, item_ctx) in keyed {
            let execution = item_id(&step.id, &key);
            let plan = self.plan_item(i, &template, &execution, &item_ctx)?;
            items.push(Item {
                key,
                execution,
                plan,
            });
        }
        Ok(items)
    }

    /// What to do with one item: take over what an earlier execution did,
    /// apply `rerun` to one it left interrupted, else its `when`, then
    /// render it.
    fn plan_item(
        &self,
        i: usize,
        template: &Step,
        execution: &str,
        item_ctx: &Value,
    ) -> Result<ItemPlan, String> {
        let step = &self.env.runbook.steps[i];
        match self.prior_items.unconfirmed.get(execution) {
            // Marked `done` by a human.
            Some(Some(MarkOutcome::Done)) => {
                return Ok(ItemPlan::Done {
                    status: "succeeded",
                    outputs: Map::new(),
                })
            }
            Some(Some(MarkOutcome::Failed)) => {}
            Some(None) => match self.env.runbook.rerun_policy(i) {
                Rerun::Safe => {}
                Rerun::Check | Rerun::Never => {
                    return Err(format!(
                        "item `{execution}` was interrupted mid-step and is unsafe to repeat (rerun: never); say whether it completed with `lifeboat mark {} {execution} done --as NAME` (or `failed`), then resume",
                        self.env.run_id
                    ))
                }
            },
            None => match self.prior_items.states.get(execution) {
                Some(StepRecordState::Succeeded {
                    outputs,
                    secret_outputs,
                    ..
                }) => {
                    // Secret outputs journalled as «redacted»: opened
                    // from their sealed copy, else left undefined (a
                    // reader then fails and says why, `secret_reread.rs`).
                    let mut outputs = outputs.clone();
                    for name in secret_outputs {
                        outputs.remove(name);
                    }
                    if let Some(opened) = self.prior_items.opened.get(execution) {
                        outputs.extend(opened.clone());
                    }
                    return Ok(ItemPlan::Done {
                        status: "succeeded",
                        outputs,
                    });
                }
                Some(StepRecordState::Skipped { .. }) => {
                    return Ok(ItemPlan::Done {
                        status: "skipped",
                        outputs: Map::new(),
                    });
                }
                _ => {}
            },
        }
        // A `when` that does not read the item was decided for the whole
        // step (`start.rs`); evaluating it again gives the same answer.
        if let Some(when) = &step.when {
            match self.env.templates.eval_bool(&when.text, item_ctx) {
                Ok(true) => {}
                Ok(false) => return Ok(ItemPlan::Skip(format!("`when: {}` is false", when.text))),
                Err(e) => {
                    return Ok(ItemPlan::Fail(format!(
                        "cannot evaluate `when: {}`: {e}",
                        when.text
                    )))
                }
            }
        }
        let kind = match self.env.runbook.kind(i) {
            ResolvedKind::Engine(engine_kind) => {
                return Ok(ItemPlan::Settled(self.evaluate_engine_kind(
                    i,
                    *engine_kind,
                    item_ctx,
                )))
            }
            ResolvedKind::Step(kind) => kind.clone(),
        };
        let RenderedParams {
            with,
            script_env,
            display,
        } = match self.render(kind.as_ref(), &step.with.to_json(), item_ctx) {
            Ok(r) => r,
            Err(e) => return Ok(ItemPlan::Fail(format!("template error in `with`: {e}"))),
        };
        let description = self.env.redactor.redact(&kind.describe(&display));
        let mut item_step = template.clone();
        item_step.id = execution.to_string();
        let ctx = self.step_context(&item_step, script_env, false, self.env.cancel.child_token());
        Ok(ItemPlan::Run(Box::new(ItemRun {
            kind,
            step: item_step,
            with,
            ctx,
            base_context: item_ctx.clone(),
            description,
        })))
    }
}

/// Runs a loop's items on its own task and hands back the step's result.
struct LoopTask {
    index: usize,
    items: Vec<Item>,
    /// Items run at once.
    parallel: usize,
    continue_on_failure: bool,
    templates: Arc<Templates>,
    journal: Arc<Journal>,
    redactor: Redactor,
    /// To seal items' secret outputs to the run's recipients, as a step's.
    sealing: Sealing,
    console: Arc<dyn Console>,
    /// The run's token: a cancelled run leaves items interrupted.
    cancel: CancellationToken,
    /// The run's pause: no new item starts; the loop ends without a result.
    pause: CancellationToken,
    /// The run's `--max-parallel` permits: a running item holds one.
    slots: Arc<Semaphore>,
    /// The permit the scheduler started the loop with, for its first item.
    first_slot: Option<OwnedSemaphorePermit>,
}

impl LoopTask {
    /// Whether another item may start.
    fn may_start(&self, failed: bool) -> bool {
        (!failed || self.continue_on_failure)
            && !self.cancel.is_cancelled()
            && !self.pause.is_cancelled()
    }

    async fn run(mut self) -> Finished {
        let started = Instant::now();
        let n = self.items.len();
        let mut results: Vec<Option<ItemResult>> = (0..n).map(|_| None).collect();
        let mut running: JoinSet<(usize, Finished)> = JoinSet::new();
        let mut next = 0;
        let mut failed = false;
        let mut interrupted = false;
        let mut plans: Vec<ItemPlan> = self
            .items
            .iter_mut()
            .map(|item| std::mem::replace(&mut item.plan, ItemPlan::Skip(String::new())))
            .collect();
        let mut slot = self.first_slot.take();
        loop {
            while running.len() < self.parallel && next < n && self.may_start(failed) {
                let position = next;
                // An item that runs holds a permit of the run's bound.
                let permit = if matches!(plans[position], ItemPlan::Run(_)) {
                    match slot
                        .take()
                        .or_else(|| self.slots.clone().try_acquire_owned().ok())
                    {
                        Some(p) => Some(p),
                        None => break,
                    }
                } else {
                    None
                };
                next += 1;
                let execution = self.items[position].execution.clone();
                let plan = std::mem::replace(&mut plans[position], ItemPlan::Skip(String::new()));
                let result = match plan {
                    ItemPlan::Run(run) => {
                        // Write-ahead: the item's start, and every result
                        // before it, are durable before its side effect.
                        let written = self
                            .journal
                            .record_lazy(Event::StepStarted {
                                step: execution.clone(),
                                attempt: 1,
                                description: run.description.clone(),
                            })
                            .and_then(|_| self.journal.flush());
                        if let Err(e) = written {
                            return self.finished(
                                started,
                                Err(StepError::new(e.to_string())),
                                Some(e),
                            );
                        }
                        let task = StepTask {
                            index: self.index,
                            kind: run.kind,
                            with: run.with,
                            ctx: run.ctx,
                            step: run.step,
                            templates: self.templates.clone(),
                            base_context: run.base_context,
                            journal: self.journal.clone(),
                        };
                        running.spawn(async move {
                            let _permit = permit;
                            (position, task.run().await)
                        });
                        continue;
                    }
                    plan => match self.settle(&execution, plan) {
                        Ok(result) => result,
                        Err(e) => {
                            return self.finished(
                                started,
                                Err(StepError::new(e.to_string())),
                                Some(e),
                            )
                        }
                    },
                };
                failed |= result.error.is_some();
                results[position] = Some(result);
            }
            // The next item waits for a permit (another step or item holds
            // every one), or for the pause or abort that stops it.
            let wants_slot = next < n
                && running.len() < self.parallel
                && self.may_start(failed)
                && matches!(plans[next], ItemPlan::Run(_));
            if running.is_empty() && !wants_slot {
                break;
            }
            let slots = self.slots.clone();
            let (pause, cancel) = (self.pause.clone(), self.cancel.clone());
            let joined = tokio::select! {
                // An item's result first, as in the section loop.
                biased;
                joined = running.join_next(), if !running.is_empty() => joined,
                permit = slots.acquire_owned(), if wants_slot => {
                    slot = permit.ok();
                    continue;
                }
                () = pause.cancelled(), if wants_slot => continue,
                () = cancel.cancelled(), if wants_slot => continue,
            };
            let Some(joined) = joined else {
                break;
            };
            let (position, f) = match joined {
                Ok(done) => done,
                Err(e) => {
                    return self.finished(
                        started,
                        Err(StepError::new(format!(
                            "internal error: an item's task failed: {e}"
                        ))),
                        None,
                    )
                }
            };
            if let Some(e) = f.journal_error {
                return self.finished(started, Err(StepError::new(e.to_string())), Some(e));
            }
            let execution = self.items[position].execution.clone();
            let duration_ms = f.duration.as_millis() as u64;
            let result = match f.result {
                Err(e) if e.cancelled && self.cancel.is_cancelled() => {
                    // No terminal record: a resume applies `rerun` to it.
                    interrupted = true;
                    continue;
                }
                Ok(output) => {
                    let journaled = journaled_outputs(&self.redactor, &output);
                    let sealed = sealed_outputs(
                        &self.sealing,
                        self.console.as_ref(),
                        &self.redactor,
                        &execution,
                        &output,
                    );
                    if let Err(e) = self.journal.record_lazy(Event::StepSucceeded {
                        step: execution,
                        outputs: journaled,
                        secret_outputs: output.secret.iter().cloned().collect(),
                        sealed_outputs: sealed,
                        simulated: false,
                        duration_ms,
                    }) {
                        return self.finished(started, Err(StepError::new(e.to_string())), Some(e));
                    }
                    ItemResult {
                        status: "succeeded",
                        outputs: output.outputs,
                        error: None,
                    }
                }
                Err(e) => {
                    let error = self.redactor.redact(&e.message);
                    if let Err(e) = self.journal.record_lazy(Event::StepFailed {
                        step: execution,
                        error: error.clone(),
                        outputs: redact_map(&self.redactor, &e.outputs),
                        duration_ms,
                    }) {
                        return self.finished(started, Err(StepError::new(e.to_string())), Some(e));
                    }
                    failed = true;
                    ItemResult {
                        status: "failed",
                        outputs: e.outputs,
                        error: Some(error),
                    }
                }
            };
            results[position] = Some(result);
        }
        if interrupted || self.cancel.is_cancelled() {
            return self.finished(
                started,
                Err(StepError::cancelled("interrupted while its items ran")),
                None,
            );
        }
        if next < n && self.pause.is_cancelled() && (!failed || self.continue_on_failure) {
            // No result: a resume runs the items not done.
            return self.finished(
                started,
                Err(StepError::cancelled("paused before all its items ran")),
                None,
            );
        }
        let failures: Vec<String> = self
            .items
            .iter()
            .zip(&results)
            .filter_map(|(item, r)| {
                let error = r.as_ref()?.error.as_ref()?;
                Some(format!("item `{}` failed: {error}", item.execution))
            })
            .collect();
        let outputs = loop_outputs(self.items.iter().zip(results).map(|(item, r)| {
            (
                item.key.as_str(),
                r.unwrap_or(ItemResult {
                    status: "not_started",
                    outputs: Map::new(),
                    error: None,
                }),
            )
        }));
        let result = if failures.is_empty() || self.continue_on_failure {
            Ok(StepOutput {
                outputs,
                ..StepOutput::new()
            })
        } else {
            Err(StepError::new(loop_error(&failures)).with_outputs(outputs))
        };
        self.finished(started, result, None)
    }

    /// Journals an item that does not run a step kind: taken over, skipped,
    /// failed before it started, or an `assert` or `checkpoint`.
    fn settle(
        &self,
        execution: &str,
        plan: ItemPlan,
    ) -> Result<ItemResult, crate::journal::run_store::StoreError> {
        let result = |status, outputs, error| ItemResult {
            status,
            outputs,
            error,
        };
        let failed = |error: String| -> Result<ItemResult, crate::journal::run_store::StoreError> {
            let error = self.redactor.redact(&error);
            self.journal.record_lazy(Event::StepFailed {
                step: execution.to_string(),
                error: error.clone(),
                outputs: Map::new(),
                duration_ms: 0,
            })?;
            Ok(result("failed", Map::new(), Some(error)))
        };
        let succeeded =
            |output: StepOutput| -> Result<ItemResult, crate::journal::run_store::StoreError> {
                self.journal.record_lazy(Event::StepSucceeded {
                    step: execution.to_string(),
                    outputs: journaled_outputs(&self.redactor, &output),
                    secret_outputs: Vec::new(),
                    sealed_outputs: None,
                    simulated: false,
                    duration_ms: 0,
                })?;
                Ok(result("succeeded", output.outputs, None))
            };
        match plan {
            ItemPlan::Done { status, outputs } => Ok(result(status, outputs, None)),
            ItemPlan::Skip(reason) => {
                self.journal.record_lazy(Event::StepSkipped {
                    step: execution.to_string(),
                    reason,
                })?;
                Ok(result("skipped", Map::new(), None))
            }
            ItemPlan::Fail(error) => failed(error),
            ItemPlan::Settled(EngineResult::Checkpoint(description)) => {
                self.journal.record_lazy(Event::Checkpoint {
                    step: execution.to_string(),
                    description,
                })?;
                succeeded(StepOutput::new())
            }
            ItemPlan::Settled(EngineResult::Done(Ok(output))) => succeeded(output),
            ItemPlan::Settled(EngineResult::Done(Err(error))) => failed(error),
            // Items that run go to a `StepTask` (`run`).
            ItemPlan::Run(_) => failed("internal error: an item to run was settled".into()),
        }
    }

    fn finished(
        &self,
        started: Instant,
        result: Result<StepOutput, StepError>,
        journal_error: Option<crate::journal::run_store::StoreError>,
    ) -> Finished {
        Finished {
            index: self.index,
            result,
            duration: started.elapsed(),
            journal_error,
        }
    }
}

/// Each item of the loop `f` over `values`: its key and the context it
/// renders in (`ctx` with the item bound to `as`). The one rule for a
/// step's items and a call's (`launcher.rs`): `for_each.key` rendered, else
/// the item itself (a string or number), else its position; redacted;
/// printable, not empty, unique.
pub(crate) fn keyed_items(
    templates: &Templates,
    f: &ForEach,
    ctx: &Value,
    values: &[serde_json::Value],
    redactor: &Redactor,
) -> Result<Vec<(String, Value)>, String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(values.len());
    for (n, value) in values.iter().enumerate() {
        let item_ctx = template_context::with_item(ctx, &f.as_name, Value::from_serialize(value));
        let key = match &f.key {
            Some(key) => match templates.render_value(&key.to_json(), &item_ctx) {
                Ok(k) => scalar_text(&k).ok_or_else(|| {
                    format!(
                        "`for_each.key` of item {} rendered {}, not a string",
                        n + 1,
                        json_type(&k)
                    )
                })?,
                Err(e) => {
                    return Err(format!(
                        "cannot render `for_each.key` of item {}: {e}",
                        n + 1
                    ))
                }
            },
            None => scalar_text(value).unwrap_or_else(|| (n + 1).to_string()),
        };
        let key = redactor.redact(&key);
        if key.is_empty() || key.chars().any(char::is_control) {
            return Err(format!(
                "`for_each.key` of item {} is empty or has control characters; give each item a printable key",
                n + 1
            ));
        }
        if let Some(first) = seen.insert(key.clone(), n) {
            return Err(format!(
                "items {} and {} have the same key `{key}`; give `for_each.key` a template that differs per item, e.g. `key: \"{{{{ {}.name }}}}\"`",
                first + 1,
                n + 1,
                f.as_name
            ));
        }
        out.push((key, item_ctx));
    }
    Ok(out)
}

/// A loop's error: its first failed item, and how many failed in all.
pub(super) fn loop_error(failures: &[String]) -> String {
    match failures {
        [] => String::new(),
        [one] => one.clone(),
        [first, ..] => format!("{first} ({} items failed in all)", failures.len()),
    }
}

/// The loop's outputs: `items`, in item order, and `by_key`.
pub(super) fn loop_outputs<'a>(
    results: impl Iterator<Item = (&'a str, ItemResult)>,
) -> Map<String, serde_json::Value> {
    let mut items = Vec::new();
    let mut by_key = Map::new();
    for (key, r) in results {
        let entry = json!({ "key": key, "status": r.status, "outputs": r.outputs });
        by_key.insert(key.to_string(), entry.clone());
        items.push(entry);
    }
    let mut outputs = Map::new();
    outputs.insert("items".into(), serde_json::Value::Array(items));
    outputs.insert("by_key".into(), serde_json::Value::Object(by_key));
    outputs
}

/// A string's text, a number or a boolean as written; `None` otherwise.
fn scalar_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(crate) fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "nothing",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a mapping",
    }
}
