//! Taking over what an earlier execution of a run achieved, on resume.
//!
//! From the replayed [`RunState`]: completed steps' statuses and outputs,
//! gate decisions, the initiator, the RTO clock, leftover process groups,
//! secret outputs a kind saved durably. Then, before anything new starts,
//! each interrupted step's `rerun` policy: run it again, run its `check`
//! probe, or wait for a human's `mark`.
//!
//! It never executes a completed step again (read-only steps with secret
//! outputs are read again by `secret_reread.rs`), and never reads the
//! journal itself: the launcher replays it.

use std::collections::BTreeSet;

use lifeboat_steps::{Rerun, StepError};
use minijinja::Value;
use serde_json::Map;

use super::render::view;
use super::render::RenderedParams;
use super::secret_reread::LostSecretOutputs;
use super::step_processes::LeftoverProcess;
use super::{Failure, RunOutcome, Scheduler, Status};
use crate::journal::decision::sign_checked;
use crate::journal::record::{Event, MarkOutcome};
use crate::journal::run_state::{RunState, StepRecordState};
use crate::journal::signature::NAMESPACE;
use crate::runbook::checked_runbook::ResolvedKind;
use crate::runbook::step::Section;
use crate::runbook::template_context;

impl Scheduler {
    /// Takes over what an earlier execution of this run achieved.
    pub(super) fn restore(&mut self, prior: &RunState) {
        self.gates = prior.gates.clone();
        self.leftover_processes = prior
            .processes
            .iter()
            .map(|(step, group)| LeftoverProcess {
                step: step.clone(),
                group: *group,
            })
            .collect();
        self.leftover_processes.sort_by(|a, b| a.step.cmp(&b.step));
        if !prior.operator.is_empty() {
            self.initiator = prior.operator.clone();
        }
        self.clock_start = prior
            .declared_at
            .clone()
            .or_else(|| Some(prior.started_at.clone()).filter(|s| !s.is_empty()));
        self.prior_items = super::for_each::PriorItems::from_state(&self.env.runbook, prior);
        let mut lost = Vec::new();
        for (i, step) in self.env.runbook.steps.iter().enumerate() {
            // Interrupted mid-step: what a human said of it decides,
            // whatever happened since (a failed run skips it, a resume of
            // a failed run reopens it).
            match prior.unconfirmed.get(&step.id) {
                // It did not complete: run it again.
                Some(Some(MarkOutcome::Failed)) => continue,
                Some(None) => {
                    self.status[i] = Status::Interrupted;
                    continue;
                }
                _ => {}
            }
            let Some(state) = prior.steps.get(&step.id) else {
                continue;
            };
            self.status[i] = match state {
                StepRecordState::Succeeded {
                    outputs,
                    simulated,
                    secret_outputs,
                    ..
                } => {
                    self.simulated[i] = *simulated && self.env.runbook.kind(i).engine().is_none();
                    if *simulated && step.dry_run_outputs.is_none() {
                        self.set_placeholder_view(step);
                    } else {
                        // Secret outputs were journalled as a placeholder and
                        // lived in memory only: leave them undefined, so a
                        // template that reads one fails and says why, rather
                        // than passing «redacted» on as a token.
                        let mut outputs = outputs.clone();
                        for name in secret_outputs {
                            outputs.remove(name);
                        }
                        // A loop's items' secret outputs likewise.
                        if step.for_each.is_some() {
                            self.prior_items.forget_secrets(&step.id, &mut outputs);
                        }
                        if !secret_outputs.is_empty() {
                            lost.push(LostSecretOutputs {
                                index: i,
                                item: None,
                                names: secret_outputs.clone(),
                                why: None,
                            });
                        }
                        self.set_view(&step.id, "succeeded", outputs);
                    }
                    Status::Succeeded
                }
                StepRecordState::Failed { error } => {
                    self.set_view(&step.id, "failed", Map::new());
                    if !step.continue_on_failure
                        && step.section == Section::Main
                        && self.failure.is_none()
                    {
                        self.failure = Some(Failure {
                            step: step.id.clone(),
                            error: error.clone(),
                        });
                    }
                    Status::Failed
                }
                StepRecordState::Skipped { .. } => {
                    self.set_view(&step.id, "skipped", Map::new());
                    Status::Skipped
                }
                StepRecordState::Interrupted { .. } => Status::Interrupted,
                // A human gate asks again (or counts the decisions given
                // meanwhile); anything else waited on `lifeboat mark`.
                StepRecordState::Waiting { .. } if self.env.runbook.kind(i).is_human() => {
                    Status::Pending
                }
                StepRecordState::Waiting { .. } => Status::Interrupted,
            };
        }
        // Loops' done items' secret outputs, opened like a step's.
        lost.extend(self.prior_items.with_secrets(&self.env.runbook));
        let lost = self.open_sealed_outputs(prior, lost);
        for l in lost {
            if l.item.is_some() {
                // Nothing reads an item's again: it stays lost, and a
                // template that reads it fails and says why.
                let why = l.why.clone().or_else(|| {
                    (!self.env.sealing.is_on()).then(|| {
                        "the run has no `recipients:` to seal them to, so the engine that ran it kept them in memory only".to_string()
                    })
                });
                self.lost_secrets.push(LostSecretOutputs { why, ..l });
                continue;
            }
            let LostSecretOutputs {
                index, names, why, ..
            } = l;
            self.reload_secret_outputs(index, &names, why);
        }
        self.reopen_unfinished_calls();
        self.wait_for_ancestors_to_run();
    }

    /// A call that ended while one of its steps is to run again (`resume
    /// --redo restore/x`, or a step an earlier execution could not start)
    /// runs again: it starts, that step runs, and it ends with its outputs.
    fn reopen_unfinished_calls(&mut self) {
        let runbook = self.env.runbook.clone();
        let open = |s: Status| matches!(s, Status::Pending | Status::Waiting | Status::Interrupted);
        for c in 0..self.status.len() {
            let Some(site) = runbook.tree().call(c) else {
                continue;
            };
            if matches!(self.status[c], Status::Succeeded | Status::Skipped)
                && site.children.clone().any(|j| open(self.status[j]))
            {
                self.status[c] = Status::Pending;
                self.set_view(&runbook.steps[c].id, "pending", Map::new());
            }
        }
    }

    /// A step run again on resume (`--redo`) may sit above completed steps
    /// and, below them, a step still to run: that step's needs are all
    /// done, yet what they built on is about to change. Each pending step
    /// also waits for every step still to run that is above it through
    /// completed steps only (a pending need already makes it wait).
    /// Costs one pass over the steps when nothing is run again.
    fn wait_for_ancestors_to_run(&mut self) {
        let runbook = &self.env.runbook;
        let n = self.status.len();
        let open = |s: Status| {
            matches!(
                s,
                Status::Pending | Status::Waiting | Status::Interrupted | Status::Running
            )
        };
        // A called step's need of its call asks for the call to have
        // started, not ended (`calls.rs`): it is not an ancestor to wait for.
        let needs = |i: usize| {
            let call = runbook.tree().scope(i);
            runbook.steps[i]
                .needs_ids()
                .filter_map(|need| runbook.step_index(need))
                .filter(|&j| Some(j) != call)
                .collect::<Vec<_>>()
        };
        let any =
            (0..n).any(|i| !open(self.status[i]) && needs(i).iter().any(|&j| open(self.status[j])));
        if !any {
            return;
        }
        // above[i], for a completed step: the open steps reached upwards
        // from it through completed steps. Needs are acyclic (validated);
        // an explicit stack keeps a 10,000-step chain off the call stack.
        let mut above: Vec<Option<BTreeSet<usize>>> = vec![None; n];
        for start in 0..n {
            if open(self.status[start]) || above[start].is_some() {
                continue;
            }
            let mut stack = vec![(start, false)];
            while let Some((i, expanded)) = stack.pop() {
                if above[i].is_some() {
                    continue;
                }
                let up = needs(i);
                if !expanded {
                    stack.push((i, true));
                    for &j in &up {
                        if !open(self.status[j]) && above[j].is_none() {
                            stack.push((j, false));
                        }
                    }
                    continue;
                }
                let mut set = BTreeSet::new();
                for j in up {
                    if open(self.status[j]) {
                        set.insert(j);
                    } else if let Some(a) = &above[j] {
                        set.extend(a.iter().copied());
                    }
                }
                above[i] = Some(set);
            }
        }
        for i in 0..n {
            if !open(self.status[i]) {
                continue;
            }
            let mut waits = BTreeSet::new();
            for j in needs(i) {
                if let Some(a) = &above[j] {
                    waits.extend(a.iter().copied());
                }
            }
            if waits.is_empty() {
                continue;
            }
            for &j in &waits {
                self.dependents[j].push(i);
            }
            self.rerun_ancestors.insert(i, waits.into_iter().collect());
        }
    }

    /// Opens the secret outputs sealed to the run's recipients with the
    /// operator's identity, registers them with the redactor and gives them
    /// back to their steps. Returns the steps still without theirs (nothing
    /// sealed, or this identity cannot open it), the latter with why: to
    /// whom they were sealed and what to do (`announce_lost_secret_outputs`
    /// says it once per step).
    fn open_sealed_outputs(
        &mut self,
        prior: &RunState,
        lost: Vec<LostSecretOutputs>,
    ) -> Vec<LostSecretOutputs> {
        let runbook = self.env.runbook.clone();
        let sealed = |l: &LostSecretOutputs| {
            let execution = l.item.as_ref().unwrap_or(&runbook.steps[l.index].id);
            match prior.steps.get(execution) {
                Some(StepRecordState::Succeeded {
                    sealed_outputs: Some(armored),
                    ..
                }) => Some(armored.clone()),
                _ => None,
            }
        };
        if !lost.iter().any(|l| sealed(l).is_some()) {
            return lost;
        }
        let (path, opener) = self.env.sealing.opener();
        let mut still = Vec::new();
        for mut l in lost {
            let Some(armored) = sealed(&l) else {
                still.push(l);
                continue;
            };
            let opened = opener
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|o| o.open(&armored))
                .and_then(|values| {
                    l.names
                        .iter()
                        .map(|n| {
                            Ok((
                                n.clone(),
                                values
                                    .get(n)
                                    .ok_or("the sealed copy lacks some of them")?
                                    .clone(),
                            ))
                        })
                        .collect::<Result<Vec<_>, String>>()
                });
            match opened {
                Ok(values) if l.item.is_some() => {
                    for (_, v) in &values {
                        self.env.redactor.add_value(v);
                    }
                    let execution = l.item.clone().unwrap_or_default();
                    self.give_item_secrets(l.index, &execution, values.into_iter().collect());
                }
                Ok(values) => {
                    let id = self.env.runbook.steps[l.index].id.clone();
                    let mut views = self.views.write().unwrap_or_else(|e| e.into_inner());
                    let mut outputs = views
                        .get(&id)
                        .and_then(|v| v.get_attr("outputs").ok())
                        .and_then(|o| serde_json::to_value(&o).ok())
                        .and_then(|o| o.as_object().cloned())
                        .unwrap_or_default();
                    for (name, v) in values {
                        self.env.redactor.add_value(&v);
                        outputs.insert(name, v);
                    }
                    views.insert(id, view("succeeded", outputs));
                }
                Err(e) => {
                    l.why = Some(self.env.redactor.redact(&format!(
                        "they are {}",
                        self.env
                            .sealing
                            .cannot_open(path.as_deref(), &e, &self.env.run_id)
                    )));
                    still.push(l);
                }
            }
        }
        still
    }

    /// Gives a completed step back the secret outputs the engine that ran
    /// it kept in memory only, when its kind saved them durably (e.g.
    /// `vault.init`'s `output_file`). Otherwise they stay undefined and a
    /// template that reads one says why.
    /// `sealed` says why sealed copies of them could not be opened, if so:
    /// it is the reason given when no other way gets them back.
    pub(super) fn reload_secret_outputs(
        &mut self,
        i: usize,
        names: &[String],
        sealed: Option<String>,
    ) {
        let step = &self.env.runbook.steps[i];
        let reloaded = match self.env.runbook.kind(i) {
            ResolvedKind::Step(kind) => Some(kind),
            ResolvedKind::Engine(_) => None,
        }
        .and_then(|kind| {
            let with = self
                .env
                .templates
                .render_value(&step.with.to_json(), &self.context_for(i));
            let ctx = self.step_context(step, Vec::new(), false, self.env.cancel.child_token());
            match with {
                Ok(with) => kind.reload_secret_outputs(&ctx, &with),
                Err(e) => Some(Err(StepError::new(e))),
            }
        });
        match reloaded {
            Some(Ok(out)) => {
                let mut views = self.views.write().unwrap_or_else(|e| e.into_inner());
                let mut outputs = views
                    .get(&step.id)
                    .and_then(|v| v.get_attr("outputs").ok())
                    .and_then(|o| serde_json::to_value(&o).ok())
                    .and_then(|o| o.as_object().cloned())
                    .unwrap_or_default();
                let mut missing = Vec::new();
                for name in names {
                    match out.outputs.get(name) {
                        Some(v) => {
                            self.env.redactor.add_value(v);
                            outputs.insert(name.clone(), v.clone());
                        }
                        None => missing.push(name.as_str()),
                    }
                }
                views.insert(step.id.clone(), view("succeeded", outputs));
                drop(views);
                if !missing.is_empty() {
                    self.lost_secrets.push(LostSecretOutputs {
                        index: i,
                        item: None,
                        names: missing.iter().map(|n| n.to_string()).collect(),
                        why: sealed.or_else(|| Some("what it saved does not hold them".into())),
                    });
                }
            }
            // The kind keeps nothing durable: a read-only step is read
            // again before the resume's first record (`secret_reread.rs`).
            None => self.secret_steps.push(LostSecretOutputs {
                index: i,
                item: None,
                names: names.to_vec(),
                why: sealed,
            }),
            Some(Err(e)) => {
                let why = sealed.unwrap_or_else(|| self.env.redactor.redact(&e.message));
                self.lost_secrets.push(LostSecretOutputs {
                    index: i,
                    item: None,
                    names: names.to_vec(),
                    why: Some(why),
                });
            }
        }
    }

    /// Applies each interrupted step's `rerun` policy before anything new starts.
    pub(super) async fn resolve_interrupted(&mut self) -> Result<(), RunOutcome> {
        self.stop_leftover_processes().await;
        let runbook = self.env.runbook.clone();
        let mut waiting = Vec::new();
        let mut items_waiting = false;
        for (i, step) in runbook.steps.iter().enumerate() {
            if self.status[i] != Status::Interrupted {
                continue;
            }
            // A loop starts again: each of its items that is not done
            // applies the step's `rerun` policy (`for_each.rs`); an item
            // unsafe to repeat waits for a human's `mark`.
            if step.for_each.is_some() {
                let stuck = self.items_waiting_for_mark(i);
                self.status[i] = if stuck {
                    items_waiting = true;
                    Status::Waiting
                } else {
                    Status::Pending
                };
                continue;
            }
            match self.env.runbook.rerun_policy(i) {
                Rerun::Safe => self.status[i] = Status::Pending,
                Rerun::Check => {
                    if self.run_check(i).await {
                        let mut outputs = Map::new();
                        outputs.insert(template_context::CONFIRMED_BY_CHECK.into(), true.into());
                        self.journal(Event::StepSucceeded {
                            step: step.id.clone(),
                            outputs: outputs.clone(),
                            secret_outputs: Vec::new(),
                            sealed_outputs: None,
                            simulated: false,
                            duration_ms: 0,
                        });
                        self.set_view(&step.id, "succeeded", outputs);
                        self.succeeded(i);
                    } else {
                        self.env.console.info(&format!(
                            "step `{}` was interrupted and its check did not pass; running it again",
                            step.id
                        ));
                        self.set_status(i, Status::Pending);
                    }
                }
                Rerun::Never => {
                    // Under the runbook's `require_signed` a mark must be
                    // signed by an allowed key: without one the terminal
                    // does not ask, and the step waits for `lifeboat mark`.
                    let can_sign = !self.env.runbook.require_signed
                        || self.env.signer.as_ref().is_some_and(|s| {
                            self.env.journal.signers().is_some_and(|a| {
                                a.find(s.public_key().key_data(), NAMESPACE).is_ok()
                            })
                        });
                    let answer = self
                        .env
                        .prompt
                        .as_ref()
                        .filter(|_| can_sign)
                        .and_then(|p| p.interrupted_step(step, step.title()));
                    let answer = answer.and_then(|outcome| {
                        let event = Event::Marked {
                            step: step.id.clone(),
                            outcome,
                        };
                        match sign_checked(
                            self.env.signer.as_deref(),
                            &self.env.run_id,
                            &self.config.operator,
                            &event,
                            self.env.journal.signers(),
                            self.env.runbook.require_signed,
                            "the mark (the runbook's `require_signed`)",
                        ) {
                            Ok(signed) => Some((outcome, event, signed)),
                            Err(e) => {
                                self.env.console.warn(Some(&step.id), &e);
                                None
                            }
                        }
                    });
                    match answer {
                        Some((outcome, event, signed)) => {
                            if let Err(e) =
                                self.env.journal.record_signed(None, event, signed, None)
                            {
                                self.journal_failed(&e);
                            }
                            self.status[i] = match outcome {
                                MarkOutcome::Done => {
                                    self.set_view(&step.id, "succeeded", Map::new());
                                    Status::Succeeded
                                }
                                // It did not complete: run it again.
                                MarkOutcome::Failed => Status::Pending,
                            };
                        }
                        None => waiting.push(i),
                    }
                }
            }
        }
        if waiting.is_empty() {
            return if items_waiting {
                Err(RunOutcome::Paused)
            } else {
                Ok(())
            };
        }
        for i in waiting {
            let id = runbook.steps[i].id.clone();
            let run = &self.env.run_id;
            self.journal(Event::Waiting {
                step: id.clone(),
                reason: format!(
                    "`{id}` was interrupted mid-step and is unsafe to repeat (rerun: never); a human must say whether it completed"
                ),
                commands: vec![
                    format!("lifeboat mark {run} {id} done --as NAME"),
                    format!("lifeboat mark {run} {id} failed --as NAME"),
                    format!("lifeboat resume {run}"),
                ],
            });
            self.set_status(i, Status::Waiting);
        }
        Err(RunOutcome::Paused)
    }

    /// Runs a step's read-only probe; true when it passes.
    pub(super) async fn run_check(&self, i: usize) -> bool {
        let step = &self.env.runbook.steps[i];
        let (Some(probe), Some(kind)) = (&step.check, self.env.runbook.probe_kind(i)) else {
            return false;
        };
        let ctx = self.context_for(i);
        // Rendered like a step, so a `shell` probe's script gets its values
        // through the environment, never pasted into its text.
        let Ok(RenderedParams {
            with,
            script_env: env,
            ..
        }) = self.render(kind.as_ref(), &probe.with.to_json(), &ctx)
        else {
            return false;
        };
        let step_ctx = self.step_context(step, env, false, self.env.cancel.child_token());
        match kind.run(&step_ctx, with).await {
            Ok(out) => match &probe.until {
                Some(until) => {
                    let ctx =
                        template_context::with_outputs(&ctx, Value::from_serialize(&out.outputs));
                    self.env
                        .templates
                        .eval_bool(&until.text, &ctx)
                        .unwrap_or(false)
                }
                None => true,
            },
            Err(_) => false,
        }
    }
}
